"""The ``sentiment`` command against a running service (API and worker on SQLite)."""

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.jobs.progress import PHASE_NAMES
from tests.support.services import (
    ADMIN,
    ADMIN_KEY,
    Stack,
    embedded_env,
    free_port,
    running_stack,
)
from tests.support.specs import QUICK_DENSE_JOB

SENTIMENT = str(Path(sys.executable).parent / "sentiment")  # the package's entry point


@pytest.fixture(scope="module")
def service(imdb_path, session_data_dir, tmp_path_factory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("client")
    with running_stack(embedded_env(imdb_path, session_data_dir, folder), folder) as stack:
        yield stack


def job_of(service: Stack, job_id: str) -> dict[str, Any]:
    return dict(httpx.get(f"{service.url}/v1/jobs/{job_id}", headers=ADMIN, timeout=30).json())


def wait_until(condition: Callable[[], bool], seconds: float, what: str, service: Stack) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {seconds}s:\n{service.log('worker')[-3000:]}")
        time.sleep(0.3)


def train(service: Stack, spec: dict[str, Any]) -> dict[str, Any]:
    """Submit ``spec`` over HTTP and wait until it ends; the job, succeeded."""
    answer = httpx.post(f"{service.url}/v1/jobs", json=spec, headers=ADMIN, timeout=30)
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["id"]
    ended = {"succeeded", "failed", "cancelled"}
    wait_until(lambda: job_of(service, job_id)["status"] in ended, 300, "ended", service)
    job = job_of(service, job_id)
    assert job["status"] == "succeeded", job["error"]
    return job


@pytest.fixture(scope="module")
def model_version(service: Stack) -> int:
    """A model version of this service, trained once per module by a quick job."""
    return int(train(service, QUICK_DENSE_JOB | {"name": "cli-model"})["model_version"])


def sentiment(service: Stack, *args: str, key: str | None = ADMIN_KEY, stdin: str = "",
              url: str | None = None, terminal: bool = False,
              ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "SENTIMENT_URL": url or service.url, "COLUMNS": "200"}
    if terminal:  # rich draws its live display as on a terminal (else only its last state)
        env["TTY_COMPATIBLE"] = "1"
    if key:
        env["SENTIMENT_KEY"] = key
    return subprocess.run(
        [SENTIMENT, *args], input=stdin, env=env, capture_output=True, text=True, timeout=300
    )


def test_submit_and_wait_follows_the_job_epoch_by_epoch(service, tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(QUICK_DENSE_JOB | {"name": "cli-dense", "epochs": 3}))
    done = sentiment(service, "jobs", "submit", str(spec), "--wait", "--poll", "0.3", terminal=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "submitted job" in done.stdout
    for epoch in (1, 2, 3):
        assert f"epoch {epoch}/3  loss " in done.stdout
    # The live bar named the phases it saw on the way (a second or so each, here).
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", done.stdout.replace("\r", "\n"))  # no codes
    phases = "|".join(PHASE_NAMES.values())
    assert re.search(rf"^cli-dense +({phases})\b", drawn, re.MULTILINE), drawn
    assert "succeeded" in done.stdout and "test  loss" in done.stdout
    assert "diagnosis:" in done.stdout and "model version" in done.stdout

    listed = sentiment(service, "jobs", "list")
    assert listed.returncode == 0 and "cli-dense" in listed.stdout and "succeeded" in listed.stdout
    items = json.loads(sentiment(service, "--json", "jobs", "list").stdout)["items"]
    [job_id] = [item["id"] for item in items if item["name"] == "cli-dense"]
    shown = sentiment(service, "jobs", "show", job_id)
    assert shown.returncode == 0 and "epoch 3/3" in shown.stdout


def test_models_pin_unpin_and_predict_from_arguments_and_stdin(service, model_version):
    models = json.loads(sentiment(service, "--json", "models", "list").stdout)
    assert model_version in [item["version"] for item in models["items"]]
    version = str(model_version)
    assert sentiment(service, "models", "pin", version).returncode == 0
    listed = sentiment(service, "models", "list")
    assert "yes (pinned)" in listed.stdout
    assert sentiment(service, "models", "unpin").returncode == 0

    scored = sentiment(service, "predict", "A wonderful film.", "Dreadful, boring.")
    assert scored.returncode == 0, scored.stderr
    assert scored.stdout.count("positive") + scored.stdout.count("negative") == 2
    piped = sentiment(service, "--json", "predict", stdin="Great acting.\n\nAwful plot.\n")
    assert len(json.loads(piped.stdout)["predictions"]) == 2  # the blank line is skipped

    explained = sentiment(service, "--json", "predict", "--explain", "--top", "2", "Awful plot.")
    assert explained.returncode == 0, explained.stderr
    why = json.loads(explained.stdout)["predictions"][0]["explanation"]
    assert [t["token"] for t in why["tokens"]] and len(why["tokens"]) <= 2
    shown = sentiment(service, "predict", "--explain", "--top", "2", "Awful plot.")
    token = why["tokens"][0]
    assert f"{token['token']} {token['contribution']:+.2f}" in shown.stdout


def test_cancel_a_queued_job(service):
    # The only worker busy with a long job, so that the next one stays queued.
    long_job = QUICK_DENSE_JOB | {"name": "cli-busy", "epochs": 50, "train_size": 4000}
    busy = httpx.post(f"{service.url}/v1/jobs", json=long_job, headers=ADMIN, timeout=30)
    busy_id = busy.json()["id"]
    wait_until(lambda: job_of(service, busy_id)["status"] == "running", 240, "running", service)

    spec = QUICK_DENSE_JOB | {"name": "cli-cancel", "epochs": 50, "train_size": 4000}
    submitted = sentiment(service, "--json", "jobs", "submit", "-", stdin=json.dumps(spec))
    job_id = json.loads(submitted.stdout)["id"]
    assert json.loads(submitted.stdout)["status"] == "queued"
    cancelled = sentiment(service, "jobs", "cancel", job_id)
    assert cancelled.returncode == 0 and job_id in cancelled.stdout
    again = sentiment(service, "jobs", "cancel", job_id)
    assert again.returncode == 2  # it has ended: job_finished, a conflict (bad input)
    assert sentiment(service, "jobs", "cancel", busy_id).returncode == 0

    # The cancelled job's message still reaches the worker once the long job stopped:
    # wait until the worker has declined it, then it must never have trained.
    declined = f"job {job_id} is not queued; nothing to do"
    wait_until(lambda: declined in service.log("worker"), 240, "declined", service)
    job = job_of(service, job_id)
    assert job["status"] == "cancelled"
    assert job["attempts"] == 0 and job["latest_epoch"] is None
    assert job["model_version"] is None
    metrics = httpx.get(f"{service.url}/v1/jobs/{job_id}/metrics", headers=ADMIN, timeout=30)
    assert metrics.json()["epochs"] == []
    assert job_of(service, busy_id)["status"] == "cancelled"


def test_errors_say_what_to_fix_and_exit_with_distinct_codes(service, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"epochs": 0, "architecture": "transformer"}))
    invalid = sentiment(service, "jobs", "submit", str(bad))
    assert invalid.returncode == 2
    assert "epochs: Input should be greater than or equal to 1 (received 0)" in invalid.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    unreadable = sentiment(service, "jobs", "submit", str(broken))
    assert unreadable.returncode == 2 and "not valid JSON" in unreadable.stderr
    missing = sentiment(service, "jobs", "submit", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "cannot read the spec" in missing.stderr

    no_key = sentiment(service, "jobs", "list", key=None)
    assert no_key.returncode == 3 and "SENTIMENT_KEY" in no_key.stderr
    wrong = sentiment(service, "jobs", "list", key="snt_wrong_" + "x" * 40)
    assert wrong.returncode == 3 and "not valid" in wrong.stderr
    unknown = sentiment(service, "jobs", "show", "no-such-job")
    assert unknown.returncode == 4 and "No job with id" in unknown.stderr
    down = sentiment(service, "jobs", "list", url=f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 5 and "cannot reach the service" in down.stderr
    assert sentiment(service, "predict", stdin="").returncode == 2


def test_recipes_follow_ups_and_sweeps(service, tmp_path):
    assert "course-lstm-128" in sentiment(service, "recipes", "list").stdout
    quick = {k: v for k, v in QUICK_DENSE_JOB.items() if k != "architecture"}
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps(quick | {"name": "cli-recipe"}))
    from_recipe = sentiment(service, "recipes", "submit", "course-dense", str(overrides), "--wait")
    assert from_recipe.returncode == 0, from_recipe.stdout + from_recipe.stderr
    job_id = from_recipe.stdout.split("submitted job ")[1].split()[0]

    advice = sentiment(service, "--json", "jobs", "follow-ups", job_id)
    suggestion = json.loads(advice.stdout)["items"][0]["id"]
    assert suggestion in sentiment(service, "jobs", "follow-ups", job_id).stdout
    followed = sentiment(service, "jobs", "follow-up", job_id, suggestion)
    assert followed.returncode == 0 and f"cli-recipe + {suggestion}" in followed.stdout

    sweep = tmp_path / "sweep.json"
    sweep.write_text(json.dumps({"name": "cli sweep", "base": QUICK_DENSE_JOB,
                                 "grid": {"dropout": [0, 0.5]}}))  # fmt: skip
    swept = sentiment(service, "sweeps", "create", str(sweep), "--wait", "--poll", "0.5")
    assert swept.returncode == 0, swept.stdout + swept.stderr
    assert "cli sweep: finished" in swept.stdout and "dropout" in swept.stdout
    assert "cli sweep" in sentiment(service, "sweeps", "list").stdout


def test_models_ensemble_waits_for_its_version_and_lists_its_members(service, model_version):
    spec = QUICK_DENSE_JOB | {"name": "cli-dense-2", "seed": 3}
    trained = sentiment(service, "jobs", "submit", "-", "--wait", stdin=json.dumps(spec))
    assert trained.returncode == 0, trained.stdout + trained.stderr
    versions = [
        str(m["version"])
        for m in json.loads(sentiment(service, "--json", "models", "list").stdout)["items"]
        if not m["members"]
    ][:2]

    made = sentiment(
        service, "models", "ensemble", *versions, "--weights", "1", "3", "--name", "cli-ens",
        "--wait", "--poll", "0.5",
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    assert "succeeded" in made.stdout and "test  loss" in made.stdout
    version = re.search(r"model version (\d+)", made.stdout).group(1)  # type: ignore[union-attr]
    shown = sentiment(service, "models", "show", version)
    assert shown.returncode == 0, shown.stderr
    assert f"{versions[0]} (0.25) + {versions[1]} (0.75)" in shown.stdout

    refused = sentiment(service, "models", "ensemble", versions[0], "999")
    assert refused.returncode == 2 and "members.1: no model version 999" in refused.stderr
