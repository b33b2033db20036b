locals {
  namespace = var.replicator.metric_namespace
  function  = var.replicator.function_name
  period    = var.period_seconds

  # Dimensions of every metric the replicator publishes (docs/replicator.md, "Metrics and logs").
  stream_dimensions = {
    for k, stream in var.replicator.source_streams : k => {
      Direction = var.replicator.direction
      Stream    = stream
    }
  }

  # KCL publishes MillisBehindLatest per shard (dimensions Operation and ShardId by default) in a
  # namespace named after the application. A Metrics Insights query takes the maximum over the
  # shards whatever dimensions the application enables; a plain metric alarm would need one
  # alarm per shard.
  kcl_queries = {
    for app in var.consumers.kcl_applications : app =>
    "SELECT MAX(MillisBehindLatest) FROM \"${app}\" WHERE Operation = 'ProcessTask'"
  }
}

# --------------------------------------------------------------------------
# Alarms: every alarm of the module is one entry of local.alarms, created by the one
# aws_cloudwatch_metric_alarm resource of ./modules/alarm-set.
#
# The map has one level per alarm set and one per alarm. A set is one key space (the logical
# stream names, the Lambda function names, the KCL application names, the replicator's fixed
# alarms): each set is one instance of module.alarms and keeps the keys its alarms had before,
# which is what lets moved.tf move the previous seven resources without any change of the
# callers (see moved.tf for why one flat for_each could not).

