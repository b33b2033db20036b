"""The faults of a chaos run and the injectors that apply them while the cutover runs.

Each fault kind is a real mechanism:

- **PutRecords entry failures and throttling** - the emulator's fault mode
  (:mod:`turnout.sandbox.chaos.api_faults`) fails a fraction of the entries of every PutRecords call
  (``ProvisionedThroughputExceededException`` / ``InternalFailure``) and throttles or fails a
  fraction of whole calls, for the producer and the replicators alike.
- **replicator exceptions** - for requests from Lambda functions only (botocore's
  ``exec-env/AWS_Lambda`` user agent), a fraction of PutRecords calls are executed and their
  answer lost: the replicator raises ``KeyError`` mid-batch, after the write, and Lambda retries
  the batch; and a fraction of its ledger updates (DynamoDB ``UpdateItem``) are throttled, which
  fails the batch after the write. No production code path knows about it.
- **Lambda runtime killed and restarted** - SIGKILL of the runtime and its function workers
  (``Sandbox.kill_runtime``), a restart a few seconds later.
- **emulator unreachable** - a loopback proxy (:mod:`turnout.sandbox.chaos.proxy`) in front of the
  emulator drops every connection and refuses new ones for a few seconds.
- **cutover killed** - see :mod:`turnout.sandbox.chaos.cutover_runs`.

The timed faults (runtime kills, outages) are drawn from a seeded random source by a background
thread (:class:`FaultSchedule`); everything injected is counted.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from turnout.sandbox.chaos.api_faults import fault_status, set_faults, totals
from turnout.sandbox.chaos.proxy import LoopbackProxy

LAMBDA_USER_AGENT = "exec-env/AWS_Lambda"


@dataclass(frozen=True)
class FaultPlan:
    """What to inject and how hard. Rates are probabilities per entry or per call."""

    entry_failure_rate: float = 0.05
    call_failure_rate: float = 0.03
    replicator_lost_answer_rate: float = 0.05
    ledger_failure_rate: float = 0.3
    runtime_kills: bool = True
    outages: bool = True
    outage_seconds: tuple[float, float] = (3.0, 8.0)
    fault_interval: tuple[float, float] = (20.0, 45.0)  # between two timed faults
    runtime_down_seconds: tuple[float, float] = (1.0, 5.0)
    cutover_kills: int = 3  # per transition run
    cutover_kill_after: tuple[float, float] = (2.0, 60.0)
    max_failed_runs: int = 4  # CLI runs failing in a row at one step: the cutover is stuck

    def emulator_rules(self) -> list[dict]:
        return [
            {  # replicators (and consumers) in the local Lambda runtime: first match wins
                "operation": "kinesis PutRecords",
                "user_agent": LAMBDA_USER_AGENT,
                "entry_failure_rate": self.entry_failure_rate,
                "call_failure_rate": self.call_failure_rate,
                "lost_answer_rate": self.replicator_lost_answer_rate,
            },
            {
                "operation": "dynamodb UpdateItem",
                "user_agent": LAMBDA_USER_AGENT,
                "call_failure_rate": self.ledger_failure_rate,
            },
            {  # the producer
                "operation": "kinesis PutRecords",
                "entry_failure_rate": self.entry_failure_rate,
                "call_failure_rate": self.call_failure_rate,
            },
        ]


@dataclass
class InjectedCounts:
    runtime_kills: int = 0
    outages: int = 0
    outage_seconds: float = 0.0
    connections_dropped: int = 0
    connections_refused: int = 0
    events: list[dict] = field(default_factory=list)


class FaultSchedule:
    """A background thread that injects the timed faults until ``stop()``."""

    def __init__(
        self,
        plan: FaultPlan,
        seed: int,
        proxy: LoopbackProxy,
        kill_runtime: Callable[[], int | None],
        restart_runtime: Callable[[], int | None],
        progress: Callable[[str], None] = print,
    ) -> None:
        self.plan = plan
        self.random = random.Random(f"schedule-{seed}")
        self.proxy = proxy
        self.kill_runtime = kill_runtime
        self.restart_runtime = restart_runtime
        self.progress = progress
        self.counts = InjectedCounts()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-schedule", daemon=True)
        self.errors: list[str] = []

    def start(self) -> FaultSchedule:
        self._thread.start()
        return self

    def stop(self) -> InjectedCounts:
        self._stop.set()
        self._thread.join(timeout=60)
        self.proxy.heal()
        self.restart_runtime()  # whatever was killed last runs again
        self.counts.connections_dropped = self.proxy.counters.dropped
        self.counts.connections_refused = self.proxy.counters.refused
        return self.counts

    def _kinds(self) -> list[str]:
        return [
            kind
            for kind, on in (("runtime", self.plan.runtime_kills), ("outage", self.plan.outages))
            if on
        ]

    def _run(self) -> None:
        kinds = self._kinds()
        self.random.shuffle(kinds)
        turn = 0
        while kinds and not self._stop.wait(self.random.uniform(*self.plan.fault_interval)):
            kind = kinds[turn % len(kinds)]  # in turns: every kind happens in a short run too
            turn += 1
            try:
                if kind == "runtime":
                    self._runtime_crash()
                else:
                    self._outage()
            except Exception as problem:  # the schedule goes on; the run reports it
                self.errors.append(f"{kind}: {problem!r}")

    def _runtime_crash(self) -> None:
        pid = self.kill_runtime()
        if pid is None:
            return
        down = self.random.uniform(*self.plan.runtime_down_seconds)
        self.counts.runtime_kills += 1
        self.counts.events.append(
            {
                "at": time.time(),
                "fault": "runtime killed",
                "pid": pid,
                "down_seconds": round(down, 1),
            }
        )
        self.progress(f"chaos: Lambda runtime (pid {pid}) killed; restart in {down:.1f} s")
        self._stop.wait(down)
        self.restart_runtime()

    def _outage(self) -> None:
        seconds = self.random.uniform(*self.plan.outage_seconds)
        self.proxy.outage(seconds)
        self.counts.outages += 1
        self.counts.outage_seconds += seconds
        self.counts.events.append(
            {"at": time.time(), "fault": "emulator unreachable", "seconds": round(seconds, 1)}
        )
        self.progress(f"chaos: emulator unreachable for {seconds:.1f} s")
        self._stop.wait(seconds)


def switch_on_api_faults(endpoint_url: str, plan: FaultPlan, seed: int) -> None:
    set_faults(endpoint_url, plan.emulator_rules(), seed=seed)


def switch_off_api_faults(endpoint_url: str) -> dict:
    """Switch the emulator's faults off; returns what they did (totals and per rule)."""
    status = fault_status(endpoint_url)
    set_faults(endpoint_url, [])
    return {"totals": totals(status), "rules": status["rules"]}


def plan_dict(plan: FaultPlan) -> dict:
    return asdict(plan)
