# bench_sign: sign.sign through vaultd against direct C_Sign (docs/performance.md).
# It starts its own token and vaultd with tests/lib/vault_fixture.c.
#
# SPDX-License-Identifier: Apache-2.0
BENCH_SIGN := $(B)/bench/bench_sign
BENCH_PROGRAMS += $(BENCH_SIGN)

$(BENCH_SIGN): $(call objs,bench/bench_sign.c tests/lib/vault_fixture.c) $(LIBMCXVAULT_A) $(LIBMCXHSM) $(LIBMCXCOMMON) | $(VAULTD)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter-out $(VAULTD),$^) $(PKG_LIBS) $(LDLIBS)
