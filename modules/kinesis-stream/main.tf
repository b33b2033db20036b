data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  create_key = var.kms_key == "customer_managed"
  # "aws_managed" uses the AWS-managed key by alias; Kinesis accepts the alias as kms_key_id.
  kms_key_id = (
    local.create_key ? aws_kms_key.this[0].arn :
    var.kms_key == "aws_managed" ? "alias/aws/kinesis" :
    var.kms_key
  )
}

resource "aws_kms_key" "this" {
  count = local.create_key ? 1 : 0

  description             = "Server-side encryption of the Kinesis stream ${var.name}"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_in_days

  # Delegates all use of the key to IAM policies of this account: the stream's
  # producers and readers (and the turnout writer role / replicator) get exactly
  # the kms actions their identity policies grant.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DelegateToAccountIam"
      Effect    = "Allow"
      Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*" # in a key policy "*" means "this key"
    }]
  })

  tags = var.tags
}

resource "aws_kms_alias" "this" {
  count = local.create_key ? 1 : 0

  name          = coalesce(var.kms_alias_name, "alias/${var.name}-kinesis")
  target_key_id = aws_kms_key.this[0].key_id
}

resource "aws_kinesis_stream" "this" {
  name             = var.name
  shard_count      = var.mode == "PROVISIONED" ? var.shard_count : null
  retention_period = var.retention_hours

  encryption_type = "KMS"
  kms_key_id      = local.kms_key_id

  shard_level_metrics       = var.shard_level_metrics
  enforce_consumer_deletion = var.enforce_consumer_deletion

  stream_mode_details {
    stream_mode = var.mode
  }

  tags = var.tags
}
