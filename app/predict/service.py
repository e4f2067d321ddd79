"""Scoring texts with a registered SavedModel.

The loaded model is kept per process and reloaded when the champion changes.
Checksums are verified before a version is loaded. TensorFlow is imported on
the first prediction, not at start-up.
"""

import threading
from pathlib import Path

from sqlalchemy.orm import Session

from app.errors import ApiError
from app.predict.schemas import Prediction, PredictResponse
from app.registry import repository, store
from app.registry.models import ModelVersion
from app.settings import Settings


class LoadedModel:
    def __init__(self, version: int, name: str, folder: Path) -> None:
        import tensorflow as tf

        broken = store.verify_checksums(folder)
        if broken:
            raise ApiError(
                503,
                "model_corrupt",
                f"Model version {version} failed its checksum check ({', '.join(broken[:5])}); "
                "it was not loaded.",
            )
        self.version = version
        self.name = name
        self._tf = tf
        self._signature = tf.saved_model.load(str(folder)).signatures["serving_default"]

    def score(self, texts: list[str]) -> list[float]:
        outputs = self._signature(text=self._tf.constant(texts, dtype=self._tf.string))
        return [float(p) for p in outputs["probability"].numpy()]


class ModelCache:
    """The champion's loaded model, shared by the threads of one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model: LoadedModel | None = None

    def get(self, row: ModelVersion, root: Path) -> LoadedModel:
        model = self._model
        if model is not None and model.version == row.version:
            return model
        with self._lock:
            if self._model is None or self._model.version != row.version:
                self._model = LoadedModel(row.version, row.name, store.resolve(root, row.path))
            return self._model


CACHE = ModelCache()


def check_limits(texts: list[str], settings: Settings) -> None:
    if len(texts) > settings.predict_max_texts:
        raise ApiError(
            422,
            "too_many_texts",
            f"Expected at most {settings.predict_max_texts} texts per request, "
            f"received {len(texts)}.",
        )
    for index, text in enumerate(texts):
        if len(text) > settings.predict_max_chars:
            raise ApiError(
                422,
                "text_too_long",
                f"Expected at most {settings.predict_max_chars} characters per text; "
                f"texts[{index}] has {len(text)}.",
                [{"field": f"texts.{index}", "message": "too long", "received": len(text)}],
            )


def predict(
    session: Session, texts: list[str], settings: Settings, cache: ModelCache = CACHE
) -> PredictResponse:
    check_limits(texts, settings)
    row = repository.best(session)
    if row is None:
        raise ApiError(
            503,
            "no_model",
            "No model is registered yet: train one with POST /v1/jobs; predict once it succeeds.",
        )
    model = cache.get(row, settings.models_store)
    probabilities = model.score(texts)
    return PredictResponse(
        model_version=model.version,
        model_name=model.name,
        predictions=[
            Prediction(probability=p, label="positive" if p >= 0.5 else "negative")
            for p in probabilities
        ],
    )
