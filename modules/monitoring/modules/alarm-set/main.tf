# One CloudWatch alarm per entry of var.alarms: a plain metric alarm (namespace, metric_name,
# dimensions, statistic, period) or, with `query`, a metric-math / Metrics Insights alarm, whose
# one metric_query carries the expression and the period instead.
resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = var.alarms

  alarm_name        = each.value.name
  alarm_description = each.value.description

  namespace   = each.value.query == null ? each.value.namespace : null
  metric_name = each.value.query == null ? each.value.metric_name : null
  dimensions  = each.value.query == null ? each.value.dimensions : null
  statistic   = each.value.query == null ? each.value.statistic : null
  period      = each.value.query == null ? each.value.period : null

  evaluation_periods  = each.value.evaluation_periods
  comparison_operator = each.value.comparison_operator
  threshold           = each.value.threshold

  dynamic "metric_query" {
    for_each = each.value.query == null ? [] : [each.value.query]

    content {
      id          = metric_query.value.id
      label       = metric_query.value.label
      expression  = metric_query.value.expression
      period      = each.value.period
      return_data = true
    }
  }

  # Required in every entry (no default): what silence means is the entry's decision, written
  # next to it with the reason (modules/monitoring/main.tf).
  treat_missing_data = each.value.treat_missing_data

  alarm_actions = var.alarm_actions
  ok_actions    = var.ok_actions
  tags          = var.tags
}
