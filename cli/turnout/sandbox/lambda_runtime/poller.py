"""Shard pollers: one thread per (mapping, shard) that reads the shard, batches its records and
runs them (``lanes``, ``batches``), and the mapping runner that starts them, parents first."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from .batches import Abandon, Records
from .config import MappingConfig
from .lanes import LaneSet, ShardProgress
from .log import log_event

if TYPE_CHECKING:
    from .runtime import LocalLambdaRuntime


class ShardReader:
    """A shard's records after a position: the iterator, GetRecords, throttling, the end."""

    def __init__(self, poller: ShardPoller, kinesis: Any, after: str | None, start: dict) -> None:
        self.poller = poller
        self.kinesis = kinesis
        self.last_read = after
        self.start = start
        self.iterator: str | None = None
        self.at_end = False
        # When a read last reached the shard's tip (MillisBehindLatest 0); None while behind.
        self.caught_up_at: float | None = None

    def until_due(self, interval: float) -> float:
        """Seconds until the next read: AWS polls a shard at a base rate of once per second, so
        a reader at the tip reads again ``interval`` after that read; one behind reads at once
        (https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html)."""
        if self.caught_up_at is None:
            return 0.0
        return max(0.0, self.caught_up_at + interval - time.monotonic())

    def _new_iterator(self) -> str:
        args: dict[str, Any] = {
            "StreamARN": self.poller.runner.config.event_source_arn,
            "ShardId": self.poller.shard_id,
        }
        if self.last_read is not None:
            args.update(
                ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=self.last_read
            )
        elif self.start["type"] == "AT_TIMESTAMP":
            args.update(
                ShardIteratorType="AT_TIMESTAMP",
                Timestamp=dt.datetime.fromtimestamp(float(self.start["timestamp"]), tz=dt.UTC),
            )
        else:
            args.update(ShardIteratorType="TRIM_HORIZON")
        return self.kinesis.get_shard_iterator(**args)["ShardIterator"]

    def read(self, cfg: MappingConfig) -> Records:
        """One GetRecords call; [] when the read was throttled or failed on the way (the shard's
        reads are shared with its other consumers): the poller reads again after its interval.
        The client does not retry (runtime._READ_CONFIG), so nothing here waits."""
        for _ in range(2):
            try:
                if self.iterator is None:
                    self.iterator = self._new_iterator()
                resp = self.kinesis.get_records(
                    ShardIterator=self.iterator,
                    Limit=read_limit(cfg.batch_size),
                    StreamARN=cfg.event_source_arn,
                )
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code in ("ExpiredIteratorException", "InvalidArgumentException"):
                    self.iterator = None
                    continue
                if code in THROTTLED:
                    self.poller.rt.count("read_throttles")
                    return []
                if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
                    self.poller.rt.count("read_errors")
                    return []
                raise
            except (ConnectionError, HTTPClientError):
                self.poller.rt.count("read_errors")
                return []
            return self._took(resp)
        return []

    def _took(self, resp: dict[str, Any]) -> Records:
        records = resp.get("Records") or []
        if records:
            self.last_read = records[-1]["SequenceNumber"]
        behind = resp.get("MillisBehindLatest")
        caught_up = behind == 0 if behind is not None else not records
        self.caught_up_at = time.monotonic() if caught_up else None
        self.iterator = resp.get("NextShardIterator")
        if self.iterator is None:
            self.at_end = True
        return records


# GetRecords' and GetShardIterator's throttling errors
# (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetRecords.html).
THROTTLED = ("ProvisionedThroughputExceededException", "LimitExceededException")


def read_limit(batch_size: int) -> int:
    """Records asked of one GetRecords: several batches' worth (at least 1,000, at most AWS's
    10,000 per call), so a shard behind its consumer is not read 100 records at a time against
    the 5 reads/s it shares with its other readers; the lanes still invoke ``batch_size`` at once."""
    return min(10000, max(batch_size, 1000))


