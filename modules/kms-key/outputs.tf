output "key_arn" {
  description = "ARN of the key."
  value       = try(aws_kms_key.this.arn, null)
}

output "key_id" {
  description = "Id of the key."
  value       = try(aws_kms_key.this.key_id, null)
}

output "alias_name" {
  description = "Name of the key's alias (alias/...)."
  value       = try(aws_kms_alias.this.name, null)
}

output "alias_arn" {
  description = "ARN of the key's alias."
  value       = try(aws_kms_alias.this.arn, null)
}

output "policy" {
  description = "The key policy (JSON): the account-root delegation, then key_statements in their order."
  value       = try(aws_kms_key.this.policy, null)
}
