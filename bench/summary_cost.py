"""What ``POST /v1/specs/summary`` costs the API process, against ``GET /healthz`` (a
request that does nothing) in the same run.

Starts the API on SQLite in a scratch folder and sends, from one client:
- the request that once took the process to 12.7 GB (a 1,024-wide embedding over a
  million words: now refused by admission),
- the course's LSTM and the ``best`` recipe (admitted: the layer table and estimate),
- 91 specs of varied sizes, admitted or not, then 45 of them at once.
It prints each one's latency beside /healthz's and the process's resident memory
before and after, and writes the table to docs/benchmarks.md.

    python -m bench.summary_cost
"""

import random
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from app.specs.recipes import RECIPES
from bench.report import write_section
from bench.service import embedded_env, start_api

HUGE = {
    "architecture": "dense",
    "pooling": "average",
    "embedding": {"dim": 1024, "pretrained": None},
    "sequence": {"vocab_size": 1_000_000, "max_len": 10},
}


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS: this benchmark reads Linux's /proc")


def varied(rng: random.Random) -> dict[str, Any]:
    architecture = rng.choice(["dense", "simple_rnn", "lstm", "gru"])
    spec: dict[str, Any] = {
        "architecture": architecture,
        "embedding": {"dim": rng.choice([8, 64, 300, 1024]), "pretrained": None},
        "sequence": {
            "vocab_size": rng.choice([1000, 20_000, 200_000, 1_000_000]),
            "max_len": rng.choice([10, 100, 500, 2000]),
        },
        "batch_size": rng.choice([32, 128, 1024]),
    }
    if architecture == "dense":
        spec["hidden_layers"] = [rng.choice([16, 256, 4096])] * rng.randint(0, 4)
    else:
        spec["units"] = rng.choice([8, 128, 1024])
        spec["recurrent_layers"] = rng.randint(1, 4)
        spec["bidirectional"] = rng.random() < 0.5
    return spec


def timed(http: httpx.Client, method: str, path: str, body: Any = None) -> tuple[float, int]:
    started = time.perf_counter()
    answer = http.request(method, path, json=body)
    return (time.perf_counter() - started) * 1000, answer.status_code


def median_ms(http: httpx.Client, method: str, path: str, body: Any = None) -> tuple[float, int]:
    runs = [timed(http, method, path, body) for _ in range(9)]
    return statistics.median(ms for ms, _ in runs), runs[-1][1]


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="summary-bench-"))
    # The summary shares the predict rate limit: off, for the burst below.
    env, key = embedded_env(folder, SENTIMENT_RATE_LIMIT_PREDICT_PER_MINUTE="0")
    api, url = start_api(folder, env)
    http = httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {key}"})
    try:
        for _ in range(20):  # warm both paths
            http.get("/healthz")
            http.post("/v1/specs/summary", json={})
        before = resident_mb(api.pid)
        rows = [("GET /healthz (baseline)", *median_ms(http, "GET", "/healthz"))]
        huge_ms, huge_status = timed(http, "POST", "/v1/specs/summary", HUGE)
        after_huge = resident_mb(api.pid)
        rows.append(("the 12.7 GB request of the report", huge_ms, huge_status))
        for name in ("course-lstm-128", "best"):
            spec = RECIPES[name].spec.model_dump(mode="json")
            rows.append((f"summary of {name}", *median_ms(http, "POST", "/v1/specs/summary", spec)))
        rng = random.Random(7)
        specs = [varied(rng) for _ in range(91)]
        one_by_one = [timed(http, "POST", "/v1/specs/summary", spec) for spec in specs]
        started = time.perf_counter()
        with ThreadPoolExecutor(45) as pool:
            at_once = list(pool.map(
                lambda spec: timed(http, "POST", "/v1/specs/summary", spec), specs[:45]
            ))  # fmt: skip
        concurrent_s = time.perf_counter() - started
        after = resident_mb(api.pid)
    finally:
        http.close()
        api.terminate()
        api.wait(timeout=30)

    baseline = rows[0][1]
    table = "| request | status | median ms | x /healthz |\n|---|---|---|---|\n" + "".join(
        f"| {name} | {status} | {ms:.1f} | {ms / baseline:.1f} |\n" for name, ms, status in rows
    )
    admitted = sum(status == 200 for _, status in one_by_one)
    latencies = sorted(ms for ms, _ in one_by_one)
    table += (
        f"| 91 varied specs, one by one ({admitted} admitted, {91 - admitted} refused) | — | "
        f"{statistics.median(latencies):.1f} (max {latencies[-1]:.1f}) | "
        f"{statistics.median(latencies) / baseline:.1f} |\n"
        f"| 45 of them at once | — | all in {concurrent_s * 1000:.0f} ms "
        f"(slowest {max(ms for ms, _ in at_once):.1f}) | — |\n"
    )
    memory = (
        f"\nResident memory of the API process: {before:.0f} MB before, {after_huge:.0f} MB "
        f"after the 12.7 GB request (+{after_huge - before:.1f} MB), {after:.0f} MB after all "
        f"{len(specs) + 45 + 20} summaries (+{after - before:.1f} MB).\n"
        f"\nTargets: the report's request answers in under a second "
        f"(**{huge_ms:.1f} ms**, {huge_status}) with the API's memory growing by less than "
        f"50 MB (**+{after_huge - before:.1f} MB**).\n"
    )
    print(table + memory)
    write_section(
        "Spec summary cost",
        "`python -m bench.summary_cost`: the API process serving `POST /v1/specs/summary`, "
        "computed from the spec (no TensorFlow, no weights) and bounded by the same admission "
        "as a job; one client on the same machine.\n\n" + table + memory,
    )


if __name__ == "__main__":
    main()
