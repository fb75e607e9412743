# The whole set-up: `make run` serves gridd on 127.0.0.1:7443 with its log in
# ./data; `make test` builds everything and runs every test. Both install the
# Debian packages they need first and are fast the second time (ninja + ccache).
BUILD ?= build
DATA  ?= data
ARGS  ?=
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

.PHONY: all deps configure build run cluster test test-asan test-tsan check-strict check-tidy check-format format fuzz soak clean

all: build

deps:
	@./cmake/install-deps.sh

configure: deps
	@[ -f $(BUILD)/build.ninja ] || cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DGRID_STRICT=ON

build: configure
	@cmake --build $(BUILD)

run: build
	$(BUILD)/gridd --data_dir=$(DATA) --dashboard_listen=127.0.0.1:7480 $(ARGS)

# Cluster mode on one machine: 3 etcd members and 3 gridd nodes on loopback,
# data in ./cluster (README, "Cluster mode"); stop with deploy/cluster/down.sh.
cluster: build
	./deploy/cluster/up.sh $(BUILD)

test: build
	cd $(BUILD) && ctest --output-on-failure -j2 --timeout 600

# Line tables only (-g1) in the sanitizer and fuzz builds: what their reports
# need, and much less to compile and link than full debug information.
SAN_FLAGS = -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer (the
# power-cut and kill -9 loops shorter: `make test` runs them in full), built
# by check-strict: clang, the house rules as errors.
test-asan: check-strict
	cd build-asan && GRID_POWER_CUTS=50 GRID_CRASH_CYCLES=30 \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	  ctest --output-on-failure -j2 --timeout 900

# ThreadSanitizer on our own threading code (log, sequencer, live tail,
# projector, the streaming reactor) in the test binaries that run no gRPC:
# Debian's gRPC and abseil are not TSan-built, so a real server under TSan
# would report every hand-off inside gRPC.
test-tsan: deps
	@[ -f build-tsan/build.ninja ] || cmake -S . -B build-tsan -G Ninja \
	  $(SAN_FLAGS) -DGRID_SANITIZE=thread
	@cmake --build build-tsan --target grid_unit_tests grid_rpc_tests
	cd build-tsan && GRID_POWER_CUTS=20 \
	  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	  ctest -L unit --output-on-failure -j2 --timeout 900

# The house rules checked by compilers. `make build` is g++ with -Werror
# -Wshadow (GRID_STRICT); this is clang with the same and its lock-annotation
# analysis (-Wthread-safety over storage/sync.h's annotations), every target.
# It is test-asan's build too (ASan + UBSan): one clang build for both.
check-strict: deps
	@grep -qs '^GRID_STRICT:BOOL=ON' build-asan/CMakeCache.txt || rm -rf build-asan  # an older g++ one
	@[ -f build-asan/build.ninja ] || cmake -S . -B build-asan -G Ninja \
	  -DCMAKE_CXX_COMPILER=clang++ -DGRID_STRICT=ON $(SAN_FLAGS) -DGRID_SANITIZE=address,undefined
	@cmake --build build-asan

# clang-tidy (.clang-tidy: bugprone, performance) on the C++ files the last
# commit adds or changes (TIDY_BASE=REV: all since REV), with the compile
# commands of check-strict's build. A shallow clone's only commit has no
# parent to compare with: nothing to check.
TIDY_BASE ?=
check-tidy: check-strict
	@if [ -n "$(TIDY_BASE)" ]; then files=$$(git diff --name-only --diff-filter=AM $(TIDY_BASE) -- '*.cc'); \
	else files=$$(git diff-tree --no-commit-id --name-only --diff-filter=AM -r HEAD -- '*.cc'); fi; \
	echo "clang-tidy: $$(echo $$files | wc -w) file(s)"; \
	for f in $$files; do clang-tidy -p build-asan --quiet "$$f" 2>/dev/null || exit 1; done

# Every C++ file as clang-format-14 makes it (.clang-format); `make format`
# rewrites them so.
FORMAT_FILES = $$(git ls-files '*.cc' '*.h')
check-format: deps
	@clang-format --dry-run --Werror $(FORMAT_FILES) && echo "clang-format: every file as formatted"
format:
	@clang-format -i $(FORMAT_FILES)

# libFuzzer targets (clang, ASan+UBSan) from the committed seed corpus;
# CI runs them for 30 s each, `make fuzz` for 10 minutes each.
FUZZ_SECONDS ?= 600
fuzz: deps
	@[ -f build-fuzz/build.ninja ] || cmake -S . -B build-fuzz -G Ninja \
	  -DCMAKE_CXX_COMPILER=clang++ -DGRID_FUZZ=ON -DGRID_SANITIZE=address,undefined \
	  -DGRID_BUILD_TESTS=OFF $(SAN_FLAGS)
	@cmake --build build-fuzz --target fuzz_targets
	bash tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

# The same crash and fault tests, much longer.
soak: build
	cd $(BUILD) && GRID_POWER_CUTS=2000 GRID_CRASH_CYCLES=1000 \
	  ctest -R "PowerCuts|KillNine|RandomIoErrors" --output-on-failure --timeout 7200

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz build-clang
