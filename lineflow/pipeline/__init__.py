"""Running the pipeline: the runner over one partition, its stages, backfills over ranges, the
prediction batches and the run's log. Below it: config, sources, HTTP, landing, warehouse, state."""
