"""Kelian's load tests: scenarios run against the relay and baselines, reported as figures."""
