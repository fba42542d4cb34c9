# The OpenSSL 3 provider module $(B)/mcxvault.so (docs/openssl-provider.md):
# STORE "mcxvault:", KEYMGMT "EC" for vault keys, SIGNATURE "ECDSA"; and for
# software keys computed by crypto/: KEYMGMT + KEM "SAKKE", KEYMGMT +
# SIGNATURE "ECCSI", their encoders and decoder.
# It carries libmcxcrypto and libmcxvault (static, -fPIC) and exports only
# OSSL_provider_init.
#
#   make install-provider   installs it into OpenSSL's modules directory
#                           (openssl version -m), or MODULESDIR=...
#
# SPDX-License-Identifier: Apache-2.0
PROVIDER_SRCS := provider/provider.c provider/key.c provider/store.c provider/signature.c \
                 provider/mcx_keys.c provider/sakke.c provider/eccsi.c provider/mcx_codec.c
PROVIDER_SO   := $(B)/mcxvault.so
EXTRA_TARGETS += $(PROVIDER_SO)

PROVIDER_LDLIBS := $(shell pkg-config --libs libcrypto jansson 2>/dev/null || echo -lcrypto -ljansson)

# libmcxcrypto before libmcxvault.a, which also carries common/ (mcx_wipe, ...).
$(PROVIDER_SO): $(call objs,$(PROVIDER_SRCS)) $(LIBMCXCRYPTO) $(LIBMCXVAULT_A) provider/mcxvault-provider.map
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS) -Wl,-z,defs -Wl,--version-script=provider/mcxvault-provider.map \
	  -o $@ $(call objs,$(PROVIDER_SRCS)) $(LIBMCXCRYPTO) $(LIBMCXVAULT_A) $(PROVIDER_LDLIBS) $(LDLIBS)

MODULESDIR ?= $(shell openssl version -m 2>/dev/null | sed -n 's/^MODULESDIR: "\(.*\)"/\1/p')

install-provider: $(PROVIDER_SO)
	@test -n "$(MODULESDIR)" || { echo "install-provider: set MODULESDIR (openssl version -m)"; exit 1; }
	install -d $(DESTDIR)$(MODULESDIR)
	install -m 755 $(PROVIDER_SO) $(DESTDIR)$(MODULESDIR)/mcxvault.so

.PHONY: install-provider
