terraform {
  # 1.10: the S3 backend's lock file (`use_lockfile`; generally available in 1.11, when the
  # DynamoDB lock table was deprecated). 1.9 was needed already: variable validations that refer
  # to other variables (environment vs peer).
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.70.0 is the first release with every argument the modules use: it added `tags` to
      # aws_lambda_event_source_mapping (provider CHANGELOG 5.70.0, #39535). < 6.0: a major
      # release changes schemas (6.0 deprecates `data.aws_region.name`, which modules/replicator
      # reads); move to it deliberately, with a reviewed plan.
      version = ">= 5.70, < 6.0"
    }
  }

  # Remote state, one object per environment. A partial configuration: turnout passes the
  # bucket, the key (<key_prefix>/<env>.tfstate), the region, encryption, the S3 lock file
  # (use_lockfile) and the role that reaches the state in a -backend-config file
  # (turnout.deploy.backend). Local state is an explicit spec choice for experiments, run from a
  # mirror of this root in the work directory (docs/state.md).
  backend "s3" {}
}