locals {
  # The retention alarms: key (in the alarm name) => percent of the retention.
  retention_percents = { "50pct" = 50, "80pct" = 80 }

  # The reminders while the streams buffer for paused consumers (var.buffering).
  buffered_metric     = "BufferedRetentionPercent"
  buffered_dimensions = { Buffer = var.name }

  alarms = {
    # One per source stream, keyed by its logical name.
    replication_lag = {
      for k, stream in var.replicator.source_streams : k => {
        name        = "${var.name}-replication-lag-${k}"
        description = "Replication ${var.replicator.direction} of stream ${stream} is more than ${var.thresholds.replication_lag_ms} ms behind (newest record written minus its arrival time) for ${var.evaluation_periods} periods: the target falls behind its source. See docs/architecture.md, \"Monitoring\"."

        namespace   = local.namespace
        metric_name = "ReplicationLagMs"
        dimensions  = local.stream_dimensions[k]
        statistic   = "Maximum"

        period              = local.period
        evaluation_periods  = var.evaluation_periods
        comparison_operator = "GreaterThanThreshold"
        threshold           = var.thresholds.replication_lag_ms

        # The lag is published only while this replicator writes; replication is off in most phases,
        # and no data then is the healthy state. A replicator that is on but writes nothing is caught
        # by replicator_iterator_age (published on every invocation) and replicator_errors.
        treat_missing_data = "notBreaching"
      }
    }

    # One per source stream, keyed by its logical name.
    replicator_throttles = {
      for k, stream in var.replicator.source_streams : k => {
        name        = "${var.name}-replicator-throttles-${k}"
        description = "Writes of the replicator ${var.replicator.direction} into the target of stream ${stream} were throttled more than ${var.thresholds.replicator_throttles} times per period for ${var.evaluation_periods} periods: the target stream lacks write capacity (or its KMS key is throttled). See docs/architecture.md, \"Monitoring\"."

        namespace   = local.namespace
        metric_name = "Throttles"
        dimensions  = local.stream_dimensions[k]
        statistic   = "Sum"

        period              = local.period
        evaluation_periods  = var.evaluation_periods
        comparison_operator = "GreaterThanThreshold"
        threshold           = var.thresholds.replicator_throttles

        # Published only while the replicator writes.
        treat_missing_data = "notBreaching"
      }
    }

    # The replicator function and its on-failure queue: one alarm each.
    replicator = {
      iterator_age = {
        name        = "${var.name}-replicator-iterator-age"
        description = "The replicator function ${local.function} is more than ${var.thresholds.replication_lag_ms} ms behind its source streams (IteratorAge of its event source mappings) for ${var.evaluation_periods} periods: it is invoked but does not get through, e.g. while its loop guard refuses to write (batch failures are not function errors). See docs/architecture.md, \"Monitoring\"."

        namespace   = "AWS/Lambda"
        metric_name = "IteratorAge"
        dimensions  = { FunctionName = local.function }
        statistic   = "Maximum"

        period              = local.period
        evaluation_periods  = var.evaluation_periods
        comparison_operator = "GreaterThanThreshold"
        threshold           = var.thresholds.replication_lag_ms

        # A disabled mapping (replication off) does not invoke the function: no data, no alarm.
        treat_missing_data = "notBreaching"
      }

      errors = {
        name        = "${var.name}-replicator-errors"
        description = "The replicator function ${local.function} failed (exception or timeout): its event source mappings retry the batch, so the affected shards stop advancing. Read the function's log group. See docs/architecture.md, \"Monitoring\"."

        namespace   = "AWS/Lambda"
        metric_name = "Errors"
        dimensions  = { FunctionName = local.function }
        statistic   = "Sum"

        period              = local.period
        evaluation_periods  = 1
        comparison_operator = "GreaterThanThreshold"
        threshold           = 0

        # No invocations (replication off) publish no Errors datapoints: healthy, not unknown.
        treat_missing_data = "notBreaching"
      }

      failure_queue_depth = {
        name        = "${var.name}-failure-queue-depth"
        description = "The replicator's on-failure queue ${var.replicator.failure_queue_name} holds messages: an event source mapping gave up on a batch (retry attempts or record age exhausted), so records may be missing in the target. See docs/architecture.md, \"Monitoring\"."

        namespace   = "AWS/SQS"
        metric_name = "ApproximateNumberOfMessagesVisible"
        dimensions  = { QueueName = var.replicator.failure_queue_name }
        statistic   = "Maximum"

        period              = local.period
        evaluation_periods  = 1
        comparison_operator = "GreaterThanThreshold"
        threshold           = 0

        # SQS stops publishing metrics for a queue that has been empty and idle for hours: missing
        # data means an empty queue, never a reason to alarm.
        treat_missing_data = "notBreaching"
      }
    }

    # The replicator's oldest record not yet replicated against the source streams' retention:
    # past it Kinesis trims records the replicator has not copied (docs/preflight.md, retention).
    retention = {
      for key, percent in local.retention_percents : key => {
        name        = "${var.name}-replicator-retention-${key}"
        description = "The replicator function ${local.function} is behind by ${percent} % of its source streams' retention (${var.replicator.retention_hours} h; IteratorAge of its event source mappings): records it has not copied yet are trimmed at 100 %. Catch it up (or raise the streams' retention) before then. See docs/preflight.md, \"retention-clock\"."

        namespace   = "AWS/Lambda"
        metric_name = "IteratorAge"
        dimensions  = { FunctionName = local.function }
        statistic   = "Maximum"

        period              = local.period
        evaluation_periods  = 1
        comparison_operator = "GreaterThanThreshold"
        threshold           = percent * var.replicator.retention_hours * 36000 # ms

        # Replication off: no invocations, no data, nothing behind.
        treat_missing_data = "notBreaching"
      }
    }

    # The streams have buffered for paused consumers (not invoked, no IteratorAge of their own)
    # for 50 % / 80 % of their retention: published by the schedules below while they buffer.
    buffering = {
      for key, percent in local.retention_percents : key => {
        name        = "${var.name}-buffered-retention-${key}"
        description = "This environment's streams have buffered records for its paused consumers for ${percent} % of their retention (${var.buffering.retention_hours} h; the consumers are not invoked and publish no IteratorAge): at 100 % Kinesis trims records they have not read. Resume the consumers (turnout cutover to new-live), roll back, or raise the streams' retention before then. See docs/preflight.md, \"retention-clock\"."

        namespace   = local.namespace
        metric_name = local.buffered_metric
        dimensions  = local.buffered_dimensions
        statistic   = "Maximum"

        period              = local.period
        evaluation_periods  = 1
        comparison_operator = "GreaterThanOrEqualToThreshold"
        threshold           = percent

        # Nothing buffers (no schedule) or not long enough yet: no data, nothing to remind.
        treat_missing_data = "notBreaching"
      }
    }

    # One per Lambda consumer in this environment, keyed by its function name.
    consumer_iterator_age = {
      for f in var.consumers.lambda_functions : f => {
        name        = "${var.name}-consumer-iterator-age-${f}"
        description = "The consumer function ${f} is more than ${var.thresholds.consumer_iterator_age_ms} ms behind its stream (IteratorAge) for ${var.evaluation_periods} periods. See docs/architecture.md, \"Monitoring\"."

        namespace   = "AWS/Lambda"
        metric_name = "IteratorAge"
        dimensions  = { FunctionName = f }
        statistic   = "Maximum"

        period              = local.period
        evaluation_periods  = var.evaluation_periods
        comparison_operator = "GreaterThanThreshold"
        threshold           = var.thresholds.consumer_iterator_age_ms

        # A paused consumer (disabled mapping: the new environment's consumers until new-live) is not
        # invoked and publishes no IteratorAge; that is the plan, not an outage.
        treat_missing_data = "notBreaching"
      }
    }

    # One per KCL application in this environment, keyed by its name: a Metrics Insights query
    # over every shard (see local.kcl_queries), so no namespace/metric/statistic.
    consumer_behind_latest = {
      for app, query in local.kcl_queries : app => {
        name        = "${var.name}-consumer-behind-latest-${app}"
        description = "The KCL application ${app} is more than ${var.thresholds.consumer_iterator_age_ms} ms behind the tip of a shard (MillisBehindLatest) for ${var.evaluation_periods} periods. See docs/architecture.md, \"Monitoring\"."

        query = {
          id         = "behind"
          label      = "MillisBehindLatest (max over shards)"
          expression = query
        }

        period              = local.period
        evaluation_periods  = var.evaluation_periods
        comparison_operator = "GreaterThanThreshold"
        threshold           = var.thresholds.consumer_iterator_age_ms

        # A paused or stopped application publishes nothing.
        treat_missing_data = "notBreaching"
      }
    }
  }
}

