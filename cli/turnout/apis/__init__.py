"""Switch the spec's APIs between the environments' endpoints (docs/apis.md).

- `records`: read an API's weighted records from Route 53 (what it answers now).
- `health`: judge the new endpoint's Route 53 health check, and wait until it has stayed
  healthy long enough, with progress.
- `preflight`: read-only checks before a cutover changes anything: the hosted zone, the
  weighted records and the health check exist.

Terraform moves the weights (modules/api-switch, one apply per step); this package only reads.
"""
