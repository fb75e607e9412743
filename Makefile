# The whole set-up: `make run` serves gridd on 127.0.0.1:7443 with its log in
# ./data; `make test` builds everything and runs every test. Both install the
# Debian packages they need first and are fast the second time (ninja + ccache).
BUILD ?= build
DATA  ?= data
ARGS  ?=
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

.PHONY: all deps configure build run test test-asan test-tsan fuzz soak clean

all: build

deps:
	@./cmake/install-deps.sh

configure: deps
	@[ -f $(BUILD)/build.ninja ] || cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: configure
	@cmake --build $(BUILD)

run: build
	$(BUILD)/gridd --data_dir=$(DATA) $(ARGS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j2 --timeout 600

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer (the
# power-cut and kill -9 loops shorter: `make test` runs them in full).
test-asan: deps
	@[ -f build-asan/build.ninja ] || cmake -S . -B build-asan -G Ninja \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGRID_SANITIZE=address,undefined
	@cmake --build build-asan
	cd build-asan && GRID_POWER_CUTS=50 GRID_CRASH_CYCLES=30 \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	  ctest --output-on-failure -j2 --timeout 900

# ThreadSanitizer on our own threading code (log, sequencer, live tail) in the
# test binary without gRPC: Debian's gRPC and abseil are not TSan-built.
test-tsan: deps
	@[ -f build-tsan/build.ninja ] || cmake -S . -B build-tsan -G Ninja \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGRID_SANITIZE=thread
	@cmake --build build-tsan --target grid_unit_tests
	cd build-tsan && GRID_POWER_CUTS=20 \
	  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	  ctest -L unit --output-on-failure -j2 --timeout 900

# libFuzzer targets (clang, ASan+UBSan) from the committed seed corpus;
# CI runs them for 30 s each, `make fuzz` for 10 minutes each.
FUZZ_SECONDS ?= 600
fuzz: deps
	@[ -f build-fuzz/build.ninja ] || cmake -S . -B build-fuzz -G Ninja \
	  -DCMAKE_CXX_COMPILER=clang++ -DGRID_FUZZ=ON -DGRID_SANITIZE=address,undefined \
	  -DGRID_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
	@cmake --build build-fuzz
	bash tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

# The same crash and fault tests, much longer.
soak: build
	cd $(BUILD) && GRID_POWER_CUTS=2000 GRID_CRASH_CYCLES=1000 \
	  ctest -R "PowerCuts|KillNine|RandomIoErrors" --output-on-failure --timeout 7200

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz
