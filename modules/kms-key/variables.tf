variable "description" {
  description = "What the key encrypts (the key's description in KMS). Changing it updates the key in place."
  type        = string

  validation {
    condition     = length(var.description) >= 1 && length(var.description) <= 8192
    error_message = "description must be 1-8192 characters (the KMS limit)."
  }
}

variable "alias_name" {
  description = "Alias of the key: alias/<name> (letters, digits, '/', '_', '-'), never under alias/aws/, which AWS reserves for its managed keys."
  type        = string

  validation {
    condition     = can(regex("^alias/[a-zA-Z0-9/_-]{1,250}$", var.alias_name)) && !startswith(var.alias_name, "alias/aws/")
    error_message = "alias_name must match alias/[a-zA-Z0-9/_-]+ and must not start with alias/aws/."
  }
}

variable "deletion_window_in_days" {
  description = "Waiting period (7..30 days) between the key's destroy and its deletion; until then it can be restored and everything it encrypts stays readable."
  type        = number
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30 && floor(var.deletion_window_in_days) == var.deletion_window_in_days
    error_message = "deletion_window_in_days must be a whole number between 7 and 30."
  }
}

variable "key_statements" {
  description = <<-EOT
    Allow statements of the key policy after the account-root delegation (statement DelegateToAccountIam,
    always first): for principals that have no IAM identity in this account and must be named in the key
    policy, such as a service that encrypts with the key on its own (CloudWatch Logs for a log group).
    Each: sid (unique, [A-Za-z0-9]), principals (type "Service" or "AWS", identifiers), actions (use of the
    key only: encrypt/decrypt/re-encrypt/generate data keys/describe/grants, never administration such as
    kms:PutKeyPolicy or kms:*), and optional conditions (test, variable, values) as in aws_iam_policy_document.
    The Resource of every statement is "*" (in a key policy: this key); the Effect is Allow.
  EOT
  type = list(object({
    sid = string
    principals = list(object({
      type        = string
      identifiers = list(string)
    }))
    actions = list(string)
    conditions = optional(list(object({
      test     = string
      variable = string
      values   = list(string)
    })), [])
  }))
  default = []

  validation {
    condition     = alltrue([for s in var.key_statements : can(regex("^[A-Za-z0-9]{1,128}$", s.sid)) && s.sid != "DelegateToAccountIam"]) && length(distinct([for s in var.key_statements : s.sid])) == length(var.key_statements)
    error_message = "key_statements: every sid must be unique, 1-128 characters of [A-Za-z0-9], and not DelegateToAccountIam (the account-root statement the module always writes)."
  }

  validation {
    condition = alltrue([
      for s in var.key_statements : length(s.actions) >= 1 && alltrue([
        for a in s.actions : can(regex("^kms:(Encrypt|Decrypt|ReEncrypt(From|To|\\*)?|GenerateDataKey(WithoutPlaintext|Pair|PairWithoutPlaintext|\\*)?|Describe(Key|\\*)|GetPublicKey|Sign|Verify|GenerateMac|VerifyMac|CreateGrant|ListGrants|RetireGrant)$", a))
      ])
    ])
    error_message = "key_statements: actions may only use the key (kms:Encrypt, Decrypt, ReEncrypt*, GenerateDataKey*, Describe*, GetPublicKey, Sign, Verify, GenerateMac, VerifyMac, CreateGrant, ListGrants, RetireGrant). kms:* and administrative actions (PutKeyPolicy, ScheduleKeyDeletion, ...) belong to the account's IAM, through the root delegation."
  }

  validation {
    condition = alltrue([
      for s in var.key_statements : length(s.principals) >= 1 && length(distinct([for p in s.principals : p.type])) == length(s.principals) && alltrue([
        for p in s.principals : length(p.identifiers) >= 1 && alltrue([
          for id in p.identifiers : (
            p.type == "Service" ? can(regex("^[a-z0-9.-]+\\.amazonaws\\.com(\\.cn)?$", id)) :
            p.type == "AWS" ? can(regex("^([0-9]{12}|arn:aws[a-z-]*:iam::[0-9]{12}:(root|role/[a-zA-Z0-9+=,.@_/-]+|user/[a-zA-Z0-9+=,.@_/-]+))$", id)) :
            false
          )
        ])
      ])
    ])
    error_message = "key_statements: principals need a type of \"Service\" (identifiers like logs.eu-west-1.amazonaws.com) or \"AWS\" (account ids or IAM root/role/user ARNs), each type once per statement, at least one identifier, and never \"*\" (a key open to every principal)."
  }

  validation {
    condition = alltrue([
      for s in var.key_statements : alltrue([
        for c in s.conditions : can(regex("^(ForAnyValue:|ForAllValues:)?[A-Za-z]+$", c.test)) && length(c.variable) >= 1 && length(c.values) >= 1
      ]) && length(distinct([for c in s.conditions : "${c.test} ${c.variable}"])) == length(s.conditions)
    ])
    error_message = "key_statements: every condition needs an operator (test, e.g. ArnEquals, StringEquals), a variable and at least one value, and a statement may name each test/variable pair once."
  }
}

