# Thin wrapper over CMake/ctest. `make run` and `make test` install missing Debian packages first.
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
CTEST_FLAGS ?=

.PHONY: all deps build run test test-asan bench fuzz chaos format format-check clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Runs the pipeline on embedded defaults (broker on 127.0.0.1:9092, web UI on 127.0.0.1:8080,
# data in ./sluice-data) and switches user_automation on and triggers it once.
run: build
	./$(BUILD)/sluice up --trigger --no-ingest

test: build
	cd $(BUILD) && ctest --output-on-failure -j 2 $(CTEST_FLAGS)

# The unit and interop suites built with AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: deps
	@CC=clang cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON -DSLUICE_WERROR=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j 2 $(CTEST_FLAGS)

bench: build
	bash bench/run.sh $(BUILD)

fuzz: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSLUICE_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers
	bash tests/fuzz/run.sh $(FUZZ_BUILD) $${FUZZ_SECONDS:-60}

# The chaos test for MINUTES (default 10) with a kill every ~5 s; CHAOS_SEED=S replays a run.
chaos: build
	/usr/bin/python3 tests/chaos/chaos.py --sluice $(BUILD)/sluice --tools $(BUILD)/tests \
	  --minutes $${MINUTES:-10} $${CHAOS_SEED:+--seed $$CHAOS_SEED}

# The same against Apache Kafka + Apache Cassandra from Maven jars (tests/engines; needs java,
# and mvn or cached jars; exit 77 without them): a kill every ~8 s, Cassandra a few times.
.PHONY: chaos-engines
chaos-engines: build
	/usr/bin/python3 tests/chaos/chaos_engines.py --sluice $(BUILD)/sluice --tools $(BUILD)/tests \
	  --minutes $${MINUTES:-10} $${CHAOS_SEED:+--seed $$CHAOS_SEED}

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check: deps
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
