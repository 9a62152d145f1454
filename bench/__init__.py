"""Sealpost's benchmark harness (issue 6): the same load generator against Sealpost and Postfix.

Run it from the repository root with ``make bench`` or ``python -m bench.run --help``; the
cases, the durability rules and a first table are in ``docs/benchmarks.md``.
"""
