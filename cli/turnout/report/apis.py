"""The API switch as the journal tells it: each API's weight over time.

Two kinds of journal entries carry it (turnout.engine.runner): every apply step's `started`
entry names the weights it applies (`inputs.api_weights`, the new endpoint's percent per API),
and every `api-<name>-<w>-answered` check (hook `verify_api_weights`) completes with the weights
Route 53 answered with (ListResourceRecordSets). A row is an apply that changed an API's weight,
or such a check; applies that keep the weights (every later apply carries them) are left out.
"""

from __future__ import annotations

from datetime import datetime

from turnout.report.model import ApiWeightRow
from turnout.report.timeline import entry_time


def api_switch_rows(entries: list[dict], start: datetime, end: datetime) -> list[ApiWeightRow]:
    """`entries`: the whole journal, oldest first (weights applied before the window are needed
    to know which applies in it changed one)."""
    rows: list[ApiWeightRow] = []
    applying: dict[tuple[str, str, str], dict] = {}
    current: dict[str, int] = {}
    for entry in sorted(entries, key=entry_time):
        details = entry.get("details", {})
        if entry.get("kind") != "step":
            continue
        key = (
            str(entry.get("run_id", "")),
            str(details.get("transition")),
            str(details.get("step")),
        )
        weights = (details.get("inputs") or {}).get("api_weights")
        if entry.get("action") == "started" and isinstance(weights, dict):
            applying[key] = weights
        elif entry.get("action") == "completed" and key in applying:
            for api, weight in sorted(applying.pop(key).items()):
                if current.get(api) != weight:
                    current[api] = weight
                    rows.append(_row(entry, api, weight, "applied"))
        elif entry.get("action") == "completed":
            rows += _answered(entry)
    return [row for row in rows if start <= row.at <= end]


def _answered(entry: dict) -> list[ApiWeightRow]:
    details = entry.get("details", {})
    outcome = details.get("outcome")
    if not str(details.get("step", "")).endswith("-answered") or not isinstance(outcome, dict):
        return []
    weights = {env: record.get("weight") for env, record in outcome.get("records", {}).items()}
    text = f"Route 53 answers old {weights.get('old')} / new {weights.get('new')}"
    return [_row(entry, str(outcome.get("api")), outcome.get("new_share"), text)]


def _row(entry: dict, api: str, percent: int | None, what: str) -> ApiWeightRow:
    details = entry.get("details", {})
    return ApiWeightRow(
        entry_time(entry),
        str(details.get("transition", "")),
        str(details.get("step", "")),
        api,
        percent,
        what,
    )
