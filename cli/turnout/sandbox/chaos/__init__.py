"""The chaos suite: the sandbox with live traffic through a cutover and a rollback while faults
are injected, each by a real mechanism (docs/reliability.md).

- ``api_faults``: the emulator's fault mode (PutRecords entry failures, throttled and failed
  calls, answers lost after the write), set at runtime through ``/_turnout/faults``.
- ``proxy``: a loopback TCP proxy between every sandbox client and the emulator that can make
  the emulator unreachable for a while.
- ``faults``: the fault plan and the injectors that run during a scenario (emulator rules, proxy
  outages, the Lambda runtime killed and restarted).
- ``cutover_runs``: the real CLI driven through transitions, SIGKILLed at (seeded) random points
  and run again.
- ``scenario``: one run (sandbox up, faults, cutover or rollback, report); ``reliability``:
  ``make chaos`` and the generated ``docs/reliability.md``.
"""
