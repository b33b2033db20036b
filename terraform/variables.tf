# The root's variables are exactly the rendered tfvars (docs/architecture.md,
# "Rendered tfvars"); only aws_endpoint_url is emulator-only.

variable "environment" {
  description = "This environment: name (old | new), AWS account id and region, the prefix of every resource turnout creates, and an optional role the provider assumes to deploy."
  type = object({
    name            = string
    account_id      = string
    region          = string
    name_prefix     = string
    deploy_role_arn = optional(string)
  })

  validation {
    condition     = contains(["old", "new"], var.environment.name)
    error_message = "environment.name must be \"old\" or \"new\"."
  }

  validation {
    condition     = var.environment.name != var.peer.name
    error_message = "environment.name and peer.name must differ (one is old, the other new)."
  }

  validation {
    condition     = can(regex("^[0-9]{12}$", var.environment.account_id))
    error_message = "environment.account_id must be 12 digits."
  }

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.environment.region))
    error_message = "environment.region must be an AWS region name such as eu-west-1."
  }

  validation {
    condition     = can(regex("^([a-z0-9][a-z0-9-]{0,19})?$", var.environment.name_prefix))
    error_message = "environment.name_prefix must be empty or 1-20 characters of [a-z0-9-] starting with a letter or digit."
  }

  validation {
    condition     = var.environment.deploy_role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[a-zA-Z0-9+=,.@_/-]{1,64}$", var.environment.deploy_role_arn))
    error_message = "environment.deploy_role_arn must be null or an IAM role ARN."
  }
}

variable "peer" {
  description = "The other environment: name (old | new), account id, region and resource name prefix. Only used to compute its deterministic ARNs; its state is never read."
  type = object({
    name        = string
    account_id  = string
    region      = string
    name_prefix = string
  })

  validation {
    condition     = contains(["old", "new"], var.peer.name)
    error_message = "peer.name must be \"old\" or \"new\"."
  }

  validation {
    condition     = can(regex("^[0-9]{12}$", var.peer.account_id))
    error_message = "peer.account_id must be 12 digits."
  }

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.peer.region))
    error_message = "peer.region must be an AWS region name such as eu-west-1."
  }

  validation {
    condition     = can(regex("^([a-z0-9][a-z0-9-]{0,19})?$", var.peer.name_prefix))
    error_message = "peer.name_prefix must be empty or 1-20 characters of [a-z0-9-] starting with a letter or digit."
  }
}

variable "migration" {
  description = "The migration: its name (used in resource names and parameter paths) and the declared phase."
  type = object({
    name  = string
    phase = string
  })

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,39}$", var.migration.name))
    error_message = "migration.name must be 1-40 characters of [a-z0-9-] starting with a letter or digit."
  }

  validation {
    condition     = contains(["baseline", "switched", "mirrored", "new-live", "committed", "rolled-back", "decommissioned"], var.migration.phase)
    error_message = "migration.phase must be one of baseline, switched, mirrored, new-live, committed, rolled-back, decommissioned."
  }
}

variable "buffering" {
  description = "Rendered by the cutover engine, never by hand: in the new environment, from the switch until its consumers resume, when its streams began to buffer for them (`since`, RFC 3339 UTC) and the earliest start of a reminder (`not_before`, the render's time plus two minutes). Drives the buffered-retention reminders of modules/monitoring; null outside that window."
  type = object({
    since      = optional(string)
    not_before = optional(string)
  })
  default = {}

  validation {
    condition     = (var.buffering.since == null) == (var.buffering.not_before == null)
    error_message = "buffering.since and buffering.not_before are set together (by the cutover engine) or not at all."
  }
}

