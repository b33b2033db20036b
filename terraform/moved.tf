# The replicator, its writer role and the monitoring became optional (count) so that a
# decommissioned environment removes them; an environment applied before keeps them in place.
moved {
  from = module.replicator
  to   = module.replicator[0]
}

moved {
  from = module.writer_role
  to   = module.writer_role[0]
}

moved {
  from = module.monitoring
  to   = module.monitoring[0]
}
