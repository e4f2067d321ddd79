"""Request ids: returned in X-Request-ID and carried by the JSON log lines."""

import json


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
