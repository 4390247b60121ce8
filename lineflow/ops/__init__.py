"""Operating the pipeline: `lineflow serve`'s triggers (validated messages that run stages under
the same locks and queues) and the repairs `lineflow doctor fix=true` makes through the runner."""