module "alarms" {
  source   = "./modules/alarm-set"
  for_each = local.alarms

  alarms        = each.value
  alarm_actions = var.alarm_actions
  ok_actions    = var.ok_actions
  tags          = var.tags
}

# --------------------------------------------------------------------------
# Dashboard

locals {
  per_stream = {
    for name in ["ReplicationLagMs", "ReplicatedRecords", "ReplicatedBytes", "Throttles", "RetriedEntries"] :
    name => [
      for k, stream in var.replicator.source_streams : [
        local.namespace, name, "Direction", var.replicator.direction, "Stream", stream,
        { label = "${name} ${k}", stat = name == "ReplicationLagMs" ? "Maximum" : "Sum" }
      ]
    ]
  }

  consumer_metrics = concat(
    [
      for f in var.consumers.lambda_functions :
      ["AWS/Lambda", "IteratorAge", "FunctionName", f, { label = "IteratorAge ${f}", stat = "Maximum" }]
    ],
    [
      for i, app in var.consumers.kcl_applications :
      [{ expression = local.kcl_queries[app], id = "kcl${i}", label = "MillisBehindLatest ${app}", period = local.period }]
    ],
  )

  # Every alarm, in the order the alarm widget always listed them (a map's values come in key
  # order, as the instances of the previous per-kind resources did).
  alarm_arns = concat(
    values(module.alarms["replication_lag"].arns),
    [module.alarms["replicator"].arns["iterator_age"]],
    [module.alarms["replicator"].arns["errors"]],
    values(module.alarms["replicator_throttles"].arns),
    [module.alarms["replicator"].arns["failure_queue_depth"]],
    values(module.alarms["consumer_iterator_age"].arns),
    values(module.alarms["consumer_behind_latest"].arns),
    values(module.alarms["retention"].arns),
    values(module.alarms["buffering"].arns),
  )

  metric_widgets = concat(
    [
      {
        title = "Replication lag (ms), ${var.replicator.direction}"
        metrics = concat(local.per_stream.ReplicationLagMs, [
          ["AWS/Lambda", "IteratorAge", "FunctionName", local.function, { label = "replicator IteratorAge", stat = "Maximum" }],
        ])
        annotations = {
          horizontal = [{ label = "alarm", value = var.thresholds.replication_lag_ms }]
        }
      },
      {
        title   = "Replicated records, ${var.replicator.direction}"
        metrics = local.per_stream.ReplicatedRecords
      },
      {
        title   = "Replicated bytes, ${var.replicator.direction}"
        metrics = local.per_stream.ReplicatedBytes
      },
      {
        title = "Replicator invocations, errors and throttles"
        metrics = [
          ["AWS/Lambda", "Invocations", "FunctionName", local.function, { stat = "Sum" }],
          ["AWS/Lambda", "Errors", "FunctionName", local.function, { stat = "Sum" }],
          ["AWS/Lambda", "Throttles", "FunctionName", local.function, { stat = "Sum" }],
        ]
      },
      {
        title   = "Replicator Kinesis write throttles and re-sent entries"
        metrics = concat(local.per_stream.Throttles, local.per_stream.RetriedEntries)
        annotations = {
          horizontal = [{ label = "alarm", value = var.thresholds.replicator_throttles }]
        }
      },
      {
        title = "Replicator failure queue depth"
        metrics = [
          ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.replicator.failure_queue_name, { stat = "Maximum" }],
        ]
      },
    ],
    # A metric widget must list at least one metric: no consumers here, no consumer widget.
    length(local.consumer_metrics) == 0 ? [] : [
      {
        title   = "Consumer iterator age (ms)"
        metrics = local.consumer_metrics
        annotations = {
          horizontal = [{ label = "alarm", value = var.thresholds.consumer_iterator_age_ms }]
        }
      },
    ],
  )

  dashboard_widgets = concat(
    [
      {
        type   = "alarm"
        x      = 0
        y      = 0
        width  = 24
        height = 4
        properties = {
          title  = "Alarms"
          alarms = local.alarm_arns
        }
      },
    ],
    [
      for i, widget in local.metric_widgets : {
        type   = "metric"
        x      = (i % 2) * 12
        y      = 4 + floor(i / 2) * 6
        width  = 12
        height = 6
        properties = merge(widget, {
          region = var.region
          view   = "timeSeries"
          period = local.period
        })
      }
    ],
  )
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}

