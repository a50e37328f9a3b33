"""Helpers shipped for tests and benchmarks (not used by the server at run time)."""
