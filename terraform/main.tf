data "aws_partition" "current" {}

locals {
  env       = var.environment
  peer      = var.peer
  partition = data.aws_partition.current.partition

  # This environment's replicator writes to the peer; the peer's writes to us.
  direction      = "${local.env.name}_to_${local.peer.name}"
  peer_direction = "${local.peer.name}_to_${local.env.name}"

  # Names (docs/architecture.md, "Names of created resources").
  replicator_name   = "${local.env.name_prefix}turnout-replicator-${local.env.name}-to-${local.peer.name}"
  ledger_table_name = "${local.env.name_prefix}turnout-ledger-${local.env.name}-to-${local.peer.name}"
  writer_role_name  = "${local.env.name_prefix}turnout-writer-from-${local.peer.name}"
  state_table_name  = "${local.env.name_prefix}turnout-state"
  lock_table_name   = "${local.env.name_prefix}turnout-lock"
  markers_table     = "${local.env.name_prefix}turnout-markers"
  direction_param   = "/turnout/${var.migration.name}/active-direction"
  route_table_name  = "${local.env.name_prefix}turnout-route"

  # The producers' principals: per logical stream those that write it, and all of them (they all
  # read the route). docs/producers.md.
  stream_producers   = { for k, _ in var.streams : k => distinct(flatten([for p in var.producers : p.principal_arns if contains(p.streams, k)])) }
  producer_principal = distinct(flatten([for p in var.producers : p.principal_arns]))

  # Cross-account addresses are computed, never read from the peer's state.
  peer_writer_role_arn     = "arn:${local.partition}:iam::${local.peer.account_id}:role/${local.peer.name_prefix}turnout-writer-from-${local.env.name}"
  peer_replicator_role_arn = "arn:${local.partition}:iam::${local.peer.account_id}:role/${local.peer.name_prefix}turnout-replicator-${local.peer.name}-to-${local.env.name}"

  # Relative paths are relative to the repository root (terraform/..); absolute ones are kept.
  package_filename = startswith(var.replication.package.path, "/") ? var.replication.package.path : "${path.root}/../${var.replication.package.path}"

  tags = merge(var.tags, {
    "turnout:environment" = local.env.name
  })

  # Decommissioned: the replicator, the writer role and the migration's monitoring go
  # (moved.tf gives their earlier single-instance addresses index 0).
  replication_instances = var.replication.deployed ? 1 : 0
}

# Guard: the workspace names the environment whose tfvars are planned, so the
# old tfvars can never be planned into the new state (or the other way round).
# "default" stays allowed for `terraform validate` and ad-hoc checks. A failed
# precondition fails the whole plan, so nothing else needs to depend on it
# (depends_on on modules would defer their data sources and cause diffs).
resource "terraform_data" "workspace_guard" {
  input = local.env.name

  lifecycle {
    precondition {
      condition     = terraform.workspace == "default" || terraform.workspace == var.environment.name
      error_message = "Terraform workspace \"${terraform.workspace}\" does not match environment.name \"${var.environment.name}\": select workspace \"${var.environment.name}\" (or pass that environment's tfvars)."
    }
  }
}

module "stream" {
  source   = "../modules/kinesis-stream"
  for_each = var.streams

  name                = each.value.name
  mode                = each.value.mode
  shard_count         = each.value.shard_count
  retention_hours     = each.value.retention_hours
  kms_key             = each.value.kms_key
  kms_alias_name      = "alias/${local.env.name_prefix}${each.key}-kinesis"
  shard_level_metrics = each.value.shard_level_metrics

  producer_principal_arns = local.stream_producers[each.key]
  reader_principal_arns   = var.read_across.reader_role_arns

  # moto drops the Tags of CreateStream; turnout's emulator launcher restores them
  # (cli/turnout/sandbox/emulator/server.py), so the same tags go to AWS and the emulator.
  # An adopted stream (imports.tf) keeps exactly the tags it had.
  tags = each.value.tags != null ? each.value.tags : merge(local.tags, { "turnout:stream" = each.key })
}

module "control_plane" {
  source = "../modules/control-plane"

  manage_tables    = var.control_plane.managed_here
  state_table_name = local.state_table_name
  lock_table_name  = local.lock_table_name
  kms_alias_name   = "alias/${local.env.name_prefix}turnout-control-plane"

  markers_table_name = local.markers_table

  route = {
    managed_here = var.route.managed_here
    parameters   = var.route.parameters
    value        = var.route.value

    table_name            = local.route_table_name
    table_key             = var.migration.name
    reader_principal_arns = local.producer_principal
  }

  active_direction_parameter_name = local.direction_param
  active_direction                = var.replication.active_direction

  tags = local.tags
}

module "replicator" {
  source = "../modules/replicator"
  count  = local.replication_instances

  name              = local.replicator_name
  direction         = local.direction
  enabled           = var.replication.active_direction == local.direction
  ledger_table_name = local.ledger_table_name

  source_streams = {
    for k, s in var.streams : k => {
      name        = module.stream[k].name
      arn         = module.stream[k].arn
      kms_key_arn = module.stream[k].kms_key_arn
      target_name = s.peer_name
      ordering    = s.ordering
    }
  }

