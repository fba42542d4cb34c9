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

# ECCSI (identity-signed) responses, checked against wolfCrypt as an
# independent implementation: wolfSSL is linked into this test only, never
# into vaultd or the libraries (as tests/crypto/test_crypto_wolf).
TEST_REDIRECT_ECCSI := $(B)/tests/test_redirect_eccsi
TEST_PROGRAMS += $(TEST_REDIRECT_ECCSI)
REDIRECT_WOLFSSL_LIBS := $(shell pkg-config --libs wolfssl 2>/dev/null || echo -lwolfssl)

$(TEST_REDIRECT_ECCSI): $(call objs,tests/redirect/test_redirect_eccsi.c tests/lib/vault_fixture.c) \
		  $(LIBMCXVAULT_A) $(LIBMCXCOMMON) | $(VAULTD)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter-out $(VAULTD),$^) $(PKG_LIBS) $(REDIRECT_WOLFSSL_LIBS) $(LDLIBS)
