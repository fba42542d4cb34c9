# bench_kms: kms.user_keys through vaultd against the same work with the
# crypto module in-process (docs/performance.md).  It starts its own token
# and vaultd with tests/lib/vault_fixture.c.
#
# SPDX-License-Identifier: Apache-2.0
BENCH_KMS := $(B)/bench/bench_kms
BENCH_PROGRAMS += $(BENCH_KMS)

$(BENCH_KMS): $(call objs,bench/bench_kms.c tests/lib/vault_fixture.c) $(LIBMCXVAULT_A) $(LIBMCXCRYPTO) \
	      $(LIBMCXCOMMON) | $(VAULTD)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter-out $(VAULTD),$^) $(PKG_LIBS) $(LDLIBS)
