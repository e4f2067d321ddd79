"""Does the pipeline slow training down? Its epoch time against a plain ``model.fit``.

Both fit the same model (course-gru-32's architecture, same seed) on the same
arrays, with the same batch size and validation data. The pipeline's run is
``worker.training.pipeline.train`` with the worker's hooks (an epoch reporter
and a stop check between batches); the plain run is ``model.fit`` alone. Each
run is a fresh process, and the two alternate (A B, B A, ...) so that drift in
the machine's speed falls on both; the ratio is taken pair by pair.

    python -m bench.pipeline_overhead [--pairs 4] [--epochs 3]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from app.jobs.recipes import RECIPES
from app.jobs.spec import TrainingSpec
from app.settings import get_settings
from bench.report import write_section

RECIPE = "course-gru-32"


def one_run(kind: str, spec: TrainingSpec) -> float:
    """Seconds per epoch of one fit, in this process."""
    from worker.training.architectures import build_model, compile_model
    from worker.training.embeddings import build_embedding_matrix
    from worker.training.pipeline import seed_everything, split_data, train
    from worker.training.text import load_vectorized

    settings = get_settings()
    if kind == "pipeline":
        result = train(spec, settings, on_epoch=lambda epoch: None, should_stop=lambda: False)
        return result.timings["train_seconds"] / spec.epochs
    seed_everything(spec.seed)
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


def in_fresh_process(kind: str, epochs: int) -> float:
    command = [
        sys.executable,
        "-m",
        "bench.pipeline_overhead",
        "--run",
        kind,
        "--epochs",
        str(epochs),
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return float(json.loads(output.strip().splitlines()[-1])["seconds_per_epoch"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--run", choices=["pipeline", "plain"], help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    spec = RECIPES[RECIPE].spec.model_copy(update={"epochs": arguments.epochs})
    if arguments.run:
        print(json.dumps({"seconds_per_epoch": one_run(arguments.run, spec)}))
        return

    rows = []
    for pair in range(1, arguments.pairs + 1):
        order = ("pipeline", "plain") if pair % 2 else ("plain", "pipeline")
        seconds = {kind: in_fresh_process(kind, arguments.epochs) for kind in order}
        ratio = seconds["pipeline"] / seconds["plain"]
        rows.append((seconds["pipeline"], seconds["plain"], ratio))
        print(
            f"pair {pair}: pipeline {seconds['pipeline']:.2f} s/epoch, "
            f"plain fit {seconds['plain']:.2f} s/epoch, ratio {ratio:.3f}",
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
        f"Epoch time of `worker.training.pipeline.train` (with the worker's epoch and stop "
        f"hooks) against a plain `model.fit` on the same arrays: {RECIPE}'s architecture, "
        f"20,000 training and 5,000 validation reviews, {spec.epochs} epochs per run, each run "
        "a fresh process, alternating.\n\n" + table,
    )


if __name__ == "__main__":
    main()
