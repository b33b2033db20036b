locals {
  # The markers table lives in every environment, so the key does too.
  create_key       = var.kms_key_arn == null
  kms_key_arn      = local.create_key ? module.key[0].key_arn : var.kms_key_arn
  route_parameters = var.route.managed_here ? toset(var.route.parameters) : toset([])
  route_table      = var.route.managed_here && var.route.table_name != null
  route_readers    = local.route_table ? var.route.reader_principal_arns : []
  # Known at plan time, so the reviewed plan shows the readers' policy in full.
  route_table_arn = "arn:${data.aws_partition.current.partition}:dynamodb:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:table/${coalesce(var.route.table_name, "none")}"
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

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

# The route for producers anywhere: one item (route_id = table_key, value = the route's JSON,
# the same value as the parameters) that producers of other accounts read by the table's ARN
# under its resource policy (docs/producers.md).
resource "aws_dynamodb_table" "route" {
  #checkov:skip=CKV_AWS_119:The route is not a secret (stream ARNs); an AWS owned key lets producers of other accounts read it without a KMS grant that could break the switch.
  count = local.route_table ? 1 : 0

  name         = var.route.table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "route_id"

  attribute {
    name = "route_id"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  tags = var.tags
}

resource "aws_dynamodb_table_item" "route" {
  count = local.route_table ? 1 : 0

  table_name = aws_dynamodb_table.route[0].name
  hash_key   = aws_dynamodb_table.route[0].hash_key
  item = jsonencode({
    route_id = { S = var.route.table_key }
    value    = { S = var.route.value }
  })
}

# Exactly the declared producers may read the route item (GetItem only); a principal of another
# account also needs its own identity policy to allow it:
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/rbac-cross-account-access.html
# One principal is written as a string and several as a list: the form AWS returns, so the
# policy read back plans no change.
resource "aws_dynamodb_resource_policy" "route" {
  count = length(local.route_readers) > 0 ? 1 : 0

  resource_arn = aws_dynamodb_table.route[0].arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "ProducersReadTheRoute"
      Effect    = "Allow"
      Principal = { AWS = jsondecode(length(local.route_readers) == 1 ? jsonencode(local.route_readers[0]) : jsonencode(local.route_readers)) }
      Action    = "dynamodb:GetItem"
      Resource  = local.route_table_arn
    }]
  })
}
