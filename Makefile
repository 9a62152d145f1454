# Developer entry points. The benchmark needs root (it starts a private Postfix) and the
# test extras (pip install -e '.[test]'); see docs/benchmarks.md. `make fuzz` needs the test
# extras too (atheris); see docs/security.md section L.
PYTHON ?= .venv/bin/python
BENCH_ARGS ?=
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= smtp_server client_replies mta_sts dsn_parse rfc822 config_loader tlsrpt_report
FUZZ_WORK ?= .fuzz-work
FUZZ_ARGS ?=

.PHONY: bench bench-quick bench-cluster bench-retention fuzz soak

bench:
	$(PYTHON) -m bench.run $(BENCH_ARGS)

bench-quick:
	$(PYTHON) -m bench.run --quick $(BENCH_ARGS)

# The cluster cases (docs/benchmarks.md, "Cluster"): SQLite with 1 node against PostgreSQL
# with 1 and 2 nodes, and claim_due at 10k and 1M on PostgreSQL. Needs a PostgreSQL server
# (--pg-url, default postgresql://postgres@127.0.0.1:5432/postgres; each run creates and
# drops its own databases), neither root nor Postfix; root reads pg_waldump's WAL figures.
bench-cluster:
	$(PYTHON) -m bench.run --cases cluster $(BENCH_ARGS)

# Each target runs for FUZZ_SECONDS, one after the other (nice'd), starting from its corpus
# in fuzz/corpus/<target>; new inputs go to $(FUZZ_WORK) and only those that reach new code
# are merged back into fuzz/corpus (libFuzzer set-cover merge on edges, which keeps the
# corpus small). The merge re-runs the target script itself, found on PATH through its
# shebang. A crash stops the loop; the input is in $(FUZZ_WORK)/<target>/crash-*.
fuzz:
	@set -e; export PATH="$(abspath $(dir $(PYTHON))):$$PATH"; \
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_WORK)/$$t/new; \
	  dict=""; [ -f fuzz/$$t.dict ] && dict="-dict=fuzz/$$t.dict"; \
	  echo "== fuzz/$$t.py for $(FUZZ_SECONDS) s"; \
	  nice -n 10 $(PYTHON) fuzz/$$t.py -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 \
	    -timeout=20 $$dict -artifact_prefix=$(FUZZ_WORK)/$$t/ $(FUZZ_ARGS) \
	    $(FUZZ_WORK)/$$t/new fuzz/corpus/$$t 2>$(FUZZ_WORK)/$$t/log || \
	    { tail -40 $(FUZZ_WORK)/$$t/log; exit 1; }; \
	  grep -E '^Done ' $(FUZZ_WORK)/$$t/log || true; \
	  nice -n 10 $(PYTHON) fuzz/$$t.py -set_cover_merge=1 -use_counters=0 \
	    fuzz/corpus/$$t $(FUZZ_WORK)/$$t/new 2>$(FUZZ_WORK)/$$t/merge.log; \
	  grep -E 'MERGE-OUTER: [0-9]+ new files' $(FUZZ_WORK)/$$t/merge.log || true; \
	done

# Retention on SQLite (docs/operations.md, "Retention"): days of traffic written, one purge
# round with the defaults, the file's size before and after. No root needed.
bench-retention:
	$(PYTHON) -m bench.retention $(BENCH_ARGS)

# The kill campaign (issue 17, docs/reliability.md): SIGKILL the whole server SOAK_KILLS
# times at random points under SMTP + HTTPS API load with delivery out to a sink, and
# account for every acknowledged message. Needs the test extras; no root. ~2-3 s a kill.
SOAK_KILLS ?= 1000
SOAK_ARGS ?=
soak:
	nice -n 10 $(PYTHON) -m bench.soak --kills $(SOAK_KILLS) --json soak.json $(SOAK_ARGS)
