data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  # principal_grants in the shape of key_statements: an AWS principal list, StringEquals on
  # kms:ViaService and on each encryption-context key.
  grant_statements = [
    for g in var.principal_grants : {
      sid        = g.sid
      principals = [{ type = "AWS", identifiers = g.principal_arns }]
      actions    = g.actions
      conditions = concat(
        [{ test = "StringEquals", variable = "kms:ViaService", values = [g.via_service] }],
        [for key, value in g.encryption_context : { test = "StringEquals", variable = "kms:EncryptionContext:${key}", values = [value] }],
      )
    }
  ]

  # The caller's statements in key-policy JSON. A single principal, action or condition value is
  # written as a plain string and several as a list: the shape the modules' key policies had before
  # this module existed (and the one AWS itself returns), so a key moved in here keeps its policy
  # byte for byte. jsonencode/jsondecode lets one expression yield either shape.
  statements = [
    for s in concat(var.key_statements, local.grant_statements) : merge(
      {
        Sid    = s.sid
        Effect = "Allow"
        Principal = {
          for p in s.principals : p.type => jsondecode(length(p.identifiers) == 1 ? jsonencode(p.identifiers[0]) : jsonencode(p.identifiers))
        }
        Action   = jsondecode(length(s.actions) == 1 ? jsonencode(s.actions[0]) : jsonencode(s.actions))
        Resource = "*" # in a key policy "*" means "this key"
      },
      # Condition only when the statement has conditions (an empty Condition is not the same policy).
      {
        for name, condition in {
          Condition = {
            for test in distinct([for c in s.conditions : c.test]) : test => {
              for c in s.conditions : c.variable => jsondecode(length(c.values) == 1 ? jsonencode(c.values[0]) : jsonencode(c.values)) if c.test == test
            }
          }
        } : name => condition if length(s.conditions) > 0
      },
    )
  ]
}

resource "aws_kms_key" "this" {
  description             = var.description
  enable_key_rotation     = true
  deletion_window_in_days = var.deletion_window_in_days

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      {
        # The AWS default key policy statement: IAM policies of this account decide who may use
        # the key (producers, readers, the turnout roles get exactly the kms actions their
        # identity policies grant). Always first and never narrowed: without it the key can
        # become unmanageable, which AWS's own lockout check warns against.
        Sid       = "DelegateToAccountIam"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*" # in a key policy "*" means "this key"
      },
    ], local.statements)
  })

  tags = var.tags
}

resource "aws_kms_alias" "this" {
  name          = var.alias_name
  target_key_id = aws_kms_key.this.key_id
}
