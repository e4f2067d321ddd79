"""A sweep through the service, end to end: dropout by L2 on course-lstm-128.

Starts the API and one worker on the embedded defaults (SQLite) in a scratch
folder, reusing this checkout's data caches, submits the sweep with
POST /v1/sweeps, follows it to its end, prints the ranked points and writes
them to docs/benchmarks.md. Six full course LSTMs: about half an hour on 2 cores.

    python -m bench.sweep_dropout_l2
"""

import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.report import write_section
from bench.service import embedded_env, start, start_api

SWEEP = {
    "name": "course-lstm-128: dropout x L2",
    "recipe": "course-lstm-128",
    "grid": {"dropout": [0, 0.2, 0.5], "regularization.l2": [0, 0.001]},
}


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    env, key = embedded_env(folder)
    api, url = start_api(folder, env)
    worker = start(folder, env, "worker", "-m", "celery", "-A", "worker.celery_app", "worker")
    http = httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {key}"})
    try:
        started = time.perf_counter()
        answer = http.post("/v1/sweeps", json=SWEEP)
        answer.raise_for_status()
        sweep: dict[str, Any] = answer.json()
        while sweep["status"] != "finished":
            time.sleep(10)
            sweep = http.get(f"/v1/sweeps/{sweep['id']}").json()
            ended = sum(sweep["by_status"][s] for s in ("succeeded", "failed", "cancelled"))
            print(f"{ended}/{sweep['total']} points ended", flush=True)
        minutes = (time.perf_counter() - started) / 60
        rows = []
        for point in sweep["points"]:
            job = http.get(f"/v1/jobs/{point['job_id']}").json()
            fit = (job.get("diagnosis") or {}).get("fit", "—")
            rows.append(
                f"| {point['rank']} | {point['values']['dropout']} | "
                f"{point['values']['regularization.l2']} | {point['best_val_accuracy']:.4f} | "
                f"{point['test_accuracy']:.4f} | {fit} | {point['status']} |"
            )
    finally:
        for process in (worker, api):
            process.terminate()
            process.wait(timeout=60)
    body = (
        "The six points of `dropout` [0, 0.2, 0.5] by `regularization.l2` [0, 0.001] on the "
        "`course-lstm-128` recipe (6 epochs each), submitted as one sweep with "
        "`POST /v1/sweeps` to a running service (API and one worker, embedded defaults) and "
        f"ranked by the service. Wall time: {minutes:.0f} min.\n\n"
        "Reproduce: `.venv/bin/python -m bench.sweep_dropout_l2`.\n\n"
        "| rank | dropout | L2 | best val acc | test acc | diagnosis | status |\n"
        "|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )
    print(body)
    write_section("Sweep: dropout by L2 on course-lstm-128", body)


if __name__ == "__main__":
    main()