  target = {
    role_arn    = local.peer_writer_role_arn
    external_id = var.replication.external_id
    region      = local.peer.region
  }

  direction_parameter = {
    name = local.direction_param
    arn  = module.control_plane.active_direction_parameter_arn
  }

  package = {
    filename         = local.package_filename
    source_code_hash = var.replication.package.sha256
  }

  event_source = {
    batch_size                         = var.replication.batch_size
    maximum_batching_window_in_seconds = var.replication.maximum_batching_window_in_seconds
    parallelization_factor             = var.replication.parallelization_factor
    maximum_retry_attempts             = var.replication.maximum_retry_attempts
    maximum_record_age_in_seconds      = var.replication.maximum_record_age_in_seconds
    bisect_batch_on_function_error     = var.replication.bisect_batch_on_function_error
    starting_position                  = var.replication.starting_position
    starting_position_timestamp        = var.replication.starting_position_timestamp
  }

  enhanced_fanout      = var.replication.enhanced_fanout
  reserved_concurrency = var.replication.reserved_concurrency
  timeout_seconds      = var.replication.timeout_seconds
  memory_mb            = var.replication.memory_mb
  log_retention_days   = var.replication.log_retention_days

  tags = local.tags
}

module "writer_role" {
  source = "../modules/writer-role"
  count  = local.replication_instances

  name                     = local.writer_role_name
  peer_account_id          = local.peer.account_id
  peer_replicator_role_arn = local.peer_replicator_role_arn
  external_id              = var.replication.external_id

  target_streams = {
    for k, _ in var.streams : k => {
      arn         = module.stream[k].arn
      kms_key_arn = module.stream[k].kms_key_arn
    }
  }

  direction_parameter_arn = module.control_plane.active_direction_parameter_arn

  tags = local.tags
}

# Alarms and dashboard of this environment: its own replicator (direction <this>_to_<peer>,
# deployed in every environment) and the consumers that live here.
module "monitoring" {
  source = "../modules/monitoring"
  count  = local.replication_instances

  name   = "${local.env.name_prefix}turnout-${var.migration.name}-${local.env.name}"
  region = local.env.region

  replicator = {
    function_name      = module.replicator[0].function_name
    direction          = local.direction
    source_streams     = { for k, m in module.stream : k => m.name }
    failure_queue_name = element(split(":", module.replicator[0].failure_queue_arn), 5)
    retention_hours    = min([for s in var.streams : s.retention_hours]...)
  }

  consumers = {
    lambda_functions = var.monitoring.lambda_consumers
    kcl_applications = var.monitoring.kcl_consumers
  }

  thresholds = {
    replication_lag_ms       = var.monitoring.replication_lag_threshold_ms
    replicator_throttles     = var.monitoring.replicator_throttles_threshold
    consumer_iterator_age_ms = var.monitoring.consumer_iterator_age_threshold_ms
  }

  # Set by the cutover engine in the new environment from the switch until its consumers resume.
  buffering = {
    since           = var.buffering.since
    not_before      = var.buffering.not_before
    retention_hours = min([for s in var.streams : s.retention_hours]...)
  }

  period_seconds     = var.monitoring.period_seconds
  evaluation_periods = var.monitoring.evaluation_periods
  alarm_actions      = var.monitoring.alarm_actions
  ok_actions         = var.monitoring.ok_actions

  tags = local.tags
}

# The APIs whose hosted zone lives here: weighted records between the two environments' endpoints
# and the new endpoint's health check; the weight comes from the posture (docs/apis.md).
module "api_switch" {
  source   = "../modules/api-switch"
  for_each = var.apis

  zone_id      = each.value.zone_id
  zone_name    = each.value.zone_name
  record_name  = each.value.record_name
  ttl          = each.value.ttl
  endpoints    = each.value.endpoints
  new_weight   = each.value.new_weight
  health_check = each.value.health_check

  tags = merge(local.tags, { "turnout:api" = each.key })
}

# Replication mode read-across (docs/read-across.md): the old Lambda consumers read the new
# streams themselves, one mapping per consumer and stream, allowed by the new streams' resource
# policy (their reader_principal_arns). Created at mirrored, reading from the trim horizon (the
# new streams were proven empty at the switch), disabled at the commit or at the end of a
# rollback (the position is kept), removed with the decommission. Retries until the record
# expires and no on-failure destination: a failing batch blocks its shard, it is never skipped.
# https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-create.html
resource "aws_lambda_event_source_mapping" "read_across" {
  for_each = var.read_across.state == "absent" ? {} : var.read_across.mappings

  function_name     = each.value.function_name
  event_source_arn  = each.value.stream_arn
  enabled           = var.read_across.state == "enabled"
  starting_position = "TRIM_HORIZON"

  batch_size                         = each.value.batch_size
  maximum_batching_window_in_seconds = each.value.batching_window_seconds
  function_response_types            = each.value.report_batch_item_failures ? ["ReportBatchItemFailures"] : []
  bisect_batch_on_function_error     = each.value.bisect_on_error
  maximum_retry_attempts             = -1
  maximum_record_age_in_seconds      = -1

  tags = merge(local.tags, { "turnout:read-across" = each.key })
}
