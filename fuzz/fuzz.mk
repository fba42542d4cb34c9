# fuzz/fuzz.mk: the libFuzzer targets beside fuzz_mikey (fuzz/mikey.mk).
# Defined only when clang is installed; never part of `make` / build-all.
#
#   make fuzz FUZZ_SECONDS=N   builds every target and runs each for N seconds
#                              (default 60) on its seed corpus fuzz/corpus/<t>/
#   make fuzz-build            builds them only ($(B)/fuzz/fuzz_<t>)
#
# Targets: rpc (a request line through the dispatcher of an in-memory vault),
# jose (JWS/JWT), kms_cert (KMS certificate XML), ec_public (PEM/JWK public
# keys), config (the vaultd configuration file), and mikey.
# New inputs go to $(B)/fuzz/work/<t>/, never into the tree; crashes to
# $(B)/fuzz/crash-<t>-*.  tests/fuzz/test_fuzz.sh runs each for a few seconds
# in `make check`.
#
# The vault, common and target sources are compiled by clang with coverage
# and ASan/UBSan ($(B)/fuzz/obj); the HSM layer and libmcxcrypto come from the
# ordinary $(B) libraries (the rpc target links them but never reaches them).
# SPDX-License-Identifier: Apache-2.0
FUZZ_CLANG := $(shell command -v clang 2>/dev/null)
FUZZ_TARGETS := rpc jose kms_cert ec_public config
FUZZ_SECONDS ?= 60
ifneq ($(FUZZ_CLANG),)
FUZZ_FLAGS := -std=c11 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=undefined
FUZZ_CPPFLAGS := $(filter-out -D_FORTIFY_SOURCE=2,$(CPPFLAGS))
FUZZ_LIB_SRCS := $(COMMON_SRCS) $(filter-out vault/daemon/main.c,$(VAULTD_SRCS))
FUZZ_LIB := $(B)/fuzz/libvault-fuzz.a
FUZZ_BINS := $(patsubst %,$(B)/fuzz/fuzz_%,$(FUZZ_TARGETS))

$(B)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CLANG   $<")
	$(Q)$(FUZZ_CLANG) $(FUZZ_CPPFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_LIB): $(patsubst %.c,$(B)/fuzz/obj/%.o,$(FUZZ_LIB_SRCS))
	@mkdir -p $(dir $@)
	$(Q)$(AR) rcs $@ $^

$(B)/fuzz/fuzz_%: $(B)/fuzz/obj/fuzz/fuzz_%.o $(FUZZ_LIB) $(LIBMCXHSM) $(LIBMCXCRYPTO)
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CLANG) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< \
	  -Wl,--start-group $(FUZZ_LIB) $(LIBMCXHSM) $(LIBMCXCRYPTO) -Wl,--end-group $(PKG_LIBS) -lpthread

# keep the harness objects (make would delete them as intermediates)
.SECONDARY: $(patsubst %,$(B)/fuzz/obj/fuzz/fuzz_%.o,$(FUZZ_TARGETS))

fuzz-build: $(FUZZ_BINS) fuzz-mikey

# Each target for FUZZ_SECONDS on its seeds; stops at the first failing one.
fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(B)/fuzz/work/$$t; \
	  echo "==> fuzz_$$t for $(FUZZ_SECONDS) s"; \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/fuzz/lsan.supp:print_suppressions=0 \
	  $(B)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix=$(B)/fuzz/crash-$$t- -print_final_stats=1 $(B)/fuzz/work/$$t fuzz/corpus/$$t; \
	done; \
	echo "==> fuzz_mikey for $(FUZZ_SECONDS) s"; \
	$(FUZZ_MIKEY) -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -artifact_prefix=$(B)/fuzz/crash-mikey- \
	  $(FUZZ_MIKEY_CORPUS)

-include $(shell find $(B)/fuzz/obj -name '*.d' 2>/dev/null)
else
fuzz fuzz-build:
	@echo "fuzz: clang not found; install clang to build the libFuzzer targets"
endif
.PHONY: fuzz fuzz-build
