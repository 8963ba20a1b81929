"""Profiling: runs experts on validation questions, builds profiles, picks the aggregator."""
