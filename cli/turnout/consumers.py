"""Pause, resume and observe the consumers of an environment, whatever their kind.

Lambda consumers: their event source mappings are disabled or enabled in place (disabling keeps
the position) and waited for until settled. KCL consumers: the spec's pause/resume command runs
in a shell, bounded in time. Custom consumers: the user's hook file runs with `action`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from turnout.aws.kinesis import describe_stream_arn
from turnout.aws.mappings import mappings_reading, settle_mappings
from turnout.commands import command_failure, run_command
from turnout.hooks import Hook, HookArgs, HookContext, HookError, HookFailed, load_hook_class
from turnout.spec.names import names


def consumer_stream_arns(context: Any, environment: str, consumer: Any) -> dict[str, str]:
    """Logical stream -> ARN of that stream in `environment`, for each stream the consumer reads."""
    kinesis = context.client(environment, "kinesis")
    streams = {stream.name: stream for stream in context.spec.streams}
    return {
        logical: describe_stream_arn(kinesis, streams[logical].name_in(environment))
        for logical in consumer.streams
    }


def lambda_consumer_mappings(context: Any, environment: str, consumer: Any) -> list[dict]:
    """The mappings of a Lambda consumer's function that read one of its streams there."""
    arns = consumer_stream_arns(context, environment, consumer)
    return mappings_reading(
        context.client(environment, "lambda"), consumer.function_name, arns.values()
    )


def consumer_mapping_states(context: Any, environment: str, wanted: str) -> dict:
    """Each consumer's mapping states against `wanted` ("Enabled"/"Disabled"); `wrong` lists
    the mappings (and Lambda consumers without one) that differ. KCL/custom: "unverified"."""
    consumers = []
    wrong = []
    for consumer in getattr(context.spec.consumers, environment):
        if consumer.kind != "lambda":
            label = consumer.application if consumer.kind == "kcl" else consumer.name
            consumers.append({"consumer": f"{consumer.kind}:{label}", "state": "unverified"})
            continue
        label = f"lambda:{consumer.function_name}"
        mappings = lambda_consumer_mappings(context, environment, consumer)
        states = [
            {
                "uuid": mapping["UUID"],
                "source": mapping.get("EventSourceArn", "").split("/", 1)[-1],
                "state": mapping["State"],
            }
            for mapping in mappings
        ]
        consumers.append({"consumer": label, "mappings": states})
        if not mappings:
            wrong.append(f"{label} has no mapping on {', '.join(consumer.streams)}")
        wrong.extend(
            f"{label} mapping {entry['uuid']} on {entry['source']} is {entry['state']}"
            for entry in states
            if entry["state"] != wanted
        )
    return {"environment": environment, "wanted": wanted, "consumers": consumers, "wrong": wrong}


def read_across_mapping_states(context: Any, wanted: str) -> dict:
    """Replication mode read-across: each old Lambda consumer's mapping on each NEW stream it
    reads (docs/read-across.md), against `wanted` ("Enabled"/"Disabled"); `wrong` lists the
    mappings in another state and the (consumer, stream) pairs without one."""
    new = names(context.spec, "new")
    lam = context.client("old", "lambda")
    found, wrong = [], []
    for consumer in context.spec.consumers.old:
        if consumer.kind != "lambda":
            continue
        for logical in consumer.streams:
            arn = new.stream_arn(logical)
            label = f"lambda:{consumer.function_name} on new {logical}"
            mappings = mappings_reading(lam, consumer.function_name, [arn])
            if not mappings:
                wrong.append(f"{label}: no mapping")
            for mapping in mappings:
                found.append(
                    {"consumer": label, "uuid": mapping["UUID"], "state": mapping["State"]}
                )
                if mapping["State"] != wanted:
                    wrong.append(f"{label}: mapping {mapping['UUID']} is {mapping['State']}")
    return {"wanted": wanted, "mappings": found, "wrong": wrong}


def control_consumers(
    context: Any,
    environment: str,
    action: str,
    *,
    settle_timeout_seconds: float,
    command_timeout_seconds: float,
    poll_seconds: float = 2.0,
) -> dict:
    """Pause (`action="pause"`) or resume every consumer of `environment` declared in the spec.

    Lambda: every mapping of the function that reads one of the consumer's streams is disabled
    (enabled) in place and waited for until its State settles; disabling keeps the position.
    The mappings of all Lambda consumers change together and are waited for together.
    KCL: the consumer's pause_command / resume_command runs in a shell, bounded in time.
    Custom: the user's hook file (hooks/<hook>) runs with its args plus `action`.
    Every consumer is attempted; failures are raised together at the end (HookFailed).
    """
    control = _Control(
        context, environment, action, settle_timeout_seconds, command_timeout_seconds, poll_seconds
    )
    consumers = getattr(context.spec.consumers, environment)
    lambda_entries = control.lambda_consumers([c for c in consumers if c.kind == "lambda"])
    handlers = {"kcl": control.kcl_consumer}
    results = [
        lambda_entries.pop(0)
        if consumer.kind == "lambda"
        else handlers.get(consumer.kind, control.custom_consumer)(consumer)
        for consumer in consumers
    ]
    data = {
        "environment": environment,
        "action": action,
        "dry_run": context.dry_run,
        "consumers": results,
    }
    if control.failures:
        error = HookFailed(
            f"could not {action} every consumer of the {environment} environment: "
            + "; ".join(control.failures)
            + ". The others were handled (see the hook's data); running the hook again is safe."
        )
        error.data = data  # type: ignore[attr-defined]
        raise error
    return data


