# tests/redirect: redirect.* and token.* over the real sockets of three real
# vaultd processes on throw-away SoftHSM tokens (tests/lib/vault_fixture.c),
# three security domains that trust each other through external.import.
#
# SPDX-License-Identifier: Apache-2.0
TEST_REDIRECT := $(B)/tests/test_redirect
TEST_PROGRAMS += $(TEST_REDIRECT)

$(TEST_REDIRECT): $(call objs,tests/redirect/test_redirect.c tests/lib/vault_fixture.c) \
		  $(LIBMCXVAULT_A) $(LIBMCXCOMMON) | $(VAULTD)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter-out $(VAULTD),$^) $(PKG_LIBS) $(LDLIBS)
