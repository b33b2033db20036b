variable "name" {
  description = "Name of the replicator: used for the Lambda function, its execution role (so at most 64 characters), and as prefix of the failure queue (<name>-failures) and the enhanced fan-out consumers."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,55}$", var.name))
    error_message = "name must be 1-55 characters of [a-zA-Z0-9_-] (room for the -failures suffix of the queue within the 64-character IAM role limit)."
  }
}

variable "direction" {
  description = "This replicator's direction: old_to_new or new_to_old. Written into TURNOUT_DIRECTION; the function only writes while the active-direction parameters of both accounts equal it."
  type        = string

  validation {
    condition     = contains(["old_to_new", "new_to_old"], var.direction)
    error_message = "direction must be old_to_new or new_to_old."
  }
}

variable "enabled" {
  description = "Whether the event source mappings poll the source streams. Disabling keeps each shard's position; re-enabling resumes from it."
  type        = bool
  default     = false
}

variable "source_streams" {
  description = "Streams to replicate, keyed by logical name: the source stream (in this account), its KMS key ARN (null for alias/aws/kinesis), the name of the matching stream in the target account and the order rule the replicator keeps for it (strict or relaxed; see the README)."
  type = map(object({
    name        = string
    arn         = string
    kms_key_arn = optional(string)
    target_name = string
    ordering    = optional(string, "strict")
  }))

  validation {
    condition     = length(var.source_streams) >= 1
    error_message = "At least one source stream is required."
  }

  validation {
    condition     = alltrue([for s in var.source_streams : can(regex("^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:[0-9]{12}:stream/[a-zA-Z0-9_.-]{1,128}$", s.arn))])
    error_message = "Every source stream arn must be a Kinesis stream ARN."
  }

  validation {
    condition     = alltrue([for s in var.source_streams : can(regex("^[a-zA-Z0-9_.-]{1,128}$", s.name)) && can(regex("^[a-zA-Z0-9_.-]{1,128}$", s.target_name))])
    error_message = "Stream names must be 1-128 characters of [a-zA-Z0-9_.-]."
  }

  validation {
    condition     = alltrue([for s in var.source_streams : s.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-zA-Z0-9-]+$", s.kms_key_arn))])
    error_message = "kms_key_arn must be null or a KMS key ARN."
  }

  validation {
    condition     = alltrue([for s in var.source_streams : contains(["strict", "relaxed"], s.ordering)])
    error_message = "ordering must be strict or relaxed."
  }
}

variable "target" {
  description = "Where the records go: the writer role in the target account (assumed with the external id), the target region, and the target streams' maximum record size in bytes (data + partition key)."
  type = object({
    role_arn         = string
    external_id      = string
    region           = string
    max_record_bytes = optional(number, 1048576)
  })

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[a-zA-Z0-9+=,.@_/-]{1,64}$", var.target.role_arn))
    error_message = "target.role_arn must be an IAM role ARN."
  }

  validation {
    condition     = can(regex("^[a-zA-Z0-9+=,.@:/-]+$", var.target.external_id)) && length(var.target.external_id) >= 2 && length(var.target.external_id) <= 1224
    error_message = "target.external_id must be 2-1224 characters of [a-zA-Z0-9+=,.@:/-]."
  }

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.target.region))
    error_message = "target.region must be an AWS region name such as eu-west-1."
  }

  validation {
    condition     = var.target.max_record_bytes >= 1024 && var.target.max_record_bytes <= 10485760
    error_message = "target.max_record_bytes must be between 1024 and 10485760 (10 MiB)."
  }
}

variable "direction_parameter" {
  description = "The active-direction SSM parameter of this (the source) account: its name (the same name exists in the target account) and ARN (for ssm:GetParameter)."
  type = object({
    name = string
    arn  = string
  })

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter/", var.direction_parameter.arn))
    error_message = "direction_parameter.arn must be an SSM parameter ARN."
  }
}

variable "ledger_table_name" {
  description = "Name of the ledger DynamoDB table (hash key shard_key = <stream name>/<shard id>)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.ledger_table_name))
    error_message = "ledger_table_name must be 3-255 characters of [a-zA-Z0-9_.-]."
  }
}

variable "package" {
  description = "The function's deployment package: path of the zip file and its base64-encoded SHA-256 (source_code_hash)."
  type = object({
    filename         = string
    source_code_hash = string
  })

  validation {
    condition     = endswith(var.package.filename, ".zip")
    error_message = "package.filename must be a .zip file."
  }

  validation {
    condition     = can(regex("^[A-Za-z0-9+/]{43}=$", var.package.source_code_hash))
    error_message = "package.source_code_hash must be the base64-encoded SHA-256 of the zip (44 characters)."
  }
}

