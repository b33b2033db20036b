variable "name" {
  description = "Name of the Kinesis data stream (1-128 characters: letters, digits, '_', '-', '.')."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{1,128}$", var.name))
    error_message = "The stream name must be 1-128 characters of [a-zA-Z0-9_.-]."
  }
}

variable "mode" {
  description = "Capacity mode of the stream: PROVISIONED (fixed shard_count) or ON_DEMAND (AWS scales the shards)."
  type        = string
  default     = "PROVISIONED"

  validation {
    condition     = contains(["PROVISIONED", "ON_DEMAND"], var.mode)
    error_message = "The mode must be PROVISIONED or ON_DEMAND."
  }
}

variable "shard_count" {
  description = "Number of shards. Required (>= 1) when mode is PROVISIONED; must be null when mode is ON_DEMAND."
  type        = number
  default     = null

  validation {
    condition = (
      var.mode == "PROVISIONED"
      ? (var.shard_count != null && try(var.shard_count >= 1 && floor(var.shard_count) == var.shard_count, false))
      : var.shard_count == null
    )
    error_message = "shard_count must be a whole number >= 1 for PROVISIONED streams and null for ON_DEMAND streams."
  }
}

variable "retention_hours" {
  description = "How long records stay readable, in hours (24..8760). Raising it never restores records that already expired."
  type        = number
  default     = 24

  validation {
    condition     = var.retention_hours >= 24 && var.retention_hours <= 8760 && floor(var.retention_hours) == var.retention_hours
    error_message = "retention_hours must be a whole number between 24 and 8760."
  }
}

variable "kms_key" {
  description = <<-EOT
    Server-side encryption key of the stream:
    "customer_managed" - the module creates a customer-managed KMS key (rotation on, key policy delegating to the account's IAM);
    "aws_managed"      - the AWS-managed key alias/aws/kinesis;
    a KMS key ARN      - an existing key (its key policy must allow the stream's writers and readers).
  EOT
  type        = string
  default     = "customer_managed"

  validation {
    condition = (
      contains(["customer_managed", "aws_managed"], var.kms_key) ||
      can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-zA-Z0-9-]+$", var.kms_key))
    )
    error_message = "kms_key must be \"customer_managed\", \"aws_managed\" or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)."
  }
}

variable "kms_alias_name" {
  description = "Alias of the customer-managed key created when kms_key = \"customer_managed\" (must start with alias/, not alias/aws/). Defaults to alias/<name>-kinesis."
  type        = string
  default     = null

  validation {
    condition     = var.kms_alias_name == null || can(regex("^alias/[a-zA-Z0-9/_-]{1,250}$", var.kms_alias_name)) && !startswith(coalesce(var.kms_alias_name, "alias/"), "alias/aws/")
    error_message = "kms_alias_name must match alias/[a-zA-Z0-9/_-]+ and must not start with alias/aws/."
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

variable "shard_level_metrics" {
  description = "Enhanced (shard-level) CloudWatch metrics to enable."
  type        = list(string)
  default     = []

  validation {
    condition = alltrue([
      for m in var.shard_level_metrics : contains([
        "IncomingBytes", "IncomingRecords", "IteratorAgeMilliseconds", "OutgoingBytes",
        "OutgoingRecords", "ReadProvisionedThroughputExceeded", "WriteProvisionedThroughputExceeded", "ALL",
      ], m)
    ])
    error_message = "shard_level_metrics may only contain IncomingBytes, IncomingRecords, IteratorAgeMilliseconds, OutgoingBytes, OutgoingRecords, ReadProvisionedThroughputExceeded, WriteProvisionedThroughputExceeded or ALL."
  }
}

variable "enforce_consumer_deletion" {
  description = "Deregister enhanced fan-out consumers when the stream is destroyed (otherwise the destroy fails while consumers exist)."
  type        = bool
  default     = false
}

variable "producer_principal_arns" {
  description = "IAM roles and users, of this or other accounts, that write this stream (the spec's producers). When not empty the module attaches a resource policy letting exactly them call PutRecord, PutRecords, ListShards and DescribeStreamSummary on the stream, and (kms_key = \"customer_managed\") adds a key-policy statement letting them kms:GenerateDataKey through Kinesis for this stream only. Each principal must exist when the policy is applied, and its own identity policy must allow the same calls. Empty (the default): no resource policy."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.producer_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[a-zA-Z0-9+=,.@_/-]+$", arn))]) && length(distinct(var.producer_principal_arns)) == length(var.producer_principal_arns)
    error_message = "producer_principal_arns must be distinct IAM role or user ARNs: Kinesis resource policies take no wildcard, service or federated principal."
  }

  validation {
    condition     = length(var.producer_principal_arns) == 0 || var.kms_key != "aws_managed"
    error_message = "producer_principal_arns needs a customer-managed key: a stream encrypted with the AWS managed key alias/aws/kinesis cannot be shared through a resource policy (use kms_key = \"customer_managed\" or a key ARN)."
  }
}

variable "reader_principal_arns" {
  description = "IAM roles of other accounts whose Lambda event source mappings may read this stream (turnout's read-across mode: the old environment's consumers). The resource policy grants them the reads Lambda needs, and a customer-managed key lets them decrypt through Kinesis."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.reader_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", arn))])
    error_message = "reader_principal_arns must be IAM role ARNs."
  }
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
  default     = {}
}
