"""Built-in hook: the APIs a cutover is about to switch can be switched (read-only).

The engine runs it before the first transition changes anything: each API's hosted zone exists
in its environment's account and holds its name, both weighted records exist as declared, and the
new record's health check exists. The first problem found stops the cutover with one paragraph;
nothing was changed.
"""

from __future__ import annotations

from turnout.apis.preflight import check_api
from turnout.apis.records import api_of
from turnout.hooks import Hook, HookArgs, HookContext


class CheckApis(Hook):
    name = "check_apis"

    class Args(HookArgs):
        apis: list[str]

    def run(self, context: HookContext) -> dict:
        checked = [check_api(context, api_of(context.spec, name)[0]) for name in self.args.apis]
        context.progress(f"APIs ready to switch: {', '.join(self.args.apis)}")
        return {"checked": checked}
