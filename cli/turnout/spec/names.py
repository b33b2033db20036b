"""Every name and ARN turnout gives or expects, computed in one place from the spec.

Terraform computes the same names in `terraform/main.tf` (locals) and the modules; the test
`tests/integration/test_names_match_terraform.py` plans the example spec and compares the two,
so they cannot drift. Nothing else in the Python code writes a resource name out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from turnout.spec.phases import peer_of

# The replicator's CloudWatch namespace (dimensions Direction and Stream) and the partition-key
# prefix of drain marker records, which are control traffic rather than replicated data.
REPLICATION_METRIC_NAMESPACE = "Turnout/Replication"
MARKER_KEY_PREFIX = "turnout-marker-"


def stream_arn(region: str, account_id: str, stream_name: str) -> str:
    return f"arn:aws:kinesis:{region}:{account_id}:stream/{stream_name}"


def role_arn(account_id: str, role_name: str) -> str:
    return f"arn:aws:iam::{account_id}:role/{role_name}"


def account_root_arn(account_id: str) -> str:
    """An account as a policy principal (every principal of that account its IAM allows)."""
    return f"arn:aws:iam::{account_id}:root"


def table_arn(region: str, account_id: str, table_name: str) -> str:
    return f"arn:aws:dynamodb:{region}:{account_id}:table/{table_name}"


def direction_parameter(spec: Any) -> str:
    """The active-direction parameter: one per account, the same name in both."""
    return f"/turnout/{spec.migration}/active-direction"


@dataclass(frozen=True)
class EnvironmentNames:
    """The names of what turnout creates in one environment (docs/architecture.md)."""

    spec: Any
    environment: str

    @property
    def peer(self) -> str:
        return peer_of(self.environment)

    @property
    def place(self) -> Any:
        return getattr(self.spec.environments, self.environment)

    @property
    def prefix(self) -> str:
        return self.place.name_prefix

    @property
    def direction(self) -> str:
        """The direction of the replicator deployed here: it reads here and writes the peer."""
        return f"{self.environment}_to_{self.peer}"

    @property
    def replicator(self) -> str:
        """Function, execution role and KMS alias suffix of the replicator deployed here."""
        return f"{self.prefix}turnout-replicator-{self.environment}-to-{self.peer}"

    @property
    def replicator_role_arn(self) -> str:
        return role_arn(self.place.account_id, self.replicator)

    @property
    def replicator_log_group(self) -> str:
        return f"/aws/lambda/{self.replicator}"

    @property
    def replicator_failure_queue(self) -> str:
        return f"{self.replicator}-failures"

    @property
    def replicator_kms_alias(self) -> str:
        return f"alias/{self.replicator}"

    @property
    def ledger_table(self) -> str:
        return f"{self.prefix}turnout-ledger-{self.environment}-to-{self.peer}"

    @property
    def writer_role(self) -> str:
        """The role here that the peer's replicator assumes to write here."""
        return f"{self.prefix}turnout-writer-from-{self.peer}"

    @property
    def writer_role_arn(self) -> str:
        return role_arn(self.place.account_id, self.writer_role)

    @property
    def state_table(self) -> str:
        return f"{self.prefix}turnout-state"

    @property
    def lock_table(self) -> str:
        return f"{self.prefix}turnout-lock"

    @property
    def markers_table(self) -> str:
        return f"{self.prefix}turnout-markers"

    @property
    def route_table(self) -> str:
        """The route table (hash key route_id S): producers anywhere read the route from it."""
        return f"{self.prefix}turnout-route"

    @property
    def route_table_arn(self) -> str:
        return table_arn(self.place.region, self.place.account_id, self.route_table)

    @property
    def control_plane_kms_alias(self) -> str:
        """In every environment: it encrypts the markers table as well as state and lock."""
        return f"alias/{self.prefix}turnout-control-plane"

    @property
    def dashboard(self) -> str:
        """The CloudWatch dashboard, and the prefix of every alarm name."""
        return f"{self.prefix}turnout-{self.spec.migration}-{self.environment}"

    def stream(self, logical: str) -> str:
        return self._stream(logical).name_in(self.environment)

    def stream_arn(self, logical: str) -> str:
        return stream_arn(self.place.region, self.place.account_id, self.stream(logical))

    def stream_kms_alias(self, logical: str) -> str:
        """Keyed by the logical name: stream names may contain '.', aliases may not."""
        return f"alias/{self.prefix}{logical}-kinesis"

    def _stream(self, logical: str) -> Any:
        for stream in self.spec.streams:
            if stream.name == logical:
                return stream
        raise KeyError(f"no stream {logical!r} in the spec")


