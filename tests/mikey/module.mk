# tests/mikey: MIKEY-SAKKE GMK I_MESSAGE (published Streamwide message, rebuild,
# fresh-key round trips, malformed input).
# SPDX-License-Identifier: Apache-2.0
TEST_PROGRAMS += $(B)/tests/test_mikey

$(B)/tests/test_mikey: $(call objs,tests/mikey/test_mikey.c) $(LIBMCXCRYPTO) $(LIBMCXCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto) $(LDLIBS)
