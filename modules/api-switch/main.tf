# Weighted routing: each record answers in proportion to its weight among the records of the same
# name and type (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/routing-policy-weighted.html).
# A zone named by its DNS name: the account's one public hosted zone of that name (the lookup
# fails when none or several match). https://registry.terraform.io/providers/hashicorp/aws/latest/docs/data-sources/route53_zone
data "aws_route53_zone" "by_name" {
  count = var.zone_name == null ? 0 : 1

  name         = var.zone_name
  private_zone = false
}

locals {
  zone_id = var.zone_name == null ? var.zone_id : one(data.aws_route53_zone.by_name[*].zone_id)

  weights = {
    old = 100 - var.new_weight
    new = var.new_weight
  }
}

# https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html
resource "aws_route53_health_check" "new" {
  type              = var.health_check.protocol
  fqdn              = var.health_check.ip_address == null ? var.endpoints.new.target : null
  ip_address        = var.health_check.ip_address
  port              = var.health_check.port
  resource_path     = var.health_check.path
  request_interval  = var.health_check.request_interval
  failure_threshold = var.health_check.failure_threshold

  tags = merge(var.tags, { Name = var.health_check.name })
}

resource "aws_route53_record" "endpoint" {
  for_each = var.endpoints

  zone_id        = local.zone_id
  name           = var.record_name
  type           = "CNAME"
  ttl            = var.ttl
  records        = [each.value.target]
  set_identifier = each.value.set_identifier

  weighted_routing_policy {
    weight = local.weights[each.key]
  }

  health_check_id = each.key == "new" ? aws_route53_health_check.new.id : null
}
