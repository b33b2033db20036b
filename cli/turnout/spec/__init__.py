"""The migration spec: its model, its loader, the phases, and every name derived from it.

`turnout.spec.model` describes and validates; `turnout.spec.loader` reads YAML and words every
problem as one paragraph; `turnout.spec.phases` says what each phase means for the route and the
replication direction; `turnout.spec.names` computes every resource name and ARN;
`turnout.spec.adoption` reads the adoption file `turnout discover` writes.
"""
