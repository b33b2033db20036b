"""Replication is off: both replicators' event source mappings are Disabled, and the two
active-direction parameters do not enable either replicator.

A replicator writes only while the parameter in its source account *and* the one in its target
account both name its direction (the two-key loop guard). The check therefore refuses any value
that enables a replicator: a parameter naming the direction of the replicator deployed in its
own environment, or both parameters naming the same direction. "none" (or a missing parameter,
which the replicator also refuses to write under) is off.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from turnout.aws.errors import error_code
from turnout.aws.mappings import function_mappings
from turnout.hooks import Hook, HookArgs, HookContext, HookFailed
from turnout.spec.names import direction_parameter, names
from turnout.spec.phases import ENVIRONMENTS, direction_of_replicator_in


def _parameter(context: HookContext, environment: str, name: str) -> str | None:
    try:
        return context.client(environment, "ssm").get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as problem:
        if error_code(problem) == "ParameterNotFound":
            return None
        raise


class VerifyReplicationOff(Hook):
    name = "verify_replication_off"

    class Args(HookArgs):
        pass

    def run(self, context: HookContext) -> dict:
        spec = context.spec
        parameter = direction_parameter(spec)
        values = {env: _parameter(context, env, parameter) for env in ENVIRONMENTS}
        problems: list[str] = []
        replicators = {}
        for environment in ENVIRONMENTS:
            function = names(spec, environment).replicator
            direction = direction_of_replicator_in(environment)
            mappings = [
                {
                    "uuid": mapping["UUID"],
                    "source": mapping.get("EventSourceArn", "").split("/", 1)[-1],
                    "state": mapping["State"],
                }
                for mapping in function_mappings(context.client(environment, "lambda"), function)
            ]
            replicators[environment] = {
                "function": function,
                "direction": direction,
                "mappings": mappings,
                "parameter": values[environment],
            }
            problems.extend(
                f"{function} mapping {mapping['uuid']} on {mapping['source']} is {mapping['state']}"
                for mapping in mappings
                if mapping["state"] != "Disabled"
            )
            if values[environment] == direction:
                problems.append(
                    f"{parameter} in {environment} is '{direction}', the direction of the "
                    f"replicator deployed there ({function})"
                )
        if values["old"] == values["new"] and values["old"] in ("old_to_new", "new_to_old"):
            problems.append(
                f"{parameter} is '{values['old']}' in both environments: both keys of that "
                "replicator's loop guard are turned"
            )
        data = {"parameter": parameter, "values": values, "replicators": replicators}
        if problems:
            raise HookFailed(
                "replication is not off: "
                + "; ".join(dict.fromkeys(problems))
                + ". Apply the phase's Terraform (it disables the mappings and sets the "
                "parameters to none) and wait for the mappings to settle."
            )
        return data
