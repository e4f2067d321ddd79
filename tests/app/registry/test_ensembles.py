"""Ensembles over HTTP, in process: POST /v1/models/ensembles checks its members and
queues a job; the worker's runner (real, in this process) loads the members, evaluates
their average on the whole test set and registers it; the registry shows its members,
the champion rule picks it, /v1/predict serves it, and its SavedModel scores the same
in a fresh process with TensorFlow alone."""

import json
import shutil

import numpy as np
import pytest

from app.registry import artifact, store
from tests.support.api import app_settings, bearer, new_key, running_app, settings_of, without_key
from tests.support.exports import REVIEWS, load_with_tensorflow_alone
from tests.support.serving import register_copy, wait_until
from tests.support.specs import TEST_METRICS
from worker.runner import run_job
from worker.training.evaluation import calibrated


@pytest.fixture
def registry_api(tmp_path, imdb_path):
    settings = app_settings(tmp_path, imdb_path=imdb_path, data_dir=tmp_path / "data")
    with running_app(settings) as client:
        yield client


def register(api, exported, accuracy, members=None):
    settings = settings_of(api)
    return register_copy(
        settings.database_url, settings.models_store, exported, accuracy, members=members
    )


def test_bad_ensembles_get_4xx_naming_the_field(registry_api, exported):
    api = registry_api
    one = register(api, exported, 0.6)
    two = register(api, exported, 0.7)

    def refused(body, status=422):
        answer = api.post("/v1/models/ensembles", json=body)
        assert answer.status_code == status, answer.text
        return {d["field"]: d["message"] for d in answer.json()["error"]["details"]}

    assert "members" in refused({"name": "e", "members": [one]})  # at least two
    assert "distinct" in refused({"name": "e", "members": [one, one]})["(body)"]
    assert (
        "one weight per member"
        in refused({"name": "e", "members": [one, two], "weights": [1.0]})["(body)"]
    )
    zero = refused({"name": "e", "members": [one, two], "weights": [1.0, 0]})
    assert "greater than or equal to 0.000001" in zero["weights.list[constrained-float].1"]
    unequal = refused({"name": "e", "members": [one, two], "weights": "unequal"})
    assert "Input should be 'equal'" in unequal["weights.literal['equal']"]
    missing = refused({"name": "e", "members": [one, 99]})
    assert missing == {"members.1": "no model version 99 is registered"}
    shutil.rmtree(
        store.local_store(settings_of(api).models_store).open_version(f"imdb-sentiment/{two}")
    )
    assert (
        "missing from the models store"
        in refused({"name": "e", "members": [one, two]})["members.1"]
    )
    assert api.get("/v1/jobs", params={"status": "queued"}).json()["total"] == 0  # none made

    predict_only = new_key(api, "predict")
    body = {"name": "e", "members": [one, two]}
    answer = api.post("/v1/models/ensembles", json=body, headers=bearer(predict_only))
    assert answer.status_code == 403
    assert without_key(api).post("/v1/models/ensembles", json=body).status_code == 401


