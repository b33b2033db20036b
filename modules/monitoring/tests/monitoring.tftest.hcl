# `terraform test` of the module with a mocked provider: no AWS, no emulator.
# Run by tests/integration/test_monitoring_module.py (offline, with the provider mirror).

mock_provider "aws" {
  # A mocked policy document renders a random string; IAM resources need a JSON document.
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }

  # The scheduler's target needs the role's ARN to be an ARN.
  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::111111111111:role/turnout-reminders-mock"
    }
  }
}

variables {
  name   = "legacy-turnout-clickstream-old"
  region = "eu-west-1"
  replicator = {
    function_name      = "legacy-turnout-replicator-old-to-new"
    direction          = "old_to_new"
    source_streams     = { clicks = "clicks", audit = "audit-log" }
    failure_queue_name = "legacy-turnout-replicator-old-to-new-failures"
  }
  consumers = {
    lambda_functions = ["legacy-clicks-processor"]
    kcl_applications = ["orders-app"]
  }
  alarm_actions = ["arn:aws:sns:eu-west-1:111111111111:oncall"]
  ok_actions    = ["arn:aws:sns:eu-west-1:111111111111:oncall-ok"]
}

run "kcl_applications_get_a_metrics_insights_alarm_over_all_shards" {
  command = apply

  assert {
    condition     = one(module.alarms["consumer_behind_latest"].alarms["orders-app"].metric_query).expression == "SELECT MAX(MillisBehindLatest) FROM \"orders-app\" WHERE Operation = 'ProcessTask'"
    error_message = "the KCL alarm must query MillisBehindLatest in the application's namespace"
  }

  assert {
    condition     = one(module.alarms["consumer_behind_latest"].alarms["orders-app"].metric_query).period == 60
    error_message = "a Metrics Insights alarm query needs the period"
  }

  assert {
    condition     = module.alarms["consumer_behind_latest"].alarms["orders-app"].threshold == 300000
    error_message = "the KCL alarm uses the consumer iterator age threshold"
  }

  assert {
    condition = (
      module.alarms["consumer_behind_latest"].alarms["orders-app"].metric_name == null &&
      module.alarms["consumer_behind_latest"].alarms["orders-app"].namespace == null &&
      module.alarms["consumer_behind_latest"].alarms["orders-app"].period == null
    )
    error_message = "a Metrics Insights alarm must not also name a metric or a period of its own (AWS refuses both)"
  }
}

run "metric_alarms_name_their_metric_and_have_no_query" {
  command = apply

  assert {
    condition = alltrue(flatten([
      for set, alarms in module.alarms : [
        for a in values(alarms.alarms) : length(a.metric_query) == 0 && a.namespace != null && a.metric_name != null && a.statistic != null && a.period == 60
      ] if set != "consumer_behind_latest"
    ]))
    error_message = "every alarm except the KCL one is a plain metric alarm with namespace, metric, statistic and period"
  }

  assert {
    condition = (
      module.alarms["replication_lag"].alarms["audit"].dimensions == tomap({ Direction = "old_to_new", Stream = "audit-log" }) &&
      module.alarms["replication_lag"].alarms["audit"].metric_name == "ReplicationLagMs" &&
      module.alarms["replicator_throttles"].alarms["clicks"].statistic == "Sum" &&
      module.alarms["replicator"].alarms["errors"].evaluation_periods == 1 &&
      module.alarms["replicator"].alarms["failure_queue_depth"].dimensions == tomap({ QueueName = "legacy-turnout-replicator-old-to-new-failures" }) &&
      module.alarms["consumer_iterator_age"].alarms["legacy-clicks-processor"].dimensions == tomap({ FunctionName = "legacy-clicks-processor" }) &&
      module.alarms["retention"].alarms["50pct"].threshold == 43200000 &&
      module.alarms["retention"].alarms["80pct"].threshold == 69120000 &&
      module.alarms["retention"].alarms["80pct"].dimensions == tomap({ FunctionName = "legacy-turnout-replicator-old-to-new" })
    )
    error_message = "an alarm lost its metric, dimensions or settings"
  }

  assert {
    condition = alltrue(flatten([
      for set in values(module.alarms) : [for a in values(set.alarms) : a.treat_missing_data == "notBreaching"]
    ]))
    error_message = "every alarm treats missing data as not breaching (docs/architecture.md, \"Monitoring\")"
  }
}

