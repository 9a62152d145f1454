# Developer entry points. The benchmark needs root (it starts a private Postfix) and the
# test extras (pip install -e '.[test]'); see docs/benchmarks.md.
PYTHON ?= .venv/bin/python
BENCH_ARGS ?=

.PHONY: bench bench-quick

bench:
	$(PYTHON) -m bench.run $(BENCH_ARGS)

bench-quick:
	$(PYTHON) -m bench.run --quick $(BENCH_ARGS)
