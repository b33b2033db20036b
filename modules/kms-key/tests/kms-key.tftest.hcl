# `terraform test` of the module with a mocked provider: no AWS, no emulator.
# Run by tests/integration/test_kms_key_module.py (offline, with the provider mirror).

mock_provider "aws" {
  override_data {
    target = data.aws_caller_identity.current
    values = { account_id = "111111111111" }
  }

  override_data {
    target = data.aws_partition.current
    values = { partition = "aws" }
  }
}

variables {
  description = "Server-side encryption of the Kinesis stream clicks"
  alias_name  = "alias/legacy-clicks-kinesis"
}

# The policies the three modules wrote before they used this module, byte for byte: a root-only
# policy (kinesis-stream, control-plane) and the replicator's with its CloudWatch Logs statement.

run "the_root_delegation_alone_is_the_previous_policy" {
  command = plan

  assert {
    condition = aws_kms_key.this.policy == trimspace(<<-EOT
      {"Statement":[{"Action":"kms:*","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Resource":"*","Sid":"DelegateToAccountIam"}],"Version":"2012-10-17"}
    EOT
    )
    error_message = "the root-only key policy changed: ${aws_kms_key.this.policy}"
  }

  assert {
    condition     = aws_kms_key.this.enable_key_rotation && aws_kms_key.this.deletion_window_in_days == 30
    error_message = "rotation must be on and the deletion window 30 days by default"
  }

  assert {
    condition     = aws_kms_alias.this.name == "alias/legacy-clicks-kinesis"
    error_message = "the alias must be alias_name"
  }
}

run "a_service_statement_is_written_as_the_replicator_wrote_it" {
  command = plan

  variables {
    key_statements = [{
      sid        = "AllowCloudWatchLogsForThisLogGroup"
      principals = [{ type = "Service", identifiers = ["logs.eu-west-1.amazonaws.com"] }]
      actions    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
      conditions = [{
        test     = "ArnEquals"
        variable = "kms:EncryptionContext:aws:logs:arn"
        values   = ["arn:aws:logs:eu-west-1:111111111111:log-group:/aws/lambda/legacy-turnout-replicator-old-to-new"]
      }]
    }]
  }

  assert {
    condition = aws_kms_key.this.policy == trimspace(<<-EOT
      {"Statement":[{"Action":"kms:*","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Resource":"*","Sid":"DelegateToAccountIam"},{"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:Describe*"],"Condition":{"ArnEquals":{"kms:EncryptionContext:aws:logs:arn":"arn:aws:logs:eu-west-1:111111111111:log-group:/aws/lambda/legacy-turnout-replicator-old-to-new"}},"Effect":"Allow","Principal":{"Service":"logs.eu-west-1.amazonaws.com"},"Resource":"*","Sid":"AllowCloudWatchLogsForThisLogGroup"}],"Version":"2012-10-17"}
    EOT
    )
    error_message = "the replicator's key policy changed: ${aws_kms_key.this.policy}"
  }
}

run "several_values_are_lists" {
  command = plan

  variables {
    key_statements = [{
      sid        = "AllowTwoServices"
      principals = [{ type = "Service", identifiers = ["logs.eu-west-1.amazonaws.com", "sns.amazonaws.com"] }]
      actions    = ["kms:Decrypt"]
      conditions = [{ test = "StringEquals", variable = "aws:SourceAccount", values = ["111111111111", "222222222222"] }]
    }]
  }

  assert {
    condition = jsondecode(aws_kms_key.this.policy).Statement[1] == {
      Sid       = "AllowTwoServices"
      Effect    = "Allow"
      Principal = { Service = ["logs.eu-west-1.amazonaws.com", "sns.amazonaws.com"] }
      Action    = "kms:Decrypt"
      Resource  = "*"
      Condition = { StringEquals = { "aws:SourceAccount" = ["111111111111", "222222222222"] } }
    }
    error_message = "several identifiers or values must be lists, one a string"
  }
}

