# tests/ct: the constant-time check of the SAKKE/ECCSI secret paths under
# valgrind memcheck (tests/ct/test_ct.sh runs it; docs/crypto.md).  Built only
# when valgrind's memcheck.h is installed, and only into the normal build: it
# is not a test_* program because it means nothing outside valgrind.
# SPDX-License-Identifier: Apache-2.0
ifneq ($(wildcard /usr/include/valgrind/memcheck.h),)
ifneq ($(SAN),1)
CT_SECRETS := $(B)/tests/ct/ct_secrets
EXTRA_TARGETS += $(CT_SECRETS)

$(CT_SECRETS): $(call objs,tests/ct/ct_secrets.c) $(LIBMCXCRYPTO) $(LIBMCXCOMMON)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto) $(LDLIBS)
endif
endif
