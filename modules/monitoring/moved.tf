# The seven alarm resources this module had until the alarms came from local.alarms. Each moves
# to its alarm set (an instance of module.alarms): an upgrade plans moves only, for any caller.
#
# Why the sets, and not one flat for_each here: Terraform 1.11 moves a whole for_each resource
# only to a resource with the same instance keys ("Each resource can have moved from only one
# source resource" when two move to one target, so replication_lag["clicks"] and
# replicator_throttles["clicks"] cannot both land in one resource), and a per-instance move
# needs literal keys ("A single static variable reference is required") while the stream,
# function and application names are inputs; moved blocks take no for_each. Only the caller,
# which knows its keys, could write per-instance moves into one flat resource.

# Per stream, per Lambda consumer, per KCL application: every instance keeps its key.
moved {
  from = aws_cloudwatch_metric_alarm.replication_lag
  to   = module.alarms["replication_lag"].aws_cloudwatch_metric_alarm.this
}

moved {
  from = aws_cloudwatch_metric_alarm.replicator_throttles
  to   = module.alarms["replicator_throttles"].aws_cloudwatch_metric_alarm.this
}

moved {
  from = aws_cloudwatch_metric_alarm.lambda_consumer_iterator_age
  to   = module.alarms["consumer_iterator_age"].aws_cloudwatch_metric_alarm.this
}

moved {
  from = aws_cloudwatch_metric_alarm.kcl_consumer_behind_latest
  to   = module.alarms["consumer_behind_latest"].aws_cloudwatch_metric_alarm.this
}

# The replicator's single alarms become the three keys of its set.
moved {
  from = aws_cloudwatch_metric_alarm.replicator_iterator_age
  to   = module.alarms["replicator"].aws_cloudwatch_metric_alarm.this["iterator_age"]
}

moved {
  from = aws_cloudwatch_metric_alarm.replicator_errors
  to   = module.alarms["replicator"].aws_cloudwatch_metric_alarm.this["errors"]
}

moved {
  from = aws_cloudwatch_metric_alarm.failure_queue_depth
  to   = module.alarms["replicator"].aws_cloudwatch_metric_alarm.this["failure_queue_depth"]
}