@dataclass
class _Control:
    """One pause or resume over an environment's consumers; collects the failures."""

    context: Any
    environment: str
    action: str
    settle_timeout_seconds: float
    command_timeout_seconds: float
    poll_seconds: float
    failures: list[str] = field(default_factory=list)

    @property
    def enable(self) -> bool:
        return self.action == "resume"

    def lambda_consumers(self, consumers: list[Any]) -> list[dict]:
        """Every mapping of every Lambda consumer changed and settled together; one entry per
        consumer, in order."""
        entries: list[dict] = []
        found: list[tuple[dict, dict]] = []  # (entry, mapping)
        for consumer in consumers:
            label = f"lambda:{consumer.function_name}"
            mappings = lambda_consumer_mappings(self.context, self.environment, consumer)
            entries.append({"consumer": label, "kind": "lambda", "mappings": []})
            if not mappings:
                self.failures.append(
                    f"{label} has no event source mapping on {', '.join(consumer.streams)} in "
                    f"{self.environment} (the spec says it reads them)"
                )
            found.extend((entries[-1], mapping) for mapping in mappings)
        outcomes = self._settle([mapping["UUID"] for _, mapping in found])
        for entry, mapping in found:
            entry["mappings"].append(self._mapping_result(entry["consumer"], mapping, outcomes))
        return entries

    def _settle(self, uuids: list[str]) -> dict[str, dict]:
        if self.context.dry_run or not uuids:
            return {}
        return settle_mappings(
            self.context.client(self.environment, "lambda"),
            uuids,
            self.enable,
            timeout_seconds=self.settle_timeout_seconds,
            clock=self.context.clock,
            sleep=self.context.sleep,
            progress=self.context.progress,
            poll_seconds=self.poll_seconds,
        )

    def _mapping_result(self, label: str, mapping: dict, outcomes: dict[str, dict]) -> dict:
        uuid = mapping["UUID"]
        source = mapping.get("EventSourceArn", "").split("/", 1)[-1]
        if self.context.dry_run:
            wanted = "Enabled" if self.enable else "Disabled"
            return {
                "uuid": uuid,
                "source": source,
                "state": mapping["State"],
                "would_change": mapping["State"] != wanted,
            }
        outcome = outcomes[uuid]
        if "error" in outcome:
            self.failures.append(f"{label}: {outcome['error']}")
            return {"uuid": uuid, "source": source, "error": outcome["error"]}
        return {**outcome, "source": source}

    def kcl_consumer(self, consumer: Any) -> dict:
        label = f"kcl:{consumer.application}"
        command = consumer.resume_command if self.enable else consumer.pause_command
        entry: dict[str, Any] = {"consumer": label, "kind": "kcl", "command": command}
        if not command:
            self.failures.append(
                f"{label} declares no {self.action}_command, so turnout cannot {self.action} it "
                f"(add {self.action}_command to the consumer in the spec)"
            )
            return entry
        if self.context.dry_run:
            return {**entry, "would_run": True}
        outcome = run_command(command, self.context.project_root, self.command_timeout_seconds)
        entry.update(outcome)
        failure = command_failure(label, outcome, self.command_timeout_seconds)
        if failure:
            self.failures.append(failure)
        return entry

    def custom_consumer(self, consumer: Any) -> dict:
        label = f"custom:{consumer.name}"
        entry: dict[str, Any] = {"consumer": label, "kind": "custom", "hook": consumer.hook}
        hooks_dir = (Path(self.context.project_root) / "hooks").resolve()
        path = (hooks_dir / consumer.hook).resolve()
        try:
            if hooks_dir not in path.parents:
                raise HookError(f"{consumer.hook} is outside the project's hooks/ folder")
            hook = load_hook_class(path)({**consumer.args, "action": self.action})
            entry["result"] = hook.run(self.context)
        except (HookError, HookFailed) as problem:
            self.failures.append(f"{label}: {problem}")
            entry["error"] = str(problem)
        return entry


class ConsumerControlArgs(HookArgs):
    environment: Literal["old", "new"]
    settle_timeout_seconds: float = Field(default=300, gt=0)
    command_timeout_seconds: float = Field(default=300, gt=0)
    poll_seconds: float = Field(default=2.0, gt=0)


class ConsumerControlHook(Hook):
    """Base of pause_consumers and resume_consumers: one `action` over every consumer."""

    action: ClassVar[str] = ""
    Args = ConsumerControlArgs

    def run(self, context: HookContext) -> dict:
        return control_consumers(
            context,
            self.args.environment,
            self.action,
            settle_timeout_seconds=self.args.settle_timeout_seconds,
            command_timeout_seconds=self.args.command_timeout_seconds,
            poll_seconds=self.args.poll_seconds,
        )
