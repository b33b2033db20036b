variable "name" {
  description = "Name of the writer role (1-64 characters)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9+=,.@_-]{1,64}$", var.name))
    error_message = "name must be 1-64 characters of [a-zA-Z0-9+=,.@_-]."
  }
}

variable "peer_account_id" {
  description = "Account id of the peer environment whose replicator assumes this role (the trust policy's principal)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.peer_account_id))
    error_message = "peer_account_id must be 12 digits."
  }
}

variable "peer_replicator_role_arn" {
  description = "ARN of the peer replicator's execution role: the only principal allowed to assume this role (ArnEquals aws:PrincipalArn). It may not exist yet."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[a-zA-Z0-9+=,.@_/-]{1,64}$", var.peer_replicator_role_arn))
    error_message = "peer_replicator_role_arn must be an IAM role ARN."
  }
}

variable "external_id" {
  description = "External id the peer's replicator must present (StringEquals sts:ExternalId)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9+=,.@:/-]+$", var.external_id)) && length(var.external_id) >= 2 && length(var.external_id) <= 1224
    error_message = "external_id must be 2-1224 characters of [a-zA-Z0-9+=,.@:/-]."
  }
}

variable "target_streams" {
  description = "Streams in this account the peer's replicator writes to, keyed by logical name: stream ARN and its KMS key ARN (null for alias/aws/kinesis, whose key policy already admits the account's principals)."
  type = map(object({
    arn         = string
    kms_key_arn = optional(string)
  }))

  validation {
    condition     = length(var.target_streams) >= 1
    error_message = "At least one target stream is required."
  }

  validation {
    condition     = alltrue([for s in var.target_streams : can(regex("^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:[0-9]{12}:stream/[a-zA-Z0-9_.-]{1,128}$", s.arn))])
    error_message = "Every target stream arn must be a Kinesis stream ARN."
  }

  validation {
    condition     = alltrue([for s in var.target_streams : s.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-zA-Z0-9-]+$", s.kms_key_arn))])
    error_message = "kms_key_arn must be null or a KMS key ARN."
  }
}

variable "direction_parameter_arn" {
  description = "ARN of this account's active-direction SSM parameter, read by the peer's replicator through this role (second key of the loop guard)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter/", var.direction_parameter_arn))
    error_message = "direction_parameter_arn must be an SSM parameter ARN."
  }
}

variable "max_session_duration" {
  description = "Maximum session duration of the role in seconds (3600..43200)."
  type        = number
  default     = 3600

  validation {
    condition     = var.max_session_duration >= 3600 && var.max_session_duration <= 43200
    error_message = "max_session_duration must be between 3600 and 43200."
  }
}

variable "tags" {
  description = "Tags applied to the role."
  type        = map(string)
  default     = {}
}
