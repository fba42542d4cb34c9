# tests/trust: issue 9 — a signer cannot forge what partners trust.  Three
# real vaultd processes on throw-away SoftHSM tokens (tests/lib/vault_fixture.c):
# forged KMS certificates, cert-cache bundles, redirect responses and ID tokens
# signed through sign.sign are refused; a token in the format before key
# purposes (MCXVAULT_TEST_LEGACY_DOMAIN_INIT) is upgraded.  kms_cert.c is
# linked to build the forged certificate.
#
# SPDX-License-Identifier: Apache-2.0
TEST_TRUST := $(B)/tests/test_trust
TEST_PROGRAMS += $(TEST_TRUST)

$(TEST_TRUST): $(call objs,tests/trust/test_trust.c tests/lib/vault_fixture.c vault/kms/kms_cert.c) \
	       $(LIBMCXVAULT_A) $(LIBMCXCRYPTO) $(LIBMCXCOMMON) | $(VAULTD)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter-out $(VAULTD),$^) $(PKG_LIBS) $(LDLIBS)
