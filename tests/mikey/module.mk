# tests/mikey: MIKEY-SAKKE GMK I_MESSAGE (published Streamwide message, rebuild,
# fresh-key round trips, identities, malformed input) and the per-sender SRTP
# master keys of TS 33.180 7.4.2 (MIKEY PRF cross-checks, 10,000 members);
# test_mikey_gms: identities and group RAND through a real vaultd.
# test_media_vectors.sh (run by tests/run-all.sh): the expected values are what
# an independent Python implementation (media_vectors.py) computes.
# SPDX-License-Identifier: Apache-2.0
TEST_PROGRAMS += $(B)/tests/test_mikey $(B)/tests/test_mikey_media

$(B)/tests/test_mikey: $(call objs,tests/mikey/test_mikey.c) $(LIBMCXCRYPTO) $(LIBMCXCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto) $(LDLIBS)

$(B)/tests/test_mikey_media: $(call objs,tests/mikey/test_mikey_media.c) $(LIBMCXCRYPTO) $(LIBMCXCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto) $(LDLIBS)

# the identities and the group RAND through a real vaultd (tests/lib/vault_fixture.c)
TEST_MIKEY_GMS := $(B)/tests/test_mikey_gms
TEST_PROGRAMS += $(TEST_MIKEY_GMS)

$(TEST_MIKEY_GMS): $(call objs,tests/mikey/test_mikey_gms.c tests/lib/vault_fixture.c) $(LIBMCXVAULT_A) \
                   $(LIBMCXCRYPTO) $(LIBMCXCOMMON) | $(VAULTD)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter-out $(VAULTD),$^) $(PKG_LIBS) $(LDLIBS)