def state_partition_key(spec: Any) -> str:
    """The hash key of the migration's items in the control plane's state table."""
    return f"migration#{spec.migration}"


def datastore_checkpoint_key(store_name: str) -> str:
    """The sort key of a data store's copy checkpoint in the state table."""
    return f"datastore#{store_name}"


def datastore_manifest_key(spec: Any, store_name: str) -> str:
    """Where a data store's manifest goes in its target bucket (outside the copied prefix when
    the target is a prefix; skipped by the copy's own comparison)."""
    return f"turnout/{spec.migration}/{store_name}/manifest.ndjson"


def datastore_manifest_file(store_name: str) -> str:
    """The manifest's path under the work directory."""
    return f"datastores/{store_name}/manifest.ndjson"


def api_set_identifier(environment: str) -> str:
    """The set identifier of an API's weighted record that points at `environment`'s endpoint."""
    return f"turnout-{environment}"


def api_health_check_name(spec: Any, api: Any) -> str:
    """The Name tag of an API's health check of the new endpoint (in the zone's environment)."""
    return f"{names(spec, api.environment).prefix}turnout-api-{api.name}-new"


def api_names(spec: Any) -> dict[str, dict]:
    """Per API: its records' set identifiers and its health check's name (the rendered tfvars)."""
    return {
        api.name: {
            "set_identifiers": {env: api_set_identifier(env) for env in ("old", "new")},
            "health_check": api_health_check_name(spec, api),
        }
        for api in spec.apis
    }


def names(spec: Any, environment: str) -> EnvironmentNames:
    return EnvironmentNames(spec, environment)


def control_plane(spec: Any) -> EnvironmentNames:
    """The names in the environment that holds the state and lock tables."""
    return EnvironmentNames(spec, spec.control_plane.environment)


def state_bucket(spec: Any) -> str:
    """The Terraform state bucket: the spec's `state.bucket`, or on an emulator (where a spec
    may leave `state` out) one named after the migration and the old account."""
    if spec.state is not None and spec.state.bucket:
        return spec.state.bucket
    return f"turnout-state-{spec.migration}-{spec.environments.old.account_id}"


def state_region(spec: Any) -> str:
    if spec.state is not None and spec.state.region:
        return spec.state.region
    return spec.environments.old.region


def state_key_prefix(spec: Any) -> str:
    if spec.state is not None and spec.state.key_prefix:
        return spec.state.key_prefix
    return f"turnout/{spec.migration}"


def state_key(spec: Any, environment: str) -> str:
    """The S3 key of one environment's state; Terraform's lock file is this key + .tflock."""
    return f"{state_key_prefix(spec)}/{environment}.tfstate"


def state_lock_key(spec: Any, environment: str) -> str:
    return f"{state_key(spec, environment)}.tflock"


def state_bucket_arn(spec: Any) -> str:
    return f"arn:aws:s3:::{state_bucket(spec)}"


def emulator_deployer_role_arn(account_id: str) -> str:
    """On the emulator, assuming a role in an account is how moto is told to act there (the
    provider and the S3 backend do it with this role, terraform/providers.tf)."""
    return role_arn(account_id, "turnout-emulator-deployer")


def route_value(spec: Any, target: str) -> str:
    """What producers read from the route parameter: where to write each logical stream
    (compact JSON, sorted keys, so the rendered tfvars are stable)."""
    place = names(spec, target)
    document = {
        "environment": target,
        "account_id": place.place.account_id,
        "region": place.place.region,
        "streams": {stream.name: place.stream_arn(stream.name) for stream in spec.streams},
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def route_table(spec: Any) -> EnvironmentNames:
    """The names in the environment that holds the route (its parameters and its table)."""
    return EnvironmentNames(spec, spec.route.environment)


def route_item_key(spec: Any) -> str:
    """The route table item's key (route_id): the migration's name."""
    return spec.migration


__all__ = [
    "MARKER_KEY_PREFIX",
    "REPLICATION_METRIC_NAMESPACE",
    "EnvironmentNames",
    "api_health_check_name",
    "api_names",
    "api_set_identifier",
    "control_plane",
    "datastore_checkpoint_key",
    "datastore_manifest_file",
    "datastore_manifest_key",
    "direction_parameter",
    "emulator_deployer_role_arn",
    "names",
    "role_arn",
    "route_item_key",
    "route_table",
    "route_value",
    "state_bucket",
    "state_bucket_arn",
    "state_key",
    "state_key_prefix",
    "state_lock_key",
    "state_partition_key",
    "state_region",
    "stream_arn",
    "table_arn",
]
