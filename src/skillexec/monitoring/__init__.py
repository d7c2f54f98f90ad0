"""Observability: events, metrics, reports."""
