# statestore-perf: the two commands a person types are `make perf-gate` and `make test`.
# Every target installs what it needs first (tools/setup.sh), so a fresh Debian 12
# machine needs nothing but `git clone` before them.
#
#   make perf-gate [PROFILE=quick|full|tiny|instructions] [BASE=<git ref>] [GATE_ARGS=...]
#                  (= tools/perf-gate, which exits with the gate's exact code)
#   make test
#   make perf-baseline [PROFILE=...]   write baselines/<profile>.json for review
#   make perf-trends [HISTORY=...]     reports/trends.html + changes.json from the run history
#   make bench | report | perf-gate-selftest | clean
#   make fuzz [FUZZ_SECONDS=120] [FUZZ_ARGS=...]   libFuzzer over the mmap store's Open (clang)

PROFILE ?= quick
BASE ?=
BUILD_DIR ?= build
REPORT_DIR ?= reports
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PYTHON := /usr/bin/python3
GATE := PYTHONPATH=tools $(PYTHON) -m perfgate
BENCHRUN := PYTHONPATH=tools $(PYTHON) -m benchrun
GATE_ARGS ?=
SELFTEST_ARGS ?=
HISTORY ?= $(REPORT_DIR)/history.sqlite
TRENDS_ARGS ?=

RELEASE_DIR := $(BUILD_DIR)/release
ASAN_DIR := $(BUILD_DIR)/asan
# libFuzzer over the mmap store's Open (make fuzz; not part of make test).
FUZZ_DIR := $(BUILD_DIR)/fuzz
FUZZ_SECONDS ?= 120
FUZZ_ARGS ?=
# A state_bench whose state_get_inmemory/1000 is made 30% slower by the benchmark-side
# STATESTORE_BENCH_SLOWDOWN option: the regression tools/perf-gate's end-to-end test must catch.
SLOW_DIR := $(BUILD_DIR)/test-slowdown
SLOW_SETTING := ^state_get_inmemory/1000$$:30
STATE_BENCH := $(RELEASE_DIR)/benches/state_bench
STATE_INSTR := $(RELEASE_DIR)/benches/state_instr
RESULTS := $(REPORT_DIR)/results-$(PROFILE).json
BASELINE := baselines/$(PROFILE).json

.PHONY: all setup setup-test build build-asan build-slowdown build-profile test test-cpp test-python lint lint-cpp lint-workflow \
        bench perf-gate perf-baseline report perf-gate-selftest perf-trends fuzz clean

all: build

setup:
	@tools/setup.sh build

setup-test:
	@tools/setup.sh test

# CMake re-runs itself when a CMakeLists.txt changes; configure only once here.
$(RELEASE_DIR)/CMakeCache.txt: | setup
	@echo "== configure Release ($(RELEASE_DIR))"
	@cmake -S . -B $(RELEASE_DIR) -DCMAKE_BUILD_TYPE=Release >/dev/null

$(ASAN_DIR)/CMakeCache.txt: | setup
	@echo "== configure ASan/UBSan ($(ASAN_DIR))"
	@cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DSTATESTORE_SANITIZE=ON \
	  -DSTATESTORE_BUILD_PEERS=OFF >/dev/null

build: $(RELEASE_DIR)/CMakeCache.txt
	@echo "== build Release"
	@cmake --build $(RELEASE_DIR) -j$(JOBS) -- --no-print-directory | grep -vE '^\[ *[0-9]+%\] (Building|Linking|Built target)' || true
	@test -x $(STATE_BENCH) || { echo "build failed" >&2; exit 1; }
	@cmake --build $(RELEASE_DIR) -j$(JOBS) >/dev/null

$(SLOW_DIR)/CMakeCache.txt: | setup
	@echo "== configure the slowed state_bench of the end-to-end test ($(SLOW_DIR))"
	@cmake -S . -B $(SLOW_DIR) -DCMAKE_BUILD_TYPE=Release -DSTATESTORE_BUILD_TESTS=OFF \
	  -DSTATESTORE_BUILD_PEERS=OFF '-DSTATESTORE_BENCH_SLOWDOWN=$(SLOW_SETTING)' >/dev/null

