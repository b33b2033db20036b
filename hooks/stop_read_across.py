"""Replication mode read-across (docs/read-across.md): stop the second instance of every old
KCL application, by the spec's `read_across.stop_command`, once the new streams no longer need
it (after the commit's or the rollback's last read of them). Its lease table stays."""

from __future__ import annotations

from turnout.kcl_read_across import ReadAcrossInstancesHook


class StopReadAcross(ReadAcrossInstancesHook):
    name = "stop_read_across"
    action = "stop"
