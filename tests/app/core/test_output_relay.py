"""What a worker process writes past logging becomes log lines: the output relay
(app/core/output_relay.py) that the worker runs each job under, and the logging setup that
takes in Python's warnings and quiets gensim. The whole worker under `make up` is
checked in tests/app/test_launcher.py."""

import json
import logging
import subprocess
import sys
import textwrap

from app.core.output_relay import RawLines
from tests.support.services import PROJECT

JOB = "6f1c0a52-0000-4000-8000-000000000001"
# What TensorFlow 2.21 writes when it loads, before its logging is set up, and later.
PREAMBLE = (
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
)
ONEDNN = b"I0000 00:00:1795806077.423309    6837 port.cc:153] oneDNN custom operations are on.\n"
CUINIT = b"E0000 00:00:1795806081.990822    6837 cuda_platform.cc:52] failed call to cuInit\n"
FEATURES = (
    b"I0000 00:00:1795806010.848829    6332 cpu_feature_guard.cc:227] This TensorFlow binary"
    b" is optimized.\nTo enable the following instructions: AVX2 FMA, rebuild TensorFlow.\n"
)
OLD_FORMAT = b"2025-09-17 14:44:05.157831: W external/xla/cuda_fft.cc:467] Unable to register\n"


def lines_of(stream: RawLines, *chunks: bytes) -> list[dict]:
    out = [line for chunk in chunks for line in stream.feed(chunk)] + stream.close()
    return [json.loads(line) for line in out]


def test_native_lines_below_the_level_are_dropped_and_the_others_are_log_lines():
    stderr = RawLines("stderr", logging.WARNING, JOB, native_min_level=3)
    assert lines_of(stderr, PREAMBLE + ONEDNN + CUINIT + FEATURES + OLD_FORMAT) == []

    stderr = RawLines("stderr", logging.WARNING, JOB, native_min_level=1)
    shown = lines_of(stderr, PREAMBLE + ONEDNN + CUINIT + FEATURES + OLD_FORMAT)
    assert [(line["logger"], line["level"], line["message"]) for line in shown] == [
        ("native", "warning", PREAMBLE.decode().strip()),
        ("native", "error", "cuda_platform.cc:52] failed call to cuInit"),
        ("native", "warning", "external/xla/cuda_fft.cc:467] Unable to register"),
    ]
    assert {line["job_id"] for line in shown} == {JOB}

    # Everything, a message of two lines as one.
    stderr = RawLines("stderr", logging.WARNING, None, native_min_level=0)
    [features] = lines_of(stderr, FEATURES)
    assert features["level"] == "info" and "job_id" not in features
    assert features["message"] == (
        "cpu_feature_guard.cc:227] This TensorFlow binary is optimized.\n"
        "To enable the following instructions: AVX2 FMA, rebuild TensorFlow."
    )


def test_log_lines_pass_through_with_the_job_id_and_other_lines_become_log_lines():
    ours = {"time": "t", "level": "info", "logger": "worker.runner", "message": "m"}
    another_job = ours | {"job_id": "another"}
    stdout = RawLines("stdout", logging.INFO, JOB, native_min_level=3)
    passed = stdout.feed(
        json.dumps(ours).encode() + b"\n" + json.dumps(another_job).encode() + b"\nepoch 1/3 "
    )
    passed += stdout.feed(b"loss 0.69\n\n{not json\nno newline at the end")
    passed += stdout.close()
    lines = [json.loads(line) for line in passed]
    assert lines[0] == ours | {"job_id": JOB}  # a thread that did not set the job id
    assert passed[1] == json.dumps(another_job)  # unchanged
    assert [(line["logger"], line["level"], line["message"]) for line in lines[2:]] == [
        ("stdout", "info", "epoch 1/3 loss 0.69"),  # one line, written in two parts
        ("stdout", "info", "{not json"),
        ("stdout", "info", "no newline at the end"),
    ]
    assert {line["job_id"] for line in lines[2:]} == {JOB}


def test_in_text_format_lines_pass_through_as_written_native_ones_filtered():
    stderr = RawLines("stderr", logging.WARNING, JOB, native_min_level=2, json_lines=False)
    out = stderr.feed(b"2026-01-01 INFO worker.runner: job claimed\n" + ONEDNN + CUINIT)
    assert out == ["2026-01-01 INFO worker.runner: job claimed", CUINIT.decode().strip()]


RELAYED = """
import logging, os, sys
from app.core.logs import configure_logging, job_id
from app.core.output_relay import OutputRelay

configure_logging()
job_id.set({job!r})
relay = OutputRelay.start({job!r}, "json", native_min_level=1)
os.write(2, {onednn!r} + {cuinit!r})  # as native code writes: to file descriptor 2
print("a print", flush=True)
logging.getLogger("worker.runner").info("a log line")
{ending}
"""


def run_relayed(ending: str) -> subprocess.CompletedProcess[str]:
    code = RELAYED.format(job=JOB, onednn=ONEDNN, cuinit=CUINIT, ending=ending)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_process_under_the_relay_writes_only_log_lines_with_the_job_id():
    done = run_relayed('relay.stop()\nprint("after the relay", flush=True)')
    assert done.returncode == 0, done.stderr
    err = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(line["logger"], line["message"]) for line in err] == [
        ("native", "cuda_platform.cc:52] failed call to cuInit"),
        ("worker.runner", "a log line"),
    ]
    assert {line["job_id"] for line in err} == {JOB}
    out = done.stdout.splitlines()
    assert [json.loads(line)["message"] for line in out[:-1]] == ["a print"]
    assert out[-1] == "after the relay"  # the process has its own stdout back


def test_what_a_crashing_process_wrote_last_still_comes_out():
    fatal = b"F0000 00:00:1795806081.990822    6837 tensor.cc:1] Check failed: the end\n"
    done = run_relayed(f"os.write(2, {fatal!r})\nos.abort()")
    assert done.returncode < 0  # killed by SIGABRT, without flushing or stopping anything
    err = [json.loads(line) for line in done.stderr.splitlines()]
    assert err[-1]["level"] == "critical" and err[-1]["job_id"] == JOB
    assert err[-1]["message"] == "tensor.cc:1] Check failed: the end"


def test_warnings_are_log_lines_and_gensim_progress_is_not_logged():
    code = """
import logging, warnings
from app.core.logs import configure_logging

configure_logging()
warnings.warn("a deprecated call", UserWarning)
logging.getLogger("gensim.models.word2vec").info("EPOCH 1: training on 5000 words")
logging.getLogger("gensim.models.word2vec").warning("under 10 jobs per worker")
"""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, timeout=60
    )
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(line["logger"], line["level"]) for line in lines] == [
        ("py.warnings", "warning"),
        ("gensim.models.word2vec", "warning"),
    ]
    assert "UserWarning: a deprecated call" in lines[0]["message"]
