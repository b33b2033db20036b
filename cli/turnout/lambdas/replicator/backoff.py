"""The delay between PutRecords calls: it follows each call's success fraction and relaxes.

After a call whose entries failed at fraction ``f`` (0 when all went through):

    delay = min(cap, delay * 2 ** (2f - 1) + step * f)

so a clean call halves the delay, a call with half its entries failed keeps it (plus a small
additive step), and a call that failed entirely doubles it: multiplicative decrease while
records get through, growth only while most of a call fails. Random entry failures at 10 % or
30 % settle near ``0.2 * step`` and ``1.2 * step`` instead of climbing to the cap. A whole call
that was throttled or failed (an exception, not entries) is the unambiguous overload signal: the
delay doubles, from at least ``call_seconds``. Each wait is drawn with full jitter,
``uniform(0, delay)``, so callers sharing a shard spread out; the worst legal draw is the delay
itself, which is what the time budget must fit.
"""

from __future__ import annotations

import random

NEGLIGIBLE_SECONDS = 0.0005  # a delay below this is zero (no sleep call at all)


class Backoff:
    def __init__(self, step: float, call_seconds: float, cap: float, rng: random.Random) -> None:
        self.step = step
        self.call_seconds = call_seconds
        self.cap = cap
        self._rng = rng
        self.delay = 0.0

    def after_entries(self, sent: int, failed: int) -> None:
        """A call was answered: ``failed`` of its ``sent`` entries were not written."""
        fraction = failed / sent if sent else 0.0
        delay = self.delay * 2.0 ** (2.0 * fraction - 1.0) + self.step * fraction
        self.delay = 0.0 if delay < NEGLIGIBLE_SECONDS else min(self.cap, delay)

    def after_call_failure(self) -> None:
        """The whole call was throttled or failed."""
        self.delay = min(self.cap, max(self.call_seconds, 2.0 * self.delay))

    def draw(self) -> float:
        """The next wait, full jitter; at most ``delay``."""
        if self.delay <= 0.0:
            return 0.0
        return self._rng.uniform(0.0, self.delay)