run "alarm_names_keep_their_shape_and_names" {
  command = plan

  assert {
    condition = output.alarm_names == {
      replication_lag         = { audit = "legacy-turnout-clickstream-old-replication-lag-audit", clicks = "legacy-turnout-clickstream-old-replication-lag-clicks" }
      replicator_throttles    = { audit = "legacy-turnout-clickstream-old-replicator-throttles-audit", clicks = "legacy-turnout-clickstream-old-replicator-throttles-clicks" }
      replicator_iterator_age = "legacy-turnout-clickstream-old-replicator-iterator-age"
      replicator_errors       = "legacy-turnout-clickstream-old-replicator-errors"
      failure_queue_depth     = "legacy-turnout-clickstream-old-failure-queue-depth"
      consumer_iterator_age   = { "legacy-clicks-processor" = "legacy-turnout-clickstream-old-consumer-iterator-age-legacy-clicks-processor" }
      consumer_behind_latest  = { "orders-app" = "legacy-turnout-clickstream-old-consumer-behind-latest-orders-app" }
      replicator_retention    = { "50pct" = "legacy-turnout-clickstream-old-replicator-retention-50pct", "80pct" = "legacy-turnout-clickstream-old-replicator-retention-80pct" }
      buffered_retention      = { "50pct" = "legacy-turnout-clickstream-old-buffered-retention-50pct", "80pct" = "legacy-turnout-clickstream-old-buffered-retention-80pct" }
    }
    error_message = "alarm_names must keep its keys and every alarm its name"
  }
}

run "every_alarm_notifies_the_topics" {
  command = apply

  assert {
    condition = alltrue(flatten([
      for set in values(module.alarms) : [
        for a in values(set.alarms) : a.alarm_actions == toset(["arn:aws:sns:eu-west-1:111111111111:oncall"]) && a.ok_actions == toset(["arn:aws:sns:eu-west-1:111111111111:oncall-ok"])
      ]
    ]))
    error_message = "every alarm must notify alarm_actions and ok_actions"
  }

  assert {
    condition     = length(flatten([for set in values(module.alarms) : values(set.alarms)])) == 13
    error_message = "2 lag, 2 throttle, iterator age, errors, queue, 1 Lambda and 1 KCL consumer alarm, 2 retention and 2 buffered-retention alarms"
  }
}

run "the_dashboard_lists_every_alarm_and_a_widget_per_signal" {
  command = apply

  assert {
    condition     = length(jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets[0].properties.alarms) == 13
    error_message = "the alarm widget lists 2 lag, 2 throttle, iterator age, errors, queue, 1 Lambda and 1 KCL consumer alarm, 2 retention and 2 buffered-retention alarms"
  }

  assert {
    condition = [for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : w.properties.title] == [
      "Alarms",
      "Replication lag (ms), old_to_new",
      "Replicated records, old_to_new",
      "Replicated bytes, old_to_new",
      "Replicator invocations, errors and throttles",
      "Replicator Kinesis write throttles and re-sent entries",
      "Replicator failure queue depth",
      "Consumer iterator age (ms)",
    ]
    error_message = "unexpected dashboard widgets"
  }
}

run "without_consumers_there_is_no_consumer_widget" {
  command = apply

  variables {
    consumers = {}
  }

  assert {
    condition     = !contains([for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : w.properties.title], "Consumer iterator age (ms)")
    error_message = "an empty metric widget is invalid on AWS"
  }
}

run "a_zero_threshold_is_refused" {
  command = plan

  variables {
    thresholds = { replication_lag_ms = 0 }
  }

  expect_failures = [var.thresholds]
}

