"""The run's live traffic: the sandbox producer (events, per-key sequence numbers, the accepted
log the report reads), as the run's producer identity, following the route table's item through
the producer helper, in a thread of the run's process."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from turnout.producer import table_route
from turnout.sandbox.pipeline.producer import Producer
from turnout.spec.model import MigrationSpec
from turnout.spec.names import route_item_key, route_table


class Traffic:
    def __init__(
        self,
        spec: MigrationSpec,
        kinesis_for: Any,
        client: Any,
        events_log: Path,
        rate: float,
        keys: int,
    ) -> None:
        place = route_table(spec)
        read_route = table_route(
            client("dynamodb", place.place.region), place.route_table_arn, route_item_key(spec)
        )
        events_log.parent.mkdir(parents=True, exist_ok=True)
        self.log = events_log.open("a", encoding="utf-8")
        self.producer = Producer(
            route_reader=read_route,
            kinesis_client=kinesis_for,
            log=self.log,
            rate=rate,
            keys=keys,
            route_interval=spec.route.cache_seconds,
        )
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="e2e-producer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            with self._lock:
                self.producer.step(started)
            self._stop.wait(max(0.0, 0.1 - (time.monotonic() - started)))

    def stop(self, grace: float = 60.0) -> dict:
        """No new events; what is pending is sent for up to `grace` seconds (the helper retries
        every failed entry). Returns the producer's final status, with what was never accepted."""
        self._stop.set()
        self._thread.join(timeout=30)
        self.producer.generating = False
        deadline = time.monotonic() + grace
        while self.producer.pending_count() and time.monotonic() < deadline:
            self.producer.step()
            time.sleep(0.05)
        status = self.producer.status("stopped", time.monotonic())
        status["unsent_never_accepted"] = self.producer.pending_count()
        self.log.close()
        return status

    def status(self) -> dict:
        with self._lock:
            return self.producer.status("running", time.monotonic())
