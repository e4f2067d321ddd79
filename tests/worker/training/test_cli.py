import json
import os
import subprocess
import sys

from tests.support.services import PROJECT
from tests.support.specs import QUICK_DENSE_JOB, TINY_TEXT


def run_cli(*arguments, env_extra):
    env = os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3"} | env_extra
    return subprocess.run(
        [sys.executable, "-m", "worker.training", *arguments],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        env=env,
        timeout=300,
        check=False,
    )


def test_train_prints_each_epoch_and_writes_the_savedmodel(settings, tmp_path):
    spec = QUICK_DENSE_JOB | {"name": "cli-dense", "epochs": 2}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    env = {
        "SENTIMENT_IMDB_PATH": str(settings.imdb_path),
        "SENTIMENT_DATA_DIR": str(settings.data_dir),
    }
    completed = run_cli(
        "train", str(tmp_path / "spec.json"), "--out", str(tmp_path / "model"), env_extra=env
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "epoch 1/2  loss" in completed.stdout and "epoch 2/2  loss" in completed.stdout
    assert '"accuracy"' in completed.stdout and '"diagnosis"' in completed.stdout
    assert (tmp_path / "model" / "saved_model.pb").is_file()
    assert (tmp_path / "model" / "manifest.json").is_file()


def test_an_invalid_spec_names_the_field_and_the_value(tmp_path):
    (tmp_path / "spec.json").write_text(json.dumps({"epochs": 0, "dropout": 3}))
    completed = run_cli(
        "train", str(tmp_path / "spec.json"), "--out", str(tmp_path / "m"), env_extra={}
    )
    assert completed.returncode == 2
    assert "epochs: Input should be greater than or equal to 1 (received 0)" in completed.stderr
    assert "dropout: Input should be less than 1 (received 3)" in completed.stderr
    assert not (tmp_path / "m").exists()


def test_missing_data_is_a_clear_error_not_a_traceback(tmp_path):
    (tmp_path / "spec.json").write_text(json.dumps({"name": "x", "sequence": TINY_TEXT}))
    env = {"SENTIMENT_IMDB_PATH": str(tmp_path / "nowhere"), "SENTIMENT_DATA_DIR": str(tmp_path)}
    completed = run_cli(
        "train", str(tmp_path / "spec.json"), "--out", str(tmp_path / "m"), env_extra=env
    )
    assert completed.returncode == 1
    assert "IMDB data not found" in completed.stderr
    assert "Traceback" not in completed.stderr
