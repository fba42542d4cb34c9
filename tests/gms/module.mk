# tests/gms: the GMS service against two real vaultds on two SoftHSM tokens
# (home and external domain): lifecycle, distribution checked with
# mcx_mikey_* on the member side, store contents, restart, bad input.
# tests/lib/vault_fixture.c is shared with bench/bench_gms.c.
#
# SPDX-License-Identifier: Apache-2.0
TEST_GMS := $(B)/tests/test_gms
TEST_PROGRAMS += $(TEST_GMS)

$(TEST_GMS): $(call objs,tests/gms/test_gms.c tests/lib/vault_fixture.c) $(LIBMCXVAULT_A) $(LIBMCXCRYPTO) \
             $(LIBMCXCOMMON) | $(VAULTD)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter-out $(VAULTD),$^) $(PKG_LIBS) $(LDLIBS)
