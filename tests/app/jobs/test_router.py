"""The jobs API's contract, in process on SQLite (no worker: jobs stay queued)."""

import json
import subprocess
from typing import Any

import pytest

QUICK: dict[str, Any] = {"name": "quick", "architecture": "gru", "units": 8, "epochs": 2}


def test_submit_answers_202_with_location_and_a_queued_job(api):
    answer = api.post("/v1/jobs", json=QUICK)
    assert answer.status_code == 202
    job = answer.json()
    assert answer.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] == "queued"
    progress = job["progress"]
    assert (progress["epoch"], progress["epochs"], progress["text"]) == (0, 2, "epoch 0 of 2")
    assert progress["phase"] is None and progress["done"] is None  # queued: no phase yet
    assert (
        job["spec"]["units"] == 8 and job["spec"]["embedding"]["dim"] == 100
    )  # defaults filled in
    assert api.get(job["links"]["self"]).json()["id"] == job["id"]


def test_bad_specs_get_422_naming_each_field(api):
    answer = api.post(
        "/v1/jobs",
        json={"epochs": 0, "units": "many", "optimizer": {"name": "lion"}, "epoch": 3},
    )
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    fields = {detail["field"]: detail for detail in error["details"]}
    assert set(fields) == {"epochs", "units", "optimizer.name", "epoch"}
    assert fields["epochs"]["received"] == 0
    assert "greater than or equal to 1" in fields["epochs"]["message"]
    assert fields["units"]["received"] == "many"
    assert "'sgd', 'adagrad', 'rmsprop' or 'adam'" in fields["optimizer.name"]["message"]
    assert "Extra inputs are not permitted" in fields["epoch"]["message"]
    assert api.get("/v1/jobs").json()["total"] == 0  # nothing was created


