# bench_keys: key.rotate, key.retire and restart in a 5,000-object token vs an empty one (docs/performance.md).
# It starts its own token and vaultd with tests/lib/vault_fixture.c.
#
# SPDX-License-Identifier: Apache-2.0
BENCH_KEYS := $(B)/bench/bench_keys
BENCH_PROGRAMS += $(BENCH_KEYS)

$(BENCH_KEYS): $(call objs,bench/bench_keys.c tests/lib/vault_fixture.c) $(LIBMCXVAULT_A) $(LIBMCXHSM) $(LIBMCXCOMMON) | $(VAULTD)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter-out $(VAULTD),$^) $(PKG_LIBS) $(LDLIBS)
