# Entry points for developers and CI. Every target that builds or runs
# something first runs scripts/install.sh, which takes under a second when
# nothing is missing.
SHELL := /bin/bash
BUILD_DIR := build

.PHONY: install build test test-faults demo bench lint broker-start broker-stop clean distclean help

help:
	@echo "Targets:"
	@echo "  install       install Debian packages, .venv and the Kafka broker jars"
	@echo "  build         configure and build with CMake and Ninja into $(BUILD_DIR)/"
	@echo "  test          build and run the C++ unit, C++ broker and Python tests"
	@echo "  test-faults   build and run the fault matrix (scripts/test-faults.sh, about 5 min)"
	@echo "  demo          build and run scripts/demo.sh"
	@echo "  bench         build and run scripts/bench.sh"
	@echo "  lint          run ruff on the Python code"
	@echo "  broker-start  start the test broker on 127.0.0.1:39092"
	@echo "  broker-stop   stop it and delete its data"
	@echo "  clean         delete $(BUILD_DIR)/"
	@echo "  distclean     also delete .venv and .cache (jars, broker data)"

install:
	bash scripts/install.sh

build: install
	cmake -S . -B $(BUILD_DIR) -G Ninja
	cmake --build $(BUILD_DIR) -j2

test: install
	bash scripts/run-tests.sh

test-faults: build
	bash scripts/test-faults.sh

demo: build
	bash scripts/demo.sh

bench: build
	@if [[ ! -f scripts/bench.sh ]]; then echo "scripts/bench.sh not found: no benchmark to run" >&2; exit 1; fi
	bash scripts/bench.sh

lint: install
	.venv/bin/ruff check tests clients/python

broker-start: install
	bash scripts/kafka-broker.sh start

broker-stop:
	bash scripts/kafka-broker.sh stop

clean:
	rm -rf $(BUILD_DIR)

distclean: clean
	rm -rf .venv .cache
