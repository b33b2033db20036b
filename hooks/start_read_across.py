"""Replication mode read-across (docs/read-across.md): start the second instance of every old
KCL application on the new streams, by the spec's `read_across.start_command` (idempotent,
bounded in time; the instance's settings in TURNOUT_READ_ACROSS_* variables,
`turnout.kcl_read_across`). Nothing to do without a KCL application."""

from __future__ import annotations

from turnout.kcl_read_across import ReadAcrossInstancesHook


class StartReadAcross(ReadAcrossInstancesHook):
    name = "start_read_across"
    action = "start"
