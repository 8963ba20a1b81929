"""Aggregation: settles the recruited experts' answers into one."""
