# Top-level entry points. Each installs missing Debian packages, configures, builds and runs.
.PHONY: all deps build test asan demo bench fuzz format format-check clean

JOBS ?= $(shell nproc)

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	cmake --preset debug >/dev/null
	cmake --build --preset debug -j $(JOBS)

test: build
	ctest --preset debug

asan: deps
	cmake --preset asan >/dev/null
	cmake --build --preset asan -j $(JOBS)
	ctest --preset asan

release: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)

demo: release
	./scripts/demo.sh build/release
	./scripts/demo_broker.sh build/release

bench: release
	./build/release/bench/tuf_bench
	./bench/checkin_bench.sh build/release/bin
	./bench/delta_bench.sh build/release/bin
	./bench/install_bench.sh build/release/bin
	./build/release/bench/broker_core_bench
	./build/release/bench/broker_auth_bench
	./build/release/bench/broker_proto_bench
	./build/release/bench/broker_bench build/release/bin data/vss/vss_release_6.0.json

fuzz:
	./scripts/install-deps.sh --with-test-tools
	cmake --preset fuzz >/dev/null
	cmake --build --preset fuzz -j $(JOBS)

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

format-check:
	git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror

clean:
	rm -rf build
