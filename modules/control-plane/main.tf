locals {
  # The markers table lives in every environment, so the key does too.
  create_key       = var.kms_key_arn == null
  kms_key_arn      = local.create_key ? module.key[0].key_arn : var.kms_key_arn
  route_parameters = var.route.managed_here ? toset(var.route.parameters) : toset([])
}

# The operators' (and marker-acknowledging consumers') IAM policies decide who may use the key:
# its policy is only the account-root delegation.
module "key" {
  source = "../kms-key"
  count  = local.create_key ? 1 : 0

  description             = "turnout control plane: cutover state, lock and drain-marker tables"
  alias_name              = var.kms_alias_name
  deletion_window_in_days = var.kms_deletion_window_in_days

  tags = var.tags
}

# Live phase and journal of the cutover (pk = migration, sk = record kind / time).
resource "aws_dynamodb_table" "state" {
  count = var.manage_tables ? 1 : 0

  name         = var.state_table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = local.kms_key_arn
  }

  point_in_time_recovery {
    enabled = true
  }

  tags = var.tags
}

# One cutover at a time: an item per lock with owner and expiry (conditional writes).
resource "aws_dynamodb_table" "lock" {
  count = var.manage_tables ? 1 : 0

  name         = var.lock_table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "lock_id"

  attribute {
    name = "lock_id"
    type = "S"
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = local.kms_key_arn
  }

  point_in_time_recovery {
    enabled = true
  }

  tags = var.tags
}

# Drain markers: consumers that opt in (drain_evidence "markers") acknowledge each turnout
# marker record they process with one PutItem {marker_id, consumer, seen_at}. Every environment.
resource "aws_dynamodb_table" "markers" {
  name         = var.markers_table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "marker_id"

  attribute {
    name = "marker_id"
    type = "S"
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = local.kms_key_arn
  }

  point_in_time_recovery {
    enabled = true
  }

  tags = var.tags
}

resource "aws_ssm_parameter" "route" {
  #checkov:skip=CKV2_AWS_34:The route is not a secret (stream ARNs); producers read it without kms:Decrypt, so it is a plain String by contract.
  for_each = local.route_parameters

  name        = each.value
  description = "turnout producer route: where producers write"
  type        = "String"
  value       = var.route.value

  tags = var.tags
}

resource "aws_ssm_parameter" "active_direction" {
  #checkov:skip=CKV2_AWS_34:Not a secret (none/old_to_new/new_to_old); both replicators read it cross-account, so it is a plain String by contract.
  name        = var.active_direction_parameter_name
  description = "turnout active replication direction (none | old_to_new | new_to_old); replicators write only while both accounts name their direction"
  type        = "String"
  value       = var.active_direction

  tags = var.tags
}
