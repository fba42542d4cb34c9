# tests/kms_cert: the TS 33.180 Annex D KMS certificate — build, sign, parse,
# verify, and interoperability with the stock xmlsec1.
# SPDX-License-Identifier: Apache-2.0
TEST_PROGRAMS += $(B)/tests/test_kms_cert

$(B)/tests/test_kms_cert: $(call objs,vault/kms/kms_cert.c tests/kms_cert/test_kms_cert.c) $(LIBMCXCOMMON)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)
