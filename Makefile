# BitNet-C - a thin layer over CMake. `make run` and `make test` do all the set-up.
#
#   make            install missing Debian packages, build into build/
#   make run        build the CLI, then the main job: the shipped model (models/default.gguf)
#                   writes English, its held-out perplexity, its speed here
#   make test       build (Release) and run every test with ctest (unit tests, the CLI, the
#                   examples/ programs, the API symbol check, the Python package's pytest suite
#                   in .venv), then the same under ASan+UBSan (build-asan/), then test-neon;
#                   CUDA sources compile whenever nvcc exists
#   make test-neon  the NEON kernel tests, cross-compiled for AArch64 (build-neon/), under qemu
#   make test-long  the long-running tests
#   make fuzz       build the libFuzzer harnesses with clang and run each FUZZ_SECONDS (20)
#   make install    header, libraries, CLI and pkg-config file into PREFIX (/usr/local)
#   make format     clang-format every C/CUDA source

BUILD      ?= build
ASAN_BUILD ?= build-asan
NEON_BUILD ?= build-neon
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS ?= --output-on-failure

# A stock CUDA install keeps nvcc out of PATH.
export PATH := $(PATH):/usr/local/cuda/bin

FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 20

.PHONY: all deps build run test test-release test-asan test-neon test-long fuzz install format clean

all: build

deps:
	@bash scripts/deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# The main job: the model that ships in the repo (models/default.gguf, a BitNet b1.58 model that
# `bitnet train` trained on English text: models/README.md) writes English, found without -m;
# then its perplexity on its held-out text and how fast it runs on this machine. Only the CLI is
# built (the tests are make test's).
run: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS) --target bitnet
	$(BUILD)/bin/bitnet run -p "It was a fine morning, and" -n 80 --temp 0.7 --top-p 0.9 \
	    --repeat-penalty 1.1 --seed 42
	@echo
	$(BUILD)/bin/bitnet run -p "The history of the city" -n 80 --temp 0.7 --top-p 0.9 \
	    --repeat-penalty 1.1 --seed 1
	@echo
	$(BUILD)/bin/bitnet perplexity -m models/default.gguf -f models/heldout.txt -c 256
	@echo
	$(BUILD)/bin/bitnet bench model -m models/default.gguf -p 64 -n 32 -r 3

test: test-release test-asan
	@if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null; then \
	    $(MAKE) --no-print-directory test-neon; \
	else echo "test-neon skipped: no aarch64 cross toolchain"; fi

test-release: build
	cd $(BUILD) && ctest $(CTEST_ARGS) -j $(JOBS) -LE long

# The same unit tests, instrumented. CUDA is off here: nvcc code is compiled by the Release
# build above, and the sanitizers cannot look inside the GPU anyway.
test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DBN_SANITIZE=ON -DBN_CUDA=OFF
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest $(CTEST_ARGS) -j $(JOBS) -LE long

# The NEON kernel path, which no x86 run reaches: the kernel tests cross-compiled statically for
# AArch64 and run under qemu-aarch64 (tests/neon/neon.mk says what is built and why).
test-neon: deps
	$(MAKE) --no-print-directory -f tests/neon/neon.mk -j $(JOBS) NEON_BUILD=$(NEON_BUILD)

test-long: build
	cd $(BUILD) && ctest $(CTEST_ARGS) -L long

# Each libFuzzer harness for FUZZ_SECONDS on a scratch copy of its seed corpus
# (tests/fuzz/corpus_<name>), so new inputs never land in the repository.
fuzz: deps
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DBN_FUZZ=ON -DBN_CUDA=OFF -DBN_BUILD_TESTS=OFF
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@set -e; for f in tests/fuzz/fuzz_*.c; do \
	    name=$$(basename $$f .c); corpus=$(FUZZ_BUILD)/corpus_$${name#fuzz_}; \
	    rm -rf $$corpus; cp -r tests/fuzz/corpus_$${name#fuzz_} $$corpus; \
	    echo "== $$name for $(FUZZ_SECONDS) s"; \
	    $(FUZZ_BUILD)/bin/$$name -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $$corpus 2>&1 \
	        | grep -E 'stat::number_of_executed_units|ERROR|SUMMARY|Done' ; \
	done

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

format:
	clang-format -i $$(git ls-files '*.c' '*.h' '*.cu')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(NEON_BUILD)
