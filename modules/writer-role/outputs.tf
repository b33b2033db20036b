output "role_arn" {
  description = "ARN of the writer role."
  value       = try(aws_iam_role.this.arn, null)
}

output "role_name" {
  description = "Name of the writer role."
  value       = try(aws_iam_role.this.name, null)
}

output "trusted_principal_arn" {
  description = "The only principal that may assume the role (with the external id)."
  value       = var.peer_replicator_role_arn
}