variable "principal_grants" {
  description = <<-EOT
    Key-policy statements for IAM roles and users, of this or of other accounts (another account's
    principals can use the key only if its key policy names them), who may use the key only through one
    AWS service: sid (unique with key_statements' sids, [A-Za-z0-9]), principal_arns (IAM role or user ARNs,
    never an account root or "*"), actions (use of the key only, as in key_statements), via_service (the
    kms:ViaService condition, e.g. kinesis.eu-west-1.amazonaws.com) and encryption_context (optional
    kms:EncryptionContext:<key> conditions, e.g. { "aws:kinesis:arn" = <stream ARN> }). Written after
    key_statements, with StringEquals conditions; an empty list (the default) changes no byte of the policy.
  EOT
  type = list(object({
    sid                = string
    principal_arns     = list(string)
    actions            = list(string)
    via_service        = string
    encryption_context = optional(map(string), {})
  }))
  default = []

  validation {
    condition     = alltrue([for g in var.principal_grants : can(regex("^[A-Za-z0-9]{1,128}$", g.sid)) && g.sid != "DelegateToAccountIam"]) && length(distinct(concat([for s in var.key_statements : s.sid], [for g in var.principal_grants : g.sid]))) == length(var.key_statements) + length(var.principal_grants)
    error_message = "principal_grants: every sid must be 1-128 characters of [A-Za-z0-9], not DelegateToAccountIam, and unique among key_statements and principal_grants."
  }

  validation {
    condition = alltrue([
      for g in var.principal_grants : length(g.principal_arns) >= 1 && alltrue([
        for arn in g.principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[a-zA-Z0-9+=,.@_/-]+$", arn))
      ])
    ])
    error_message = "principal_grants: principal_arns must list at least one IAM role or user ARN (arn:aws:iam::<account>:role/<name>); an account root or \"*\" would admit every principal of an account."
  }

  validation {
    condition = alltrue([
      for g in var.principal_grants : length(g.actions) >= 1 && alltrue([
        for a in g.actions : can(regex("^kms:(Encrypt|Decrypt|ReEncrypt(From|To|\\*)?|GenerateDataKey(WithoutPlaintext|Pair|PairWithoutPlaintext|\\*)?|Describe(Key|\\*))$", a))
      ])
    ])
    error_message = "principal_grants: actions may only encrypt, decrypt, re-encrypt, generate data keys or describe the key (kms:Encrypt, Decrypt, ReEncrypt*, GenerateDataKey*, Describe*)."
  }

  validation {
    condition     = alltrue([for g in var.principal_grants : can(regex("^[a-z0-9-]+\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?$", g.via_service))])
    error_message = "principal_grants: via_service must be a regional service endpoint such as kinesis.eu-west-1.amazonaws.com (the kms:ViaService condition)."
  }
}

variable "tags" {
  description = "Tags of the key (KMS aliases cannot be tagged)."
  type        = map(string)
  default     = {}
}
