"""Decommission: after the commit, remove what the migration left in the old environment.

- `mappings`: delete the old consumers' event source mappings (Lambda; KCL and custom consumers
  are listed for the operator to stop);
- `leftovers`: what of the migration's machinery still exists (replicators, their mappings,
  writer roles, and the old streams);
- `streams`: may the old streams go? Only once their retention has passed since the commit and
  nothing was written to them since (records read from the commit on, and IncomingRecords).

The engine's step table (`committed->decommissioned`) runs them through built-in hooks around
the Terraform applies that remove the replication and, last, the old streams. docs/cutover.md.
"""
