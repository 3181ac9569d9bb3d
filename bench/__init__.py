"""Benchmarks: `python -m bench.<name>` (run through nox sessions)."""
