data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  create_key  = var.kms_key_arn == null
  kms_key_arn = local.create_key ? module.key[0].key_arn : var.kms_key_arn

  queue_name     = "${var.name}-failures"
  log_group_name = "/aws/lambda/${var.name}"

  source_stream_arns = sort([for s in var.source_streams : s.arn])
  source_key_arns    = sort(distinct(compact([for s in var.source_streams : s.kms_key_arn])))

  # What the event source mapping reads: the stream itself, or its enhanced fan-out consumer.
  event_source_arns = {
    for k, s in var.source_streams : k => (var.enhanced_fanout ? aws_kinesis_stream_consumer.this[k].arn : s.arn)
  }

  environment = {
    TURNOUT_DIRECTION           = var.direction
    TURNOUT_DIRECTION_PARAMETER = var.direction_parameter.name
    TURNOUT_TARGET_ROLE_ARN     = var.target.role_arn
    TURNOUT_EXTERNAL_ID         = var.target.external_id
    TURNOUT_TARGET_REGION       = var.target.region
    TURNOUT_STREAM_MAP          = jsonencode({ for s in var.source_streams : s.name => { target = s.target_name, ordering = s.ordering } })
    TURNOUT_LEDGER_TABLE        = aws_dynamodb_table.ledger.name
    TURNOUT_METRIC_NAMESPACE    = var.metric_namespace
    TURNOUT_MAX_RECORD_BYTES    = tostring(var.target.max_record_bytes)
  }
}

################################################################################
# KMS key for the queue, the ledger, the log group and the function environment
################################################################################

module "key" {
  source = "../kms-key"
  count  = local.create_key ? 1 : 0

  description             = "turnout replicator ${var.name}: failure queue, ledger table, logs, function environment"
  alias_name              = "alias/${var.name}"
  deletion_window_in_days = var.kms_deletion_window_in_days

  # Besides the account-root delegation (IAM policies of this account decide who else may use
  # the key; the execution role below gets exactly what it needs):
  key_statements = [
    {
      # CloudWatch Logs encrypts the log group with the key; it has no IAM identity in the
      # account, so the key policy must name the service, limited to this one log group.
      sid        = "AllowCloudWatchLogsForThisLogGroup"
      principals = [{ type = "Service", identifiers = ["logs.${local.region}.amazonaws.com"] }]
      actions    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
      conditions = [{
        test     = "ArnEquals"
        variable = "kms:EncryptionContext:aws:logs:arn"
        values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"]
      }]
    },
  ]

  tags = var.tags
}

################################################################################
# Failure destination, ledger, logs
################################################################################

# Receives the metadata (shard, sequence number range) of batches that could not
# be delivered. With maximum_retry_attempts = -1 and maximum_record_age = -1 this
# only happens when records expire from the source stream; an operator must look.
resource "aws_sqs_queue" "failures" {
  name                              = local.queue_name
  message_retention_seconds         = var.failure_queue_retention_seconds
  kms_master_key_id                 = local.kms_key_arn
  kms_data_key_reuse_period_seconds = 300

  tags = var.tags
}

