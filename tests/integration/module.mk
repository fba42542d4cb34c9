# Integration tests: the real vaultd on a fresh SoftHSM token per run, over its
# real socket.  The C programs below are helpers, not standalone tests: the
# tests/integration/test_*.sh scripts start vaultd and run them (that is why
# they are not named test_* and live in $(B)/tests/integration/).
#
# SPDX-License-Identifier: Apache-2.0
ITEST_DIR := $(B)/tests/integration
ITEST_LIB_OBJS := $(call objs,tests/integration/itest_lib.c)
ITEST_LIBS := $(LIBMCXVAULT_A) $(LIBMCXCOMMON)
ITEST_LDLIBS := $(shell pkg-config --libs jansson libcrypto) $(LDLIBS)
EXTRA_TARGETS += $(ITEST_DIR)/itest_rpc $(ITEST_DIR)/itest_keys

$(ITEST_DIR)/itest_rpc: $(call objs,tests/integration/itest_rpc.c) $(ITEST_LIB_OBJS) $(ITEST_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(ITEST_LDLIBS)

$(ITEST_DIR)/itest_keys: $(call objs,tests/integration/itest_keys.c) $(ITEST_LIB_OBJS) $(ITEST_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(ITEST_LDLIBS)
