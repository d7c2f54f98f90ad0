"""Failure handling: classification, retries, recovery."""