def test_an_ensemble_is_evaluated_registered_champion_and_served(
    registry_api, exported, exported_dense, tmp_path
):
    api = registry_api
    settings = settings_of(api)
    # Members whose recorded accuracies any working average beats: the rule must pick it.
    gru, dense = register(api, exported, 0.3), register(api, exported_dense, 0.35)

    answer = api.post(
        "/v1/models/ensembles",
        json={"name": "gru+dense", "members": [gru, dense], "weights": [1, 3]},
        headers={"Idempotency-Key": "ensemble-1"},
    )
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert answer.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] == "queued"
    assert job["spec"] == {
        "kind": "ensemble",
        "name": "gru+dense",
        "members": [gru, dense],
        "weights": [0.25, 0.75],
    }
    again = api.post(
        "/v1/models/ensembles",
        json={"name": "gru+dense", "members": [gru, dense], "weights": [1, 3]},
        headers={"Idempotency-Key": "ensemble-1"},
    )
    assert (again.status_code, again.json()["id"]) == (200, job["id"])

    status = run_job(job["id"], "test-worker", api.app.state.db, settings)
    assert status == "succeeded"
    done = api.get(f"/v1/jobs/{job['id']}").json()
    assert done["status"] == "succeeded", done["error"]
    assert done["diagnosis"] is None and done["latest_epoch"] is None
    assert set(done["test_metrics"]) == TEST_METRICS
    assert done["test_metrics"]["accuracy"] > 0.35
    assert api.get(f"/v1/jobs/{job['id']}/follow-ups").json()["error"]["code"] == "no_diagnosis"
    version = done["model_version"]

    shown = api.get(f"/v1/models/{version}").json()
    assert shown["members"] == [
        {"version": gru, "weight": 0.25},
        {"version": dense, "weight": 0.75},
    ]
    assert shown["test_metrics"] == done["test_metrics"]  # the whole test set's, recorded
    page = api.get("/v1/models").json()
    assert page["champion"] == {"version": version, "reason": "best test accuracy"}
    assert [m["members"] for m in page["items"] if m["version"] != version] == [None, None]

    folder = store.open_store(settings).open_version(shown["path"])
    assert artifact.verify_checksums(folder) == []
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [m["version"] for m in manifest["members"]] == [gru, dense]
    assert manifest["test"] == done["test_metrics"]

    def serving() -> bool:
        return bool(api.get("/readyz").json()["checks"]["champion"]["serving_version"] == version)

    wait_until(serving, 60, "the ensemble serves")
    predicted = api.post("/v1/predict", json={"texts": REVIEWS})
    assert predicted.status_code == 200, predicted.text
    assert predicted.json()["model_version"] == version
    served = [p["probability"] for p in predicted.json()["predictions"]]

    alone = load_with_tensorflow_alone(folder, REVIEWS, tmp_path)["scores"]
    assert served == pytest.approx(alone, abs=1e-5)

    # An ensemble of it and one of its members is flattened into the trained models,
    # each with its share (the GRU: 0.5 x 0.25 + 0.5).
    tree = api.post("/v1/models/ensembles", json={"name": "tree", "members": [version, gru]})
    assert tree.status_code == 202, tree.text
    assert tree.json()["spec"]["members"] == [gru, dense]
    assert tree.json()["spec"]["weights"] == pytest.approx([0.625, 0.375])
    assert run_job(tree.json()["id"], "test-worker", api.app.state.db, settings) == "succeeded"
    flat = api.get(f"/v1/jobs/{tree.json()['id']}").json()["model_version"]

    def scores(of: int) -> list[float]:
        answer = api.post(f"/v1/models/{of}/predict", json={"texts": REVIEWS})
        assert answer.status_code == 200, answer.text
        return [p["probability"] for p in answer.json()["predictions"]]

    # The leaves' average with the tree's weights, then the flat ensemble's own temperature
    # (fitted on the reviews neither leaf fitted on; the inner one's does not carry over).
    leaves = [0.625 * g + 0.375 * d for g, d in zip(scores(gru), scores(dense), strict=True)]
    flat_folder = store.open_store(settings).open_version(
        api.get(f"/v1/models/{flat}").json()["path"]
    )
    temperature = artifact.Manifest.read(flat_folder).metadata["temperature"]
    assert temperature != 1.0
    assert scores(flat) == pytest.approx(list(calibrated(np.array(leaves), temperature)), abs=1e-6)


def test_an_ensemble_tree_over_the_member_bound_is_refused_naming_its_leaves(
    registry_api, exported
):
    api = registry_api
    leaves = [register(api, exported, 0.5 + i / 100) for i in range(9)]
    # Ensembles' rows as the worker registers them (the tree is refused, or flattened,
    # before any artifact is read).
    five, four = register(api, exported, 0.7, leaves[:5]), register(api, exported, 0.7, leaves[5:])
    over = api.post("/v1/models/ensembles", json={"name": "t", "members": [five, four]})
    assert over.status_code == 422, over.text
    assert over.json()["error"]["code"] == "invalid_ensemble"
    assert "9 trained models at its leaves" in over.json()["error"]["message"]
    assert "at most 8" in over.json()["error"]["message"]

    # At the bound: eight leaves, one reached along two branches (its shares add up).
    body = {"name": "t", "members": [five, *leaves[5:8], leaves[0]]}
    at = api.post("/v1/models/ensembles", json=body)
    assert at.status_code == 202, at.text
    assert at.json()["spec"]["members"] == [*leaves[5:8], *leaves[:5]]
    assert at.json()["spec"]["weights"] == pytest.approx([0.2, 0.2, 0.2, 0.24] + [0.04] * 4)


def test_a_member_that_fails_its_checksums_fails_the_job_saying_so(registry_api, exported):
    api = registry_api
    settings = settings_of(api)
    good = register(api, exported, 0.6)
    broken = register_copy(
        settings.database_url, settings.models_store, exported, 0.7, corrupt=True
    )
    answer = api.post("/v1/models/ensembles", json={"name": "e", "members": [good, broken]})
    assert answer.status_code == 202, answer.text  # on disk: the worker checks the files
    job_id = answer.json()["id"]

    assert run_job(job_id, "test-worker", api.app.state.db, settings) == "failed"
    job = api.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "failed" and job["model_version"] is None
    assert f"member version {broken} failed its checksum check" in job["error"]
    assert len(api.get("/v1/models").json()["items"]) == 2  # nothing registered
