"""Benchmarks of the course library (run as modules: python -m benchmarks.gpt_cpu)."""
