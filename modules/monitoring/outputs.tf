output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = try(aws_cloudwatch_dashboard.this.dashboard_name, null)
}

output "dashboard_arn" {
  description = "ARN of the CloudWatch dashboard."
  value       = try(aws_cloudwatch_dashboard.this.dashboard_arn, null)
}

output "alarm_names" {
  description = "Alarm names by kind: replication_lag and replicator_throttles (per logical stream), replicator_iterator_age, replicator_errors, failure_queue_depth, consumer_iterator_age (per Lambda consumer) and consumer_behind_latest (per KCL application)."
  value = try({
    replication_lag         = { for k, a in aws_cloudwatch_metric_alarm.replication_lag : k => a.alarm_name }
    replicator_throttles    = { for k, a in aws_cloudwatch_metric_alarm.replicator_throttles : k => a.alarm_name }
    replicator_iterator_age = aws_cloudwatch_metric_alarm.replicator_iterator_age.alarm_name
    replicator_errors       = aws_cloudwatch_metric_alarm.replicator_errors.alarm_name
    failure_queue_depth     = aws_cloudwatch_metric_alarm.failure_queue_depth.alarm_name
    consumer_iterator_age   = { for k, a in aws_cloudwatch_metric_alarm.lambda_consumer_iterator_age : k => a.alarm_name }
    consumer_behind_latest  = { for k, a in aws_cloudwatch_metric_alarm.kcl_consumer_behind_latest : k => a.alarm_name }
  }, null)
}

output "alarm_arns" {
  description = "ARNs of every alarm of this module (the dashboard's alarm widget lists the same)."
  value       = try(local.alarm_arns, [])
}
