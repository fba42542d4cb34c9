# bench_gms: gmk.distribute to 10,000 members through vaultd, late-entry
# latency during a batch, and the same per-member work in process (our crypto,
# and wolfCrypt: test/bench-only, never linked into the product)
# (docs/performance.md, "gmk.distribute").  Starts its own token and vaultd
# with tests/lib/vault_fixture.c.
#
# SPDX-License-Identifier: Apache-2.0
BENCH_GMS := $(B)/bench/bench_gms
BENCH_PROGRAMS += $(BENCH_GMS)

$(BENCH_GMS): $(call objs,bench/bench_gms.c tests/lib/vault_fixture.c) $(LIBMCXVAULT_A) $(LIBMCXCRYPTO) \
              $(LIBMCXCOMMON) | $(VAULTD)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter-out $(VAULTD),$^) $(PKG_LIBS) \
		$(shell pkg-config --libs wolfssl 2>/dev/null || echo -lwolfssl) $(LDLIBS)