build-slowdown: $(SLOW_DIR)/CMakeCache.txt
	@echo "== build the slowed state_bench"
	@cmake --build $(SLOW_DIR) -j$(JOBS) --target state_bench >/dev/null

build-asan: $(ASAN_DIR)/CMakeCache.txt
	@echo "== build ASan/UBSan"
	@cmake --build $(ASAN_DIR) -j$(JOBS) >/dev/null

# libFuzzer needs clang (Debian's clang package); the library is built with
# coverage and ASan/UBSan. The corpus (seeds from the structured mutation
# suite, then whatever libFuzzer keeps) lives in $(FUZZ_DIR)/corpus across
# runs; a crash or contract violation is saved under $(FUZZ_DIR)/findings/.
$(FUZZ_DIR)/CMakeCache.txt: | setup
	@command -v clang++ >/dev/null || { echo "make fuzz needs clang++ (apt-get install clang)" >&2; exit 2; }
	@echo "== configure the libFuzzer build ($(FUZZ_DIR), clang++)"
	@cmake -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DSTATESTORE_FUZZ=ON \
	  -DSTATESTORE_BUILD_TESTS=OFF -DSTATESTORE_BUILD_BENCHES=OFF >/dev/null

fuzz: $(FUZZ_DIR)/CMakeCache.txt
	@echo "== build mmap_open_fuzzer"
	@cmake --build $(FUZZ_DIR) -j$(JOBS) >/dev/null
	@mkdir -p $(FUZZ_DIR)/corpus $(FUZZ_DIR)/findings
	@$(FUZZ_DIR)/core/tests/fuzz/mmap_fuzz_corpus $(FUZZ_DIR)/corpus
	@echo "== mmap_open_fuzzer for $(FUZZ_SECONDS) s"
	@$(FUZZ_DIR)/core/tests/fuzz/mmap_open_fuzzer -max_total_time=$(FUZZ_SECONDS) -timeout=30 -rss_limit_mb=4096 \
	  -max_len=65536 -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/findings/ $(FUZZ_ARGS) $(FUZZ_DIR)/corpus

test: setup-test
	@$(MAKE) --no-print-directory lint test-cpp test-python lint-workflow
	@echo "== make test: all suites passed"

test-cpp: build build-asan
	@echo "== ctest Release"
	@ctest --test-dir $(RELEASE_DIR) --output-on-failure -j$(JOBS)
	@echo "== ctest ASan/UBSan"
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_DIR) --output-on-failure -j$(JOBS)

test-python: build build-slowdown
	@echo "== pytest"
	@STATE_BENCH=$(abspath $(STATE_BENCH)) STATE_INSTR=$(abspath $(STATE_INSTR)) \
	  STATE_BENCH_SLOW=$(abspath $(SLOW_DIR)/benches/state_bench) PYTHONPATH=tools $(PYTHON) -m pytest -q -p no:cacheprovider tools/tests

# flake8 (settings in .flake8) and mypy (pyproject.toml) over tools/, and the function shape
# (tools/lint/shape.py: no function over 60 lines or 6 parameters outside tools/tests).
# SHAPE_ALLOW: functions over the limits whose owner splits them in a branch not landed yet, as
# --allow FILE:FUNCTION; remove each one when it lands (shape.py names a stale one). None now.
SHAPE_ALLOW ?=
lint: setup-test lint-cpp
	@echo "== lint tools/ (flake8, mypy, function shape)"
	@$(PYTHON) -m flake8 tools
	@MYPYPATH=tools $(PYTHON) -m mypy --no-error-summary
	@$(PYTHON) tools/lint/shape.py tools $(SHAPE_ALLOW)

