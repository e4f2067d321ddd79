"""The baseline for bench/predict_load.py: the same SavedModel behind FastAPI with one
model call per request and no batching (a plain ``def`` endpoint, run in FastAPI's
thread pool). Not part of the product.

    SENTIMENT_NAIVE_MODEL=models_store/imdb-sentiment/1 uvicorn bench.naive_server:app
"""

import os

import tensorflow as tf
from fastapi import FastAPI
from pydantic import BaseModel

signature = tf.saved_model.load(os.environ["SENTIMENT_NAIVE_MODEL"]).signatures["serving_default"]
app = FastAPI()


class Texts(BaseModel):
    texts: list[str]


@app.get("/readyz")
def ready() -> dict[str, bool]:
    return {"ready": True}


@app.post("/v1/predict")
def predict(body: Texts) -> dict[str, list[float]]:
    scores = signature(text=tf.constant(body.texts))["probability"].numpy()
    return {"probabilities": [float(p) for p in scores]}
