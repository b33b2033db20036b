terraform {
  # 1.9: variable validations that refer to other variables (environment vs peer).
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
    }
  }

  # Local state, one per workspace (old / new). turnout passes
  # -backend-config=workspace_dir=... ; teams replace this with a remote backend.
  backend "local" {}
}
