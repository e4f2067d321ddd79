"""Request ids: returned in X-Request-ID and carried by the JSON log lines."""

import json
import logging
import math
import time

from app.core.logs import JsonFormatter
from app.http.request_ids import RequestLog


def log_lines(captured: str) -> list[dict]:
    lines = []
    for line in captured.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue  # not one of ours
    return lines


def test_every_answer_has_a_request_id_and_a_json_access_line(api, capsys):
    capsys.readouterr()
    answer = api.get("/v1/jobs", headers={"X-Request-ID": "trace-42"})
    assert answer.headers["x-request-id"] == "trace-42"
    fresh = api.get("/healthz").headers["x-request-id"]
    assert len(fresh) == 32 and fresh != "trace-42"
    hostile = api.get("/healthz", headers={"X-Request-ID": "two\twords and more" * 5})
    assert hostile.headers["x-request-id"] != "two\twords and more" * 5  # replaced, not echoed
    assert api.post(
        "/v1/jobs", content=b"x" * 100, headers={"content-length": "9999999999"}
    ).headers["x-request-id"]  # a 413 has one too

    lines = log_lines(capsys.readouterr().err)
    [access] = [
        line
        for line in lines
        if line.get("request_id") == "trace-42" and line["logger"] == "app.access"
    ]
    assert (access["method"], access["path"], access["status"]) == ("GET", "/v1/jobs", 200)
    assert access["level"] == "info" and access["duration_ms"] >= 0


def access_lines(caplog) -> list[dict]:
    """The access lines' records, as dicts (their fields are extra attributes)."""
    return [vars(record) for record in caplog.records if record.name == "app.access"]


def test_successful_requests_past_the_budget_are_counted_by_the_next_line(caplog):
    """One line a second: the first request gets its line, the next four none; a
    refused request always gets one, and it says how many went without."""
    log = RequestLog(per_second=1)
    scope = {"method": "GET", "path": "/healthz", "client": ("127.0.0.1", 1)}
    caplog.set_level(logging.INFO, logger="app.access")
    for _ in range(5):
        log.record(scope, "/healthz", 200, time.perf_counter())
    log.record(scope, "/healthz", 429, time.perf_counter())
    log.record(scope, "/healthz", 503, time.perf_counter())

    lines = access_lines(caplog)
    assert [line["status"] for line in lines] == [200, 429, 503]
    assert lines[1]["unlogged"] == 4
    assert lines[1]["msg"] % lines[1]["args"] == "GET /healthz 429 (after 4 unlogged)"
    assert "unlogged" not in lines[2]  # counted once
    written = JsonFormatter().format(logging.makeLogRecord(lines[1]))
    assert json.loads(written)["unlogged"] == 4


def test_a_budget_of_inf_logs_every_request_and_zero_only_failures(caplog):
    scope = {"method": "POST", "path": "/v1/predict", "client": None}
    caplog.set_level(logging.INFO, logger="app.access")
    every, failures = RequestLog(per_second=math.inf), RequestLog(per_second=0)
    for _ in range(300):
        every.record(scope, "/v1/predict", 200, time.perf_counter())
        failures.record(scope, "/v1/predict", 200, time.perf_counter())
    failures.record(scope, "/v1/predict", 401, time.perf_counter())

    lines = access_lines(caplog)
    assert len(lines) == 301
    assert lines[-1]["status"] == 401 and lines[-1]["unlogged"] == 300
