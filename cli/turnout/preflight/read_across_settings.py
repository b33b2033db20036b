"""`read-across-settings`: in read-across mode, each old Lambda consumer's mappings on the new
streams take their settings from the spec (`read_across_mapping`), not from its own mappings on
the old streams; they must handle batches the way the function expects.

- `ReportBatchItemFailures` on its own mappings and not in `read_across_mapping`: fail. The
  function answers `batchItemFailures`, and a mapping without the response type takes any answer
  for success and moves past the records the function did not store
  (https://docs.aws.amazon.com/lambda/latest/dg/kinesis-batchfailurereporting.html): lost.
- the batch size, the batching window or bisection differ: warn. The function then sees larger
  or smaller batches, or a failing batch is retried whole instead of halved; nothing is lost by
  itself, but a batch larger than the function was sized for can time out until its records
  expire (https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-parameters.html).

Copy mode has no read-across mapping: the row passes. It reads the old environment's mappings
(`--env old` or `both`); unread mappings leave it unknown.
"""

from __future__ import annotations

from typing import Any

from turnout.preflight.live import ConsumerMappings, mapping_place, unjudged
from turnout.preflight.registry import PreflightContext, register
from turnout.preflight.result import Check, Finding, Verdict

NAME = "read-across-settings"
PARTIAL_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/kinesis-batchfailurereporting.html"
# (the mapping's field, the spec's field, how the mapping states it)
COMPARED = (
    ("BatchSize", "batch_size", lambda mapping: mapping.get("BatchSize")),
    (
        "MaximumBatchingWindowInSeconds",
        "batching_window_seconds",
        lambda mapping: mapping.get("MaximumBatchingWindowInSeconds") or 0,
    ),
    (
        "BisectBatchOnFunctionError",
        "bisect_on_error",
        lambda mapping: bool(mapping.get("BisectBatchOnFunctionError")),
    ),
)


@register(NAME, live_only=True)
def read_across_settings(context: PreflightContext) -> Check:
    """The read-across mappings handle batches as the old consumers' own mappings do."""
    spec = context.spec
    if spec.replication.mode != "read-across":
        return Check.of(NAME, "spec", [], passed="copy mode: no read-across mapping")
    if "old" not in context.environments:
        return Check.of(
            NAME,
            "spec",
            [
                Finding(
                    Verdict.UNKNOWN,
                    "the old consumers' own mappings were not read",
                    "run it with --env old or --env both",
                )
            ],
            passed="",
        )
    declared = {
        consumer.function_name: consumer.read_across_mapping
        for consumer in spec.consumers.old
        if consumer.kind == "lambda"
    }
    findings = [
        finding
        for consumer in context.consumer_mappings("old")
        for finding in _consumer(context, consumer, declared[consumer.function_name])
    ]
    return Check.of(
        NAME,
        "old",
        findings,
        passed="every old consumer's read_across_mapping matches its own mappings",
    )


def _consumer(context: PreflightContext, consumer: ConsumerMappings, declared: Any) -> list:
    unseen = unjudged(
        consumer,
        "what its read-across mappings must match cannot be read",
        "create its mappings on the old streams before the migration starts",
    )
    if unseen is not None:
        return unseen
    return [
        finding
        for mapping in consumer.mappings
        for finding in _mapping(context, consumer, mapping, declared)
    ]


def _mapping(context: PreflightContext, consumer: ConsumerMappings, mapping: dict, declared):
    where = mapping_place(context.spec, consumer, mapping)
    field = f"consumers.old[{consumer.function_name}].read_across_mapping"
    reports = "ReportBatchItemFailures" in (mapping.get("FunctionResponseTypes") or [])
    findings = []
    if reports and not declared.report_batch_item_failures:
        findings.append(
            Finding(
                Verdict.FAIL,
                f"{where} has ReportBatchItemFailures, and {field}.report_batch_item_failures "
                f"is false: the read-across mapping would take the function's batchItemFailures "
                f"for success and skip the records it did not store ({PARTIAL_DOC})",
                f"set {field}.report_batch_item_failures to true",
            )
        )
    differing = [
        f"{theirs} {own(mapping)} where {field}.{ours} is {getattr(declared, ours)}"
        for theirs, ours, own in COMPARED
        if own(mapping) != getattr(declared, ours)
    ]
    if not reports and declared.report_batch_item_failures:
        differing.append(f"no ReportBatchItemFailures where {field} asks for it")
    if differing:
        findings.append(
            Finding(
                Verdict.WARN,
                f"{where} has {'; '.join(differing)}: the function would see batches unlike "
                "its own mappings' (a larger batch can time out until its records expire)",
                f"set {field} to the settings of its own mappings",
            )
        )
    return findings or [Finding(Verdict.PASS, "")]
