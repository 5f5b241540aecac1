"""Kelian control plane."""
