"""AWS access shared by every command: sessions and clients per environment
(`turnout.aws.access`), Kinesis reading (`kinesis`), event source mappings (`mappings`),
CloudWatch metric reads (`cloudwatch`) and error names (`errors`).

Nothing here knows the cutover, the sandbox or Terraform.
"""
