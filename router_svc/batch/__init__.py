"""Batches: the job payload, the worker and the resumable run file."""
