# crypto/: SAKKE (RFC 6508), ECCSI (RFC 6507), TS 33.180 UID; libcrypto only.
# SPDX-License-Identifier: Apache-2.0
CRYPTO_SRCS := $(wildcard crypto/*.c)
LIBMCXCRYPTO := $(B)/libmcxcrypto.a
LIBRARIES += $(LIBMCXCRYPTO)
$(LIBMCXCRYPTO): $(call objs,$(CRYPTO_SRCS))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
