# vaultctl: the command line, linked against the static libmcxvault.
#
# SPDX-License-Identifier: Apache-2.0
VAULTCTL_SRCS := vault/vaultctl/vaultctl.c vault/audit/audit_chain.c
VAULTCTL := $(B)/vaultctl
PROGRAMS += $(VAULTCTL)
$(VAULTCTL): $(call objs,$(VAULTCTL_SRCS)) $(LIBMCXVAULT_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs jansson libconfig libcrypto) $(LDLIBS)
