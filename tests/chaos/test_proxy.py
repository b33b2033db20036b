"""The chaos proxy on loopback: it forwards, an outage drops and refuses, it heals, it stops."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from turnout.sandbox.chaos.proxy import LoopbackProxy


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # the proxy may reset it
            while data := conn.recv(4096):
                conn.sendall(data)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    server.close()
    thread.join(timeout=5)


def round_trip(port: int, payload: bytes = b"ping") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(payload)
        return conn.recv(4096)


def connection_fails(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"x")
            return conn.recv(4096) == b""
    except OSError:
        return True


def test_proxy_forwards_both_ways_on_loopback(echo_port):
    with LoopbackProxy(target_port=echo_port) as proxy:
        assert proxy.endpoint_url.startswith("http://127.0.0.1:")
        assert round_trip(proxy.port, b"hello") == b"hello"
        assert proxy.counters.connections == 1


def test_outage_drops_open_connections_and_refuses_new_ones_until_it_heals(echo_port):
    with LoopbackProxy(target_port=echo_port) as proxy:
        open_conn = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        open_conn.sendall(b"a")
        assert open_conn.recv(10) == b"a"
        proxy.outage(3.0)
        try:  # ended by the proxy: a reset, or the end of the stream
            ended = open_conn.recv(10) == b""
        except ConnectionResetError:
            ended = True
        assert ended
        open_conn.close()
        assert connection_fails(proxy.port)
        assert proxy.counters.refused >= 1 and proxy.counters.dropped == 1
        time.sleep(3.1)
        assert not proxy.is_down
        assert round_trip(proxy.port) == b"ping"
        assert proxy.counters.outages == 1


def test_heal_ends_an_outage_early(echo_port):
    with LoopbackProxy(target_port=echo_port) as proxy:
        proxy.outage(60)
        assert connection_fails(proxy.port)
        proxy.heal()
        assert round_trip(proxy.port) == b"ping"


def test_stop_closes_the_port_and_ends_every_thread(echo_port):
    proxy = LoopbackProxy(target_port=echo_port).start()
    conn = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    conn.sendall(b"z")
    assert conn.recv(10) == b"z"
    started = time.monotonic()
    proxy.stop()
    assert time.monotonic() - started < 10
    assert not any(thread.is_alive() for thread in proxy._threads)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
    conn.close()
