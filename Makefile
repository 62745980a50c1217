# Reckon: the nightly pipeline and its checks.
#   make nightly [INPUT=Samples] [OUTPUT=out] [PERIOD=YYYY-MM]   extract → transform → reconcile → load
#   make test                                                     Swift tests + FOCUS conformance
#   make conformance                                              official focus-validator (1.2 + 1.3) on OUTPUT
#   make bench                                                    extractor throughput and peak RSS on 1M generated rows
#   make bench-e2e [BENCH_ROWS=10000000]                          extract + transform vs DuckDB in SQL, outputs compared
#   make bench-instructions                                       transform's instructions per record (callgrind; steady where wall time drifts)
#   make deps                                                     install missing system packages
#   make clean
# Each stage is a Make target keyed on its inputs: a stage whose inputs did not change is skipped.

SHELL := /bin/bash
.DEFAULT_GOAL := nightly

INPUT  ?= Samples
OUTPUT ?= out
PERIOD ?=

SWIFT        ?= swift
RELEASE_BIN  := .build/release
STAGING      := $(OUTPUT)/staging
PERIOD_ARG   := $(if $(PERIOD),--period $(PERIOD),)
STAGE_ARGS   := --input $(INPUT) --output $(OUTPUT) $(PERIOD_ARG)
INPUT_FILES  := $(shell find $(INPUT) -type f -not -name '.*' 2>/dev/null | LC_ALL=C sort)
JOBS         := reckon-extract reckon-transform reckon-reconcile reckon-load

.PHONY: browser nightly test conformance deps clean build-release build-debug swift-test bench bench-e2e bench-instructions close reopen verify FORCE

# ---------------------------------------------------------------------------------------------
# System packages: libxml2 and zlib headers, found through pkg-config.
deps:
	@missing=""; \
	command -v pkg-config >/dev/null 2>&1 || missing="$$missing pkg-config"; \
	if command -v pkg-config >/dev/null 2>&1; then \
	  pkg-config --exists libxml-2.0 || missing="$$missing libxml2-dev"; \
	  pkg-config --exists zlib || missing="$$missing zlib1g-dev"; \
	fi; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "deps: installing$$missing" >&2; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >&2 || \
	      { echo "deps: apt-get failed; install by hand: apt-get install$$missing" >&2; exit 1; }; \
	  else \
	    echo "deps: missing system packages; run as root: apt-get install$$missing" >&2; exit 1; \
	  fi; \
	fi
	@command -v $(SWIFT) >/dev/null 2>&1 || { echo "deps: the Swift toolchain (swift) is not on PATH; install Swift 6 from swift.org" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# The nightly job (release build).
# swift build relinks only what changed, so the job binaries keep their timestamps and the
# stage rules below rerun only when a job or its inputs really changed.
build-release: deps
	$(SWIFT) build -c release

# The parameters a run depends on besides its input files; rewritten only when they change.
$(STAGING)/.params: FORCE
	@mkdir -p $(STAGING)
	@echo "INPUT=$(INPUT) PERIOD=$(PERIOD)" | cmp -s - $@ || echo "INPUT=$(INPUT) PERIOD=$(PERIOD)" > $@

$(STAGING)/extract/manifest.json: $(INPUT_FILES) $(RELEASE_BIN)/reckon-extract $(STAGING)/.params
	$(RELEASE_BIN)/reckon-extract $(STAGE_ARGS)

$(STAGING)/transform/manifest.json: $(STAGING)/extract/manifest.json $(INPUT_FILES) $(RELEASE_BIN)/reckon-transform
	$(RELEASE_BIN)/reckon-transform $(STAGE_ARGS)

$(STAGING)/reconcile/manifest.json: $(STAGING)/transform/manifest.json $(RELEASE_BIN)/reckon-reconcile
	$(RELEASE_BIN)/reckon-reconcile $(STAGE_ARGS)

$(STAGING)/load/manifest.json: $(STAGING)/reconcile/manifest.json $(RELEASE_BIN)/reckon-load
	$(RELEASE_BIN)/reckon-load $(STAGE_ARGS)

# One nightly at a time per output folder (flock, from util-linux, when it is there); each stage
# also locks the folder itself, and a second run exits 75.
NIGHTLY_LOCK := $(if $(shell command -v flock 2>/dev/null),flock -n -E 75 $(OUTPUT)/.nightly.lock,)

nightly: build-release
	@mkdir -p $(OUTPUT)
	@$(NIGHTLY_LOCK) $(MAKE) --no-print-directory $(STAGING)/load/manifest.json || { rc=$$?; \
	  if [ $$rc = 75 ]; then echo "nightly: another run is using $(OUTPUT); try again when it has finished" >&2; fi; exit $$rc; }
	@echo "nightly: outputs in $(OUTPUT)/focus and $(OUTPUT)/reports" >&2

# ---------------------------------------------------------------------------------------------
# Tests: the Swift suite (unit + end-to-end on the built jobs), then conformance of the nightly
# output on Samples with the official validator.
build-debug: deps
	$(SWIFT) build

swift-test: build-debug browser
	$(SWIFT) test

# Headless Chromium renders reports/…/index.html in a test; installed for tests only, never for
# the nightly. Without it that one test is skipped, and this says so.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "deps: installing chromium (headless, for the index.html test)" >&2; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 || \
	      echo "deps: could not install chromium: the browser test of index.html will be SKIPPED (apt-get install chromium)" >&2; \
	  else \
	    echo "deps: chromium is not installed: the browser test of index.html will be SKIPPED (run as root: apt-get install chromium)" >&2; \
	  fi; }

test: swift-test
	@$(MAKE) --no-print-directory nightly INPUT=Samples OUTPUT=out
	@$(MAKE) --no-print-directory conformance OUTPUT=out
	@$(MAKE) --no-print-directory nightly INPUT=Tests/ConformanceInput OUTPUT=out-conformance
	@$(MAKE) --no-print-directory conformance OUTPUT=out-conformance

conformance:
	scripts/conformance.sh $(OUTPUT)

# Month-end: close PERIOD=YYYY-MM [ACCEPT="reason"], reopen PERIOD=… REASON=…, verify PERIOD=….
close: build-release
	@test -n "$(PERIOD)" || { echo "close: give PERIOD=YYYY-MM" >&2; exit 64; }
	$(RELEASE_BIN)/reckon-load close --input $(INPUT) --output $(OUTPUT) --period $(PERIOD) $(if $(ACCEPT),--accept "$(ACCEPT)",)

reopen: build-release
	@test -n "$(PERIOD)" && test -n "$(REASON)" || { echo "reopen: give PERIOD=YYYY-MM REASON=\"…\"" >&2; exit 64; }
	$(RELEASE_BIN)/reckon-load reopen --input $(INPUT) --output $(OUTPUT) --period $(PERIOD) --reason "$(REASON)"

verify: build-release
	@test -n "$(PERIOD)" || { echo "verify: give PERIOD=YYYY-MM" >&2; exit 64; }
	$(RELEASE_BIN)/reckon-load verify --input $(INPUT) --output $(OUTPUT) --period $(PERIOD)
	$(RELEASE_BIN)/reckon-load verify-audit --output $(OUTPUT)

# Benchmarks (not tests): throughput and peak memory of the jobs on generated data.
bench: deps
	scripts/bench.sh

bench-e2e: deps
	scripts/bench_e2e.sh

bench-instructions: deps
	scripts/bench_instructions.sh

clean:
	rm -rf out out-conformance .build .build-bench-data
