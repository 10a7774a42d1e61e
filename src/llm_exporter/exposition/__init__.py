"""Exposition: /metrics over HTTP(S), and the text replay prints."""
