# Stress test: many signers against a real vaultd while the domain key
# rotates (test_stress), on a throw-away token and vaultd (tests/lib/vault_fixture.c, also
# used by bench/bench_sign).  MCX_STRESS_SECONDS sets its length.
#
# SPDX-License-Identifier: Apache-2.0
TEST_STRESS := $(B)/tests/test_stress
TEST_PROGRAMS += $(TEST_STRESS)

$(TEST_STRESS): $(call objs,tests/stress/test_stress.c tests/lib/vault_fixture.c) $(LIBMCXVAULT_A) | $(VAULTD)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter-out $(VAULTD),$^) $(PKG_LIBS) $(LDLIBS)
