variable "zone_id" {
  description = "The Route 53 hosted zone that holds the API's name (created and owned outside turnout), by id. Give this or zone_name."
  type        = string
  default     = null

  validation {
    condition     = var.zone_id == null || can(regex("^[A-Z0-9]{1,32}$", var.zone_id))
    error_message = "zone_id: a hosted zone id such as Z0123456789ABCDEFGHIJ (without /hostedzone/)."
  }
}

variable "zone_name" {
  description = "The same hosted zone by its DNS name, instead of zone_id: the one public hosted zone of the account with that name (looked up with data \"aws_route53_zone\")."
  type        = string
  default     = null

  validation {
    condition     = (var.zone_name == null) != (var.zone_id == null)
    error_message = "zone_id, zone_name: give exactly one of them (the zone's id, or its DNS name)."
  }

  validation {
    condition     = var.zone_name == null || can(regex("^([A-Za-z0-9-]{1,63}\\.)+[A-Za-z0-9-]{1,63}\\.?$", var.zone_name))
    error_message = "zone_name: a DNS name of two or more labels, e.g. example.com."
  }
}

variable "record_name" {
  description = "The API's DNS name inside the zone; both weighted records carry it."
  type        = string

  validation {
    condition     = can(regex("^([A-Za-z0-9-]{1,63}\\.)+[A-Za-z0-9-]{1,63}\\.?$", var.record_name))
    error_message = "record_name: a DNS name of two or more labels, e.g. api.example.com."
  }
}

variable "ttl" {
  description = "TTL of both records, in seconds: how long resolvers may keep answering the previous weight after a step."
  type        = number
  default     = 60

  validation {
    condition     = var.ttl >= 0 && var.ttl <= 86400
    error_message = "ttl: 0-86400 seconds."
  }
}

variable "endpoints" {
  description = "Each environment's endpoint: the DNS name its weighted CNAME record points at, and the record's set identifier."
  type = object({
    old = object({ target = string, set_identifier = string })
    new = object({ target = string, set_identifier = string })
  })

  validation {
    condition     = var.endpoints.old.set_identifier != var.endpoints.new.set_identifier && var.endpoints.old.target != var.endpoints.new.target
    error_message = "endpoints: old and new need different targets and different set identifiers."
  }
}

variable "new_weight" {
  description = "The new endpoint's share of the answers, in percent; the old endpoint gets the rest (Route 53 weights are relative)."
  type        = number

  validation {
    condition     = var.new_weight >= 0 && var.new_weight <= 100 && floor(var.new_weight) == var.new_weight
    error_message = "new_weight: a whole number of percent, 0-100."
  }
}

variable "health_check" {
  description = "The Route 53 health check of the new endpoint (attached to its record: Route 53 stops answering an unhealthy endpoint while a healthy one has weight). ip_address: probe this address instead of resolving the endpoint."
  type = object({
    name              = string
    protocol          = optional(string, "HTTPS")
    port              = optional(number, 443)
    path              = optional(string, "/")
    ip_address        = optional(string)
    request_interval  = optional(number, 30)
    failure_threshold = optional(number, 3)
  })

  validation {
    condition     = contains(["HTTP", "HTTPS"], var.health_check.protocol) && contains([10, 30], var.health_check.request_interval)
    error_message = "health_check: protocol HTTP or HTTPS; request_interval 10 or 30 seconds."
  }

  validation {
    condition     = var.health_check.failure_threshold >= 1 && var.health_check.failure_threshold <= 10 && startswith(var.health_check.path, "/")
    error_message = "health_check: failure_threshold 1-10; path starting with /."
  }
}

variable "tags" {
  description = "Tags of the health check (records take none)."
  type        = map(string)
  default     = {}
}
