# libmcxvault: the client library (include/mcxvault.h), static and shared,
# plus its pkg-config file.  The shared library carries the pieces of
# common/ code it needs and exports only mcxvault_* (libmcxvault.map).
#
# SPDX-License-Identifier: Apache-2.0
CLIENT_SRCS := vault/client/client.c vault/client/methods.c
LIBMCXVAULT_A := $(B)/libmcxvault.a
LIBMCXVAULT_SO := $(B)/libmcxvault.so.0
LIBMCXVAULT_PC := $(B)/mcxvault.pc
LIBRARIES += $(LIBMCXVAULT_A) $(LIBMCXVAULT_SO)
EXTRA_TARGETS += $(B)/libmcxvault.so $(LIBMCXVAULT_PC)

CLIENT_OBJS := $(call objs,$(CLIENT_SRCS) $(COMMON_SRCS))

# The static archive is self-contained too: libmcxvault.a alone links.
$(LIBMCXVAULT_A): $(CLIENT_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(LIBMCXVAULT_SO): $(CLIENT_OBJS) vault/client/libmcxvault.map
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS) -Wl,-soname,libmcxvault.so.0 \
	  -Wl,--version-script=vault/client/libmcxvault.map \
	  -o $@ $(CLIENT_OBJS) $(shell pkg-config --libs jansson) $(LDLIBS)

$(B)/libmcxvault.so: $(LIBMCXVAULT_SO)
	ln -sf libmcxvault.so.0 $@

$(LIBMCXVAULT_PC): vault/client/mcxvault.pc.in
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$${exec_prefix}/lib|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@
