# tests/crypto: known answers, negative cases, differential tests against wolfCrypt.
# wolfSSL is linked into the differential test (and the benchmark) only.
# SPDX-License-Identifier: Apache-2.0
TEST_CRYPTO_LIBS := $(LIBMCXCRYPTO) $(LIBMCXCOMMON)
CRYPTO_LDLIBS := $(shell pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto)
WOLFSSL_LIBS := $(shell pkg-config --libs wolfssl 2>/dev/null || echo -lwolfssl)

TEST_PROGRAMS += $(B)/tests/test_crypto_vectors $(B)/tests/test_crypto_negative \
                 $(B)/tests/test_crypto_wolf $(B)/tests/test_crypto_fast

$(B)/tests/test_crypto_vectors: $(call objs,tests/crypto/test_crypto_vectors.c) $(TEST_CRYPTO_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CRYPTO_LDLIBS) $(LDLIBS)

$(B)/tests/test_crypto_negative: $(call objs,tests/crypto/test_crypto_negative.c) $(TEST_CRYPTO_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CRYPTO_LDLIBS) $(LDLIBS)

$(B)/tests/test_crypto_wolf: $(call objs,tests/crypto/test_crypto_wolf.c) $(TEST_CRYPTO_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(WOLFSSL_LIBS) $(CRYPTO_LDLIBS) $(LDLIBS)

$(B)/tests/test_crypto_fast: $(call objs,tests/crypto/test_crypto_fast.c) $(TEST_CRYPTO_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CRYPTO_LDLIBS) $(LDLIBS)
