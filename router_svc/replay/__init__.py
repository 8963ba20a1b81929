"""Recorded outcomes: the replay format, the outcome table and the replay engine."""
