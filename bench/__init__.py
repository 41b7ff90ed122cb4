"""Benchmarks (``make bench``) and the load test (``make load``) of issue 6; not tests."""
