"""Benchmarks: strategy maths, metrics and reports over per-question, per-expert outcomes.

The replay bench (``router-svc bench --replay FILE``) reads recorded outcomes
(:mod:`router_svc.replay.data`), routes the test split with every strategy
(:mod:`router_svc.evaluation.strategies`; the registered routing methods through
:mod:`router_svc.evaluation.improved`) and writes the report
(:mod:`router_svc.evaluation.report`). Nothing here imports a model at import time.
"""
