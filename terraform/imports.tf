# Streams built before turnout (by hand, by other tools) come under Terraform by import, not by
# creation: `turnout discover` writes terraform/adopted.json, `turnout render` turns it into
# var.imports of that environment only, so the other environment has no import at all. Once the
# streams are in a state, the import is a no-op and can stay. See docs/discover.md.
import {
  for_each = var.imports
  to       = module.stream[each.key].aws_kinesis_stream.this
  id       = each.value
}
