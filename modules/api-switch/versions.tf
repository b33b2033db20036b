terraform {
  required_version = ">= 1.9" # a variable's validation reads another variable (zone_id, zone_name)

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}