variable "streams" {
  description = "The streams of the pipeline, keyed by logical name: the name here and in the peer environment, capacity mode and shards, retention, encryption key and shard-level metrics."
  type = map(object({
    name                = string
    peer_name           = string
    mode                = string
    shard_count         = optional(number)
    retention_hours     = number
    kms_key             = string
    ordering            = optional(string, "strict")
    shard_level_metrics = optional(list(string), [])
    tags                = optional(map(string))
  }))

  validation {
    condition     = length(var.streams) >= 1 || var.migration.phase == "decommissioned"
    error_message = "At least one stream is required (only a decommissioned old environment keeps none)."
  }

  validation {
    condition     = alltrue([for k, _ in var.streams : can(regex("^[a-z0-9][a-z0-9_-]{0,63}$", k))])
    error_message = "Stream keys (logical names) must be 1-64 characters of [a-z0-9_-] starting with a letter or digit."
  }

  validation {
    condition     = alltrue([for s in var.streams : can(regex("^[a-zA-Z0-9_.-]{1,128}$", s.name)) && can(regex("^[a-zA-Z0-9_.-]{1,128}$", s.peer_name))])
    error_message = "Stream names (name, peer_name) must be 1-128 characters of [a-zA-Z0-9_.-]."
  }

  validation {
    condition     = length(distinct([for s in var.streams : s.name])) == length(var.streams) && length(distinct([for s in var.streams : s.peer_name])) == length(var.streams)
    error_message = "Stream names must be unique, here and in the peer environment."
  }

  validation {
    condition     = alltrue([for s in var.streams : contains(["strict", "relaxed"], s.ordering)])
    error_message = "Stream ordering must be strict or relaxed (docs/replicator.md, Ordering)."
  }

  validation {
    condition     = alltrue([for s in var.streams : contains(["PROVISIONED", "ON_DEMAND"], s.mode)])
    error_message = "Stream mode must be PROVISIONED or ON_DEMAND."
  }

  validation {
    condition = alltrue([
      for s in var.streams : (
        s.mode == "PROVISIONED"
        ? (s.shard_count != null && try(s.shard_count >= 1 && floor(s.shard_count) == s.shard_count, false))
        : s.shard_count == null
      )
    ])
    error_message = "shard_count must be a whole number >= 1 for PROVISIONED streams and null for ON_DEMAND streams."
  }

  validation {
    condition     = alltrue([for s in var.streams : s.retention_hours >= 24 && s.retention_hours <= 8760 && floor(s.retention_hours) == s.retention_hours])
    error_message = "retention_hours must be a whole number between 24 and 8760."
  }

  validation {
    condition = alltrue([
      for s in var.streams :
      contains(["customer_managed", "aws_managed"], s.kms_key) || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-zA-Z0-9-]+$", s.kms_key))
    ])
    error_message = "kms_key must be \"customer_managed\", \"aws_managed\" or a KMS key ARN."
  }
}

variable "replication" {
  description = "The replicator: which direction is active (derived from the phase), whether it is deployed at all (false once decommissioned: the replicator, writer role and monitoring are removed), the external id of the cross-account writer roles, event source mapping and function settings, and the deployment package."
  type = object({
    active_direction                   = string
    deployed                           = optional(bool, true)
    external_id                        = string
    batch_size                         = number
    maximum_batching_window_in_seconds = number
    parallelization_factor             = number
    maximum_retry_attempts             = number
    maximum_record_age_in_seconds      = number
    bisect_batch_on_function_error     = bool
    starting_position                  = string
    starting_position_timestamp        = optional(string)
    reserved_concurrency               = optional(number)
    timeout_seconds                    = number
    memory_mb                          = number
    enhanced_fanout                    = bool
    log_retention_days                 = number
    package = object({
      path   = string
      sha256 = string
    })
  })

  validation {
    condition     = contains(["none", "old_to_new", "new_to_old"], var.replication.active_direction)
    error_message = "replication.active_direction must be none, old_to_new or new_to_old (never both: that is an infinite loop)."
  }

  validation {
    condition     = can(regex("^[a-zA-Z0-9+=,.@:/-]+$", var.replication.external_id)) && length(var.replication.external_id) >= 2 && length(var.replication.external_id) <= 1224
    error_message = "replication.external_id must be 2-1224 characters of [a-zA-Z0-9+=,.@:/-]."
  }

  validation {
    condition     = var.replication.batch_size >= 1 && var.replication.batch_size <= 10000
    error_message = "replication.batch_size must be between 1 and 10000."
  }

  validation {
    condition     = var.replication.maximum_batching_window_in_seconds >= 0 && var.replication.maximum_batching_window_in_seconds <= 300
    error_message = "replication.maximum_batching_window_in_seconds must be between 0 and 300."
  }

  validation {
    condition     = var.replication.parallelization_factor >= 1 && var.replication.parallelization_factor <= 10
    error_message = "replication.parallelization_factor must be between 1 and 10."
  }

  validation {
    condition     = var.replication.maximum_retry_attempts >= -1 && var.replication.maximum_retry_attempts <= 10000
    error_message = "replication.maximum_retry_attempts must be between -1 (until the record expires) and 10000."
  }

  validation {
    condition     = var.replication.maximum_record_age_in_seconds == -1 || (var.replication.maximum_record_age_in_seconds >= 60 && var.replication.maximum_record_age_in_seconds <= 604800)
    error_message = "replication.maximum_record_age_in_seconds must be -1 or between 60 and 604800."
  }

  validation {
    condition     = contains(["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"], var.replication.starting_position)
    error_message = "replication.starting_position must be TRIM_HORIZON, LATEST or AT_TIMESTAMP."
  }

  validation {
    condition = (
      var.replication.starting_position == "AT_TIMESTAMP"
      ? can(formatdate("YYYY", var.replication.starting_position_timestamp))
      : var.replication.starting_position_timestamp == null
    )
    error_message = "replication.starting_position_timestamp must be an RFC 3339 timestamp with AT_TIMESTAMP and null otherwise."
  }

  validation {
    condition     = (var.replication.reserved_concurrency == null || try(var.replication.reserved_concurrency >= 1, false)) && var.replication.timeout_seconds >= 1 && var.replication.timeout_seconds <= 900 && var.replication.memory_mb >= 128 && var.replication.memory_mb <= 10240
    error_message = "replication.reserved_concurrency must be null (no reservation) or >= 1, timeout_seconds 1..900 and memory_mb 128..10240."
  }

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.replication.log_retention_days)
    error_message = "replication.log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ... 3653)."
  }

  validation {
    condition     = endswith(var.replication.package.path, ".zip") && can(regex("^[A-Za-z0-9+/]{43}=$", var.replication.package.sha256))
    error_message = "replication.package.path must be a .zip and package.sha256 its base64-encoded SHA-256."
  }
}

