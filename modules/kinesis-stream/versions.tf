terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.32" # aws_kinesis_resource_policy (CHANGELOG 5.32.0)
    }
  }
}