# --------------------------------------------------------------------------
# Reminders while the streams buffer for paused consumers (var.buffering): two recurring
# EventBridge Scheduler schedules, from since + 50 % and since + 80 % of the retention, call
# CloudWatch PutMetricData (a universal target) every period with the percent reached; the
# `buffering` alarms above fire on it. They run without turnout: a window left open over a
# weekend still notifies. Removed (and the alarms back to OK) once nothing buffers.

locals {
  # A reminder whose moment has passed starts at not_before (null: never later than its moment).
  reminders = var.buffering.since == null ? {} : {
    for key, percent in local.retention_percents : key => {
      percent = percent
      start = (
        timecmp(local.reminder_moments[key], coalesce(var.buffering.not_before, local.reminder_moments[key])) < 0
        ? var.buffering.not_before
        : local.reminder_moments[key]
      )
    }
  }
  reminder_moments = var.buffering.since == null ? {} : {
    for key, percent in local.retention_percents :
    key => timeadd(var.buffering.since, "${floor(percent * var.buffering.retention_hours * 36)}s")
  }
  reminder_rate = local.period == 60 ? "rate(1 minute)" : "rate(${local.period / 60} minutes)"
}

data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    sid     = "SchedulerOfThisAccount"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

data "aws_iam_policy_document" "publish_buffered" {
  statement {
    sid       = "PublishBufferedRetention"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # "*": PutMetricData has no resource type; the namespace condition narrows it
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [local.namespace]
    }
  }
}

resource "aws_iam_role" "reminders" {
  count = length(local.reminders) > 0 ? 1 : 0

  name_prefix        = "turnout-reminders-"
  description        = "EventBridge Scheduler publishes ${local.buffered_metric} for ${var.name} while its streams buffer for paused consumers"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json

  tags = var.tags
}

resource "aws_iam_role_policy" "reminders" {
  count = length(aws_iam_role.reminders)

  name   = "publish-buffered-retention"
  role   = aws_iam_role.reminders[0].id
  policy = data.aws_iam_policy_document.publish_buffered.json
}

resource "aws_scheduler_schedule" "reminder" {
  #checkov:skip=CKV_AWS_297:The schedule's input is a metric name and a percent, nothing confidential; AWS encrypts it with an AWS owned key.
  for_each = local.reminders

  name        = "${substr(var.name, 0, 48)}-buffered-${each.key}"
  description = "${var.name}: the streams have buffered for paused consumers for ${each.value.percent} % of their retention (${var.buffering.retention_hours} h, since ${var.buffering.since})"

  schedule_expression = local.reminder_rate
  start_date          = each.value.start

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = "arn:aws:scheduler:::aws-sdk:cloudwatch:putMetricData"
    role_arn = aws_iam_role.reminders[0].arn
    input = jsonencode({
      Namespace = local.namespace
      MetricData = [{
        MetricName = local.buffered_metric
        Dimensions = [for name, value in local.buffered_dimensions : { Name = name, Value = value }]
        Value      = each.value.percent
        Unit       = "Percent"
      }]
    })

    retry_policy {
      maximum_event_age_in_seconds = 3600
      maximum_retry_attempts       = 10
    }
  }

  depends_on = [aws_iam_role_policy.reminders]
}