resource "aws_dynamodb_table" "ledger" {
  name         = var.ledger_table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "shard_key"

  attribute {
    name = "shard_key"
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

resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = local.kms_key_arn

  tags = var.tags
}

################################################################################
# Execution role
################################################################################

data "aws_iam_policy_document" "assume" {
  statement {
    sid     = "LambdaService"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.name
  description        = "turnout replicator ${var.direction}: reads this account's streams, writes the peer's through its writer role"
  assume_role_policy = data.aws_iam_policy_document.assume.json

  tags = var.tags
}

data "aws_iam_policy_document" "this" {
  statement {
    sid = "ReadSourceStreams"
    actions = [
      "kinesis:DescribeStream",
      "kinesis:DescribeStreamSummary",
      "kinesis:GetRecords",
      "kinesis:GetShardIterator",
      "kinesis:ListShards",
    ]
    resources = local.source_stream_arns
  }

  statement {
    sid     = "ListStreams"
    actions = ["kinesis:ListStreams"]
    # kinesis:ListStreams has no resource type: IAM only accepts "*" for it.
    # The Lambda poller calls it; it reveals stream names, no data.
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = var.enhanced_fanout ? [1] : []

    content {
      sid       = "ReadThroughEnhancedFanOut"
      actions   = ["kinesis:SubscribeToShard", "kinesis:DescribeStreamConsumer"]
      resources = [for arn in local.source_stream_arns : "${arn}/consumer/${var.name}:*"]
    }
  }

  dynamic "statement" {
    for_each = length(local.source_key_arns) > 0 ? [1] : []

    content {
      sid       = "DecryptSourceStreams"
      actions   = ["kms:Decrypt"]
      resources = local.source_key_arns
    }
  }

  statement {
    sid       = "AssumeTargetWriterRole"
    actions   = ["sts:AssumeRole"]
    resources = [var.target.role_arn]
  }

  statement {
    sid       = "Ledger"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:Query"]
    resources = [aws_dynamodb_table.ledger.arn]
  }

  statement {
    sid       = "OnFailureDestination"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.failures.arn]
  }

  statement {
    # The queue (SendMessage from the on-failure destination), the ledger and the
    # function environment are encrypted with the module's key; only through
    # those services.
    sid       = "UseOwnKmsKeyThroughServices"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [local.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        "sqs.${local.region}.amazonaws.com",
        "dynamodb.${local.region}.amazonaws.com",
        "lambda.${local.region}.amazonaws.com",
      ]
    }
  }

  statement {
    sid       = "ReadLocalActiveDirection"
    actions   = ["ssm:GetParameter"]
    resources = [var.direction_parameter.arn]
  }

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "replicate"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

################################################################################
# Function
################################################################################

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_117:The replicator only calls AWS APIs (Kinesis, STS, DynamoDB, SSM, CloudWatch); a VPC adds NAT/endpoints and nothing to protect.
  #checkov:skip=CKV_AWS_272:Code signing is the operator's choice; the package is built reproducibly by turnout and pinned by source_code_hash.
  #checkov:skip=CKV_AWS_116:Invoked synchronously by event source mappings, where a function DLQ never receives anything; failures go to the mapping's on-failure SQS destination.
  function_name = var.name
  description   = "turnout replicator ${var.direction}"
  role          = aws_iam_role.this.arn

  filename         = var.package.filename
  source_code_hash = var.package.source_code_hash
  runtime          = "python3.12"
  handler          = "replicator.handler"

  timeout                        = var.timeout_seconds
  memory_size                    = var.memory_mb
  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = local.kms_key_arn

  environment {
    variables = local.environment
  }

  tracing_config {
    mode = "PassThrough"
  }

  tags = var.tags

  # The log group (with its retention and key) must exist before the first
  # invocation, or Lambda creates an unencrypted one that never expires.
  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.this]
}

################################################################################
# Event source mappings
################################################################################

# Emulator difference: moto accepts only same-account *stream* ARNs as event
# sources (no consumer ARNs) and has no SubscribeToShard, so the sandbox keeps
# enhanced_fanout = false. On AWS the mapping reads through the consumer.
resource "aws_kinesis_stream_consumer" "this" {
  for_each = var.enhanced_fanout ? var.source_streams : {}

  name       = var.name
  stream_arn = each.value.arn
}

resource "aws_lambda_event_source_mapping" "this" {
  for_each = var.source_streams

  function_name    = aws_lambda_function.this.arn
  event_source_arn = local.event_source_arns[each.key]
  enabled          = var.enabled

  # Changing these two replaces the mapping, which forgets the shard positions.
  starting_position           = var.event_source.starting_position
  starting_position_timestamp = var.event_source.starting_position == "AT_TIMESTAMP" ? var.event_source.starting_position_timestamp : null

  batch_size                         = var.event_source.batch_size
  maximum_batching_window_in_seconds = var.event_source.maximum_batching_window_in_seconds
  parallelization_factor             = var.event_source.parallelization_factor
  maximum_retry_attempts             = var.event_source.maximum_retry_attempts
  maximum_record_age_in_seconds      = var.event_source.maximum_record_age_in_seconds
  bisect_batch_on_function_error     = var.event_source.bisect_batch_on_function_error
  function_response_types            = ["ReportBatchItemFailures"]

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.failures.arn
    }
  }

  tags = var.tags

  # Lambda checks the execution role's permissions when the mapping is created.
  depends_on = [aws_iam_role_policy.this]
}
