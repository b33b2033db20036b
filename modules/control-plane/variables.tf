variable "manage_tables" {
  description = "Whether the cutover state and lock tables live in this environment (exactly one environment should say true)."
  type        = bool
  default     = false
}

variable "state_table_name" {
  description = "Name of the cutover state table (hash key pk S, range key sk S). Used only when manage_tables is true."
  type        = string
  default     = "turnout-state"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.state_table_name))
    error_message = "state_table_name must be 3-255 characters of [a-zA-Z0-9_.-]."
  }
}

variable "lock_table_name" {
  description = "Name of the cutover lock table (hash key lock_id S). Used only when manage_tables is true."
  type        = string
  default     = "turnout-lock"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.lock_table_name))
    error_message = "lock_table_name must be 3-255 characters of [a-zA-Z0-9_.-]."
  }
}

variable "markers_table_name" {
  description = "Name of the drain-markers table (hash key marker_id S), created in every environment: consumers acknowledge turnout's marker records there."
  type        = string
  default     = "turnout-markers"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.markers_table_name))
    error_message = "markers_table_name must be 3-255 characters of [a-zA-Z0-9_.-]."
  }
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the module's tables (state, lock, markers). null: the module creates one (rotation on)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-zA-Z0-9-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN."
  }
}

variable "kms_alias_name" {
  description = "Alias of the module-created key (must start with alias/, not alias/aws/)."
  type        = string
  default     = "alias/turnout-control-plane"

  validation {
    condition     = can(regex("^alias/[a-zA-Z0-9/_-]{1,250}$", var.kms_alias_name)) && !startswith(var.kms_alias_name, "alias/aws/")
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

variable "route" {
  description = "The producer route: SSM parameters (type String) that producers read to find their target, created with the given value only when managed_here is true. With table_name, also a route table (hash key route_id S) holding the value in the item table_key, readable by reader_principal_arns (IAM roles/users of any account) through the table's resource policy: the route for producers in other accounts."
  type = object({
    managed_here          = bool
    parameters            = list(string)
    value                 = string
    table_name            = optional(string)
    table_key             = optional(string)
    reader_principal_arns = optional(list(string), [])
  })
  default = {
    managed_here = false
    parameters   = []
    value        = ""
  }

  validation {
    condition     = alltrue([for p in var.route.parameters : can(regex("^/?[a-zA-Z0-9_./-]+$", p)) && length(p) <= 1011 && !startswith(lower(trimprefix(p, "/")), "aws") && !startswith(lower(trimprefix(p, "/")), "ssm")])
    error_message = "Route parameter names must be SSM parameter names ([a-zA-Z0-9_.-/], not starting with aws or ssm)."
  }

  validation {
    condition     = length(distinct(var.route.parameters)) == length(var.route.parameters)
    error_message = "Route parameter names must be unique."
  }

  validation {
    condition     = !var.route.managed_here || (length(var.route.value) >= 1 && length(var.route.value) <= 4096)
    error_message = "A managed route needs a value of 1-4096 characters (standard-tier String parameter)."
  }

  validation {
    condition     = var.route.table_name == null || (can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.route.table_name)) && try(length(var.route.table_key) >= 1, false))
    error_message = "route.table_name must be 3-255 characters of [a-zA-Z0-9_.-], and needs a route.table_key (the route item's route_id)."
  }

  validation {
    condition     = alltrue([for arn in var.route.reader_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[a-zA-Z0-9+=,.@_/-]+$", arn))]) && (length(var.route.reader_principal_arns) == 0 || var.route.table_name != null)
    error_message = "route.reader_principal_arns must be IAM role or user ARNs (no wildcard, service or federated principal), and need a route.table_name."
  }
}

variable "active_direction_parameter_name" {
  description = "Name of the active-direction SSM parameter (same name in both environments), e.g. /turnout/<migration>/active-direction."
  type        = string

  validation {
    condition     = can(regex("^/[a-zA-Z0-9_./-]+$", var.active_direction_parameter_name)) && length(var.active_direction_parameter_name) <= 1011
    error_message = "active_direction_parameter_name must be a hierarchical SSM parameter name starting with /."
  }
}

variable "active_direction" {
  description = "Value of the active-direction parameter: none, old_to_new or new_to_old. Both replicators read it (in both accounts) before writing."
  type        = string
  default     = "none"

  validation {
    condition     = contains(["none", "old_to_new", "new_to_old"], var.active_direction)
    error_message = "active_direction must be none, old_to_new or new_to_old."
  }
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
  default     = {}
}
