"""Does the pipeline slow training down? Its epoch time against a plain ``model.fit``.

Both fit the same model (course-gru-32's architecture, same seed) on the same
arrays with the same batch size and validation data; the pipeline's run adds its
monitor callback (epoch reporting, and a stop check as the worker does it).
The two alternate, A B A B ..., and the ratio is taken pair by pair.

    python -m bench.pipeline_overhead [--pairs 3] [--epochs 2]
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras

from app.jobs.recipes import RECIPES
from app.settings import get_settings
from bench.report import write_section
from worker.training.architectures import build_model, compile_model
from worker.training.embeddings import build_embedding_matrix
from worker.training.pipeline import seed_everything, split_data, train
from worker.training.text import load_vectorized


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    arguments = parser.parse_args()
    settings = get_settings()
    spec = RECIPES["course-gru-32"].spec.model_copy(update={"epochs": arguments.epochs})
    data = load_vectorized(spec.sequence, settings.imdb_path, settings.cache_dir)
    splits = split_data(data, spec)
    embedding = build_embedding_matrix(
        spec.embedding,
        data.vocabulary,
        settings.imdb_path,
        settings.cache_dir,
        settings.vectors_dir,
    )
    matrix = embedding.matrix if embedding else None

    def plain() -> float:
        keras.backend.clear_session()
        seed_everything(spec.seed)
        model = compile_model(build_model(spec, data.vocabulary_size, matrix), spec)
        started = time.perf_counter()
        model.fit(
            splits.x_train,
            splits.y_train,
            batch_size=spec.batch_size,
            epochs=spec.epochs,
            validation_data=(splits.x_val, splits.y_val),
            shuffle=True,
            verbose=0,
        )
        return (time.perf_counter() - started) / spec.epochs

    def pipeline() -> float:
        keras.backend.clear_session()
        result = train(spec, settings, on_epoch=lambda epoch: None, should_stop=lambda: False)
        return result.timings["train_seconds"] / spec.epochs

    rows = []
    for pair in range(1, arguments.pairs + 1):
        ours, theirs = pipeline(), plain()
        rows.append((ours, theirs, ours / theirs))
        print(
            f"pair {pair}: pipeline {ours:.2f} s/epoch, plain fit {theirs:.2f} s/epoch, "
            f"ratio {ours / theirs:.3f}",
            flush=True,
        )
    ratio = statistics.median(row[2] for row in rows)
    table = (
        "| pair | pipeline s/epoch | plain `model.fit` s/epoch | ratio |\n|---|---|---|---|\n"
        + "\n".join(f"| {i} | {a:.2f} | {b:.2f} | {r:.3f} |" for i, (a, b, r) in enumerate(rows, 1))
        + f"\n\n**Median ratio pipeline / plain: {ratio:.3f}** (target: at most 1.10)."
    )
    print(table)
    write_section(
        "Pipeline overhead",
        f"Epoch time of `worker.training.pipeline.train` against a plain `model.fit` on the same "
        f"arrays: {spec.name}'s architecture, {len(splits.y_train):,} training and "
        f"{len(splits.y_val):,} validation reviews, {spec.epochs} epochs per run, alternating.\n\n"
        + table,
    )


if __name__ == "__main__":
    main()
