data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  create_key = var.kms_key == "customer_managed"
  # Known at plan time (unlike aws_kinesis_stream.this.arn for a new stream), so the reviewed plan
  # shows the producers' policies in full, and the key's policy can name its stream before it exists.
  stream_arn    = "arn:${data.aws_partition.current.partition}:kinesis:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:stream/${var.name}"
  has_producers = length(var.producer_principal_arns) > 0
  has_readers   = length(var.reader_principal_arns) > 0
  # One principal is written as a string and several as a list: the form AWS returns, so the
  # policy read back plans no change.
  producers_principal = length(var.producer_principal_arns) == 1 ? jsonencode(var.producer_principal_arns[0]) : jsonencode(var.producer_principal_arns)
  readers_principal   = length(var.reader_principal_arns) == 1 ? jsonencode(var.reader_principal_arns[0]) : jsonencode(var.reader_principal_arns)
  policy_statements = concat(
    local.has_producers ? [{
      Sid       = "ProducersWrite"
      Effect    = "Allow"
      Principal = { AWS = jsondecode(local.producers_principal) }
      Action    = ["kinesis:DescribeStreamSummary", "kinesis:ListShards", "kinesis:PutRecord", "kinesis:PutRecords"]
      Resource  = local.stream_arn
    }] : [],
    # What a Lambda event source mapping of another account needs to read the stream:
    # https://docs.aws.amazon.com/streams/latest/dev/resource-based-policy-examples.html
    local.has_readers ? [{
      Sid       = "ConsumersReadAcross"
      Effect    = "Allow"
      Principal = { AWS = jsondecode(local.readers_principal) }
      Action    = ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"]
      Resource  = local.stream_arn
    }] : [],
  )
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

  # Producers (of other accounts too) may encrypt records through Kinesis for this stream only.
  principal_grants = concat(
    local.has_producers ? [{
      sid                = "ProducersEncryptThroughKinesis"
      principal_arns     = var.producer_principal_arns
      actions            = ["kms:GenerateDataKey"]
      via_service        = "kinesis.${data.aws_region.current.name}.amazonaws.com"
      encryption_context = { "aws:kinesis:arn" = local.stream_arn }
    }] : [],
    # Readers of another account (read-across) decrypt what they read, through Kinesis only.
    local.has_readers ? [{
      sid                = "ReadersDecryptThroughKinesis"
      principal_arns     = var.reader_principal_arns
      actions            = ["kms:Decrypt"]
      via_service        = "kinesis.${data.aws_region.current.name}.amazonaws.com"
      encryption_context = { "aws:kinesis:arn" = local.stream_arn }
    }] : [],
  )

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

# The producers' write access across accounts (a principal of another account also needs its own
# identity policy to allow these calls, and must address the stream by ARN), and the reads of
# read-across consumers of another account:
# https://docs.aws.amazon.com/streams/latest/dev/controlling-access.html
resource "aws_kinesis_resource_policy" "producers" {
  count = local.has_producers || local.has_readers ? 1 : 0

  resource_arn = aws_kinesis_stream.this.arn
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.policy_statements
  })
}
