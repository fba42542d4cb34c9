# Tests of the HSM layer: test_hsm runs against a real SoftHSM token made per
# run; test_hsm_shim runs through libp11shim.so, a PKCS#11 module that forwards
# to SoftHSM (MCX_SHIM_TARGET) and injects faults on request.
#
# SPDX-License-Identifier: Apache-2.0

HSM_TEST_LIBS := $(LIBMCXHSM) $(LIBMCXCOMMON)
P11SHIM := $(B)/tests/libp11shim.so

TEST_PROGRAMS += $(B)/tests/test_hsm $(B)/tests/test_hsm_shim
EXTRA_TARGETS += $(P11SHIM)

$(B)/tests/test_hsm: $(call objs,tests/hsm/test_hsm.c) $(HSM_TEST_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(PKG_LIBS) $(LDLIBS)

$(B)/tests/test_hsm_shim: $(call objs,tests/hsm/test_hsm_shim.c) $(HSM_TEST_LIBS) | $(P11SHIM)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(filter-out $(P11SHIM),$^) -o $@ $(PKG_LIBS) -ldl $(LDLIBS)

$(P11SHIM): $(call objs,tests/hsm/p11shim.c)
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS) $^ -o $@ -ldl $(LDLIBS)
