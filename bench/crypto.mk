# bench_crypto: libmcxcrypto against Debian's wolfCrypt, same run (docs/crypto.md).
# wolfSSL is linked here and in tests/crypto/test_crypto_wolf only.
#
# SPDX-License-Identifier: Apache-2.0
BENCH_CRYPTO := $(B)/bench/bench_crypto
BENCH_PROGRAMS += $(BENCH_CRYPTO)

$(BENCH_CRYPTO): $(call objs,bench/bench_crypto.c) $(LIBMCXCRYPTO) $(LIBMCXCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs wolfssl 2>/dev/null || echo -lwolfssl) \
		$(shell pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto) $(LDLIBS)

# bench_mont: the 1024-bit Montgomery kernels alone (ns/op, portable and ADX).
BENCH_MONT := $(B)/bench/bench_mont
BENCH_PROGRAMS += $(BENCH_MONT)

$(BENCH_MONT): $(call objs,bench/bench_mont.c) $(LIBMCXCRYPTO) $(LIBMCXCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto) $(LDLIBS)
