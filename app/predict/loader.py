"""Loading a SavedModel for serving: verify its checksums, load it, warm it up.

TensorFlow is imported here, on the first load, not when the API starts.
"""

import contextlib
from pathlib import Path
from typing import Any

from app.registry import artifact

WARM_UP_TEXTS = ["", "A wonderful film.", "<br />Dull, far too long!", "Café crème 🎬 " * 40]


class ModelLoadError(RuntimeError):
    """The artifact failed its checksums or could not be loaded: it is not served."""


def _configure_threads(tf: Any, intra_op_threads: int, inter_op_threads: int) -> None:
    """TensorFlow's thread pools, set before its first operation (then they are fixed;
    TensorFlow already initialized keeps what it has: the first setting stands).

    Serving runs each model call on one thread (``intra_op_threads`` 1) and gives the
    inter-op pool one thread per call at once: fewer and the calls wait for each other,
    more and idle threads spin. With the default pools one call of the course's LSTM
    burned 1.6 times the CPU time of the same call on one thread, for the same speed."""
    with contextlib.suppress(RuntimeError):
        if intra_op_threads > 0:
            tf.config.threading.set_intra_op_parallelism_threads(intra_op_threads)
        if inter_op_threads > 0:
            tf.config.threading.set_inter_op_parallelism_threads(inter_op_threads)


class LoadedModel:
    def __init__(
        self,
        version: int,
        name: str,
        folder: Path,
        intra_op_threads: int = 0,
        inter_op_threads: int = 0,
    ) -> None:
        """``*_op_threads``: TensorFlow's pools (0: its defaults, every core)."""
        broken = _checksum_failures(folder)
        if broken:
            raise ModelLoadError(
                f"model version {version} failed its checksum check: "
                f"{', '.join(broken[:5])} differ from {artifact.MANIFEST}"
            )
        try:
            import tensorflow as tf

            _configure_threads(tf, intra_op_threads, inter_op_threads)
            self._tf: Any = tf
            signatures = tf.saved_model.load(str(folder)).signatures
            self._signature = signatures[artifact.SIGNATURE]
            # None for a version exported before explanations (or an ensemble).
            self._explain = signatures.get(artifact.EXPLAIN_SIGNATURE)
        except Exception as error:
            raise ModelLoadError(
                f"model version {version} failed to load: {type(error).__name__}: {error}"
            ) from error
        self.version = version
        self.name = name
        for _ in range(3):  # the first calls pay for graph and allocator set-up
            self.score(WARM_UP_TEXTS)

    def score(self, texts: list[str]) -> list[float]:
        texts_in = self._tf.constant(texts, dtype=self._tf.string)
        outputs = self._signature(**{artifact.INPUT: texts_in})
        return outputs[artifact.OUTPUT].numpy().tolist()  # Python floats

    @property
    def explainable(self) -> bool:
        return self._explain is not None

    def explain(self, texts: list[str]) -> list[dict[str, Any]]:
        """Each text's row of the ``explain`` signature's outputs, as Python values, its
        padding cut (``app/predict/explanations.py`` reads them)."""
        assert self._explain is not None, f"model version {self.version} cannot explain"
        outputs = self._explain(**{artifact.INPUT: self._tf.constant(texts, self._tf.string)})
        found = {name: value.numpy() for name, value in outputs.items()}
        lengths = (found["widths"] > 0).sum(axis=1)
        return [
            {
                "tokens": [token.decode("utf-8") for token in found["tokens"][row, :length]],
                "starts": found["starts"][row, :length].tolist(),
                "widths": found["widths"][row, :length].tolist(),
                "contributions": found["contributions"][row, :length].tolist(),
                "base_value": float(found["base_value"][row]),
                "logit": float(found["logit"][row]),
                "probability": float(found["probability"][row]),
                "word_count": int(found["word_count"][row]),
                "method": found["method"][row].decode("utf-8"),
            }
            for row, length in enumerate(lengths)
        ]


def _checksum_failures(folder: Path) -> list[str]:
    try:
        return artifact.verify_checksums(folder)
    except (OSError, ValueError, KeyError) as error:
        return [f"{artifact.MANIFEST} ({type(error).__name__}: {error})"]