variable "read_across" {
  description = "Replication mode read-across (docs/read-across.md). In the old environment: the state of the old Lambda consumers' event source mappings on the new streams (absent, enabled or disabled) and, per \"<function>/<stream>\", the function, the new stream's ARN and the mapping's batch settings (those of the consumer's own mappings). In the new environment: the consumers' execution roles its streams' resource policy lets read. Copy mode: absent and empty."
  type = object({
    state = optional(string, "absent")
    mappings = optional(map(object({
      function_name              = string
      stream_arn                 = string
      batch_size                 = optional(number, 100)
      batching_window_seconds    = optional(number, 0)
      report_batch_item_failures = optional(bool, false)
      bisect_on_error            = optional(bool, false)
    })), {})
    reader_role_arns = optional(list(string), [])
  })
  default = {}

  validation {
    condition     = contains(["absent", "enabled", "disabled"], var.read_across.state)
    error_message = "read_across.state must be absent, enabled or disabled."
  }

  validation {
    condition     = alltrue([for m in values(var.read_across.mappings) : can(regex("^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:[0-9]{12}:stream/[a-zA-Z0-9_.-]{1,128}$", m.stream_arn))])
    error_message = "read_across.mappings[*].stream_arn must be Kinesis stream ARNs."
  }

  validation {
    condition     = alltrue([for m in values(var.read_across.mappings) : m.batch_size >= 1 && m.batch_size <= 10000 && m.batching_window_seconds >= 0 && m.batching_window_seconds <= 300])
    error_message = "read_across.mappings[*]: batch_size must be 1-10000 and batching_window_seconds 0-300."
  }

  validation {
    condition     = alltrue([for arn in var.read_across.reader_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", arn))])
    error_message = "read_across.reader_role_arns must be IAM role ARNs (Kinesis resource policies take no wildcard principal)."
  }
}

variable "route" {
  description = "The producer route: whether its SSM parameters live in this environment, their names, the environment they point to, and the exact value (compact JSON)."
  type = object({
    managed_here = bool
    parameters   = list(string)
    target       = string
    value        = string
  })

  validation {
    condition     = contains(["old", "new"], var.route.target)
    error_message = "route.target must be \"old\" or \"new\"."
  }

  validation {
    condition     = !var.route.managed_here || (length(var.route.parameters) >= 1 && can(jsondecode(var.route.value)))
    error_message = "A route managed here needs at least one parameter name and a JSON value."
  }
}

variable "producers" {
  description = "Identities that write the streams from wherever they run, other accounts included (the spec's producers): name, account id, IAM role/user ARNs, and the logical streams each writes. Each stream gets a resource policy admitting its producers, each customer-managed stream key a statement letting them encrypt through Kinesis, and the route table (where the route lives) a policy letting all of them read the route. Empty (the default): none of these."
  type = list(object({
    name           = string
    account_id     = string
    principal_arns = list(string)
    streams        = list(string)
  }))
  default = []

  validation {
    condition = alltrue([
      for p in var.producers : can(regex("^[0-9]{12}$", p.account_id)) && length(p.principal_arns) >= 1 && alltrue([
        for arn in p.principal_arns : can(regex("^arn:aws[a-z-]*:iam::${p.account_id}:(role|user)/[a-zA-Z0-9+=,.@_/-]+$", arn))
      ])
    ])
    error_message = "producers: each needs a 12-digit account_id and at least one IAM role or user ARN of that account in principal_arns."
  }

  validation {
    condition     = alltrue([for p in var.producers : alltrue([for s in p.streams : contains(keys(var.streams), s)])])
    error_message = "producers: every stream a producer writes must be a logical stream declared in streams."
  }
}

variable "control_plane" {
  description = "Whether the cutover state and lock tables live in this environment."
  type = object({
    managed_here = bool
  })
}

variable "monitoring" {
  description = "CloudWatch alarms and dashboard of this environment (modules/monitoring): statistic period and evaluation periods, thresholds of replication lag, replicator throttles and consumer iterator age, the consumers that live here (Lambda function names, KCL application names), and the SNS topics notified on alarm and on OK."
  type = object({
    period_seconds                     = number
    evaluation_periods                 = number
    replication_lag_threshold_ms       = number
    replicator_throttles_threshold     = number
    consumer_iterator_age_threshold_ms = number
    lambda_consumers                   = list(string)
    kcl_consumers                      = list(string)
    alarm_actions                      = list(string)
    ok_actions                         = list(string)
  })

  validation {
    condition     = var.monitoring.period_seconds >= 60 && var.monitoring.period_seconds % 60 == 0 && var.monitoring.evaluation_periods >= 1
    error_message = "monitoring.period_seconds must be a multiple of 60 (>= 60) and monitoring.evaluation_periods >= 1."
  }

  validation {
    condition     = var.monitoring.replication_lag_threshold_ms > 0 && var.monitoring.replicator_throttles_threshold > 0 && var.monitoring.consumer_iterator_age_threshold_ms > 0
    error_message = "monitoring thresholds (replication_lag_threshold_ms, replicator_throttles_threshold, consumer_iterator_age_threshold_ms) must be > 0."
  }
}

variable "tags" {
  description = "Tags applied to every resource turnout creates."
  type        = map(string)
  default     = {}
}

variable "aws_endpoint_url" {
  description = "Emulator only: URL of the local AWS emulator (e.g. http://127.0.0.1:5000). null (the default) means real AWS."
  type        = string
  default     = null

  validation {
    condition     = var.aws_endpoint_url == null || can(regex("^https?://", var.aws_endpoint_url))
    error_message = "aws_endpoint_url must be null or an http(s) URL."
  }
}

variable "imports" {
  description = "Streams that already exist in this environment and are imported rather than created: logical name => the stream's name (the aws_kinesis_stream import id). Rendered from terraform/adopted.json, written by `turnout discover`; empty (the default) for every environment turnout builds itself."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, _ in var.imports : contains(keys(var.streams), k)])
    error_message = "Every key of imports must be a logical stream name declared in streams."
  }
}

