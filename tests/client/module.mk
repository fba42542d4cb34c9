# Client library tests: the framing unit test (no vaultd needed).
# tests/client/test_vaultctl.sh runs vaultctl against a real vaultd.
#
# SPDX-License-Identifier: Apache-2.0
TEST_CLIENT := $(B)/tests/test_client
TEST_PROGRAMS += $(TEST_CLIENT)
$(TEST_CLIENT): $(call objs,tests/client/test_client.c) $(LIBMCXVAULT_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs jansson) $(LDLIBS)

# tests/client/test_methods.c: every typed helper against a real vaultd.
TEST_CLIENT_METHODS := $(B)/tests/test_client_methods
TEST_PROGRAMS += $(TEST_CLIENT_METHODS)
$(TEST_CLIENT_METHODS): $(call objs,tests/client/test_methods.c tests/lib/vault_fixture.c) $(LIBMCXVAULT_A) \
                        $(LIBMCXCOMMON) | $(VAULTD) $(VAULTCTL)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter-out $(VAULTD) $(VAULTCTL),$^) $(PKG_LIBS) $(LDLIBS)
