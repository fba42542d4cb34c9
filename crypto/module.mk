# crypto/: SAKKE (RFC 6508), ECCSI (RFC 6507), TS 33.180 UID; libcrypto only.
# SPDX-License-Identifier: Apache-2.0
CRYPTO_SRCS := $(wildcard crypto/*.c)
LIBMCXCRYPTO := $(B)/libmcxcrypto.a
LIBRARIES += $(LIBMCXCRYPTO)
$(LIBMCXCRYPTO): $(call objs,$(CRYPTO_SRCS))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

# What a member's client (an MCX UE) links to open its I_MESSAGEs and derive
# its SRTP keys (TS 33.180 7.4.2): libmcxcrypto.a with the common/ code it
# uses, the mcx/*.h headers and pkg-config mcxcrypto (make install,
# Debian libmcxvault-dev).  Built beside, not instead of, the archive vaultd
# links, so nothing inside the build changes.
MEMBER_SDK_LIB := $(B)/sdk/libmcxcrypto.a
MEMBER_SDK_HEADERS := include/mcx/safety.h include/mcx/error.h include/mcx/buf.h include/mcx/sakke.h \
                      include/mcx/eccsi.h include/mcx/uid.h include/mcx/mikey.h
EXTRA_TARGETS += $(MEMBER_SDK_LIB)
$(MEMBER_SDK_LIB): $(call objs,$(CRYPTO_SRCS) $(COMMON_SRCS))
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

install-member-sdk: $(MEMBER_SDK_LIB)
	install -d $(DESTDIR)$(PREFIX)/include/mcx $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 644 $(MEMBER_SDK_HEADERS) $(DESTDIR)$(PREFIX)/include/mcx/
	install -m 644 $(MEMBER_SDK_LIB) $(DESTDIR)$(LIBDIR)/libmcxcrypto.a
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    crypto/mcxcrypto.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/mcxcrypto.pc
