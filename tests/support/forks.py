"""Whether a fork of this process waits for work in another thread."""

import os
import threading
import time
from collections.abc import Callable

Step = Callable[[], None]


def fork_while(work: Callable[[Step], object]) -> list[str]:
    """Run ``work`` in a thread, handing it a step to call; once the step has begun,
    fork this process (the child exits at once). What ended first: ``["step", "fork"]``
    when the fork waited for the step, ``["fork", "step"]`` when it did not."""
    events: list[str] = []
    began = threading.Event()

    def step() -> None:
        began.set()
        time.sleep(0.3)  # a fork that does not wait ends well within this
        events.append("step")

    thread = threading.Thread(target=work, args=(step,))
    thread.start()
    if not began.wait(timeout=60):
        thread.join()
        raise AssertionError("the work never called its step")
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    events.append("fork")
    os.waitpid(pid, 0)
    thread.join()
    return events
