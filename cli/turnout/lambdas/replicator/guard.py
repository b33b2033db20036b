"""The two-key loop guard: both accounts' active-direction parameters must name this function."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .config import ReplicatorConfig
from .errors import CREDENTIAL_ERROR_CODES, error_code
from .infra import call_seconds
from .target import TargetAccount

# The reason refusal() gives when a needed read could not finish within the time left.
OUT_OF_TIME = "no time left for reading the direction parameters"


class _NoTime(Exception):
    pass


class DirectionGuard:
    """Two-key loop guard.

    A batch may be written only while the active-direction parameter in the source account *and*
    the one in the target account (read through the writer role) both equal this function's
    direction. Each value is cached for at most ``direction_cache_seconds`` (5 s); read failures
    are never cached and never guessed around: they refuse the write.
    """

    def __init__(
        self,
        config: ReplicatorConfig,
        source_ssm: Any,
        target: TargetAccount,
        clock: Any,
    ) -> None:
        self._expected = config.direction
        self._parameter = config.direction_parameter
        self._max_age = config.direction_cache_seconds
        self._source_ssm = source_ssm
        self._target = target
        self._clock = clock
        self._cache: dict[str, tuple[str, float]] = {}

    def read_seconds(self) -> float:
        """How long the next refusal() may take, besides an AssumeRole the writer credentials
        may need (TargetAccount.refresh_seconds): one GetParameter per stale side."""
        stale = [side for side in ("source", "target") if not self._fresh(side)]
        return call_seconds("ssm") * len(stale)

    def refusal(self, allows: Callable[[float], bool] = lambda seconds: True) -> str | None:
        """None when writing is allowed, else the reason it is not (``OUT_OF_TIME`` when a read
        that rejected expired credentials could not be repeated within the time left)."""
        for side in ("source", "target"):
            try:
                value = self._value(side, allows)
            except _NoTime:
                return OUT_OF_TIME
            except (ClientError, BotoCoreError, KeyError, TypeError) as exc:
                return f"{side} parameter {self._parameter} unreadable: {error_code(exc)}"
            if value != self._expected:
                return (
                    f"{side} parameter {self._parameter} is {value!r}, "
                    f"this function is {self._expected!r}"
                )
        return None

    def _fresh(self, side: str) -> bool:
        cached = self._cache.get(side)
        return cached is not None and self._clock.monotonic() - cached[1] < self._max_age

    def _value(self, side: str, allows: Callable[[float], bool]) -> str:
        now = self._clock.monotonic()
        cached = self._cache.get(side)
        if cached is not None and now - cached[1] < self._max_age:
            return cached[0]
        self._cache.pop(side, None)
        value = self._read(side, allows)
        self._cache[side] = (value, now)
        return value

    def _read(self, side: str, allows: Callable[[float], bool]) -> str:
        if side == "source":
            return self._get(self._source_ssm)
        try:
            return self._get(self._target.ssm())
        except ClientError as exc:
            if error_code(exc) not in CREDENTIAL_ERROR_CODES:
                raise
            self._target.invalidate(error_code(exc))
            if not allows(call_seconds("sts") + call_seconds("ssm")):
                raise _NoTime from None
            return self._get(self._target.ssm())

    def _get(self, ssm: Any) -> str:
        return str(ssm.get_parameter(Name=self._parameter)["Parameter"]["Value"])
