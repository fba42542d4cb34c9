# Fault injection under a running vaultd: libp11fault.so is a PKCS#11 module
# (vault.conf hsm.module, by absolute path) that forwards to SoftHSM and
# fails calls as a control file says; tests/faults/test_*.sh drive vaultd
# through it and through a token directory that goes away and comes back.
#
# SPDX-License-Identifier: Apache-2.0

P11FAULT := $(B)/tests/libp11fault.so
EXTRA_TARGETS += $(P11FAULT)

$(P11FAULT): $(call objs,tests/faults/p11fault.c)
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS) $^ -o $@ -ldl $(LDLIBS)
