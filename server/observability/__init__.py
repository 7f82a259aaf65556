"""Seeing what the server does: request ids, logs (and metrics)."""
