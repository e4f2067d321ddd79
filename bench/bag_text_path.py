"""A bag's text path in the SavedModel, before and after, in one run: `best` (the
NB-weighted trigram bag) trained once, exported twice from the same weights:

- padded: every review padded to ``max_len`` (2,000) token ids and each row sorted to
  find its repeats, then the Keras model, as every model was exported before;
- unpadded: each review's own ids, found by integer keys rather than n-gram strings
  (``worker/training/text.py``'s ``NgramIds``), repeats by one sparse count, and one
  logit per token averaged (``worker/training/export.py``'s ``Bag``).

Both are loaded as the API loads a version (``LoadedModel``: one thread per call) and
timed in process at batches of 1, 64 and 256 real test reviews; then both score all
25,000 test reviews and the largest difference is printed (the target: at most 1e-6,
and at least 1.5 x the reviews/s at 64 and 256).

    python -m bench.bag_text_path [--seconds 10] [--train-size N]
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from app.core.settings import Settings
from app.predict.loader import LoadedModel
from app.specs.recipes import RECIPES
from bench.report import write_section
from worker.training.data import load_imdb
from worker.training.export import export_saved_model
from worker.training.pipeline import train

BATCHES = (1, 64, 256)


def reviews_per_second(model: LoadedModel, reviews: list[str], batch: int, seconds: float) -> float:
    scored, calls, started = 0, 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        start = (calls * batch) % (len(reviews) - batch)
        model.score(reviews[start : start + batch])
        scored, calls = scored + batch, calls + 1
    return scored / (time.perf_counter() - started)


def all_scores(model: LoadedModel, reviews: list[str]) -> np.ndarray:
    return np.concatenate(
        [np.asarray(model.score(reviews[i : i + 256])) for i in range(0, len(reviews), 256)]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--train-size", type=int, default=None, help="default: the recipe's")
    arguments = parser.parse_args()
    settings = Settings()
    spec = RECIPES["best"].spec
    if arguments.train_size:
        spec = spec.model_copy(update={"train_size": arguments.train_size})
    print(f"training {spec.name} ...", flush=True)
    result = train(spec, settings)
    work = Path(tempfile.mkdtemp(prefix="bag-text-path-"))
    loaded = {}
    for name, bag_path in (("padded", False), ("unpadded", True)):
        folder = work / name
        export_saved_model(result.model, result.vocabulary, result.spec, {}, folder, bag_path)
        loaded[name] = LoadedModel(1, name, folder, intra_op_threads=1, inter_op_threads=1)
    test = load_imdb(settings.imdb_path).test.texts
    order = np.random.default_rng(0).permutation(len(test))
    sample = [test[i] for i in order[:4096]]

    rows, speed = [], {}
    for batch in BATCHES:
        for name, model in loaded.items():  # alternated: drift hits both alike
            speed[name, batch] = reviews_per_second(model, sample, batch, arguments.seconds)
        rows.append(
            f"| {batch} | {speed['padded', batch]:,.0f} | {speed['unpadded', batch]:,.0f} "
            f"| **{speed['unpadded', batch] / speed['padded', batch]:.2f}** |"
        )
        print(rows[-1], flush=True)
    padded, unpadded = (all_scores(loaded[name], test) for name in ("padded", "unpadded"))
    largest = float(np.max(np.abs(padded - unpadded)))
    same_label = float(np.mean((padded > 0.5) == (unpadded > 0.5)))

    size = f"{spec.train_size:,} training reviews" if spec.train_size else "all 25,000"
    table = (
        "| batch | padded: reviews/s | unpadded: reviews/s | unpadded / padded |\n"
        "|---|---|---|---|\n" + "\n".join(rows)
    )
    gain = {batch: speed["unpadded", batch] / speed["padded", batch] for batch in BATCHES}
    verdict = (
        f"\n\n- the largest difference in P(positive) over the 25,000 test reviews: "
        f"**{largest:.1e}** (target: at most 1e-6); the same label for {same_label:.2%}\n"
        f"- unpadded / padded at batches 64 and 256: **{gain[64]:.2f}** and **{gain[256]:.2f}** "
        "(target: at least 1.5)"
    )
    print(table + verdict)
    write_section(
        "Bag text path",
        f"`best` ({size}) trained once and exported twice from the same weights: padded "
        "(each review padded to 2,000 ids and each row sorted to find repeats, as before) "
        "and unpadded (each review's own ids, found by integer keys rather than n-gram "
        "strings, repeats by one sparse count, one logit per token). Each loaded "
        "as the API loads it (one thread per call) and timed in process for "
        f"{arguments.seconds:g} s per batch size on real test reviews. Reproduce: "
        "`.venv/bin/python -m bench.bag_text_path`.\n\n" + table + verdict,
    )


if __name__ == "__main__":
    main()
