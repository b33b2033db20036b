output "names" {
  description = "Alarm name by key."
  value       = try({ for k, a in aws_cloudwatch_metric_alarm.this : k => a.alarm_name }, {})
}

output "arns" {
  description = "Alarm ARN by key."
  value       = try({ for k, a in aws_cloudwatch_metric_alarm.this : k => a.arn }, {})
}

output "alarms" {
  description = "The alarm resources by key (every attribute; for the module's tests)."
  value       = try(aws_cloudwatch_metric_alarm.this, {})
}