run "a_period_that_is_not_a_minute_multiple_is_refused" {
  command = plan

  variables {
    period_seconds = 90
  }

  expect_failures = [var.period_seconds]
}

run "zero_evaluation_periods_are_refused" {
  command = plan

  variables {
    evaluation_periods = 0
  }

  expect_failures = [var.evaluation_periods]
}

run "an_email_address_is_not_an_alarm_action" {
  command = plan

  variables {
    alarm_actions = ["oncall@example.com"]
  }

  expect_failures = [var.alarm_actions]
}

run "nothing_buffers_no_reminder_and_the_buffered_alarms_wait_without_data" {
  command = apply

  assert {
    condition     = length(aws_scheduler_schedule.reminder) == 0 && length(aws_iam_role.reminders) == 0 && output.buffering_reminders == {}
    error_message = "no schedule and no scheduler role while nothing buffers"
  }

  assert {
    condition = (
      module.alarms["buffering"].alarms["50pct"].metric_name == "BufferedRetentionPercent" &&
      module.alarms["buffering"].alarms["50pct"].threshold == 50 &&
      module.alarms["buffering"].alarms["80pct"].threshold == 80 &&
      module.alarms["buffering"].alarms["80pct"].comparison_operator == "GreaterThanOrEqualToThreshold" &&
      module.alarms["buffering"].alarms["80pct"].dimensions == tomap({ Buffer = "legacy-turnout-clickstream-old" })
    )
    error_message = "the buffered-retention alarms watch BufferedRetentionPercent at 50 and 80"
  }
}

run "while_the_streams_buffer_reminders_start_at_50_and_80_percent_of_the_retention" {
  command = apply

  variables {
    buffering = {
      since           = "2026-12-02T06:00:00Z"
      retention_hours = 48
      not_before      = "2026-12-02T06:02:00Z"
    }
  }

  assert {
    condition = (
      aws_scheduler_schedule.reminder["50pct"].start_date == "2026-12-03T06:00:00Z" &&
      aws_scheduler_schedule.reminder["80pct"].start_date == "2026-12-03T20:24:00Z"
    )
    error_message = "50 % of 48 h after the switch is 24 h later, 80 % is 38 h 24 min later"
  }

  assert {
    condition = (
      aws_scheduler_schedule.reminder["80pct"].schedule_expression == "rate(1 minute)" &&
      aws_scheduler_schedule.reminder["80pct"].target[0].arn == "arn:aws:scheduler:::aws-sdk:cloudwatch:putMetricData" &&
      jsondecode(aws_scheduler_schedule.reminder["80pct"].target[0].input).MetricData[0].Value == 80 &&
      jsondecode(aws_scheduler_schedule.reminder["80pct"].target[0].input).MetricData[0].MetricName == "BufferedRetentionPercent" &&
      jsondecode(aws_scheduler_schedule.reminder["50pct"].target[0].input).Namespace == "Turnout/Replication"
    )
    error_message = "each reminder publishes its percent as BufferedRetentionPercent once per period"
  }

  assert {
    condition     = length(aws_iam_role.reminders) == 1 && length(aws_iam_role_policy.reminders) == 1
    error_message = "the scheduler gets one role that may publish the metric"
  }
}

run "a_reminder_whose_moment_has_passed_starts_at_not_before" {
  command = apply

  variables {
    buffering = {
      since           = "2026-12-01T00:00:00Z"
      retention_hours = 24
      not_before      = "2026-12-01T13:00:00Z"
    }
  }

  assert {
    condition = (
      aws_scheduler_schedule.reminder["50pct"].start_date == "2026-12-01T13:00:00Z" &&
      aws_scheduler_schedule.reminder["80pct"].start_date == "2026-12-01T19:12:00Z"
    )
    error_message = "the 50 % moment (12:00) has passed: it starts at not_before; the 80 % one (19:12) has not"
  }
}

run "a_buffering_time_that_is_not_rfc3339_is_refused" {
  command = plan

  variables {
    buffering = {
      since = "yesterday"
    }
  }

  expect_failures = [var.buffering]
}
