"""Everything a process writes past logging, as log lines: native libraries such as
TensorFlow write to file descriptor 2 themselves, and so do ``print`` and a raw
traceback. The launcher (``make up``) and the worker run what they start under an
:class:`OutputRelay`, which turns each such line into a JSON line of
``app/core/logs.py``'s format (:class:`RawLines`).
"""

import argparse
import contextlib
import json
import logging
import os
import re
import selectors
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from app.core.logs import JsonFormatter, escape_invisible


def native_log_level(default: int) -> int:
    """Set TF_CPP_MIN_LOG_LEVEL (which TensorFlow reads when it loads) to ``default``
    unless the operator set it; returns the level in force, 0 (all) to 3 (fatal only)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", str(default))
    try:
        return min(max(int(os.environ["TF_CPP_MIN_LOG_LEVEL"]), 0), 3)
    except ValueError:
        return default


# Lines native code writes, absl's format and TensorFlow's older one:
#   I0000 00:00:1795806077.423309    6837 cudart_stub.cc:31] Could not find cuda drivers ...
#   (absl's time reads like that before its logging is set up, HH:MM:SS.us after)
#   2025-09-17 14:44:05.157831: E external/.../cuda_fft.cc:467] Unable to register ...
_NATIVE = re.compile(
    r"(?:(?P<absl>[IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ "
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: (?P<tsl>[IWEF]) )"
    r"(?P<where>[^\s\]]+:\d+)\] ?(?P<message>.*)"
)
# absl writes this once per library, before its first line, when nothing set its logging up.
_ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written"
# A native line's severity, as TF_CPP_MIN_LOG_LEVEL ranks it (0 info ... 3 fatal).
_NATIVE_LEVELS = {
    "I": (0, logging.INFO),
    "W": (1, logging.WARNING),
    "E": (2, logging.ERROR),
    "F": (3, logging.CRITICAL),
}
_LONGEST_LINE = 1 << 16  # a longer run without a newline is cut into lines of this size


class RawLines:
    """What a process wrote to one of its streams, made into log lines.

    A line that is already a JSON object passes through (given ``job``'s id when it
    has none). A native library's line becomes a line of logger ``native`` at its own
    level, or is dropped below ``native_min_level`` (TF_CPP_MIN_LOG_LEVEL's scale),
    with the lines written together after it (a message of several lines). Any other
    line becomes a line of logger ``stream`` at ``level``. In text format
    (``json_lines`` false) lines pass through as written, native ones filtered.
    """

    def __init__(
        self,
        stream: str,
        level: int,
        job: str | None = None,
        native_min_level: int = 0,
        json_lines: bool = True,
    ) -> None:
        self.stream, self.level, self.job = stream, level, job
        self.native_min_level = native_min_level
        self.json_lines = json_lines
        self._formatter = JsonFormatter()
        self._partial = b""

    def feed(self, data: bytes) -> list[str]:
        """The lines ``data`` completes (what a single read gave)."""
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        while len(self._partial) > _LONGEST_LINE:
            lines.append(self._partial[:_LONGEST_LINE])
            self._partial = self._partial[_LONGEST_LINE:]
        return self._convert(lines)

    def close(self) -> list[str]:
        """The last line, written without a newline."""
        rest, self._partial = self._partial, b""
        return self._convert([rest])

    def _convert(self, lines: list[bytes]) -> list[str]:
        out: list[str] = []
        native: tuple[int, int, list[str]] | None = None  # rank, level, its lines

        def end_native() -> None:
            if native is not None and native[0] >= self.native_min_level:
                _, level, texts = native
                out.extend(texts if not self.json_lines else [self._line("native", level, texts)])

        for raw in lines:
            text = raw.decode("utf-8", "backslashreplace").rstrip("\r")
            if not text.strip():
                continue
            found = _NATIVE.fullmatch(text)
            if found or text.startswith(_ABSL_PREAMBLE):
                end_native()
                letter = (found["absl"] or found["tsl"]) if found else "W"
                native = (*_NATIVE_LEVELS[letter], [text])
                continue
            if native is not None and not text.startswith("{"):
                native[2].append(text)  # the same message's next line
                continue
            end_native()
            native = None
            out.append(self._pass(text))
        end_native()
        return out

    def _pass(self, text: str) -> str:
        if not self.json_lines:
            return text
        if text.startswith("{"):
            try:
                line = json.loads(text)
            except ValueError:
                line = None
            if isinstance(line, dict):
                if not self.job or line.get("job_id"):
                    return text
                return escape_invisible(
                    json.dumps(line | {"job_id": self.job}, ensure_ascii=False, default=str)
                )
        return self._line(self.stream, self.level, [text])

    def _line(self, logger: str, level: int, texts: list[str]) -> str:
        message = "\n".join(texts)
        if logger == "native":
            found = _NATIVE.fullmatch(texts[0])
            if found:  # the severity is the line's level; keep where it was written
                message = "\n".join([f"{found['where']}] {found['message']}", *texts[1:]])
        record = logging.LogRecord(logger, level, "", 0, message, None, None)
        if self.job:
            record.job_id = self.job
        return self._formatter.format(record)


class OutputRelay:
    """While it runs, this process's stdout and stderr (file descriptors 1 and 2, which
    native code writes to directly) are pipes to a relay process that writes each line
    on to the real ones as a log line (:class:`RawLines`) carrying ``job``'s id.

    The relay is a process of its own, not a thread: when this process dies, even by a
    crash, the relay still reads what it wrote last (a native fatal error), and ends
    when the pipes close. Started and stopped by the worker around each job.
    """

    def __init__(self, process: subprocess.Popen[bytes], saved: tuple[int, int]) -> None:
        self.process = process
        self._saved = saved

    @classmethod
    def start(
        cls, job: str | None, log_format: str = "json", native_min_level: int = 0
    ) -> "OutputRelay":
        _flush_std_streams()
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        try:
            command = [sys.executable, "-m", __name__, "--out", str(out_read)]
            command += ["--err", str(err_read), "--format", log_format]
            command += ["--native-min-level", str(native_min_level), "--job-id", job or ""]
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                pass_fds=(out_read, err_read),
                cwd=Path(__file__).resolve().parents[2],  # where ``app`` imports from
            )
        except BaseException:
            os.close(out_write)
            os.close(err_write)
            raise
        finally:
            os.close(out_read)
            os.close(err_read)
        saved = (os.dup(1), os.dup(2))
        os.dup2(out_write, 1)
        os.dup2(err_write, 2)
        os.close(out_write)
        os.close(err_write)
        return cls(process, saved)

    def stop(self, timeout: float = 10.0) -> None:
        """Give this process its own stdout and stderr back and let the relay finish."""
        _flush_std_streams()
        for fd, saved in zip((1, 2), self._saved, strict=True):
            os.dup2(saved, fd)
            os.close(saved)
        # Past the timeout a process this one started still holds the pipes: the relay
        # ends with it.
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout)


def _flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass


def _relay(argv: Sequence[str] | None = None) -> int:
    """The relay process: ``python -m app.core.output_relay --out FD --err FD ...``."""
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}")
    parser.add_argument("--out", type=int, required=True)
    parser.add_argument("--err", type=int, required=True)
    parser.add_argument("--format", choices=("json", "text"), default="json")
    parser.add_argument("--native-min-level", type=int, default=0)
    parser.add_argument("--job-id", default="")
    arguments = parser.parse_args(argv)
    # Ctrl-C reaches the whole process group; the relay ends when its writers have.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    json_lines = arguments.format == "json"
    job, least = arguments.job_id or None, arguments.native_min_level
    streams = {
        arguments.out: (1, RawLines("stdout", logging.INFO, job, least, json_lines)),
        arguments.err: (2, RawLines("stderr", logging.WARNING, job, least, json_lines)),
    }
    selector = selectors.DefaultSelector()
    for fd in streams:
        selector.register(fd, selectors.EVENT_READ)
    while selector.get_map():
        for key, _ in selector.select():
            target, lines = streams[key.fd]
            data = os.read(key.fd, 1 << 16)
            _write(target, lines.feed(data) if data else lines.close())
            if not data:
                selector.unregister(key.fd)
                os.close(key.fd)
    return 0


def _write(fd: int, lines: list[str]) -> None:
    data = "".join(line + "\n" for line in lines).encode("utf-8", "backslashreplace")
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError:
        pass  # nowhere left to write: keep reading, so the writers never block


if __name__ == "__main__":
    sys.exit(_relay())