run "a_statement_granting_kms_star_is_refused" {
  command = plan

  variables {
    key_statements = [{
      sid        = "TooMuch"
      principals = [{ type = "Service", identifiers = ["logs.eu-west-1.amazonaws.com"] }]
      actions    = ["kms:*"]
    }]
  }

  expect_failures = [var.key_statements]
}

run "a_statement_that_administers_the_key_is_refused" {
  command = plan

  variables {
    key_statements = [{
      sid        = "Admin"
      principals = [{ type = "AWS", identifiers = ["arn:aws:iam::222222222222:root"] }]
      actions    = ["kms:Decrypt", "kms:PutKeyPolicy"]
    }]
  }

  expect_failures = [var.key_statements]
}

run "a_statement_for_every_principal_is_refused" {
  command = plan

  variables {
    key_statements = [{
      sid        = "Everyone"
      principals = [{ type = "AWS", identifiers = ["*"] }]
      actions    = ["kms:Decrypt"]
    }]
  }

  expect_failures = [var.key_statements]
}

run "the_root_statement_cannot_be_replaced" {
  command = plan

  variables {
    key_statements = [{
      sid        = "DelegateToAccountIam"
      principals = [{ type = "Service", identifiers = ["logs.eu-west-1.amazonaws.com"] }]
      actions    = ["kms:Decrypt"]
    }]
  }

  expect_failures = [var.key_statements]
}

run "an_aws_reserved_alias_is_refused" {
  command = plan

  variables {
    alias_name = "alias/aws/kinesis"
  }

  expect_failures = [var.alias_name]
}

run "a_deletion_window_under_seven_days_is_refused" {
  command = plan

  variables {
    deletion_window_in_days = 5
  }

  expect_failures = [var.deletion_window_in_days]
}

# principal_grants: producers of another account that may only encrypt through Kinesis, for one
# stream (the stream's ARN is Kinesis's encryption context).

run "a_principal_grant_is_a_statement_through_one_service" {
  command = plan

  variables {
    principal_grants = [{
      sid                = "ProducersEncryptThroughKinesis"
      principal_arns     = ["arn:aws:iam::333333333333:role/clickstream-producer"]
      actions            = ["kms:GenerateDataKey"]
      via_service        = "kinesis.eu-west-1.amazonaws.com"
      encryption_context = { "aws:kinesis:arn" = "arn:aws:kinesis:eu-west-1:111111111111:stream/clicks" }
    }]
  }

  assert {
    condition = aws_kms_key.this.policy == trimspace(<<-EOT
      {"Statement":[{"Action":"kms:*","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Resource":"*","Sid":"DelegateToAccountIam"},{"Action":"kms:GenerateDataKey","Condition":{"StringEquals":{"kms:EncryptionContext:aws:kinesis:arn":"arn:aws:kinesis:eu-west-1:111111111111:stream/clicks","kms:ViaService":"kinesis.eu-west-1.amazonaws.com"}},"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::333333333333:role/clickstream-producer"},"Resource":"*","Sid":"ProducersEncryptThroughKinesis"}],"Version":"2012-10-17"}
    EOT
    )
    error_message = "the producers' statement changed: ${aws_kms_key.this.policy}"
  }
}

run "a_principal_grant_to_an_account_root_is_refused" {
  command = plan

  variables {
    principal_grants = [{
      sid            = "WholeAccount"
      principal_arns = ["arn:aws:iam::333333333333:root"]
      actions        = ["kms:GenerateDataKey"]
      via_service    = "kinesis.eu-west-1.amazonaws.com"
    }]
  }

  expect_failures = [var.principal_grants]
}

run "a_principal_grant_reusing_a_statement_sid_is_refused" {
  command = plan

  variables {
    key_statements = [{
      sid        = "Producers"
      principals = [{ type = "Service", identifiers = ["logs.eu-west-1.amazonaws.com"] }]
      actions    = ["kms:Decrypt"]
    }]
    principal_grants = [{
      sid            = "Producers"
      principal_arns = ["arn:aws:iam::333333333333:role/clickstream-producer"]
      actions        = ["kms:GenerateDataKey"]
      via_service    = "kinesis.eu-west-1.amazonaws.com"
    }]
  }

  expect_failures = [var.principal_grants]
}
