"""Command line: ``python -m worker.training prepare-data`` and
``python -m worker.training train SPEC.json --out DIR``."""

import argparse
import json
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from app.core.settings import Settings
from app.specs.spec import TrainingSpec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker.training", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "prepare-data",
        help="Extract the IMDB archive (or download it) to SENTIMENT_IMDB_PATH.",
    )
    train_parser = commands.add_parser("train", help="Train one spec and export its SavedModel.")
    train_parser.add_argument("spec", type=Path, help="The training spec, a JSON file.")
    train_parser.add_argument(
        "--out", type=Path, required=True, help="The SavedModel folder to write."
    )
    arguments = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if arguments.command == "prepare-data":
        return prepare_data()
    return train_one(arguments.spec, arguments.out)


def prepare_data() -> int:
    from worker.training.data import ImdbDataError, prepare_imdb

    settings = Settings()
    settings.apply_umask()  # the data folder holds the database and caches too
    try:
        path = prepare_imdb(settings.imdb_path, settings.imdb_archive_candidates, settings.imdb_url)
    except ImdbDataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"IMDB data ready at {path}")
    return 0


def train_one(spec_path: Path, out: Path) -> int:
    try:
        spec = TrainingSpec.model_validate_json(spec_path.read_text(encoding="utf-8"))
    except OSError as error:
        print(f"error: cannot read the spec {str(spec_path)!r}: {error.strerror}", file=sys.stderr)
        return 2
    except ValidationError as error:
        print(f"error: invalid spec {str(spec_path)!r}:", file=sys.stderr)
        for problem in error.errors():
            field = ".".join(str(part) for part in problem["loc"]) or "(spec)"
            print(f"  {field}: {problem['msg']} (received {problem['input']!r})", file=sys.stderr)
        return 2
    if out.exists():
        print(f"error: {str(out)!r} exists; choose a new folder for --out", file=sys.stderr)
        return 2

    # TensorFlow loads only once the spec is known to be valid.
    from worker.training.data import ImdbDataError
    from worker.training.embeddings import VectorsError
    from worker.training.export import export_saved_model
    from worker.training.pipeline import train
    from worker.training.records import EpochMetrics

    def show(epoch: EpochMetrics) -> None:
        print(
            f"epoch {epoch.epoch}/{spec.epochs}  loss {epoch.loss:.4f}  "
            f"accuracy {epoch.accuracy:.4f}  val_loss {epoch.val_loss:.4f}  "
            f"val_accuracy {epoch.val_accuracy:.4f}  {epoch.seconds:.1f}s",
            flush=True,
        )

    try:
        result = train(spec, Settings(), on_epoch=show)
    except (ImdbDataError, VectorsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    summary = result.summary()
    export_saved_model(
        result.model,
        result.vocabulary,
        spec,
        result.manifest_metadata(),
        out,
        temperature=result.temperature,
    )
    print(
        json.dumps(
            {key: summary[key] for key in ("test", "temperature", "parameters", "diagnosis")},
            indent=2,
        )
    )
    print(f"SavedModel written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
