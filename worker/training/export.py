"""Export a trained model as a self-contained TensorFlow SavedModel.

The SavedModel takes raw review strings and returns P(positive): the
standardization, vocabulary and padding are inside it, so it loads and scores in
a process that has TensorFlow alone (``tf.saved_model.load``) or in TensorFlow
Serving. Its format (signature, input and output, files, manifest) is
``app/registry/artifact.py``'s. A bag (a dense network averaging its token
vectors) is served from each review's own tokens, unpadded (``bag_probability``).

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
from app.specs.spec import Architecture, EnsembleSpec, Pooling, TrainingSpec
from worker.training.architectures import NaiveBayesEmbedding
from worker.training.ensemble import Ensemble
from worker.training.text import PadSequencesPre, make_vectorizer


def build_serving_function(
    model: keras.Model, vocabulary: list[str], spec: TrainingSpec, bag_path: bool = True
) -> tuple[tf.types.experimental.GenericFunction, list[Any]]:
    """The string-in, probability-out function, and the objects it needs tracked.
    ``bag_path`` False: a bag too takes the padded path (the benchmark's baseline)."""
    vectorizer = make_vectorizer(artifact.token_count(vocabulary), vocabulary, spec.sequence.ngrams)
    if bag_path and is_bag(spec):
        probability = bag_probability(model, spec)
    else:
        pad = PadSequencesPre(spec.sequence.max_len)

        def probability(token_ids: tf.RaggedTensor) -> tf.Tensor:
            return model(tf.cast(pad(token_ids), tf.int32), training=False)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=artifact.INPUT)])
    def serve(text: tf.Tensor) -> dict[str, tf.Tensor]:
        return {artifact.OUTPUT: tf.reshape(probability(vectorizer(text)), [-1])}

    serve(tf.constant([""]))  # builds the vectorizer, which export requires
    return serve, [model, vectorizer]


def is_bag(spec: TrainingSpec) -> bool:
    """A dense network that averages its token vectors: the order of the tokens does
    not matter to it, so it needs no fixed-length, padded (or sorted) row."""
    return spec.architecture == Architecture.dense and spec.pooling == Pooling.average


def bag_probability(
    model: keras.Model, spec: TrainingSpec
) -> Callable[[tf.RaggedTensor], tf.Tensor]:
    """The model's probability computed from each review's own tokens, the same as
    ``model`` on the padded row within float rounding: the row's last ``max_len``
    tokens (each once for ``sequence.binary``), their vectors (times their NB ratios)
    averaged, then the layers after the pooling. Training pads every review to
    ``max_len`` and sorts each row to find its repeats; serving pads nothing and finds
    repeats with one hash pass over the batch (``tf.unique``)."""
    embedding = model.get_layer("embedding")
    pooling = model.layers.index(model.get_layer("average_pooling"))
    after_pooling = model.layers[pooling + 1 :]  # dropout (inactive here), hidden, output
    max_len, binary = spec.sequence.max_len, spec.sequence.binary
    vocabulary_size = embedding.input_dim

    def probability(token_ids: tf.RaggedTensor) -> tf.Tensor:
        kept = token_ids[:, -max_len:]
        rows, tokens = kept.value_rowids(), kept.flat_values
        if binary:
            distinct, _ = tf.unique(rows * vocabulary_size + tokens)  # (row, token) pairs
            rows, tokens = distinct // vocabulary_size, distinct % vocabulary_size
        vectors = tf.gather(embedding.embeddings, tokens)
        if isinstance(embedding, NaiveBayesEmbedding):
            vectors *= tf.gather(embedding.ratios, tokens)[:, None]
        reviews = kept.nrows()
        total = tf.math.unsorted_segment_sum(vectors, rows, reviews)
        count = tf.math.unsorted_segment_sum(tf.ones_like(rows, tf.float32), rows, reviews)
        pooled = total / tf.maximum(count, 1.0)[:, None]  # no tokens: zeros, as in training
        for layer in after_pooling:
            pooled = layer(pooled, training=False)
        return pooled

    return probability


def export_saved_model(
    model: keras.Model,
    vocabulary: list[str],
    spec: TrainingSpec,
    metadata: dict[str, Any],
    destination: Path,
    bag_path: bool = True,
) -> dict[str, Any]:
    """Write the SavedModel and its manifest to ``destination`` atomically.

    ``metadata`` (metrics, parameter counts, ...) goes into the manifest.
    Returns the manifest. Refuses to overwrite an existing folder.
    """

    def write(saved_model: Path) -> artifact.Manifest:
        serve, tracked = build_serving_function(model, vocabulary, spec, bag_path)
        archive = keras.export.ExportArchive()
        for item in tracked:
            archive.track(item)
        archive.add_endpoint(artifact.SIGNATURE, serve)
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
