"""Metrics: the aggregates the contract names, and the collectors that expose them."""
