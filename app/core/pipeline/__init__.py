"""Indexing: what changed on disk (scanner, reconcile), and decode -> encode -> commit."""
