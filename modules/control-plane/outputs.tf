output "state_table_name" {
  description = "Name of the cutover state table, or null when it does not live here."
  value       = try(aws_dynamodb_table.state[0].name, null)
}

output "state_table_arn" {
  description = "ARN of the cutover state table, or null when it does not live here."
  value       = try(aws_dynamodb_table.state[0].arn, null)
}

output "lock_table_name" {
  description = "Name of the cutover lock table, or null when it does not live here."
  value       = try(aws_dynamodb_table.lock[0].name, null)
}

output "lock_table_arn" {
  description = "ARN of the cutover lock table, or null when it does not live here."
  value       = try(aws_dynamodb_table.lock[0].arn, null)
}

output "markers_table_name" {
  description = "Name of the drain-markers table (every environment)."
  value       = try(aws_dynamodb_table.markers.name, null)
}

output "markers_table_arn" {
  description = "ARN of the drain-markers table (every environment)."
  value       = try(aws_dynamodb_table.markers.arn, null)
}

output "kms_key_arn" {
  description = "KMS key of the module's tables (state and lock where they live, markers everywhere)."
  value       = try(local.kms_key_arn, null)
}

output "route_parameter_names" {
  description = "Names of the route parameters managed here (empty when the route lives elsewhere)."
  value       = try(sort([for p in aws_ssm_parameter.route : p.name]), [])
}

output "route_parameter_arns" {
  description = "ARN of each managed route parameter, keyed by name."
  value       = try({ for k, p in aws_ssm_parameter.route : k => p.arn }, {})
}

output "active_direction_parameter_name" {
  description = "Name of the active-direction parameter."
  value       = try(aws_ssm_parameter.active_direction.name, null)
}

output "active_direction_parameter_arn" {
  description = "ARN of the active-direction parameter."
  value       = try(aws_ssm_parameter.active_direction.arn, null)
}

output "active_direction" {
  description = "Value of the active-direction parameter (the input: the parameter's own value attribute is marked sensitive by the provider)."
  value       = try(var.active_direction, null)
}

output "route_table_name" {
  description = "Name of the route table, or null when the route (or its table) does not live here."
  value       = try(aws_dynamodb_table.route[0].name, null)
}

output "route_table_arn" {
  description = "ARN of the route table, or null when the route (or its table) does not live here."
  value       = try(aws_dynamodb_table.route[0].arn, null)
}

output "route_table_policy" {
  description = "The route table's resource policy (JSON) admitting the route's readers, or null when there are none."
  value       = try(aws_dynamodb_resource_policy.route[0].policy, null)
}