variable "event_source" {
  description = "Settings of the event source mapping (one per source stream)."
  type = object({
    batch_size                         = optional(number, 2000)
    maximum_batching_window_in_seconds = optional(number, 1)
    parallelization_factor             = optional(number, 1)
    maximum_retry_attempts             = optional(number, -1)
    maximum_record_age_in_seconds      = optional(number, -1)
    bisect_batch_on_function_error     = optional(bool, true)
    starting_position                  = optional(string, "TRIM_HORIZON")
    starting_position_timestamp        = optional(string)
  })
  default = {}

  validation {
    condition     = var.event_source.batch_size >= 1 && var.event_source.batch_size <= 10000
    error_message = "event_source.batch_size must be between 1 and 10000."
  }

  validation {
    condition     = var.event_source.maximum_batching_window_in_seconds >= 0 && var.event_source.maximum_batching_window_in_seconds <= 300
    error_message = "event_source.maximum_batching_window_in_seconds must be between 0 and 300."
  }

  validation {
    condition     = var.event_source.parallelization_factor >= 1 && var.event_source.parallelization_factor <= 10
    error_message = "event_source.parallelization_factor must be between 1 and 10."
  }

  validation {
    condition     = var.event_source.maximum_retry_attempts >= -1 && var.event_source.maximum_retry_attempts <= 10000
    error_message = "event_source.maximum_retry_attempts must be between -1 (until the record expires) and 10000."
  }

  validation {
    condition = (
      var.event_source.maximum_record_age_in_seconds == -1 ||
      (var.event_source.maximum_record_age_in_seconds >= 60 && var.event_source.maximum_record_age_in_seconds <= 604800)
    )
    error_message = "event_source.maximum_record_age_in_seconds must be -1 (no limit) or between 60 and 604800."
  }

  validation {
    condition     = contains(["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"], var.event_source.starting_position)
    error_message = "event_source.starting_position must be TRIM_HORIZON, LATEST or AT_TIMESTAMP."
  }

  validation {
    condition = (
      var.event_source.starting_position == "AT_TIMESTAMP"
      ? can(formatdate("YYYY", var.event_source.starting_position_timestamp))
      : var.event_source.starting_position_timestamp == null
    )
    error_message = "event_source.starting_position_timestamp must be an RFC 3339 timestamp with AT_TIMESTAMP, and null otherwise."
  }
}

variable "enhanced_fanout" {
  description = "Read through an enhanced fan-out consumer per stream (dedicated 2 MB/s per shard) instead of shared GetRecords throughput."
  type        = bool
  default     = false
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions of the function: null (the default) reserves none, so it shares the account's unreserved pool; when set, at least one per shard and parallelization factor of its streams, or it falls behind."
  type        = number
  default     = null

  validation {
    condition     = var.reserved_concurrency == null || try(var.reserved_concurrency >= 1 && floor(var.reserved_concurrency) == var.reserved_concurrency, false)
    error_message = "reserved_concurrency must be null or a whole number >= 1."
  }
}

variable "timeout_seconds" {
  description = "Function timeout in seconds (30..900). The replicator starts no step it cannot finish: a cold invocation needs about 25 s of worst cases for one guarded PutRecords call and its ledger update. Leave room for a strict hot-key batch: one PutRecords round trip per record of one key."
  type        = number
  default     = 120

  validation {
    condition     = var.timeout_seconds >= 30 && var.timeout_seconds <= 900
    error_message = "timeout_seconds must be between 30 and 900 (below 30 s the replicator could not finish one guarded call and its ledger update in time)."
  }
}

variable "memory_mb" {
  description = "Function memory in MB (128..10240)."
  type        = number
  default     = 256

  validation {
    condition     = var.memory_mb >= 128 && var.memory_mb <= 10240
    error_message = "memory_mb must be between 128 and 10240."
  }
}

variable "log_retention_days" {
  description = "Retention of the function's CloudWatch log group, in days (one of the values CloudWatch Logs accepts)."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "metric_namespace" {
  description = "CloudWatch namespace of the replicator's metrics (embedded metric format lines in its log group, which CloudWatch Logs turns into metrics; no PutMetricData permission is needed)."
  type        = string
  default     = "Turnout/Replication"

  validation {
    condition     = can(regex("^[a-zA-Z0-9./#:_-]{1,255}$", var.metric_namespace)) && !startswith(var.metric_namespace, "AWS/")
    error_message = "metric_namespace must be 1-255 characters of [a-zA-Z0-9./#:_-] and must not start with AWS/."
  }
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the failure queue, the ledger table, the log group and the function's environment. null: the module creates one (rotation on)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-zA-Z0-9-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN."
  }
}

variable "kms_deletion_window_in_days" {
  description = "Waiting period (7..30 days) before the module-created KMS key is deleted after destroy."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_in_days >= 7 && var.kms_deletion_window_in_days <= 30
    error_message = "kms_deletion_window_in_days must be between 7 and 30."
  }
}

variable "failure_queue_retention_seconds" {
  description = "How long on-failure records (batch metadata: shard, sequence range) stay in the queue, in seconds (60..1209600)."
  type        = number
  default     = 1209600

  validation {
    condition     = var.failure_queue_retention_seconds >= 60 && var.failure_queue_retention_seconds <= 1209600
    error_message = "failure_queue_retention_seconds must be between 60 and 1209600."
  }
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
  default     = {}
}