def test_malformed_json_and_wrong_types_are_422_not_500(api):
    broken = api.post(
        "/v1/jobs", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422
    assert "not valid JSON" in broken.json()["error"]["details"][0]["message"]
    assert api.post("/v1/jobs", json=["a", "list"]).status_code == 422
    huge = api.post("/v1/jobs", json={"epochs": 10**30})
    assert huge.status_code == 422
    assert (
        api.post(
            "/v1/jobs", content=b'{"dropout": NaN}', headers={"content-type": "application/json"}
        ).status_code
        == 422
    )


def test_an_idempotency_key_makes_a_resubmission_answer_the_same_job(api):
    headers = {"Idempotency-Key": "client-42"}
    first = api.post("/v1/jobs", json=QUICK, headers=headers)
    again = api.post("/v1/jobs", json=QUICK, headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["location"] == first.headers["location"]
    assert api.get("/v1/jobs").json()["total"] == 1
    other = api.post("/v1/jobs", json=QUICK | {"epochs": 3}, headers=headers)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"


def test_jobs_list_filters_by_status_and_paginates(api):
    ids = [api.post("/v1/jobs", json=QUICK | {"name": f"job-{i}"}).json()["id"] for i in range(3)]
    api.post(f"/v1/jobs/{ids[0]}/cancel")
    everything = api.get("/v1/jobs").json()
    assert everything["total"] == 3
    assert [job["id"] for job in everything["items"]] == ids[::-1]  # newest first
    page = api.get("/v1/jobs", params={"limit": 2, "offset": 2}).json()
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 2)
    assert [job["id"] for job in page["items"]] == [ids[0]]
    cancelled = api.get("/v1/jobs", params={"status": "cancelled"}).json()
    assert [job["id"] for job in cancelled["items"]] == [ids[0]]
    assert api.get("/v1/jobs", params={"status": "sleeping"}).status_code == 422
    assert api.get("/v1/jobs", params={"limit": 1000}).status_code == 422


def test_a_queued_job_is_cancelled_at_once_and_a_finished_one_cannot_be(api):
    job_id = api.post("/v1/jobs", json=QUICK).json()["id"]
    cancelled = api.post(f"/v1/jobs/{job_id}/cancel")
    assert cancelled.status_code == 202
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["timings"]["finished_at"] is not None
    again = api.post(f"/v1/jobs/{job_id}/cancel")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "job_finished"


def test_unknown_jobs_are_404_with_a_json_error(api):
    for path in ("/v1/jobs/nope", "/v1/jobs/nope/metrics", "/v1/models/7"):
        answer = api.get(path)
        assert answer.status_code == 404, path
        assert "error" in answer.json()
    assert api.post("/v1/jobs/nope/cancel").status_code == 404
    assert api.get("/v1/jobs/queued/metrics", params={"since_epoch": -1}).status_code == 422


def test_metrics_of_a_queued_job_are_empty(api):
    job_id = api.post("/v1/jobs", json=QUICK).json()["id"]
    metrics = api.get(f"/v1/jobs/{job_id}/metrics", params={"since_epoch": 0}).json()
    progress = metrics.pop("progress")
    assert metrics == {"job_id": job_id, "status": "queued", "epochs_total": 2, "epochs": []}
    assert progress["text"] == "epoch 0 of 2" and progress["phase"] is None


def test_openapi_documents_the_job_examples(api):
    spec = api.get("/openapi.json").json()
    body = spec["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]
    assert {"course-lstm", "gru-dropout", "quick"} <= set(body["examples"])
    assert api.get("/docs").status_code == 200


def redis_is_up(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def test_a_broker_that_is_down_loses_no_job(tmp_path):
    """Submitted while the broker is down, the job is kept; once the broker is back on
    the same address, the reconciler sends it, and a consumer of the training queue
    receives the task with the job's id."""
    from kombu import Connection

    from app.jobs.queue import TRAIN_TASK
    from tests.support.api import app_settings, running_app
    from tests.support.services import free_port
    from tests.support.serving import wait_until
    from worker.reconciler import reconcile_once

    port = free_port()  # nothing listens there yet
    settings = app_settings(
        tmp_path, broker_url=f"redis://127.0.0.1:{port}/0", resend_after_seconds=0.001
    )
    with running_app(settings) as api:
        answer = api.post("/v1/jobs", json=QUICK)
        assert answer.status_code == 202
        job_id = answer.json()["id"]
        assert api.get(f"/v1/jobs/{job_id}").json()["status"] == "queued"  # kept, to be sent again

        broker = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(lambda: redis_is_up(port), 30, "the broker is back")
            state = api.app.state  # type: ignore[attr-defined]
            queue = state.queue  # the app's own sender, on the broker's address
            counts = reconcile_once(state.db, settings, queue.send)
            assert counts["resent"] == 1

            with Connection(settings.broker_url) as connection:  # a consumer of its own
                consumer = connection.SimpleQueue(settings.queue)
                try:
                    message = consumer.get(timeout=10)
                    assert message.headers["task"] == TRAIN_TASK
                    args, kwargs, _ = message.payload
                    assert (args, kwargs) == ([job_id], {})
                    message.ack()
                    with pytest.raises(consumer.Empty):  # that one message, nothing else
                        consumer.get(timeout=1)
                finally:
                    consumer.close()
        finally:
            broker.terminate()
            broker.wait(timeout=30)


def test_unknown_query_parameters_and_lax_types_are_422(api):
    typo = api.get("/v1/jobs?stauts=running")
    assert typo.status_code == 422
    assert "Unknown query parameters ['stauts']" in typo.json()["error"]["message"]
    for loose in ({"epochs": True}, {"epochs": "5"}, {"epochs": 5.0}, {"bidirectional": 1}):
        answer = api.post("/v1/jobs", json={"name": "loose"} | loose)
        assert answer.status_code == 422, loose  # true is not 1, "5" is not 5
    assert api.post("/v1/jobs", json={"name": "x", "dropout": 0}).status_code == 202  # 0 is 0.0
    undecodable = api.post(
        "/v1/jobs", content=b"\xff\xfe{", headers={"content-type": "application/json"}
    )
    assert undecodable.status_code == 422
    assert "UTF-8" in undecodable.json()["error"]["message"]


def test_names_must_be_printable_unicode(api):
    for name in ("two\nlines", "bell\x07", "lone \ud800 half"):
        body = json.dumps({"name": name})  # escapes the surrogate, as a JSON client may
        answer = api.post("/v1/jobs", content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 422, name
        assert answer.json()["error"]["details"][0]["field"] == "name"
    assert api.post("/v1/jobs", json={"name": "Überraschung 🎬 LSTM"}).status_code == 202
