"""Benchmarks of the bridge against its peers: run them with ``python -m benchmarks``."""
