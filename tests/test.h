/*
 * mcxvault — the tiny test harness every C test program uses.
 *
 *   TEST(name) { ... CHECK(cond); CHECK_EQ_INT(a, b); CHECK_OK(expr); ... }
 *   int main(void) { RUN(name); ...; return test_summary("hsm"); }
 *
 * Each test prints "ok - name" or "FAIL - name: file:line: what"; the program
 * ends with the line "<suite>: N passed, N failed" (the closing line CI reads)
 * and exits non-zero when anything failed.  A test may call SKIP("why") to be
 * counted as skipped, visibly.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef MCX_TESTS_TEST_H
#define MCX_TESTS_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_passed, test_failed, test_skipped;
static int test_current_failed, test_current_skipped;

#define TEST(name) static void test_##name(void)

#define RUN(name)                                                              \
	do {                                                                   \
		test_current_failed = 0;                                       \
		test_current_skipped = 0;                                      \
		test_##name();                                                 \
		if (test_current_skipped) {                                    \
			test_skipped++;                                        \
		} else if (test_current_failed) {                              \
			test_failed++;                                         \
			printf("FAIL - %s\n", #name);                          \
		} else {                                                       \
			test_passed++;                                         \
			printf("ok - %s\n", #name);                            \
		}                                                              \
		fflush(stdout);                                                \
	} while (0)

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			printf("  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			test_current_failed = 1;                               \
		}                                                              \
	} while (0)

/* Like CHECK but leaves the test function (for checks later steps depend on). */
#define REQUIRE(cond)                                                          \
	do {                                                                   \
		if (!(cond)) {                                                 \
			printf("  %s:%d: required check failed: %s\n", __FILE__, __LINE__, #cond); \
			test_current_failed = 1;                               \
			return;                                                \
		}                                                              \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                     \
	do {                                                                   \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b); \
		if (check_a_ != check_b_) {                                    \
			printf("  %s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, \
			       #a, check_a_, #b, check_b_);                    \
			test_current_failed = 1;                               \
		}                                                              \
	} while (0)

#define CHECK_EQ_STR(a, b)                                                     \
	do {                                                                   \
		const char *check_a_ = (a), *check_b_ = (b);                   \
		if (check_a_ == NULL || check_b_ == NULL || strcmp(check_a_, check_b_) != 0) { \
			printf("  %s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__, __LINE__, \
			       #a, check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)"); \
			test_current_failed = 1;                               \
		}                                                              \
	} while (0)

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)
/* An expression returning 0 on success (MCX_OK). */
#define CHECK_OK(expr) CHECK_EQ_INT((expr), 0)

#define SKIP(why)                                                              \
	do {                                                                   \
		printf("skipped - %s: %s\n", __func__ + 5, (why));             \
		test_current_skipped = 1;                                      \
		return;                                                        \
	} while (0)

static inline int test_summary(const char *suite)
{
	printf("%s: %d passed, %d failed", suite, test_passed, test_failed);
	if (test_skipped)
		printf(", %d skipped", test_skipped);
	printf("\n");
	return test_failed == 0 ? 0 : 1;
}

#endif /* MCX_TESTS_TEST_H */
