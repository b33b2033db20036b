# `terraform test` of the module with a mocked provider: no AWS, no emulator.
# Run by tests/integration/test_monitoring_module.py (offline, with the provider mirror).

mock_provider "aws" {}

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
  command = plan

  assert {
    condition     = one(aws_cloudwatch_metric_alarm.kcl_consumer_behind_latest["orders-app"].metric_query).expression == "SELECT MAX(MillisBehindLatest) FROM \"orders-app\" WHERE Operation = 'ProcessTask'"
    error_message = "the KCL alarm must query MillisBehindLatest in the application's namespace"
  }

  assert {
    condition     = one(aws_cloudwatch_metric_alarm.kcl_consumer_behind_latest["orders-app"].metric_query).period == 60
    error_message = "a Metrics Insights alarm query needs the period"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.kcl_consumer_behind_latest["orders-app"].threshold == 300000
    error_message = "the KCL alarm uses the consumer iterator age threshold"
  }
}

run "every_alarm_notifies_the_topics" {
  command = plan

  assert {
    condition = alltrue([
      for a in concat(
        values(aws_cloudwatch_metric_alarm.replication_lag),
        values(aws_cloudwatch_metric_alarm.replicator_throttles),
        values(aws_cloudwatch_metric_alarm.lambda_consumer_iterator_age),
        values(aws_cloudwatch_metric_alarm.kcl_consumer_behind_latest),
        [aws_cloudwatch_metric_alarm.replicator_errors, aws_cloudwatch_metric_alarm.replicator_iterator_age, aws_cloudwatch_metric_alarm.failure_queue_depth],
      ) : a.alarm_actions == toset(["arn:aws:sns:eu-west-1:111111111111:oncall"]) && a.ok_actions == toset(["arn:aws:sns:eu-west-1:111111111111:oncall-ok"])
    ])
    error_message = "every alarm must notify alarm_actions and ok_actions"
  }
}

run "the_dashboard_lists_every_alarm_and_a_widget_per_signal" {
  command = apply

  assert {
    condition     = length(jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets[0].properties.alarms) == 9
    error_message = "the alarm widget lists 2 lag, 2 throttle, iterator age, errors, queue, 1 Lambda and 1 KCL consumer alarm"
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
