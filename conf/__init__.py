"""lineflow's default configuration, installed as the package `lineflow.conf` (pkg://lineflow.conf)."""
