locals {
  create_key = var.kms_key == "customer_managed"
  # "aws_managed" uses the AWS-managed key by alias; Kinesis accepts the alias as kms_key_id.
  kms_key_id = (
    local.create_key ? module.key[0].key_arn :
    var.kms_key == "aws_managed" ? "alias/aws/kinesis" :
    var.kms_key
  )
}

# The customer-managed key (kms_key = "customer_managed"). Its policy is only the account-root
# delegation: the stream's producers and readers (and the turnout writer role / replicator) get
# exactly the kms actions their identity policies grant.
module "key" {
  source = "../kms-key"
  count  = local.create_key ? 1 : 0

  description             = "Server-side encryption of the Kinesis stream ${var.name}"
  alias_name              = coalesce(var.kms_alias_name, "alias/${var.name}-kinesis")
  deletion_window_in_days = var.kms_deletion_window_in_days

  tags = var.tags
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
