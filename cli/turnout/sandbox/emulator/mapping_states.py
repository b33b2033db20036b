"""Event source mapping states that take time, as on AWS (the ``aws`` fidelity profile).

moto switches a mapping between ``Enabled`` and ``Disabled`` at once. AWS changes it
asynchronously (https://docs.aws.amazon.com/lambda/latest/api/API_EventSourceMappingConfiguration.html,
``State``: Creating, Enabling, Enabled, Disabling, Disabled, Updating, Deleting): CreateEventSourceMapping
answers ``Creating``, an update of ``Enabled`` answers ``Enabling``/``Disabling``, any other
update ``Updating``; the mapping settles after the profile's ``mapping_transitions`` seconds of
the sandbox clock. An update while it is in transition is refused with
``ResourceInUseException``. ``LastModified`` is the moment the mapping settled (sandbox clock):
the local Lambda runtime starts a ``LATEST`` mapping there.

Only the emulator's server process imports this module.
"""

from __future__ import annotations

import functools
from typing import Any

from .profile import FidelityProfile


def _settle(esm: Any, profile: FidelityProfile) -> str | None:
    """The transitional state the mapping is in now, or None once it has settled."""
    transition = getattr(esm, "_turnout_transition", None)
    if transition is None:
        return None
    state, until = transition
    if profile.now() < until:
        return state
    esm._turnout_transition = None
    esm.last_modified = until
    return None


def _begin(esm: Any, state: str, profile: FidelityProfile) -> None:
    seconds = float(profile.mapping_transitions.get(state, 0.0))
    if seconds <= 0:
        esm.last_modified = profile.now()
        return
    esm._turnout_transition = (state, profile.now() + seconds)


def timed_mapping_states(profile: FidelityProfile) -> None:
    from moto.awslambda.models import EventSourceMapping, LambdaBackend
    from moto.core.exceptions import JsonRESTError

    original_config = EventSourceMapping.get_configuration

    @functools.wraps(original_config)
    def get_configuration(self: Any) -> dict[str, Any]:
        config = original_config(self)
        transitional = _settle(self, profile)
        if transitional is not None:
            config["State"] = transitional
        config["LastModified"] = self.last_modified
        return config

    original_create = LambdaBackend.create_event_source_mapping

    @functools.wraps(original_create)
    def create_event_source_mapping(self: Any, spec: dict[str, Any]) -> Any:
        esm = original_create(self, spec)
        _begin(esm, "Creating", profile)
        return esm

    original_update = LambdaBackend.update_event_source_mapping

    @functools.wraps(original_update)
    def update_event_source_mapping(self: Any, uuid: str, spec: dict[str, Any]) -> Any:
        esm = self.get_event_source_mapping(uuid)
        if esm is not None:
            busy = _settle(esm, profile)
            if busy is not None:
                raise JsonRESTError(
                    "ResourceInUseException",
                    f"Cannot update the event source mapping {uuid} because it is in use "
                    f"(state {busy}); try again when it has settled.",
                )
            was_enabled = bool(esm.enabled)
        result = original_update(self, uuid, spec)
        if esm is not None:
            if "Enabled" in spec and bool(spec["Enabled"]) != was_enabled:
                _begin(esm, "Enabling" if spec["Enabled"] else "Disabling", profile)
            else:
                _begin(esm, "Updating", profile)
        return result

    EventSourceMapping.get_configuration = get_configuration  # type: ignore[method-assign]
    LambdaBackend.create_event_source_mapping = create_event_source_mapping  # type: ignore[method-assign]
    LambdaBackend.update_event_source_mapping = update_event_source_mapping  # type: ignore[method-assign]
