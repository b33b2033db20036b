data "aws_partition" "current" {}

locals {
  stream_arns = sort([for s in var.target_streams : s.arn])
  key_arns    = sort(distinct(compact([for s in var.target_streams : s.kms_key_arn])))
}

# Trust without ordering: the principal is the peer *account* (always valid),
# narrowed to the peer replicator's role by aws:PrincipalArn and to callers that
# know the external id. A role-ARN principal would fail while the peer role does
# not exist yet, and would silently break when it is recreated.
data "aws_iam_policy_document" "trust" {
  statement {
    sid     = "PeerReplicatorOnly"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${var.peer_account_id}:root"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:PrincipalArn"
      values   = [var.peer_replicator_role_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [var.external_id]
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = var.name
  description          = "turnout: lets the peer environment's replicator write to this account's streams"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = var.max_session_duration

  tags = var.tags
}

data "aws_iam_policy_document" "this" {
  statement {
    sid = "WriteTargetStreams"
    actions = [
      "kinesis:PutRecord",
      "kinesis:PutRecords",
      "kinesis:DescribeStreamSummary",
      "kinesis:ListShards",
    ]
    resources = local.stream_arns
  }

  dynamic "statement" {
    for_each = length(local.key_arns) > 0 ? [1] : []

    content {
      # Writing to a stream encrypted with a customer-managed key needs a data key.
      sid       = "EncryptForTargetStreams"
      actions   = ["kms:GenerateDataKey"]
      resources = local.key_arns
    }
  }

  statement {
    # Second key of the replicator's loop guard: it writes only while this
    # account's active-direction parameter also names its direction.
    sid       = "ReadActiveDirection"
    actions   = ["ssm:GetParameter"]
    resources = [var.direction_parameter_arn]
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "write-target-streams"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}
