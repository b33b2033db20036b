output "environment" {
  description = "This environment's name, account id and region."
  value = try({
    name       = var.environment.name
    account_id = var.environment.account_id
    region     = var.environment.region
  }, null)
}

output "streams" {
  description = "Per logical stream: name, ARN and KMS key ARN (null for alias/aws/kinesis) in this environment."
  value = try({
    for k, m in module.stream : k => {
      name        = m.name
      arn         = m.arn
      kms_key_arn = m.kms_key_arn
    }
  }, {})
}

output "stream_arns" {
  description = "Stream ARN per logical stream."
  value       = try({ for k, m in module.stream : k => m.arn }, {})
}

output "replicator" {
  description = "The replicator deployed here (direction <this>_to_<peer>): function, role, mapping UUIDs per stream, failure queue, ledger, target writer role."
  value = try({
    direction                  = local.direction
    enabled                    = module.replicator[0].enabled
    function_name              = module.replicator[0].function_name
    function_arn               = module.replicator[0].function_arn
    role_arn                   = module.replicator[0].role_arn
    event_source_mapping_uuids = module.replicator[0].event_source_mapping_uuids
    event_source_arns          = module.replicator[0].event_source_arns
    failure_queue_url          = module.replicator[0].failure_queue_url
    failure_queue_arn          = module.replicator[0].failure_queue_arn
    ledger_table_name          = module.replicator[0].ledger_table_name
    ledger_table_arn           = module.replicator[0].ledger_table_arn
    log_group_name             = module.replicator[0].log_group_name
    target_role_arn            = local.peer_writer_role_arn
  }, null)
}

output "writer_role" {
  description = "The writer role here, assumed by the peer's replicator (direction <peer>_to_<this>)."
  value = try({
    arn                   = module.writer_role[0].role_arn
    name                  = module.writer_role[0].role_name
    trusted_principal_arn = module.writer_role[0].trusted_principal_arn
    peer_direction        = local.peer_direction
  }, null)
}

output "control_plane" {
  description = "Control-plane names: state and lock tables (null when they live in the peer), the drain-markers table, route parameters managed here, the active-direction parameter and its value."
  value = try({
    state_table_name                = module.control_plane.state_table_name
    lock_table_name                 = module.control_plane.lock_table_name
    markers_table_name              = module.control_plane.markers_table_name
    route_parameter_names           = module.control_plane.route_parameter_names
    active_direction_parameter_name = module.control_plane.active_direction_parameter_name
    active_direction_parameter_arn  = module.control_plane.active_direction_parameter_arn
    active_direction                = module.control_plane.active_direction
  }, null)
}

output "monitoring" {
  description = "CloudWatch dashboard name and alarm names by kind (modules/monitoring)."
  value = try({
    dashboard_name = module.monitoring[0].dashboard_name
    alarm_names    = module.monitoring[0].alarm_names
  }, null)
}

output "producers" {
  description = "The producers' path: the route table (null where the route does not live) with its key and resource policy, and per logical stream the resource policy admitting its producers (null without producers)."
  value = try({
    route_table_name   = module.control_plane.route_table_name
    route_table_arn    = module.control_plane.route_table_arn
    route_item_key     = var.migration.name
    route_table_policy = module.control_plane.route_table_policy
    stream_policies    = { for k, m in module.stream : k => m.producer_policy }
  }, null)
}

output "apis" {
  description = "Per API whose zone is here: the hosted zone, the records' weights, the new endpoint's health check and the records."
  value = try({
    for k, m in module.api_switch : k => {
      zone_id         = m.zone_id
      weights         = m.weights
      health_check_id = m.health_check_id
      records         = m.records
    }
  }, {})
}
