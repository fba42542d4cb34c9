# The OpenSSL provider's EVP-level test.  It needs a running vaultd, so it is
# built under $(B)/tests/provider/ (not picked up by tests/run-all.sh on its
# own) and run by tests/provider/test_provider.sh against the harness vault.
#
# SPDX-License-Identifier: Apache-2.0
TEST_PROVIDER_API := $(B)/tests/provider/test_provider_api
EXTRA_TARGETS += $(TEST_PROVIDER_API)

$(TEST_PROVIDER_API): $(call objs,tests/provider/test_provider_api.c) $(LIBMCXVAULT_A) | $(PROVIDER_SO)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter-out $(PROVIDER_SO),$^) \
	  $(shell pkg-config --libs libcrypto jansson 2>/dev/null || echo -lcrypto -ljansson) $(LDLIBS)

# SAKKE KEM and ECCSI signature through EVP (software keys; no vault needed):
# a test program of its own, loading $(B)/mcxvault.so.
$(B)/tests/test_provider_mcx: $(call objs,tests/provider/test_provider_mcx.c) $(LIBMCXCRYPTO) $(LIBMCXCOMMON) | $(PROVIDER_SO)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter-out $(PROVIDER_SO),$^) \
	  $(shell pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto) $(LDLIBS)
TEST_PROGRAMS += $(B)/tests/test_provider_mcx
