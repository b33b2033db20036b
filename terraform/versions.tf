terraform {
  # 1.9: variable validations that refer to other variables (environment vs peer).
  required_version = ">= 1.9"

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

  # Local state, one per workspace (old / new). turnout passes
  # -backend-config=workspace_dir=... ; teams replace this with a remote backend.
  backend "local" {}
}
