"""The execution stage: run requests on the expert models.

``plan`` groups a batch of tasks by expert so each model loads once, ``models`` keeps the loaded
models within the memory budget (LRU), ``runner`` executes a batch (grouped, or naive for
benchmarks) with per-task failures and an optional generation cache, and ``microbatch`` gathers
concurrent online requests to one expert into a single ``generate`` call.
"""
