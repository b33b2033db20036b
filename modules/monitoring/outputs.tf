output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = try(aws_cloudwatch_dashboard.this.dashboard_name, null)
}

output "dashboard_arn" {
  description = "ARN of the CloudWatch dashboard."
  value       = try(aws_cloudwatch_dashboard.this.dashboard_arn, null)
}

output "alarm_names" {
  description = "Alarm names by kind: replication_lag and replicator_throttles (per logical stream), replicator_iterator_age, replicator_errors, failure_queue_depth, consumer_iterator_age (per Lambda consumer), consumer_behind_latest (per KCL application), replicator_retention (50pct and 80pct of the source streams' retention) and buffered_retention (50pct and 80pct of the retention, while the streams buffer for paused consumers)."
  value = try({
    replication_lag         = module.alarms["replication_lag"].names
    replicator_throttles    = module.alarms["replicator_throttles"].names
    replicator_iterator_age = module.alarms["replicator"].names["iterator_age"]
    replicator_errors       = module.alarms["replicator"].names["errors"]
    failure_queue_depth     = module.alarms["replicator"].names["failure_queue_depth"]
    consumer_iterator_age   = module.alarms["consumer_iterator_age"].names
    consumer_behind_latest  = module.alarms["consumer_behind_latest"].names
    replicator_retention    = module.alarms["retention"].names
    buffered_retention      = module.alarms["buffering"].names
  }, null)
}

output "alarm_arns" {
  description = "ARNs of every alarm of this module (the dashboard's alarm widget lists the same)."
  value       = try(local.alarm_arns, [])
}

output "buffering_reminders" {
  description = "The reminder schedules while the streams buffer for paused consumers, by alarm key (50pct, 80pct): name and start time (RFC 3339). Empty when nothing buffers."
  value = try({
    for key, schedule in aws_scheduler_schedule.reminder : key => {
      name       = schedule.name
      start_date = schedule.start_date
    }
  }, {})
}
