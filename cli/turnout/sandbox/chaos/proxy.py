"""A loopback TCP proxy that can make the emulator unreachable for a while.

Every sandbox client (producer, Lambda runtime and its functions, the CLI) is pointed at the
proxy instead of the emulator. ``outage(seconds)`` drops every open connection (reset, like a
network partition ending a TCP session) and, until it heals, resets every new connection as soon
as it is accepted; then it forwards again. It runs in threads of the process that starts it (the
chaos harness), binds ``127.0.0.1`` only, and ``stop()`` closes everything.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

_BUFFER = 65536


def _reset(sock: socket.socket) -> None:
    """End a connection at once: SO_LINGER 0 (a reset, no clean end), and a shutdown that wakes
    the thread blocked in ``recv`` on it (``close`` alone would wait for that thread)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


@dataclass
class ProxyCounters:
    connections: int = 0
    refused: int = 0
    dropped: int = 0
    outages: int = 0
    outage_seconds: float = 0.0


@dataclass
class LoopbackProxy:
    """Forward ``127.0.0.1:<port>`` to ``127.0.0.1:<target_port>``; ``outage()`` cuts it."""

    target_port: int
    port: int = 0  # 0: any free port
    counters: ProxyCounters = field(default_factory=ProxyCounters)
    _listener: socket.socket | None = field(default=None, init=False, repr=False)
    _threads: list[threading.Thread] = field(default_factory=list, init=False, repr=False)
    _open: set[socket.socket] = field(default_factory=set, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _down_until: float = field(default=0.0, init=False, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, init=False, repr=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LoopbackProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(256)
        listener.settimeout(0.2)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._spawn(self._accept_loop, "proxy-accept")
        return self

    def stop(self) -> None:
        """Close the listener and every connection; wait for the threads (bounded)."""
        self._stopping.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
        self._drop_all()
        for thread in list(self._threads):
            thread.join(timeout=5)

    def __enter__(self) -> LoopbackProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def is_down(self) -> bool:
        return time.monotonic() < self._down_until

    def outage(self, seconds: float) -> None:
        """Drop every connection now and refuse new ones for ``seconds`` (non-blocking)."""
        with self._lock:
            self._down_until = max(self._down_until, time.monotonic() + seconds)
            self.counters.outages += 1
            self.counters.outage_seconds += seconds
        self._drop_all()

    def heal(self) -> None:
        with self._lock:
            self._down_until = 0.0

    # ------------------------------------------------------------------ internals
    def _spawn(self, target, name: str, *args) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()

    def _drop_all(self) -> None:
        with self._lock:
            victims = list(self._open)
            self._open.clear()
            self.counters.dropped += len(victims) // 2
        for sock in victims:
            _reset(sock)

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.is_down:
                with self._lock:
                    self.counters.refused += 1
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                _reset(client)
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._open.update((client, upstream))
                self.counters.connections += 1
            self._spawn(self._pipe, "proxy-up", client, upstream)
            self._spawn(self._pipe, "proxy-down", upstream, client)

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(_BUFFER)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                dropped = source not in self._open
                self._open.discard(source)
                self._open.discard(sink)
            if not dropped:
                # One side ended cleanly: pass the end on, then close both.
                with contextlib.suppress(OSError):
                    sink.shutdown(socket.SHUT_WR)
                with contextlib.suppress(OSError):
                    source.close()
                with contextlib.suppress(OSError):
                    sink.close()
