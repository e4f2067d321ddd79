"""Sweeps: a grid or a random search over spec fields, one job per point, ranked."""

from sqlalchemy import update

from app.jobs.models import EpochMetric, Job, JobStatus
from tests.support.api import session_of

GRID = {
    "name": "dropout x l2",
    "recipe": "course-lstm-128",
    "base": {"epochs": 2, "train_size": 500},
    "grid": {"dropout": [0, 0.2, 0.5], "regularization.l2": [0, 0.001]},
}


def test_a_grid_makes_one_job_per_point(api):
    answer = api.post("/v1/sweeps", json=GRID)
    assert answer.status_code == 202, answer.text
    sweep = answer.json()
    assert sweep["total"] == 6 and sweep["status"] == "running"
    assert sweep["by_status"]["queued"] == 6
    values = sorted(
        (p["values"]["dropout"], p["values"]["regularization.l2"]) for p in sweep["points"]
    )
    assert values == [(0, 0), (0, 0.001), (0.2, 0), (0.2, 0.001), (0.5, 0), (0.5, 0.001)]
    jobs = api.get("/v1/jobs?limit=100").json()["items"]
    assert len(jobs) == 6
    for job in jobs:  # the recipe, the base and the point, together
        assert job["spec"]["units"] == 128 and job["spec"]["epochs"] == 2
        assert job["name"].startswith("dropout x l2 [dropout=")
    assert answer.headers["location"] == f"/v1/sweeps/{sweep['id']}"


def test_points_are_ranked_by_validation_accuracy(api):
    sweep = api.post("/v1/sweeps", json=GRID).json()
    ids = [p["job_id"] for p in sweep["points"]]
    with session_of(api) as session:  # as a worker would record them
        for accuracy, job_id in zip([0.71, 0.86, 0.79], ids, strict=False):
            test = {"accuracy": accuracy - 0.01}
            done = update(Job).where(Job.id == job_id)
            session.execute(
                done.values(status=JobStatus.succeeded, epochs_done=1, test_metrics=test)
            )
            epoch = {"loss": 0.5, "accuracy": 0.8, "val_loss": 0.5, "seconds": 1.0}
            session.add(EpochMetric(job_id=job_id, epoch=1, val_accuracy=accuracy, **epoch))
    ranked = api.get(f"/v1/sweeps/{sweep['id']}").json()["points"]
    assert [p["best_val_accuracy"] for p in ranked[:3]] == [0.86, 0.79, 0.71]
    assert [p["rank"] for p in ranked] == [1, 2, 3, None, None, None]
    assert ranked[0]["test_accuracy"] == 0.85


def test_cancelling_a_sweep_cancels_its_waiting_jobs(api):
    sweep = api.post("/v1/sweeps", json=GRID).json()
    cancelled = api.post(f"/v1/sweeps/{sweep['id']}/cancel").json()
    assert cancelled["by_status"]["cancelled"] == 6 and cancelled["status"] == "finished"
    assert api.get("/v1/sweeps").json()["items"][0]["id"] == sweep["id"]


def test_a_random_search_is_reproducible_by_its_seed(api):
    search = {
        "name": "random",
        "base": {"architecture": "gru", "units": 8, "epochs": 1},
        "random": {
            "samples": 4,
            "seed": 7,
            "space": {
                "optimizer.learning_rate": {"min": 0.0001, "max": 0.01, "log": True},
                "units": {"min": 8, "max": 64, "integer": True},
                "dropout": [0, 0.3],
            },
        },
    }
    first = api.post("/v1/sweeps", json=search).json()
    again = api.post("/v1/sweeps", json=search).json()
    values = [p["values"] for p in first["points"]]
    assert sorted(map(str, values)) == sorted(str(p["values"]) for p in again["points"])
    for point in values:
        assert 0.0001 <= point["optimizer.learning_rate"] <= 0.01
        assert isinstance(point["units"], int) and 8 <= point["units"] <= 64
        assert point["dropout"] in (0, 0.3)


def test_bad_sweeps_create_nothing_and_say_why(api):
    for body, needle in (
        (GRID | {"grid": {"dropout": [0, 0.2, 7]}}, "Point 3 (dropout=7)"),
        (GRID | {"grid": {"units": list(range(1, 21)), "epochs": list(range(1, 21))}}, "400"),
        (GRID | {"grid": {"layers": [1, 2]}}, "Extra inputs are not permitted"),
        (GRID | {"recipe": "course-transformer"}, "No recipe named"),
        (GRID | {"random": {"samples": 2, "space": {"dropout": [0]}}}, "exactly one of grid"),
    ):  # fmt: skip
        answer = api.post("/v1/sweeps", json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert needle in answer.json()["error"]["message"], answer.text
    assert api.get("/v1/jobs").json()["total"] == 0
    assert api.get("/v1/sweeps").json()["items"] == []
    assert api.get("/v1/sweeps/nope").status_code == 404


def test_nan_and_infinity_anywhere_get_a_422_that_echoes_them(api):
    for path, body in (
        ("/v1/recipes/course-dense/jobs", b'{"dropout": NaN}'),
        ("/v1/sweeps", b'{"name": "x", "base": {"dropout": Infinity}, "grid": {"epochs": [1]}}'),
        ("/v1/sweeps", b'{"name": "x", "grid": {"dropout": [NaN]}}'),
        ("/v1/sweeps", b'{"name": "x", "random": {"samples": 1, "space": '
                       b'{"units": {"min": -Infinity, "max": 1}}}}'),
    ):  # fmt: skip
        answer = api.post(path, content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 422, (body, answer.text)
    assert api.get("/v1/jobs").json()["total"] == 0
