"""Render → plan → review → apply: the spec becomes per-environment tfvars (`render`, through
the Jinja2 template), Terraform plans them into a reviewed, saved plan (`workflow`,
`plan_summary`, the one Terraform adapter `terraform`), and exactly that plan is applied.
`package` builds the replicator's Lambda zip; `posture` applies a cutover posture to both
environments; `validate` runs `terraform validate` over modules and the root.
"""

from turnout.deploy.workflow import (
    PlanResult,
    apply,
    plan,
    plan_and_apply,
    render,
    write_rendered,
)

__all__ = ["PlanResult", "apply", "plan", "plan_and_apply", "render", "write_rendered"]
