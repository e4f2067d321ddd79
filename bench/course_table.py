"""The course's experiments on the full IMDB data, beside the course's figures.

Trains every course recipe (frozen 100-d imdb-word2vec embeddings, 100 tokens,
batch 128, validation split 0.2) on all 25,000 training reviews, evaluates on
all 25,000 test reviews, prints a markdown table and writes it to
docs/benchmarks.md. Takes about half an hour on 2 CPU cores.

    python -m bench.course_table [--only course-lstm-128 ...]
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras

from app.core.settings import Settings
from app.specs.recipes import RECIPES
from bench.report import write_section
from worker.training.pipeline import TrainingResult, train

COLUMNS = (
    "recipe | test acc | test loss | val acc | val loss | course | Δ | params total | "
    "trainable | s/epoch | diagnosis"
)


def row(name: str, result: TrainingResult) -> str:
    recipe = RECIPES[name]
    last = result.history[-1]
    test = result.test_metrics or {}
    ours = test.get("accuracy", 0.0) if recipe.course_metric == "test" else last.val_accuracy
    course = (
        f"{recipe.course_accuracy:.2f} ({recipe.course_metric})" if recipe.course_accuracy else "—"
    )
    delta = f"{ours - recipe.course_accuracy:+.3f}" if recipe.course_accuracy else "—"
    seconds = sum(epoch.seconds for epoch in result.history) / len(result.history)
    diagnosis = result.diagnosis.fit.value if result.diagnosis else "—"
    return (
        f"{name} | {test.get('accuracy', 0):.4f} | {test.get('loss', 0):.4f} | "
        f"{last.val_accuracy:.4f} | {last.val_loss:.4f} | {course} | {delta} | "
        f"{result.parameters['total']:,} | {result.parameters['trainable']:,} | "
        f"{seconds:.1f} | {diagnosis}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", choices=sorted(RECIPES), help="Recipes to run.")
    names = parser.parse_args().only or list(RECIPES)
    settings = Settings()
    rows = []
    for name in names:
        keras.backend.clear_session()
        started = time.perf_counter()
        result = train(RECIPES[name].spec, settings)
        rows.append(row(name, result))
        print(f"{rows[-1]}   ({time.perf_counter() - started:.0f} s in all)", flush=True)
    header = f"| {COLUMNS} |\n|{'---|' * len(COLUMNS.split('|'))}"
    table = header + "\n" + "\n".join(f"| {line} |" for line in rows)
    print(table)
    write_section(
        "Course table",
        "Each course experiment trained on all 25,000 training reviews (20,000 fit, 5,000 "
        "validation) and tested on all 25,000 test reviews. `course` is the figure the course "
        "reports (test or validation accuracy); `Δ` compares ours on the same measure.\n\n" + table,
    )


if __name__ == "__main__":
    main()
