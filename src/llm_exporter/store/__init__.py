"""Store: the aggregates the pipeline fills and the exporter's health counters, read by the
metrics collectors at scrape time (below both, so that neither imports the other)."""
