"""Export a trained model as a self-contained TensorFlow SavedModel.

The SavedModel takes raw review strings and returns P(positive): the
standardization, vocabulary and padding are inside it, so it loads and scores in
a process that has TensorFlow alone (``tf.saved_model.load``) or in TensorFlow
Serving. Its ``serving_default`` signature takes ``text`` (a string vector) and
returns ``probability`` (a float vector).

The folder is written under a temporary name beside the destination and renamed
into place once complete, with ``manifest.json`` holding the spec, the metrics,
the vocabulary size and the sha256 of every other file.
"""

import json
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from app.jobs.spec import TrainingSpec
from app.registry.store import MANIFEST, VOCABULARY, file_checksums
from worker.training.text import PadSequencesPre, make_vectorizer

MANIFEST_FORMAT = 1
SIGNATURE = {
    "name": "serving_default",
    "inputs": {"text": "string[batch]: raw review texts"},
    "outputs": {"probability": "float32[batch]: P(positive)"},
}


def build_serving_function(
    model: keras.Model, vocabulary: list[str], spec: TrainingSpec
) -> tuple[tf.types.experimental.GenericFunction, list[Any]]:
    """The string-in, probability-out function, and the objects it needs tracked."""
    vectorizer = make_vectorizer(len(vocabulary) + 2, vocabulary, spec.sequence.ngrams)
    pad = PadSequencesPre(spec.sequence.max_len)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(text: tf.Tensor) -> dict[str, tf.Tensor]:
        token_ids = tf.cast(pad(vectorizer(text)), tf.int32)
        probability = model(token_ids, training=False)
        return {"probability": tf.reshape(probability, [-1])}

    serve(tf.constant([""]))  # builds the vectorizer, which export requires
    return serve, [model, vectorizer]


def export_saved_model(
    model: keras.Model,
    vocabulary: list[str],
    spec: TrainingSpec,
    metadata: dict[str, Any],
    destination: Path,
) -> dict[str, Any]:
    """Write the SavedModel and its manifest to ``destination`` atomically.

    ``metadata`` (metrics, parameter counts, ...) goes into the manifest.
    Returns the manifest. Refuses to overwrite an existing folder.
    """
    destination = Path(destination)
    if destination.exists():
        raise FileExistsError(
            f"refusing to overwrite the existing model folder {str(destination)!r}"
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}-", dir=destination.parent))
    try:
        serve, tracked = build_serving_function(model, vocabulary, spec)
        archive = keras.export.ExportArchive()
        for item in tracked:
            archive.track(item)
        archive.add_endpoint(SIGNATURE["name"], serve)
        saved_model = staging / "model"
        archive.write_out(str(saved_model), verbose=False)
        # The words of ids 2, 3, ... one per line, for the embedding explorer (the
        # SavedModel holds them only inside its lookup table).
        (saved_model / VOCABULARY).write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
        manifest = {
            "format": MANIFEST_FORMAT,
            "name": spec.name,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "tensorflow_version": tf.__version__,
            "keras_version": keras.__version__,
            "signature": SIGNATURE,
            "spec": spec.model_dump(mode="json"),
            "vocabulary_size": len(vocabulary) + 2,
            **metadata,
            "files": file_checksums(saved_model),
        }
        (saved_model / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        saved_model.chmod(0o755)  # readable by serving processes of other users
        os.replace(saved_model, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest
