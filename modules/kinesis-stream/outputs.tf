output "name" {
  description = "Name of the stream."
  value       = try(aws_kinesis_stream.this.name, null)
}

output "arn" {
  description = "ARN of the stream."
  value       = try(aws_kinesis_stream.this.arn, null)
}

output "kms_key_arn" {
  description = "ARN of the stream's KMS key when it is customer-managed (created here or given); null for the AWS-managed alias/aws/kinesis, whose key policy already admits every principal of the account that may use the stream."
  value       = try(local.create_key ? module.key[0].key_arn : (var.kms_key == "aws_managed" ? null : var.kms_key), null)
}

output "kms_key_id" {
  description = "The key identifier set on the stream (key ARN or alias/aws/kinesis)."
  value       = try(aws_kinesis_stream.this.kms_key_id, null)
}

output "kms_alias_name" {
  description = "Alias of the module-created key, or null."
  value       = try(module.key[0].alias_name, null)
}

output "producer_policy" {
  description = "The stream's resource policy (JSON) admitting producer_principal_arns, or null when there are none."
  value       = try(aws_kinesis_resource_policy.producers[0].policy, null)
}
