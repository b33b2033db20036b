terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.43" # aws_dynamodb_resource_policy (CHANGELOG 5.43.0)
    }
  }
}
