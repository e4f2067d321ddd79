"""How much sooner a job reaches its first epoch when its text settings are cached.

In one process, with a fresh cache folder: a warm-up job (other text settings,
so TensorFlow's one-time start-up is paid), then a job with the default text
settings (cold: reads the 50,000 reviews, builds the vocabulary, vectorizes),
then a second job with the same settings (warm: loads the cached arrays).
Prints the seconds from the start of each job to its first epoch, and the ratio.

    python -m bench.text_cache
"""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from app.core.settings import Settings
from app.specs.spec import TrainingSpec
from bench.report import write_section
from worker.training.pipeline import train


def job(**sequence: int) -> TrainingSpec:
    return TrainingSpec.model_validate(
        {
            "name": "cache-bench",
            "architecture": "dense",
            "embedding": {"dim": 16, "pretrained": None, "trainable": True},
            "sequence": sequence,
            "epochs": 1,
            "train_size": 2000,
            "test_size": 1000,
        }
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="text-cache-bench-") as folder:
        settings = Settings(imdb_path=Settings().imdb_path, data_dir=Path(folder))
        train(job(max_len=20, vocab_size=1000), settings)  # warm-up
        cold = train(job(max_len=100, vocab_size=20000), settings).timings
        warm = train(job(max_len=100, vocab_size=20000), settings).timings
    assert (cold["text_from_cache"], warm["text_from_cache"]) == (0.0, 1.0)
    cold_s, warm_s = cold["seconds_to_first_epoch"], warm["seconds_to_first_epoch"]
    table = (
        "| job | text arrays | seconds to first epoch |\n|---|---|---|\n"
        f"| first (max_len 100, vocab 20,000) | built | {cold_s:.2f} |\n"
        f"| second, same text settings | cached | {warm_s:.2f} |\n\n"
        f"**Ratio first / second: {cold_s / warm_s:.1f}x** (target: at least 5x)."
    )
    print(table)
    write_section(
        "Text cache",
        "Seconds from the start of a job to its first epoch, in one process after a warm-up "
        "job, with a fresh cache folder.\n\n" + table,
    )


if __name__ == "__main__":
    main()
