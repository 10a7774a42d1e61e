"""Metrics: the collectors that turn the store into the contract's metric families at scrape time."""
