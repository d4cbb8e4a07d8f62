"""Benchmarks: timings live here, never in timed asserts."""