# C++: every file in core/ and benches/ formatted as .clang-format says (clang-format --dry-run
# --Werror: the first difference fails), and the C++ outside the tests (core/src, benches) within
# clang-tidy's readability-function-size (.clang-tidy: no function over 60 lines or 6 parameters),
# compiled as the Release configuration's compile_commands.json says: 12 s on 2 idle cores, 27 s at load 5.
CPP_FILES = $(shell find core benches -name '*.cc' -o -name '*.h')
CPP_SOURCES = $(wildcard core/src/*.cc benches/*.cc)
lint-cpp: setup-test $(RELEASE_DIR)/CMakeCache.txt
	@echo "== lint C++ (clang-format, clang-tidy function size)"
	@clang-format --dry-run --Werror $(CPP_FILES)
	@printf '%s\n' $(CPP_SOURCES) | xargs -P$(JOBS) -n1 clang-tidy -p $(RELEASE_DIR) --quiet 2>/dev/null

lint-workflow:
	@echo "== lint .github/workflows"
	@cd tools/workflow-lint && npm ci --silent --no-audit --no-fund >/dev/null 2>&1 || npm ci --no-audit --no-fund
	@for f in .github/workflows/*.yml; do \
	  tools/workflow-lint/node_modules/.bin/action-validator "$$f" || exit 1; echo "   ok $$f"; done

# PROFILE=instructions: instructions per operation of the small-working-set
# workloads under callgrind (state_instr), judged at 2% against
# baselines/instructions.json; deterministic, so it holds on a noisy machine.
ifeq ($(PROFILE),instructions)
bench: build
	@mkdir -p $(REPORT_DIR)
	@echo "== state_instr under callgrind -> $(RESULTS) (about 2 minutes)"
	@$(BENCHRUN) instr --bench $(STATE_INSTR) --out $(RESULTS)
else
bench: build
	@mkdir -p $(REPORT_DIR)
	@echo "== state_bench --profile=$(PROFILE) -> $(RESULTS)"
	@$(BENCHRUN) single --bench $(STATE_BENCH) --profile $(PROFILE) --out $(RESULTS)
endif

# The gate itself is tools/perf-gate (README, "The two commands"): it builds, decides from
# git what to compare, judges, and exits 0 pass / 1 regression / 2 bad input. make turns any
# failing recipe into its own exit 2; the "Error N" line it prints carries the script's code,
# and CI calls the script directly for the exact code.
PERF_GATE_ARGS ?=
perf-gate:
	@tools/perf-gate PROFILE='$(PROFILE)' BASE='$(BASE)' BUILD_DIR='$(BUILD_DIR)' REPORT_DIR='$(REPORT_DIR)' \
	  $(PERF_GATE_ARGS) -- $(GATE_ARGS)

# The profiling build of the differential profiles (Release flags plus -g, state_instr only;
# tools/benchrun/profile.py builds it, and the base's, itself when a regression needs one).
build-profile: | setup
	@$(BENCHRUN) diff-profile --build-only --build-dir $(BUILD_DIR)

perf-baseline: bench
	@$(GATE) baseline --results $(RESULTS) --out $(BASELINE)
	@echo "== wrote $(BASELINE): review it, then commit it"

report:
	@$(GATE) report --results $(RESULTS) --report-dir $(REPORT_DIR)

# The trend site of the run history: reports/trends.html and changes.json (change points).
perf-trends:
	@$(GATE) trends --history $(HISTORY) --out $(REPORT_DIR) --summary $(REPORT_DIR)/trends-summary.md $(TRENDS_ARGS)

perf-gate-selftest: build
	@$(BENCHRUN) selftest --build-dir $(BUILD_DIR) --report-dir $(REPORT_DIR) $(SELFTEST_ARGS)

clean:
	rm -rf $(BUILD_DIR) tools/workflow-lint/node_modules
	find $(REPORT_DIR) -mindepth 1 ! -name .gitkeep -delete
