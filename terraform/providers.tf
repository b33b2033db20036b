locals {
  # Emulator mode: every endpoint points at the local emulator (moto server).
  emulator = var.aws_endpoint_url != null

  # On the emulator, assuming a role in <account_id> is how moto is told which
  # account to act in (it maps assumed-role credentials to the role's account
  # and does not need the role to exist). Real AWS: the spec's deploy role, if any.
  # A review plan with read-only credentials (turnout plan --read-only) assumes no deploy role.
  provider_role_arn = (
    var.environment.deploy_role_arn != null && var.assume_deploy_role ? var.environment.deploy_role_arn :
    local.emulator ? "arn:aws:iam::${var.environment.account_id}:role/turnout-emulator-deployer" :
    null
  )
}

provider "aws" {
  region = var.environment.region

  # Refuse to touch any other account (old tfvars with new credentials ...).
  # Emulator: the account cannot be looked up (skip_requesting_account_id), so
  # the guard is left to the assumed role above.
  allowed_account_ids = local.emulator ? null : [var.environment.account_id]

  skip_credentials_validation = local.emulator
  skip_requesting_account_id  = local.emulator
  skip_metadata_api_check     = local.emulator ? "true" : null
  skip_region_validation      = local.emulator

  dynamic "assume_role" {
    for_each = local.provider_role_arn == null ? [] : [local.provider_role_arn]

    content {
      role_arn     = assume_role.value
      session_name = "turnout-${var.environment.name}"
    }
  }

  dynamic "endpoints" {
    for_each = local.emulator ? [var.aws_endpoint_url] : []

    content {
      cloudwatch = endpoints.value
      dynamodb   = endpoints.value
      iam        = endpoints.value
      kinesis    = endpoints.value
      kms        = endpoints.value
      lambda     = endpoints.value
      route53    = endpoints.value
      scheduler  = endpoints.value
      logs       = endpoints.value
      sqs        = endpoints.value
      ssm        = endpoints.value
      sts        = endpoints.value
    }
  }
}
