"""Per-key rate limits: a token bucket per key and action, in this process.

Each API process keeps its own buckets, so N processes behind a balancer allow
up to N times the rate; the limits are there to stop one client from swamping a
server, not to bill it. At most ``max_buckets`` callers are remembered (the least
recently seen are forgotten, which only ever lets a caller through).
"""

import threading
import time
from collections import OrderedDict


class RateLimiter:
    def __init__(
        self, per_minute: float, max_buckets: int = 10_000, burst: float | None = None
    ) -> None:
        """``burst``: the tokens a caller may spend at once (default: a minute's worth)."""
        self.rate = per_minute / 60.0  # tokens per second
        self.capacity = max(per_minute if burst is None else burst, 1.0)
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def acquire(self, caller: str) -> float:
        """Take one token for ``caller``: 0 when allowed, else the seconds to wait."""
        if not self.enabled:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.pop(caller, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - stamp) * self.rate)
            if tokens >= 1.0:
                tokens -= 1.0
                wait = 0.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[caller] = (tokens, now)
            while len(self._buckets) > self.max_buckets:
                self._buckets.popitem(last=False)
        return wait