variable "assume_deploy_role" {
  description = "Whether the provider assumes environment.deploy_role_arn. false only for a review plan made with read-only credentials (turnout plan --read-only), which acts with the credentials at hand and is never applied."
  type        = bool
  default     = true
  nullable    = false
}

variable "apis" {
  description = "The spec's APIs whose hosted zone is in this environment (docs/apis.md), by name: the zone (zone_id, or zone_name: its DNS name), record, each environment's endpoint and set identifier, the new endpoint's weight in percent (from the posture) and its health check. Empty (the default): none."
  type = map(object({
    zone_id     = optional(string)
    zone_name   = optional(string)
    record_name = string
    ttl         = number
    endpoints = object({
      old = object({ target = string, set_identifier = string })
      new = object({ target = string, set_identifier = string })
    })
    new_weight = number
    health_check = object({
      name              = string
      protocol          = string
      port              = number
      path              = string
      ip_address        = optional(string)
      request_interval  = number
      failure_threshold = number
    })
  }))
  default = {}

  validation {
    condition     = alltrue([for a in var.apis : a.new_weight >= 0 && a.new_weight <= 100])
    error_message = "apis: new_weight is a percent, 0-100."
  }

  validation {
    condition     = alltrue([for a in var.apis : (a.zone_id == null) != (a.zone_name == null)])
    error_message = "apis: each API gives exactly one of zone_id and zone_name."
  }
}
