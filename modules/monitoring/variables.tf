variable "name" {
  description = "Name of the dashboard and prefix of every alarm name (<name>-replication-lag-<stream>, ...)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,200}$", var.name))
    error_message = "name must be 1-200 characters of [a-zA-Z0-9_-] (CloudWatch dashboard names allow nothing else)."
  }
}

variable "region" {
  description = "Region of the metrics shown on the dashboard (the region this module is applied in)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "replicator" {
  description = "The replicator watched here: its function name, direction (the Direction dimension of its metrics), metric namespace, the source streams it reads (logical name => stream name in this account: the Stream dimension), the name of its on-failure SQS queue, and the shortest retention (hours) of those streams: the retention alarms fire when its oldest record not yet replicated (IteratorAge) reaches 50 % and 80 % of it."
  type = object({
    function_name      = string
    direction          = string
    metric_namespace   = optional(string, "Turnout/Replication")
    source_streams     = map(string)
    failure_queue_name = string
    retention_hours    = optional(number, 24)
  })

  validation {
    condition     = var.replicator.retention_hours >= 24 && var.replicator.retention_hours <= 8760
    error_message = "replicator.retention_hours must be a Kinesis retention period: 24 to 8760 hours."
  }

  validation {
    condition     = contains(["old_to_new", "new_to_old"], var.replicator.direction)
    error_message = "replicator.direction must be old_to_new or new_to_old."
  }

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,64}$", var.replicator.function_name)) && can(regex("^[a-zA-Z0-9_-]{1,80}$", var.replicator.failure_queue_name))
    error_message = "replicator.function_name must be a Lambda function name and replicator.failure_queue_name an SQS queue name (not ARNs or URLs)."
  }

  validation {
    condition     = length(var.replicator.source_streams) >= 1 && alltrue([for k, s in var.replicator.source_streams : can(regex("^[a-zA-Z0-9_-]{1,64}$", k)) && can(regex("^[a-zA-Z0-9_.-]{1,128}$", s))])
    error_message = "replicator.source_streams needs at least one entry: logical name ([a-zA-Z0-9_-], used in alarm names) => Kinesis stream name."
  }
}

variable "consumers" {
  description = "Consumers whose lag is watched here: Lambda functions reading the streams through event source mappings (AWS/Lambda IteratorAge, dimension FunctionName) and KCL applications (MillisBehindLatest in the namespace named after the application, KCL's default)."
  type = object({
    lambda_functions = optional(list(string), [])
    kcl_applications = optional(list(string), [])
  })
  default = {}

  validation {
    condition     = alltrue([for f in var.consumers.lambda_functions : can(regex("^[a-zA-Z0-9_-]{1,64}$", f))])
    error_message = "consumers.lambda_functions must be Lambda function names (1-64 characters of [a-zA-Z0-9_-])."
  }

  validation {
    condition     = alltrue([for a in var.consumers.kcl_applications : can(regex("^[a-zA-Z0-9_.-]{1,200}$", a))])
    error_message = "consumers.kcl_applications must be 1-200 characters of [a-zA-Z0-9_.-] (used in alarm names and as the metric namespace)."
  }

  validation {
    condition     = length(distinct(var.consumers.lambda_functions)) == length(var.consumers.lambda_functions) && length(distinct(var.consumers.kcl_applications)) == length(var.consumers.kcl_applications)
    error_message = "consumers.lambda_functions and consumers.kcl_applications must not repeat a name (one alarm each)."
  }
}

variable "thresholds" {
  description = "Alarm thresholds: replication lag (ms, maximum in a period), replicator Kinesis throttles (throttled entries and calls, sum in a period, per stream) and consumer iterator age (ms, maximum in a period)."
  type = object({
    replication_lag_ms       = optional(number, 60000)
    replicator_throttles     = optional(number, 100)
    consumer_iterator_age_ms = optional(number, 300000)
  })
  default = {}

  validation {
    condition     = var.thresholds.replication_lag_ms > 0 && var.thresholds.replicator_throttles > 0 && var.thresholds.consumer_iterator_age_ms > 0
    error_message = "thresholds.replication_lag_ms, replicator_throttles and consumer_iterator_age_ms must be > 0 (a zero threshold alarms on every healthy datapoint)."
  }
}

variable "period_seconds" {
  description = "Period of every alarm's statistic, in seconds: a multiple of 60 (the resolution of the AWS/Lambda and AWS/SQS metrics)."
  type        = number
  default     = 60

  validation {
    condition     = var.period_seconds >= 60 && var.period_seconds <= 86400 && var.period_seconds % 60 == 0
    error_message = "period_seconds must be a multiple of 60 between 60 and 86400."
  }
}

variable "evaluation_periods" {
  description = "How many consecutive periods must breach before the lag, throttle and iterator-age alarms fire. Errors and the failure queue fire on the first breaching period."
  type        = number
  default     = 3

  validation {
    condition     = var.evaluation_periods >= 1 && var.evaluation_periods <= 100 && floor(var.evaluation_periods) == var.evaluation_periods
    error_message = "evaluation_periods must be a whole number between 1 and 100."
  }

  validation {
    condition     = var.evaluation_periods * var.period_seconds <= 86400
    error_message = "evaluation_periods * period_seconds must be at most 86400 (one day, the CloudWatch limit)."
  }
}

variable "alarm_actions" {
  description = "SNS topic ARNs notified when an alarm fires (empty: the alarms only change state)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.alarm_actions : can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[a-zA-Z0-9_.-]{1,256}$", arn))])
    error_message = "alarm_actions must be SNS topic ARNs (arn:aws:sns:<region>:<account>:<topic>)."
  }
}

variable "ok_actions" {
  description = "SNS topic ARNs notified when an alarm returns to OK."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.ok_actions : can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[a-zA-Z0-9_.-]{1,256}$", arn))])
    error_message = "ok_actions must be SNS topic ARNs (arn:aws:sns:<region>:<account>:<topic>)."
  }
}

variable "tags" {
  description = "Tags of the alarms (CloudWatch dashboards cannot be tagged)."
  type        = map(string)
  default     = {}
}

variable "buffering" {
  description = "Reminders while this environment's streams buffer records that paused consumers have not read (turnout: the new environment from the switch until its consumers resume at new-live). `since` is when the buffering began (RFC 3339 UTC; null: nothing buffers, no reminder), `retention_hours` the shortest retention of the streams that buffer, `not_before` the earliest time a reminder may start (RFC 3339 UTC; EventBridge Scheduler refuses a recurring schedule starting more than 5 minutes in the past, so a reminder re-applied after its moment starts at not_before). From since + 50 % and since + 80 % of the retention, a schedule publishes BufferedRetentionPercent (50, then 80) every period, and an alarm on each fires: a paused consumer is not invoked and publishes no IteratorAge of its own."
  type = object({
    since           = optional(string)
    retention_hours = optional(number, 24)
    not_before      = optional(string)
  })
  default = {}

  validation {
    condition     = var.buffering.since == null || can(timeadd(var.buffering.since, "0s"))
    error_message = "buffering.since must be an RFC 3339 time such as 2026-12-02T06:33:00Z, or null."
  }

  validation {
    condition     = var.buffering.not_before == null || can(timeadd(var.buffering.not_before, "0s"))
    error_message = "buffering.not_before must be an RFC 3339 time such as 2026-12-02T06:35:00Z, or null."
  }

  validation {
    condition     = var.buffering.retention_hours >= 24 && var.buffering.retention_hours <= 8760
    error_message = "buffering.retention_hours must be a Kinesis retention period: 24 to 8760 hours."
  }
}
