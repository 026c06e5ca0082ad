# capfinder — build, test, demo. Everything a fresh machine needs beyond Go
# (nginx, the independent Parquet reader) is installed by these targets.

GO       ?= go
BIN      := bin/capfinder
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
PKGS     := ./...
READER   := tools/parquet-reader

.PHONY: all build test test-short e2e demo bench bench-search bench-llm lint tools deps-check fuzz clean screenshots

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/capfinder

# The whole suite with the race detector, including the end-to-end tests
# against nginx and the independent Parquet reader, which `tools` installs.
# One package at a time: the end-to-end tests measure a live target and
# must not share the two cores with other packages' tests.
test: tools
	$(GO) vet $(PKGS)
	$(MAKE) deps-check
	$(GO) test -race -p 1 -count=1 -timeout 30m $(PKGS)
	$(MAKE) fuzz

# Every fuzz target (the parsers: SSE, datasets, payload files, bench_desc
# and profiles) for a short budget each, one after another. Go 1.26's
# fuzzing coordinator can fail a target with a bare "context deadline
# exceeded" as its time runs out (golang/go#75804, fixed in Go 1.27): such
# a run, which wrote no failing input, is run once more; any other failure
# fails at once.
FUZZTIME ?= 10s
fuzz:
	@for pkg in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for f in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$pkg/*_test.go); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    for try in 1 2; do \
	      out=$$($(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg 2>&1) && break; \
	      if [ $$try = 1 ] && echo "$$out" | grep -q 'context deadline exceeded' && ! echo "$$out" | grep -q 'Failing input written'; then \
	        echo "  the coordinator's deadline race (golang/go#75804), no failing input: once more"; \
	      else echo "$$out"; exit 1; fi; \
	    done; \
	  done; \
	done

# Unit tests only: no nginx, no node.
test-short:
	$(GO) test -short -count=1 $(PKGS)

demo: build
	$(BIN) demo

# capfinder beside vegeta, hey and wrk on one core each against nginx
# (scripts/bench.sh installs them), after the Go benchmarks, then two
# agents against one process (scripts/bench-fleet.sh). About ten
# minutes; figures in BENCHMARKS.md.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./probe/ ./probe/rundir/store/ ./analysis/
	$(GO) test -count=1 -run TestAutoBeatsBisection -v ./controller/ | grep steps
	./scripts/bench.sh
	./scripts/bench-fleet.sh

# The search's accuracy and load time against simulated targets of known
# capacity (virtual time, about a minute): auto and EAS's scan at its
# defaults, over parameter sets and ten seeds (figures in BENCHMARKS.md).
bench-search:
	CAPFINDER_BENCH_SEARCH=1 $(GO) test -count=1 -run '^TestBenchSearch$$' -v ./controller/ | sed -n 's/^ *|/|/p'

# The LLM acceptance measurement, about 10 minutes: the capacity auto
# finds under a TTFT limit against the simulated replica, checked against
# one-minute fixed-rate runs (figures in BENCHMARKS.md).
bench-llm:
	CAPFINDER_BENCH_LLM=1 $(GO) test -count=1 -run TestLLMAutoMatchesLongFixedRateRuns -v -timeout 40m ./cmd/capfinder/

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(MAKE) deps-check

# Package boundaries (DESIGN.md, section 1): the controller imports only
# the standard library; the probe never imports the controller, analysis
# or plots; the run-directory format imports neither the engine nor the
# controller; analysis never links the engine (nor net/http); the CLI
# drives runs through the runner, never the engine itself.
M := github.com/capfinder/capfinder
deps-check:
	@bad=$$($(GO) list -deps ./controller | grep '\.' | grep -v '^$(M)/controller$$' || true); \
	  if [ -n "$$bad" ]; then echo "controller imports outside the standard library:"; echo "$$bad"; exit 1; fi
	@bad=$$($(GO) list -deps ./probe/... | grep -E 'gonum.org|$(M)/(analysis|plots|controller|cmd)' || true); \
	  if [ -n "$$bad" ]; then echo "probe imports what it must not:"; echo "$$bad"; exit 1; fi
	@bad=$$($(GO) list -deps ./probe/rundir/... | grep -E '^$(M)/(probe|controller|datasets)$$' || true); \
	  if [ -n "$$bad" ]; then echo "the run-directory format imports what it must not:"; echo "$$bad"; exit 1; fi
	@bad=$$($(GO) list -deps ./analysis ./plots | grep -E '^net/http$$|^$(M)/(probe|probe/rundir/store|controller/runner|datasets)$$' || true); \
	  if [ -n "$$bad" ]; then echo "analysis links the engine:"; echo "$$bad"; exit 1; fi
	@bad=$$($(GO) list -f '{{join .Imports "\n"}}' ./cmd/... | grep -E '^$(M)/probe$$' || true); \
	  if [ -n "$$bad" ]; then echo "the CLI drives the engine itself, not through the runner"; exit 1; fi

# Test tools from the package registries: nginx (Debian) for the
# end-to-end tests, chromium (Debian) to render the HTML report, and an
# independent Parquet reader (npm).
tools: $(READER)/node_modules/.installed
	./scripts/install-debian.sh nginx:nginx-light chromium:chromium

# `npm install` honours the lock file; `npm ci` would insist on every
# platform's optional DuckDB binding being resolvable.
$(READER)/node_modules/.installed: $(READER)/package.json $(READER)/package-lock.json
	npm install --prefix $(READER) --no-audit --no-fund --no-save
	touch $@

clean:
	rm -rf bin runs

# The README's pictures of the dashboard (during a manual run, after a
# concurrency set from the page) and of a report, taken by the browser
# tests in headless Chromium.
screenshots: tools
	CAPFINDER_SCREENSHOT=$(CURDIR)/docs/dashboard.png $(GO) test -count=1 -run TestDashboardInChromium ./cmd/capfinder
	CAPFINDER_REPORT_SCREENSHOT=$(CURDIR)/docs/report.png $(GO) test -count=1 -run TestReportRendersInChromium ./cmd/capfinder
