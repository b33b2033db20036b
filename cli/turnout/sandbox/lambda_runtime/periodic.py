"""A background thread that runs one pass every `interval` seconds, and a last one at stop."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod


class PeriodicFlusher(ABC):
    """Subclasses set `interval` and `thread_name` and implement `flush_once()`."""

    interval: float = 5.0
    thread_name = "lambda-runtime-flusher"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @abstractmethod
    def flush_once(self) -> None:
        """One pass of the subclass's work."""

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, daemon=True, name=self.thread_name)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread after one last pass."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 10)
            self._thread = None
        self.flush_once()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush_once()
