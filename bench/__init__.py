"""Benchmarks (issue 6)."""
