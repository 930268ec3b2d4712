# neon.mk - the AArch64 NEON kernel path, cross-compiled with Debian's aarch64-linux-gnu-gcc
# and run under qemu-user, so `make test` checks it on an x86 machine. Correctness only:
# timings under emulation mean nothing.
#
#   make -f tests/neon/neon.mk       (what `make test-neon` runs, from the repository root)
#
# Only what the kernel tests need is built, and statically: the full library links libcjson,
# which has no aarch64 build here. The sources go into an archive, so the linker takes only the
# objects a test reaches and a kernel file that needs more of the library costs nothing unless a
# test calls it. qemu-aarch64's default CPU model ("max") reports ASIMD and ASIMDDP in
# AT_HWCAP, so src/base/cpu.c selects the neon path as it would on real hardware.

NEON_BUILD ?= build-neon
NEON_CC    ?= aarch64-linux-gnu-gcc
NEON_AR    ?= aarch64-linux-gnu-ar
NEON_QEMU  ?= qemu-aarch64
NEON_TESTS ?= tests/test_ternary_gemm.c

# The project's warning set (CMakeLists.txt) and no -march: the base build must run on any
# AArch64 core; the NEON file picks its own target.
NEON_CFLAGS := -std=c11 -O2 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -D_GNU_SOURCE \
               -DBN_SOURCE_DIR='"$(CURDIR)"' -Iinclude -Isrc -Itests -MMD -MP

# The x86 variants are guarded by __x86_64__ and would compile to nothing; leave them out.
NEON_SRCS := $(wildcard src/base/*.c) $(wildcard src/tensor/*.c) src/quant/act_quant.c \
             $(filter-out %_avx2.c %_avx512.c,$(wildcard src/kernels/cpu/*.c))
NEON_OBJS := $(NEON_SRCS:%.c=$(NEON_BUILD)/%.o)
NEON_LIB  := $(NEON_BUILD)/libbitnet-neon.a
NEON_BINS := $(NEON_TESTS:%.c=$(NEON_BUILD)/%)

.PHONY: run build
.DELETE_ON_ERROR:
.SECONDARY:

# Each test exits non-zero on failure (tests/test.h). 77, "skipped", counts as a failure here:
# the point of this build is that the NEON path runs.
run: build
	@passed=0; failed=0; for t in $(NEON_BINS); do \
	    echo "== $(NEON_QEMU) $$t"; \
	    start=$$(date +%s%N); \
	    if $(NEON_QEMU) $$t; then passed=$$((passed + 1)); else failed=$$((failed + 1)); fi; \
	    echo "$$(basename $$t): $$(( ($$(date +%s%N) - start) / 1000000 )) ms under qemu"; \
	done; \
	echo "neon: $$passed passed, $$failed failed"; \
	test $$failed -eq 0

build: $(NEON_BINS)

$(NEON_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(NEON_CC) $(NEON_CFLAGS) -c $< -o $@

$(NEON_LIB): $(NEON_OBJS)
	rm -f $@
	$(NEON_AR) rcs $@ $^

$(NEON_BINS): $(NEON_BUILD)/%: $(NEON_BUILD)/%.o $(NEON_LIB)
	$(NEON_CC) -static -pthread $^ -lm -o $@

-include $(NEON_OBJS:.o=.d) $(NEON_TESTS:%.c=$(NEON_BUILD)/%.d)
