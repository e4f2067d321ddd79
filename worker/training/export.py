"""Export a trained model as a self-contained TensorFlow SavedModel.

The SavedModel takes raw review strings and returns P(positive): the
standardization, vocabulary and padding are inside it, so it loads and scores in
a process that has TensorFlow alone (``tf.saved_model.load``) or in TensorFlow
Serving. Its format (signature, input and output, files, manifest) is
``app/registry/artifact.py``'s. A bag (a dense network averaging its token
vectors) is served from each review's own tokens, unpadded (``Bag``), found
without building n-gram strings (``text.NgramIds``).

An ensemble (``worker/training/ensemble.py``) is exported the same way, its
members inside it (``export_ensemble``).

The folder is written under a temporary name beside the destination and renamed
into place once complete, with the manifest holding the spec, the metrics, the
vocabulary size and the sha256 of every other file.
"""

import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from app.registry import artifact
from app.registry.artifact import file_checksums
from app.specs.spec import EnsembleSpec, TrainingSpec
from worker.training import explain
from worker.training.bag import Bag, is_bag
from worker.training.ensemble import Ensemble
from worker.training.evaluation import calibrated_in_graph
from worker.training.text import NgramIds, PadSequencesPre, make_vectorizer


def build_serving_function(
    model: keras.Model,
    vocabulary: list[str],
    spec: TrainingSpec,
    bag_path: bool = True,
    temperature: float = 1.0,
) -> tuple[tf.types.experimental.GenericFunction, list[Any]]:
    """The string-in, probability-out function, and the objects it needs tracked.
    ``bag_path`` False: a bag too takes the padded path (the benchmark's baseline).
    ``temperature``: the probabilities calibrated as ``evaluation.calibrated`` does."""
    token_ids: Callable[[tf.Tensor], tf.RaggedTensor]
    if bag_path and is_bag(spec):
        token_ids = text_to_ids(vocabulary, spec)
        probability: Callable[[tf.RaggedTensor], tf.Tensor] = Bag(model, spec)
        tracked = [model, token_ids, probability]
    else:
        token_ids = make_vectorizer(
            artifact.token_count(vocabulary), vocabulary, spec.sequence.ngrams
        )
        pad = PadSequencesPre(spec.sequence.max_len)

        def probability(ids: tf.RaggedTensor) -> tf.Tensor:
            return model(tf.cast(pad(ids), tf.int32), training=False)

        tracked = [model, token_ids]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=artifact.INPUT)])
    def serve(text: tf.Tensor) -> dict[str, tf.Tensor]:
        scores = tf.reshape(probability(token_ids(text)), [-1])
        return {artifact.OUTPUT: calibrate(scores, temperature)}

    serve(tf.constant([""]))  # builds the vectorizer, which export requires
    return serve, tracked


def calibrate(probabilities: tf.Tensor, temperature: float) -> tf.Tensor:
    """sigmoid(logit(p) / T) in the SavedModel: ``evaluation.calibrated``'s, in float32."""
    return probabilities if temperature == 1.0 else calibrated_in_graph(probabilities, temperature)


def text_to_ids(vocabulary: list[str], spec: TrainingSpec) -> Any:
    """The vectorizer's ids without its n-gram strings (``NgramIds``), or, for a
    vocabulary of more words than its keys hold, the vectorizer itself."""
    try:
        return NgramIds(vocabulary, spec.sequence.ngrams)
    except ValueError:
        return make_vectorizer(artifact.token_count(vocabulary), vocabulary, spec.sequence.ngrams)


def build_explain_function(
    model: keras.Model, vocabulary: list[str], spec: TrainingSpec, temperature: float, steps: int
) -> tuple[tf.types.experimental.GenericFunction, list[Any]]:
    """The ``explain`` signature (``explain.py``) and the objects it needs tracked: exact
    for an additive bag, integrated gradients in ``steps`` steps for any other network."""
    token_ids = text_to_ids(vocabulary, spec)
    explainer = explain.explainer_for(model, spec, steps)
    return explain.explain_function(token_ids, explainer, spec, temperature), [
        token_ids,
        explainer,
    ]


def export_saved_model(
    model: keras.Model,
    vocabulary: list[str],
    spec: TrainingSpec,
    metadata: dict[str, Any],
    destination: Path,
    bag_path: bool = True,
    temperature: float = 1.0,
    explain_steps: int = explain.STEPS,
) -> dict[str, Any]:
    """Write the SavedModel and its manifest to ``destination`` atomically.

    ``metadata`` (metrics, parameter counts, ...) goes into the manifest;
    ``temperature`` calibrates the probabilities (``TrainingResult.temperature``);
    ``explain_steps``: the integrated gradients' steps of the ``explain`` signature.
    Returns the manifest. Refuses to overwrite an existing folder.
    """

    def write(saved_model: Path) -> artifact.Manifest:
        serve, tracked = build_serving_function(model, vocabulary, spec, bag_path, temperature)
        archive = keras.export.ExportArchive()
        for item in tracked:
            archive.track(item)
        archive.add_endpoint(artifact.SIGNATURE, serve)
        explainer, explainer_tracked = build_explain_function(
            model, vocabulary, spec, temperature, explain_steps
        )
        for item in explainer_tracked:
            archive.track(item)
        archive.add_endpoint(artifact.EXPLAIN_SIGNATURE, explainer)
        archive.write_out(str(saved_model), verbose=False)
        # The words beside the SavedModel, for the embedding explorer (the SavedModel
        # holds them only inside its lookup table).
        artifact.write_vocabulary(saved_model, vocabulary)
        return _manifest(
            saved_model,
            spec.name,
            spec.model_dump(mode="json"),
            metadata,
            artifact.token_count(vocabulary),
        )

    return _write_atomically(Path(destination), write)


def export_ensemble(
    ensemble: Ensemble, spec: EnsembleSpec, metadata: dict[str, Any], destination: Path
) -> dict[str, Any]:
    """Write an ensemble's SavedModel (its members inside it) and manifest to
    ``destination`` atomically; ``metadata`` holds its metrics and members."""

    def write(saved_model: Path) -> artifact.Manifest:
        tf.saved_model.save(
            ensemble, str(saved_model), signatures={artifact.SIGNATURE: ensemble.serve}
        )
        return _manifest(saved_model, spec.name, spec.model_dump(mode="json"), metadata, None)

    return _write_atomically(Path(destination), write)


def _manifest(
    saved_model: Path,
    name: str,
    spec: dict[str, Any],
    metadata: dict[str, Any],
    vocabulary_size: int | None,
) -> artifact.Manifest:
    """The manifest of a complete SavedModel folder, written into it."""
    manifest = artifact.Manifest(
        name=name,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        tensorflow_version=tf.__version__,
        keras_version=keras.__version__,
        spec=spec,
        vocabulary_size=vocabulary_size,
        files=file_checksums(saved_model),
        metadata=metadata,
    )
    manifest.write(saved_model)
    return manifest


def _write_atomically(
    destination: Path, write: Callable[[Path], artifact.Manifest]
) -> dict[str, Any]:
    """``write`` a model folder under a temporary name beside ``destination``, then
    rename it into place. Refuses to overwrite an existing folder; returns the manifest."""
    if destination.exists():
        raise FileExistsError(
            f"refusing to overwrite the existing model folder {str(destination)!r}"
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}-", dir=destination.parent))
    try:
        saved_model = staging / "model"
        manifest = write(saved_model)
        os.replace(saved_model, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest.as_json()
