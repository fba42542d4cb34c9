# vaultd: the daemon, its RPC table, its services and the state store (vault/store: SQLite, PostgreSQL).
VAULTD_SRCS := $(wildcard vault/daemon/*.c vault/rpc/*.c vault/keys/*.c vault/sign/*.c vault/kms/*.c vault/audit/*.c vault/gms/*.c vault/redirect/*.c vault/store/*.c)
VAULTD := $(B)/vaultd
PROGRAMS += $(VAULTD)
LIBMCXVAULTD := $(B)/libmcxvaultd.a
$(LIBMCXVAULTD): $(call objs,$(filter-out vault/daemon/main.c,$(VAULTD_SRCS)))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
$(VAULTD): $(call objs,vault/daemon/main.c) $(LIBMCXVAULTD) $(LIBMCXHSM) $(LIBMCXCRYPTO) $(LIBMCXCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)
