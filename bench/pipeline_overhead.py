"""Does the pipeline slow training down? Its epoch time against a plain ``model.fit``.

Two copies of the same model (course-gru-32's architecture, same seed) train on
the same arrays, epoch by epoch in turn, in one process: one through the
pipeline's fit (``worker.training.pipeline.fit`` with the worker's monitor
callback, reporting each epoch and checking for a stop request between batches,
as the Celery worker does), the other through a bare ``model.fit``. Taking the
two in alternating order, A B then B A, lets the machine's drift fall on both;
the ratio is taken pair by pair and the median quoted.

    python -m bench.pipeline_overhead [--pairs 8]
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from app.core.settings import Settings
from app.specs.recipes import RECIPES
from bench.report import write_section

RECIPE = "course-gru-32"


def main() -> None:
    from worker.training.callbacks import TrainingMonitor
    from worker.training.pipeline import fit, prepare
    from worker.training.tracker import Tracker

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=8)
    arguments = parser.parse_args()
    spec = RECIPES[RECIPE].spec
    settings = Settings()
    first = prepare(spec, settings)
    pipeline_model, splits = first.model, first.splits
    plain_model = prepare(spec, settings).model  # the same seed: the same initial weights
    stop_checks = 0

    def should_stop() -> bool:
        nonlocal stop_checks
        stop_checks += 1
        return False

    monitor = TrainingMonitor(Tracker(should_stop), on_epoch=lambda epoch: None)

    def pipeline_epoch() -> float:
        started = time.perf_counter()
        fit(pipeline_model, splits, spec, [monitor], epochs=1)
        return time.perf_counter() - started

    def plain_epoch() -> float:
        started = time.perf_counter()
        plain_model.fit(
            splits.x_train,
            splits.y_train,
            batch_size=spec.batch_size,
            epochs=1,
            validation_data=(splits.x_val, splits.y_val),
            shuffle=True,
            verbose=0,
        )
        return time.perf_counter() - started

    pipeline_epoch(), plain_epoch()  # warm-up: tracing and first-call costs
    rows = []
    for pair in range(1, arguments.pairs + 1):
        if pair % 2:
            ours, theirs = pipeline_epoch(), plain_epoch()
        else:
            theirs, ours = plain_epoch(), pipeline_epoch()
        rows.append((ours, theirs, ours / theirs))
        print(
            f"pair {pair}: pipeline {ours:.2f} s, plain {theirs:.2f} s, ratio {ours / theirs:.3f}"
        )
    ratio = statistics.median(row[2] for row in rows)
    table = (
        "| pair | pipeline s/epoch | plain `model.fit` s/epoch | ratio |\n|---|---|---|---|\n"
        + "\n".join(f"| {i} | {a:.2f} | {b:.2f} | {r:.3f} |" for i, (a, b, r) in enumerate(rows, 1))
        + f"\n\n**Median ratio pipeline / plain: {ratio:.3f}** (target: at most 1.10); "
        f"{stop_checks} stop checks made during the pipeline's epochs."
    )
    print(table)
    write_section(
        "Pipeline overhead",
        f"Epoch time of the pipeline's fit (with the worker's epoch report and stop check) "
        f"against a bare `model.fit` on the same arrays: {RECIPE}'s architecture, "
        f"{len(splits.y_train):,} training and {len(splits.y_val):,} validation reviews, "
        "one epoch at a time in turn after a warm-up epoch each, in one process. A pair in "
        "which the machine changed speed between its two epochs shows as an outlier in "
        "either direction; the median discounts it.\n\n" + table,
    )


if __name__ == "__main__":
    main()
