"""Benchmarks behind ``arkit bench``: each returns a JSON-ready dict of measurements."""
