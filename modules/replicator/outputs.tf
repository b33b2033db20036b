output "function_name" {
  description = "Name of the replicator function."
  value       = try(aws_lambda_function.this.function_name, null)
}

output "function_arn" {
  description = "ARN of the replicator function."
  value       = try(aws_lambda_function.this.arn, null)
}

output "role_arn" {
  description = "ARN of the execution role (the principal the peer's writer role trusts)."
  value       = try(aws_iam_role.this.arn, null)
}

output "role_name" {
  description = "Name of the execution role."
  value       = try(aws_iam_role.this.name, null)
}

output "direction" {
  description = "Direction of this replicator (old_to_new or new_to_old)."
  value       = var.direction
}

output "enabled" {
  description = "Whether the event source mappings are enabled."
  value       = var.enabled
}

output "event_source_mapping_uuids" {
  description = "UUID of each event source mapping, keyed like source_streams."
  value       = try({ for k, m in aws_lambda_event_source_mapping.this : k => m.uuid }, {})
}

output "event_source_arns" {
  description = "What each mapping reads (stream or enhanced fan-out consumer ARN), keyed like source_streams."
  value       = try(local.event_source_arns, {})
}

output "consumer_arns" {
  description = "Enhanced fan-out consumer ARN per stream (empty when enhanced fan-out is off)."
  value       = try({ for k, c in aws_kinesis_stream_consumer.this : k => c.arn }, {})
}

output "failure_queue_url" {
  description = "URL of the on-failure SQS queue."
  value       = try(aws_sqs_queue.failures.url, null)
}

output "failure_queue_arn" {
  description = "ARN of the on-failure SQS queue."
  value       = try(aws_sqs_queue.failures.arn, null)
}

output "ledger_table_name" {
  description = "Name of the ledger table."
  value       = try(aws_dynamodb_table.ledger.name, null)
}

output "ledger_table_arn" {
  description = "ARN of the ledger table."
  value       = try(aws_dynamodb_table.ledger.arn, null)
}

output "log_group_name" {
  description = "Name of the function's log group."
  value       = try(aws_cloudwatch_log_group.this.name, null)
}

output "kms_key_arn" {
  description = "KMS key of the queue, ledger, log group and function environment."
  value       = try(local.kms_key_arn, null)
}

output "environment_variables" {
  description = "The function's environment variables (the replicator's configuration contract)."
  value       = try(local.environment, {})
}
