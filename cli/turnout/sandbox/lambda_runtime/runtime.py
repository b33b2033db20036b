"""The local Lambda runtime: runs deployed function code for enabled Kinesis event source
mappings of the emulator, with AWS's batching, checkpoint and error-handling semantics.

Threads: one refresher (lists mappings and functions of every configured account/region every
``refresh_interval``, lists each enabled mapping's shards and starts shard pollers) and one
poller per (mapping, shard) that reads, batches, invokes and checkpoints (``poller.py``), with
``ParallelizationFactor`` lanes (``lanes.py``) and AWS's error handling per batch
(``batches.py``). Each function has a pool of worker subprocesses (``functions.py``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.utils import parse_timestamp

from turnout.aws.endpoint import BASE_CREDENTIALS, assume_role_credentials, role_arn
from turnout.sandbox.emulator.profile import FAST, FidelityProfile

from .checkpoints import CheckpointStore
from .config import MappingConfig
from .emf import EmfLogMetrics
from .functions import CodeCache, FunctionConfig, FunctionHost
from .log import log_event
from .metrics import LambdaMetricsPublisher
from .poller import MappingRunner, ShardPoller

_BOTO_CONFIG = Config(
    retries={"max_attempts": 2, "mode": "standard"},
    connect_timeout=5,
    read_timeout=30,
    max_pool_connections=64,
)
# The pollers' reads: no botocore retry. A throttled or failed read is an empty one and the
# poller reads again after its poll interval, as Lambda does; a retry inside botocore (up to 2 s)
# would hold back the next batch of a shard whose reads are at the limit.
_READ_CONFIG = _BOTO_CONFIG.merge(Config(retries={"total_max_attempts": 1, "mode": "standard"}))


def _epoch_or_parsed(value: Any) -> Any:
    """Timestamp parser of the runtime's Kinesis clients: GetRecords' epoch numbers stay floats
    (botocore would build a timezone-aware datetime per record, a quarter of the poller's CPU,
    only for ``events.arrival`` to turn it back into a float); other forms are parsed as usual."""
    if isinstance(value, int | float):
        return float(value)
    return parse_timestamp(value)


class LocalLambdaRuntime:
    """Runs the deployed code of every enabled Kinesis mapping of the emulator.

    ``mapping_filter`` (optional) limits which mappings are run (tests use it to stay out of
    each other's way); mappings it rejects are neither run nor forgotten.
    """

    def __init__(
        self,
        endpoint_url: str,
        accounts: list[str],
        regions: list[str],
        state_dir: str | os.PathLike[str],
        *,
        poll_interval: float = 1.0,
        refresh_interval: float = 5.0,
        retry_backoff: float = 1.0,
        max_retry_backoff: float = 30.0,
        stop_grace: float = 10.0,
        mapping_filter: Callable[[MappingConfig], bool] | None = None,
        base_credentials: tuple[str, str] = BASE_CREDENTIALS,
        python: str = sys.executable,
        metrics_interval: float = 5.0,
        profile: FidelityProfile = FAST,
    ) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        # The emulator's profile: its clock (record ages, LATEST), the states in which a mapping
        # polls, LATEST at the moment a mapping is enabled.
        self.profile = profile
        self.clock = profile.now
        self.polling_states = (
            ("Enabled", "Updating")
            if profile.mapping_transitions or profile.latest_at_enable
            else ("Enabled", "Enabling", "Updating")
        )
        self.accounts = list(accounts)
        self.regions = list(regions)
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.poll_interval = poll_interval
        self.refresh_interval = refresh_interval
        self.retry_backoff = retry_backoff
        self.max_retry_backoff = max_retry_backoff
        self.stop_grace = stop_grace
        self.mapping_filter = mapping_filter
        self.base_credentials = base_credentials
        self.python = python
        self.store = CheckpointStore(self.state_dir)
        # AWS/Lambda Invocations, Errors, IteratorAge, as the Lambda service publishes them.
        self.metrics = LambdaMetricsPublisher(
            lambda account, region: self.client("cloudwatch", account, region),
            interval=metrics_interval,
        )
        # CloudWatch Logs' part: EMF lines in the functions' logs become metrics (emf.py).
        self.emf = EmfLogMetrics(
            self.state_dir / "function-logs",
            self.state_dir / "emf-positions.json",
            lambda account, region: self.client("cloudwatch", account, region),
            interval=metrics_interval,
        )
        self.code_cache = CodeCache(self, self.state_dir / "code")
        self._stop = threading.Event()
        self._lock = threading.RLock()
        self._refresh_lock = threading.Lock()
        self._clients: dict[tuple[str, str, str, bool], Any] = {}
        self._role_creds: dict[str, dict[str, str]] = {}
        self._hosts: dict[str, FunctionHost] = {}
        self._functions: dict[str, FunctionConfig] = {}
        self._runners: dict[str, MappingRunner] = {}
        self._pollers: dict[tuple[str, str], ShardPoller] = {}
        self._mappings: dict[str, MappingConfig] = {}
        self._thread: threading.Thread | None = None
        self._refreshed = threading.Condition()
        self._refresh_count = 0
        self.stats: dict[str, int] = {
            "invocations": 0,
            "retries": 0,
            "discarded_batches": 0,
            "refreshes": 0,
            "read_throttles": 0,
            "read_errors": 0,
        }

    # ------------------------------------------------------------------ AWS access
    def count(self, name: str, n: int = 1) -> None:
        """Add to one of ``stats``."""
        with self._lock:
            self.stats[name] = self.stats.get(name, 0) + n

    def stopping(self) -> bool:
        return self._stop.is_set()

    def poller(self, uuid: str, shard_id: str) -> ShardPoller | None:
        """The latest poller started for a mapping's shard (maybe of an earlier run)."""
        return self._pollers.get((uuid, shard_id))

    def register_poller(self, uuid: str, shard_id: str, poller: ShardPoller) -> None:
        self._pollers[(uuid, shard_id)] = poller

    def role_credentials(self, role: str, session_name: str, region: str) -> dict[str, str]:
        with self._lock:
            creds = self._role_creds.get(role)
            if creds is None:
                creds = assume_role_credentials(
                    self.endpoint_url, role, session_name, region, self.base_credentials
                )
                self._role_creds[role] = creds
            return creds

    def client(
        self,
        service: str,
        account_id: str,
        region: str,
        role: str | None = None,
        reads: bool = False,
    ) -> Any:
        """A client of the runtime's role in `account_id`, or of `role` when given; `reads`: a
        client without botocore's retry, for a poller's reads."""
        key = (service, role or account_id, region, reads)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                creds = self.role_credentials(
                    role or role_arn(account_id), "turnout-lambda-runtime", region
                )
                session = boto3.Session(
                    aws_access_key_id=creds["AccessKeyId"],
                    aws_secret_access_key=creds["SecretAccessKey"],
                    aws_session_token=creds["SessionToken"],
                    region_name=region,
                )
                if service == "kinesis":
                    session._session.get_component("response_parser_factory").set_parser_defaults(
                        timestamp_parser=_epoch_or_parsed
                    )
                client = session.client(
                    service,
                    endpoint_url=self.endpoint_url,
                    config=_READ_CONFIG if reads else _BOTO_CONFIG,
                )
                self._clients[key] = client
            return client

    def stream_client(self, mapping: MappingConfig, reads: bool = False) -> Any:
        """The Kinesis client a mapping reads with. A stream of another account is read with
        the function's execution role, as Lambda does, so the stream's resource policy must
        allow that role (emulator: ``read_across``); the mapping's own account's streams with
        the runtime's role."""
        if mapping.stream_account == mapping.account_id:
            return self.client(
                "kinesis", mapping.stream_account, mapping.stream_region, reads=reads
            )
        with self._lock:
            function = self._functions.get(_unqualified(mapping.function_arn))
        if function is None or not function.role:
            raise LookupError(f"no execution role known for {mapping.function_arn}")
        return self.client(
            "kinesis", mapping.account_id, mapping.stream_region, function.role, reads=reads
        )

    def send_to_destination(self, destination_arn: str, message: dict[str, Any]) -> None:
        parts = destination_arn.split(":")
        service, region, account = parts[2], parts[3], parts[4]
        body = json.dumps(message)
        if service == "sqs":
            sqs = self.client("sqs", account, region)
            url = sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=account)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=body)
        elif service == "sns":
            self.client("sns", account, region).publish(TopicArn=destination_arn, Message=body)
        else:
            raise ValueError(f"unsupported on-failure destination {destination_arn}")

    def function_host(self, function_arn: str) -> FunctionHost | None:
        with self._lock:
            return self._hosts.get(_unqualified(function_arn))

    # ------------------------------------------------------------------ refresh
    def refresh(self) -> None:
        """One pass: list mappings/functions, start/stop/forget mappings, sync shards. Safe to
        call while the refresher thread runs (passes never overlap)."""
        with self._refresh_lock:
            self._refresh()

    def _refresh(self) -> None:
        listed_ok: set[tuple[str, str]] = set()
        all_uuids: set[str] = set()
        seen: dict[str, MappingConfig] = {}
        functions: dict[str, FunctionConfig] = {}
        for account in self.accounts:
            for region in self.regions:
                try:
                    lam = self.client("lambda", account, region)
                    esms: list[dict[str, Any]] = []
                    for page in lam.get_paginator("list_event_source_mappings").paginate():
                        esms.extend(page.get("EventSourceMappings") or [])
                    for page in lam.get_paginator("list_functions").paginate():
                        for fn in page.get("Functions") or []:
                            cfg = FunctionConfig.from_api(fn)
                            functions[_unqualified(cfg.function_arn)] = cfg
                except (ClientError, BotoCoreError) as exc:
                    log_event(
                        "list_failed",
                        logging.WARNING,
                        account=account,
                        region=region,
                        error=repr(exc),
                    )
                    continue
                listed_ok.add((account, region))
                for esm in esms:
                    all_uuids.add(esm["UUID"])
                    if ":kinesis:" not in esm.get("EventSourceArn", ""):
                        continue
                    mapping = MappingConfig.from_api(esm, account, region, self.polling_states)
                    if self.mapping_filter is not None and not self.mapping_filter(mapping):
                        continue
                    seen[mapping.uuid] = mapping
        with self._lock:
            for arn, cfg in functions.items():
                host = self._hosts.get(arn)
                if host is None:
                    self._hosts[arn] = FunctionHost(self, cfg)
                else:
                    host.update(cfg)
            for arn in [a for a in self._hosts if a not in functions]:
                account, region = arn.split(":")[4], arn.split(":")[3]
                if (account, region) in listed_ok:
                    self._hosts.pop(arn).close()
            self._functions = functions
            self._mappings = seen
        # Deleted mappings: forget their positions (a recreated mapping starts afresh).
        for uuid in set(self.store.mapping_uuids()) | set(self._runners):
            if uuid in all_uuids:
                continue
            entry = self.store.mapping(uuid) or {}
            owner = entry.get("function_arn") or (
                self._runners[uuid].config.function_arn if uuid in self._runners else ""
            )
            parts = owner.split(":")
            if len(parts) > 4 and (parts[4], parts[3]) not in listed_ok:
                continue
            runner = self._runners.pop(uuid, None)
            if runner is not None:
                runner.stop(wait=False)
            self.store.forget(uuid)
            log_event("mapping_forgotten", mapping=uuid)
        for uuid, mapping in seen.items():
            try:
                self._sync_mapping(mapping)
            except (ClientError, BotoCoreError) as exc:
                log_event("mapping_sync_failed", logging.WARNING, mapping=uuid, error=repr(exc))
        with self._refreshed:
            self._refresh_count += 1
            self._refreshed.notify_all()
        self.count("refreshes")

    def _list_shards(self, mapping: MappingConfig) -> list[dict[str, Any]]:
        kinesis = self.stream_client(mapping)
        shards: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"StreamARN": mapping.event_source_arn}
        while True:
            resp = kinesis.list_shards(**kwargs)
            shards.extend(resp.get("Shards") or [])
            token = resp.get("NextToken")
            if not token:
                return shards
            kwargs = {"NextToken": token}

    def _sync_mapping(self, mapping: MappingConfig) -> None:
        uuid = mapping.uuid
        if self.store.mapping(uuid) is None:
            try:
                shards = self._list_shards(mapping)
            except ClientError as exc:
                log_event("stream_unreadable", logging.WARNING, mapping=uuid, error=repr(exc))
                return
            self.store.init_mapping(
                uuid,
                {
                    "function_arn": mapping.function_arn,
                    "event_source_arn": mapping.event_source_arn,
                    "first_seen": self.clock(),
                    "starting_position": mapping.starting_position,
                    "starting_timestamp": mapping.starting_timestamp,
                    "initial_shards": [s["ShardId"] for s in shards],
                },
            )
            log_event(
                "mapping_seen",
                mapping=uuid,
                function=mapping.function_arn,
                stream=mapping.event_source_arn,
                starting_position=mapping.starting_position,
            )
        if mapping.enabled and self.profile.latest_at_enable:
            self._note_polling_started(mapping)
        runner = self._runners.get(uuid)
        if not mapping.enabled:
            if runner is not None:
                self._runners.pop(uuid)
                runner.stop(wait=False)
                log_event("mapping_paused", mapping=uuid)
            return
        if runner is None:
            runner = MappingRunner(self, mapping)
            self._runners[uuid] = runner
            log_event("mapping_running", mapping=uuid)
        runner.config = mapping
        runner.sync_shards(self._list_shards(mapping))

    def _note_polling_started(self, mapping: MappingConfig) -> None:
        """The first time the mapping is seen polling: LATEST means the stream's tip at the
        moment it became Enabled (``LastModified``), over the shards it has then. Records written
        while it was Creating or Disabled are never delivered, as on AWS."""
        entry = self.store.mapping(mapping.uuid) or {}
        if entry.get("latest_from") is not None or entry.get("shards"):
            return
        shards = self._list_shards(mapping)
        started = mapping.last_modified if mapping.last_modified is not None else self.clock()
        self.store.update_mapping(
            mapping.uuid,
            {"latest_from": started, "initial_shards": [s["ShardId"] for s in shards]},
        )
        log_event("mapping_polling_started", mapping=mapping.uuid, latest_from=started)

    # ------------------------------------------------------------------ lifecycle
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception as exc:
                log_event("refresh_failed", logging.ERROR, error=repr(exc))
            self._stop.wait(self.refresh_interval)

    def start_in_thread(self) -> LocalLambdaRuntime:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, daemon=True, name="lambda-runtime")
            self._thread.start()
            self.metrics.start()
            self.emf.start()
            log_event(
                "runtime_started",
                endpoint=self.endpoint_url,
                accounts=self.accounts,
                regions=self.regions,
                state_dir=str(self.state_dir),
            )
        return self

    def wait_refreshed(self, timeout: float = 30.0) -> bool:
        """Wait until one full refresh pass has completed after this call."""
        with self._refreshed:
            target = self._refresh_count + 1
            return self._refreshed.wait_for(lambda: self._refresh_count >= target, timeout)

    def run_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Start (if needed) and wait until ``predicate()`` is true; False on timeout. The
        runtime keeps running afterwards (``stop()`` it)."""
        self.start_in_thread()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(min(self.poll_interval, 0.1))
        return bool(predicate())

    def run_forever(self) -> None:
        self.start_in_thread()
        while not self._stop.wait(0.5):
            pass

    def stop(self) -> None:
        """Stop polling; let an in-flight batch finish for ``stop_grace`` seconds, then kill the
        workers (that batch is then abandoned, not checkpointed)."""
        self._stop.set()
        runners = list(self._runners.values())
        for runner in runners:
            runner.stop(wait=False)
        deadline = time.monotonic() + self.stop_grace
        while time.monotonic() < deadline and any(r.busy() for r in runners):
            time.sleep(0.05)
        with self._lock:
            hosts = list(self._hosts.values())
        for host in hosts:
            host.kill_worker()
        for runner in runners:
            runner.stop(wait=True, timeout=5.0)
        for host in hosts:
            host.close()
        if self._thread is not None:
            self._thread.join(timeout=self.refresh_interval + 5)
            self._thread = None
        self._runners.clear()
        self.metrics.stop()
        self.emf.stop()
        log_event("runtime_stopped", **self.stats, metrics_sent=self.metrics.sent)

    def __enter__(self) -> LocalLambdaRuntime:
        return self.start_in_thread()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ introspection
    def mapping_positions(self, uuid: str) -> dict[str, str | None]:
        """Checkpoint per shard of a mapping (``None``: nothing processed yet)."""
        entry = self.store.mapping(uuid) or {}
        return {sid: s.get("checkpoint") for sid, s in (entry.get("shards") or {}).items()}

    def running_mappings(self) -> list[str]:
        return list(self._runners)

    def invoking(self) -> bool:
        """True while some batch is being invoked."""
        return any(poller.in_flight for poller in list(self._pollers.values()))


def _unqualified(function_arn: str) -> str:
    parts = function_arn.split(":")
    return ":".join(parts[:7])
