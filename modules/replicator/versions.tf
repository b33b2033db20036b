terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.70" # aws_lambda_event_source_mapping.tags (CHANGELOG 5.70.0)
    }
  }
}
