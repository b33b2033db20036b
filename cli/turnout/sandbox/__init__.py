"""The sandbox: the whole system on one machine, for the demo, the tests and the benchmarks.

A local AWS emulator on loopback (`emulator`: moto server plus turnout's changes), both
environments applied with real Terraform, a sample pipeline with live synthetic traffic
(`pipeline`), a local Lambda runtime that runs the deployed function code for enabled event
source mappings (`lambda_runtime`), the demo (`demo`) and the chaos suite (`chaos`); `box` ties
them together (`Sandbox`). See docs/sandbox.md and docs/emulator.md.

The operator tool never imports this package: only `turnout.targets` and the command line do,
when asked for the sandbox. It needs the `sandbox` extra (moto): `require_sandbox_extra()` says
how to install it when it is missing.
"""

from __future__ import annotations

import importlib.util

from turnout.errors import TurnoutError

SANDBOX_REQUIREMENTS = ("moto",)


def require_sandbox_extra() -> None:
    """Refuse, in one paragraph, when the sandbox's dependencies are not installed."""
    missing = [name for name in SANDBOX_REQUIREMENTS if importlib.util.find_spec(name) is None]
    if missing:
        raise TurnoutError(
            f"the sandbox needs {', '.join(missing)}, which is not installed (the operator tool "
            "works without it). Install the sandbox extra into the same environment: "
            "`pip install 'turnout[sandbox]'` (from a checkout: `pip install -e '.[sandbox]'`, "
            "or `make install`, which installs everything). Nothing was started or changed."
        )