class ShardPoller(threading.Thread):
    def __init__(self, runner: MappingRunner, shard_id: str) -> None:
        super().__init__(daemon=True, name=f"poller-{runner.uuid[:8]}-{shard_id[-4:]}")
        self.runner = runner
        self.rt = runner.runtime
        self.shard_id = shard_id
        self.stop_event = threading.Event()
        self._invoking = 0
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ helpers
    @property
    def in_flight(self) -> bool:
        return self._invoking > 0

    @contextlib.contextmanager
    def invoking(self) -> Iterator[None]:
        with self._lock:
            self._invoking += 1
        try:
            yield
        finally:
            with self._lock:
                self._invoking -= 1

    def stopping(self) -> bool:
        return self.stop_event.is_set() or self.rt.stopping()

    def wait(self, seconds: float) -> None:
        if self.stop_event.wait(max(0.0, seconds)) or self.rt.stopping():
            raise Abandon

    def fields(self, **extra: Any) -> dict[str, Any]:
        return {"mapping": self.runner.uuid, "shard": self.shard_id, **extra}

    def _start_spec(self) -> dict[str, Any]:
        entry = self.rt.store.mapping(self.runner.uuid) or {}
        if self.shard_id not in (entry.get("initial_shards") or []):
            return {"type": "TRIM_HORIZON"}  # a shard born after the mapping (a child)
        pos = entry.get("starting_position") or "TRIM_HORIZON"
        if pos == "LATEST" and entry.get("latest_from") is not None:
            # AWS: the tip of the stream when the mapping started polling (became Enabled).
            return {"type": "AT_TIMESTAMP", "timestamp": entry["latest_from"]}
        if pos == "LATEST":
            # "After the newest record when the mapping was first seen", kept as a timestamp so
            # that a restart before the first checkpoint loses nothing.
            return {"type": "AT_TIMESTAMP", "timestamp": entry["first_seen"]}
        if pos == "AT_TIMESTAMP":
            return {"type": "AT_TIMESTAMP", "timestamp": entry.get("starting_timestamp") or 0}
        return {"type": "TRIM_HORIZON"}

    # ------------------------------------------------------------------ main loop
    def run(self) -> None:
        lanes: LaneSet | None = None
        try:
            reader, lanes = self._prepare()
            self._run(reader, lanes)
        except Abandon:
            pass
        except Exception as exc:  # restarted by the refresher, from the checkpoint
            log_event("poller_failed", logging.ERROR, **self.fields(error=repr(exc)))
        finally:
            self.stop_event.set()  # batches in other lanes abandon (no checkpoint past them)
            if lanes is not None:
                lanes.join()

    def _prepare(self) -> tuple[ShardReader, LaneSet]:
        uuid = self.runner.uuid
        entry = self.rt.store.shard(uuid, self.shard_id)
        if entry is None:
            entry = self.rt.store.init_shard(uuid, self.shard_id, self._start_spec())
        cfg = self.runner.config
        kinesis = self.rt.stream_client(cfg)
        reader = ShardReader(self, kinesis, entry.get("checkpoint"), entry["start"])
        progress = ShardProgress(lambda seq: self.rt.store.checkpoint(uuid, self.shard_id, seq))
        log_event(
            "poller_started", **self.fields(after=reader.last_read, start=entry["start"]["type"])
        )
        return reader, LaneSet(self, progress, cfg.parallelization_factor)

    def _run(self, reader: ShardReader, lanes: LaneSet) -> None:
        while not self.stopping():
            cfg = self.runner.config
            records: Records = []
            due = reader.until_due(self.rt.poll_interval) == 0.0
            if not reader.at_end and lanes.room(cfg) and due:
                records = reader.read(cfg)
                if records:
                    lanes.progress.read(records)
                    lanes.add(records)
            if lanes.idle():
                if reader.at_end:
                    self.rt.store.mark_ended(self.runner.uuid, self.shard_id)
                    log_event("shard_end", **self.fields())
                    return
                self._note_closed_end(reader.last_read)
                # idle: AWS polls a shard about once a second
                self.wait(reader.until_due(self.rt.poll_interval) or self.rt.poll_interval)
                continue
            started, pause = lanes.dispatch(cfg, reader.at_end)
            if started:
                continue
            if pause is not None:  # a batching window is open: gather until it closes
                self._wait_for(lanes, pause)
            elif not records:  # every lane busy and nothing new: until a lane is free
                self._wait_for(lanes, self.rt.poll_interval)

    def _wait_for(self, lanes: LaneSet, seconds: float) -> None:
        """Wait until a lane finishes a batch, a batching window closes, or a poll is due."""
        deadline = time.monotonic() + min(seconds, self.rt.poll_interval)
        while not lanes.changed.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.wait(min(left, 0.05))
        lanes.changed.clear()

    def _note_closed_end(self, last_read: str | None) -> None:
        """A closed shard read to its end lets its children start. (AWS also ends the iterator;
        moto never does and may keep writing to a closed parent, so the poller stays.)"""
        desc = self.runner.shards.get(self.shard_id) or {}
        ending = (desc.get("SequenceNumberRange") or {}).get("EndingSequenceNumber")
        if ending is None:
            return
        read_to_end = int(ending) == 0 or (last_read is not None and int(last_read) >= int(ending))
        if read_to_end and not self.rt.store.shard_ended(self.runner.uuid, self.shard_id):
            self.rt.store.mark_ended(self.runner.uuid, self.shard_id)
            log_event("shard_end", **self.fields(closed=True))


class MappingRunner:
    """An enabled mapping: its current configuration, its shards and their pollers."""

    def __init__(self, runtime: LocalLambdaRuntime, config: MappingConfig) -> None:
        self.runtime = runtime
        self.config = config
        self.uuid = config.uuid
        self.shards: dict[str, dict[str, Any]] = {}
        self.pollers: dict[str, ShardPoller] = {}

    def sync_shards(self, shards: list[dict[str, Any]]) -> None:
        self.shards = {s["ShardId"]: s for s in shards}
        store = self.runtime.store
        for shard_id in sorted(self.shards):
            poller = self.pollers.get(shard_id)
            if poller is not None and poller.is_alive():
                continue
            previous = self.runtime.poller(self.uuid, shard_id)
            if previous is not None and previous.is_alive():
                continue  # a poller of an earlier run is finishing its batch: one in flight
            if poller is not None and store.shard_ended(self.uuid, shard_id):
                continue  # finished (the iterator ended: AWS semantics)
            desc = self.shards[shard_id]
            parents = [
                p
                for p in (desc.get("ParentShardId"), desc.get("AdjacentParentShardId"))
                if p and p in self.shards
            ]
            if not all(store.shard_ended(self.uuid, p) for p in parents):
                continue  # parent shards are processed to their end first
            poller = ShardPoller(self, shard_id)
            self.pollers[shard_id] = poller
            self.runtime.register_poller(self.uuid, shard_id, poller)
            poller.start()

    def stop(self, wait: bool = True, timeout: float = 10.0) -> None:
        # A snapshot: the refresher thread may be registering a poller right now, and it
        # registers a poller before starting it (joining a thread not yet started raises).
        pollers = list(self.pollers.values())
        for poller in pollers:
            poller.stop_event.set()
        if wait:
            deadline = time.monotonic() + timeout
            for poller in pollers:
                if poller.ident is not None:  # not started yet: it sees stop_event at once
                    poller.join(max(0.0, deadline - time.monotonic()))

    def busy(self) -> bool:
        return any(p.in_flight for p in self.pollers.values())
