# SPDX-License-Identifier: Apache-2.0
# Thin wrapper over CMake. `make run` and `make test` work on a fresh Debian 12 machine.
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
JOBS       ?= $(shell nproc)
CMAKE_FLAGS ?=
FUZZ_SECONDS ?= 60
TEST_FUZZ_SECONDS ?= 5

.PHONY: all deps build run test test-unit asan fuzz format format-check bench lint clean conformance

all: build

deps:
	@bash scripts/install-deps.sh

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# Install, build, and run the daemon on the embedded defaults (Ctrl-C stops it).
run: deps build
	./$(BUILD)/tidewatch run

# Install, build, run every test; run every libFuzzer target for a few seconds beyond its
# corpus; then the unit and fuzz-regress tests again under ASan+UBSan.
test: deps
	$(MAKE) build CMAKE_FLAGS="-DTW_WERROR=ON $(CMAKE_FLAGS)"
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)
	$(MAKE) conformance
	$(MAKE) fuzz FUZZ_SECONDS=$(TEST_FUZZ_SECONDS)
	$(MAKE) asan

# The peers' conformance suites, with their counts printed (ctest already fails on a regression).
SHARED ?= ../shared
conformance:
	@if [ -d $(SHARED)/conformance ]; then \
	  echo "== PromQL scripts, Prometheus 3.5 (default mode)"; \
	  ./$(BUILD)/tidewatch test promql $(SHARED)/conformance/promql/v3.5/*.test | tail -n 2; \
	  echo "== PromQL scripts, Prometheus 2.42 (--query.compat=prometheus2)"; \
	  ./$(BUILD)/tidewatch test promql --query.compat=prometheus2 \
	    $(SHARED)/conformance/promql/v2.42/*.test | tail -n 2; \
	  echo "== HPA cases"; \
	  ./$(BUILD)/tidewatch autoscaler calc --check $(SHARED)/conformance/hpa/cases.json | tail -n 1; \
	  echo "== VPA cases"; \
	  ./$(BUILD)/tidewatch autoscaler vpa-calc --check $(SHARED)/conformance/vpa/cases.json | tail -n 1; \
	else echo "conformance: $(SHARED)/conformance not found, skipped"; fi

asan:
	cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DTW_SANITIZE=ON -DTW_WERROR=ON >/dev/null
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(BUILD_ASAN) --output-on-failure -j $(JOBS) -L 'unit|fuzz-regress'

# libFuzzer builds (clang); each target runs FUZZ_SECONDS on its seed corpus.
fuzz: deps
	CC=clang cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=Debug -DTW_FUZZ=ON >/dev/null
	cmake --build $(BUILD_FUZZ) -j $(JOBS)
	@for f in $(BUILD_FUZZ)/tests/fuzz_*; do \
	  n=$$(basename $$f); mkdir -p $(BUILD_FUZZ)/corpus/$$n; \
	  echo "== $$n"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=0 \
	    -artifact_prefix=$(BUILD_FUZZ)/ $(BUILD_FUZZ)/corpus/$$n tests/fuzz/corpus/$$n 2>$(BUILD_FUZZ)/$$n.log \
	    || { tail -40 $(BUILD_FUZZ)/$$n.log; exit 1; }; \
	  tail -1 $(BUILD_FUZZ)/$$n.log; \
	done

format:
	find common collector query alerting autoscaler daemon tests bench -name '*.[ch]' | xargs clang-format -i

format-check:
	find common collector query alerting autoscaler daemon tests bench -name '*.[ch]' | xargs clang-format --dry-run --Werror

lint: build
	cppcheck --quiet --enable=warning,performance,portability --inline-suppr --error-exitcode=1 \
	  --project=$(BUILD)/compile_commands.json --suppress='*:/usr/*'

bench: deps
	$(MAKE) build BUILD=build-release CMAKE_FLAGS="-DCMAKE_BUILD_TYPE=Release"
	bash bench/run.sh build-release
	bash bench/side_by_side.sh build-release

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ) build-release
