# tests/kms: the KMS service over the real socket of two real vaultd
# processes on throw-away SoftHSM tokens (tests/lib/vault_fixture.c), checked with the
# crypto module as a client would, xmlsec1 and OpenSSL.  kms_cert.c is linked
# to build certificates no vault would sign (expired, revoked, Role External).
#
# SPDX-License-Identifier: Apache-2.0
TEST_KMS := $(B)/tests/test_kms
TEST_PROGRAMS += $(TEST_KMS)

$(TEST_KMS): $(call objs,tests/kms/test_kms.c tests/lib/vault_fixture.c vault/kms/kms_cert.c) \
	     $(LIBMCXVAULT_A) $(LIBMCXCRYPTO) $(LIBMCXCOMMON) | $(VAULTD)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter-out $(VAULTD),$^) $(PKG_LIBS) $(LDLIBS)

# scan_secrets: run by test_kms_token.sh over token objects read with pkcs11-tool.
SCAN_SECRETS := $(B)/tests/kms/scan_secrets
EXTRA_TARGETS += $(SCAN_SECRETS)
$(SCAN_SECRETS): $(call objs,tests/kms/scan_secrets.c) $(LIBMCXCRYPTO) $(LIBMCXCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

# test_kms_revoke: external.revoke and expiry seen by every trust user
# (gmk/server_key.distribute, token.verify, redirect.*, kms.cert_cache) and
# kms.user_keys for users of other systems (issue_to_external_users).
TEST_KMS_REVOKE := $(B)/tests/test_kms_revoke
TEST_PROGRAMS += $(TEST_KMS_REVOKE)

$(TEST_KMS_REVOKE): $(call objs,tests/kms/test_kms_revoke.c tests/lib/vault_fixture.c) \
		    $(LIBMCXVAULT_A) $(LIBMCXCOMMON) | $(VAULTD)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter-out $(VAULTD),$^) $(PKG_LIBS) $(LDLIBS)
