# The whole set-up: `make run` serves gridd on 127.0.0.1:7443 with its log in
# ./data; `make test` builds everything and runs every test. Both install the
# Debian packages they need first and are fast the second time (ninja + ccache).
BUILD ?= build
DATA  ?= data
ARGS  ?=
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

.PHONY: all deps configure build run test clean

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

clean:
	rm -rf $(BUILD)
