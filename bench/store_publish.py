"""The models store on a local folder against an S3 bucket, side by side in one run:
the time to publish `best` (a worker's last step), and a new API host's time from
its start to its first answer (an empty cache: for the bucket, that is downloading
and checking every file before loading it).

`best` is trained through the worker's own code path, one epoch (its artifact has
the size of the 6-epoch one: the same vocabulary and weights). The S3 server is the
one the tests run (SeaweedFS, on loopback, started here). Each figure is taken
``--rounds`` times, the two stores in turn; the table gives the median, min and max.

    python -m bench.store_publish [--rounds 3]
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

WORK = Path(tempfile.mkdtemp(prefix="store-publish-"))
ADMIN_KEY = "snt_benchadmin_" + "k" * 40
os.environ.update(
    {
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "SENTIMENT_DATABASE_URL": f"sqlite:///{WORK}/sentiment.sqlite",
        "SENTIMENT_BROKER_URL": f"sqla+sqlite:///{WORK}/broker.sqlite",
        "SENTIMENT_MODELS_STORE": str(WORK / "models_store"),
        "SENTIMENT_ADMIN_KEY": ADMIN_KEY,
    }
)

from app.core.settings import Settings  # noqa: E402  (after the environment above)
from app.registry import store  # noqa: E402  (after the environment above)
from app.registry.objects import S3Objects  # noqa: E402  (after the environment above)
from app.registry.store import ModelStore  # noqa: E402  (after the environment above)
from app.specs.recipes import RECIPES  # noqa: E402  (after the environment above)
from bench.report import write_section  # noqa: E402  (after the environment above)
from bench.service import free_port, train_and_register  # noqa: E402  (after the environment above)
from tests.support.object_store import S3Server  # noqa: E402  (after the environment above)

PROJECT = Path(__file__).resolve().parents[1]
SETTINGS = Settings()


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def publish_seconds(models: ModelStore, export: Path, version: int) -> float:
    staged = models.staging_path(f"bench-{version}")
    shutil.copytree(export, staged)  # the export, as a worker leaves it (not timed)
    started = time.perf_counter()
    models.publish(staged, version)
    return time.perf_counter() - started


def first_answer_seconds(env: dict[str, str], name: str) -> tuple[float, float | None]:
    """Start an API process (one, as a new host would) and time it to its first
    200 from /v1/predict; with the seconds its log says the download took."""
    port = free_port()
    log = open(WORK / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=PROJECT, env=os.environ | env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = started + 600
        while time.perf_counter() < deadline and process.poll() is None:
            try:
                answer = httpx.post(
                    f"http://127.0.0.1:{port}/v1/predict",
                    json={"texts": ["A fine film."]},
                    headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                    timeout=60,
                )
                if answer.status_code == 200:
                    return time.perf_counter() - started, downloaded_seconds(name)
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{name}: no answer; see {WORK / f'{name}.log'}")
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


def downloaded_seconds(name: str) -> float | None:
    """From the cache's log line: "models cache: downloaded ... in 1.2s"."""
    found = re.findall(r"models cache: downloaded \S+ \(\d+ files\) in ([0-9.]+)s",
                       (WORK / f"{name}.log").read_text(errors="replace"))  # fmt: skip
    return float(found[-1]) if found else None


def spread(values: list[float], digits: int = 2) -> str:
    if not values:
        return "—"
    low, middle, high = min(values), statistics.median(values), max(values)
    return f"{middle:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds

    relative = train_and_register(RECIPES["best"].spec.model_copy(update={"epochs": 1}), SETTINGS)
    local = store.open_store(SETTINGS)
    export = local.open_version(relative)
    size = folder_bytes(export)
    print(f"best: {size / 1e6:.1f} MB in {sum(1 for _ in export.rglob('*'))} entries", flush=True)

    server = S3Server(WORK / "s3")
    server.start()
    try:
        os.environ.update(server.env)
        bucket = server.new_bucket()
        url = f"s3://{bucket}/models"
        bucket_store = ModelStore(S3Objects(url), WORK / "worker-cache", 0)
        published: dict[str, list[float]] = {"local folder": [], "S3 bucket": []}
        answered: dict[str, list[float]] = {"local folder": [], "S3 bucket": []}
        downloads: dict[str, list[float]] = {"local folder": [], "S3 bucket": []}
        for index in range(rounds):
            version = 1000 + index
            published["local folder"].append(publish_seconds(local, export, version))
            published["S3 bucket"].append(publish_seconds(bucket_store, export, version))
        bucket_store.publish(_copy(export, bucket_store, "champion"), int(relative.split("/")[1]))
        for index in range(rounds):
            cache = WORK / f"api-cache-{index}"  # a new host: nothing cached
            env = server.env | {
                "SENTIMENT_MODELS_STORE": url,
                "SENTIMENT_MODELS_CACHE": str(cache),
            }
            for name, host_env in (("local folder", {}), ("S3 bucket", env)):
                seconds, downloaded = first_answer_seconds(host_env, f"{name[:5]}-{index}")
                answered[name].append(seconds)
                if downloaded is not None:
                    downloads[name].append(downloaded)
            print(f"round {index + 1}: {answered['local folder'][-1]:.1f} s local, "
                  f"{answered['S3 bucket'][-1]:.1f} s S3", flush=True)  # fmt: skip
    finally:
        server.stop()

    rows = "\n".join(
        f"| {name} | {spread(published[name], 3)} | {spread(downloads[name])} "
        f"| {spread(answered[name])} |"
        for name in published
    )
    published_s3 = statistics.median(published["S3 bucket"])
    published_local = statistics.median(published["local folder"])
    ratio_publish = published_s3 / max(published_local, 1e-6)
    download = statistics.median(downloads["S3 bucket"]) if downloads["S3 bucket"] else 0.0
    extra = statistics.median(answered["S3 bucket"]) - statistics.median(answered["local folder"])
    body = f"""
`best` (the recipe, trained one epoch through the worker's code: the artifact of the
6-epoch run in size), **{size / 1e6:.0f} MB**. Publish: a worker's last step, from its
finished export to the version in the store (a rename for a folder; every file then the
manifest for a bucket). First answer: a new API host (one process, an empty cache) from
its start to its first 200 from `/v1/predict`; from the bucket that includes downloading
and checking every file. The S3 server is SeaweedFS 4.48 on this machine (loopback), so
the network is not in these figures. {rounds} rounds, the stores in turn; median
(min-max) seconds. Reproduce: `.venv/bin/python -m bench.store_publish`.

| models store | publish (s) | download and check (s) | new API host to first answer (s) |
|---|---|---|---|
{rows}

- publishing to the bucket: **{published_s3:.2f} s** ({size / 1e6 / published_s3:.0f} MB/s), \
against {published_local * 1000:.1f} ms for a rename (x{ratio_publish:,.0f}): a job's last \
step, once
- a new host's first answer from the bucket: **{extra:+.2f} s** against the local folder, \
of which the download and check take {download:.2f} s (the rest of both is the process \
starting and TensorFlow loading and warming the model; the first S3 call also pays for \
importing boto3)
"""
    print(body)
    write_section("Models store: publish and first answer", body)


def _copy(export: Path, models: ModelStore, name: str) -> Path:
    staged = models.staging_path(f"bench-{name}")
    shutil.copytree(export, staged)
    return staged


if __name__ == "__main__":
    main()
