/*
 * mcxvault — the 1024-bit Montgomery kernels alone (crypto/mont16.c): ns per
 * multiplication and squaring mod the RFC 6508 p, portable and ADX, median of
 * seven timed runs of a dependent chain (each result feeds the next call).
 *
 *   build/bench/bench_mont [iterations per run, default 200000]
 *   MCX_MONT16=adx valgrind --tool=callgrind build/bench/bench_mont 1000
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/internal.h"
#include "crypto/mont.h"
#include "crypto/mont16.h"
#include "tests/crypto/helpers.h"
#include "tests/crypto/vectors.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	uint8_t buf[128];
	struct mcx_mont c;
	uint64_t a[16], b[16];

	if (hexdec(V6508_p, buf, sizeof(buf), 128) != 128 || mcx_mont_init(&c, buf, 128) != 0)
		return 1;
	mcx_mont16_init();
	/* MCX_MONT16=adx|portable: that path only (callgrind hides ADX from CPUID) */
	int forced = getenv("MCX_MONT16") != NULL, first = forced ? mcx_mont16_adx : 0;
	for (int impl = first; impl < (forced ? first + 1 : 2); impl++) {
		if (!forced && mcx_mont16_select(impl) != 0) {
			printf("%-9s (not available)\n", "adx");
			continue;
		}
		for (int op = 0; op < 2; op++) {
			double t[7];
			for (int run = 0; run < 7; run++) {
				memcpy(a, c.one, sizeof(a));
				memcpy(b, c.rr, sizeof(b));
				double t0 = now();
				for (long i = 0; i < n; i++) {
					if (op == 0)
						mcx_mont16_mul(a, a, b, c.m, c.n0);
					else
						mcx_mont16_sqr(a, a, c.m, c.n0);
				}
				t[run] = (now() - t0) * 1e9 / n;
				__asm__ __volatile__("" : : "r"(a) : "memory");
			}
			qsort(t, 7, sizeof(t[0]), cmpd);
			printf("%-9s %-4s %8.1f ns/op (min %.1f, max %.1f)\n", impl ? "adx" : "portable",
			       op ? "sqr" : "mul", t[3], t[0], t[6]);
		}
	}
	return 0;
}
