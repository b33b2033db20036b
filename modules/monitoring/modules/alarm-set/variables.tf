variable "alarms" {
  description = <<-EOT
    The alarms, by key (the key is part of the Terraform address, not of the alarm name): name, description,
    either a metric (namespace, metric_name, dimensions, statistic) or a Metrics Insights / metric-math query
    (query = { id, label, expression }), period (seconds), evaluation_periods, comparison_operator, threshold and
    treat_missing_data (required: every alarm says what a period without data means for it).
  EOT
  type = map(object({
    name        = string
    description = string

    namespace   = optional(string)
    metric_name = optional(string)
    dimensions  = optional(map(string))
    statistic   = optional(string)

    query = optional(object({
      id         = string
      label      = string
      expression = string
    }))

    period              = number
    evaluation_periods  = number
    comparison_operator = string
    threshold           = number
    treat_missing_data  = string
  }))

  validation {
    condition     = alltrue([for a in var.alarms : a.query != null ? (a.namespace == null && a.metric_name == null && a.dimensions == null && a.statistic == null) : (a.namespace != null && a.metric_name != null && a.statistic != null)])
    error_message = "Each alarm needs either namespace, metric_name and statistic (a metric alarm) or a query (a Metrics Insights alarm), not both."
  }

  validation {
    condition     = alltrue([for a in var.alarms : contains(["notBreaching", "breaching", "ignore", "missing"], a.treat_missing_data)])
    error_message = "treat_missing_data must be notBreaching, breaching, ignore or missing."
  }

  validation {
    condition     = alltrue([for a in var.alarms : a.period >= 10 && a.evaluation_periods >= 1 && a.evaluation_periods * a.period <= 86400])
    error_message = "Each alarm needs a period of at least 10 seconds and at least one evaluation period, at most one day in total."
  }

  validation {
    condition     = length(distinct([for a in var.alarms : a.name])) == length(var.alarms)
    error_message = "Alarm names must be unique (CloudWatch would silently make two entries one alarm)."
  }
}

variable "alarm_actions" {
  description = "SNS topic ARNs notified when an alarm fires."
  type        = list(string)
  default     = []
}

variable "ok_actions" {
  description = "SNS topic ARNs notified when an alarm returns to OK."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags of the alarms."
  type        = map(string)
  default     = {}
}
