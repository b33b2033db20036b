output "zone_id" {
  description = "The hosted zone that holds the records (zone_id, or the zone found by zone_name)."
  value       = try(local.zone_id, null)
}

output "weights" {
  description = "The weight of each environment's record (old, new)."
  value       = try(local.weights, null)
}

output "health_check_id" {
  description = "The new endpoint's Route 53 health check."
  value       = try(aws_route53_health_check.new.id, null)
}

output "records" {
  description = "Per environment: the record's set identifier and the endpoint it answers."
  value = try({
    for k, r in aws_route53_record.endpoint : k => {
      set_identifier = r.set_identifier
      target         = one(r.records)
    }
  }, {})
}
