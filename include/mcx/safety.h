/*
 * mcxvault — guard macros and the must-check result type.
 *
 * The house style, after s2n-tls utils/s2n_result.h and OpenSSH:
 *   - a fallible function is declared MCX_RESULT and returns 0 or a negative
 *     MCX_ERR_* (include/mcx/error.h); the compiler refuses to let a caller
 *     drop the result (-Werror=unused-result);
 *   - it has one exit path: a local `int r = MCX_ERR_INTERNAL;` and a label
 *     `out:` that releases whatever the function owns; owned pointers start NULL;
 *   - it uses only these macros to leave early, so every early exit is a
 *     `goto out` and nothing leaks.
 *
 *   MCX_GUARD(expr)         run a fallible call; on error keep its code, goto out
 *   MCX_ENSURE(cond, err)   if cond is false, r = err, goto out
 *   MCX_ENSURE_REF(ptr)     a NULL pointer is MCX_ERR_INVALID_ARGUMENT
 *   MCX_ENSURE_ALLOC(ptr)   a NULL pointer from an allocator is MCX_ERR_ALLOC
 *   MCX_BAIL(err)           r = err, goto out
 *
 * docs/architecture.md ("House style") explains when to use which.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef MCX_SAFETY_H
#define MCX_SAFETY_H

#include "mcx/error.h"

#define MCX_MUST_CHECK __attribute__((warn_unused_result))
/* The return type of every fallible function: 0 or a negative MCX_ERR_*. */
#define MCX_RESULT MCX_MUST_CHECK int

#define MCX_GUARD(expr)                                                       \
	do {                                                                  \
		if ((r = (expr)) != 0)                                        \
			goto out;                                             \
	} while (0)

#define MCX_ENSURE(cond, err)                                                 \
	do {                                                                  \
		if (!(cond)) {                                                \
			r = (err);                                            \
			goto out;                                             \
		}                                                             \
	} while (0)

#define MCX_ENSURE_REF(ptr)   MCX_ENSURE((ptr) != NULL, MCX_ERR_INVALID_ARGUMENT)
#define MCX_ENSURE_ALLOC(ptr) MCX_ENSURE((ptr) != NULL, MCX_ERR_ALLOC)
#define MCX_BAIL(err)                                                         \
	do {                                                                  \
		r = (err);                                                    \
		goto out;                                                     \
	} while (0)

#define MCX_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif /* MCX_SAFETY_H */
