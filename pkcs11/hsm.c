/*
 * mcxvault — the HSM layer: the only code that speaks PKCS#11.
 *
 * Structure of this file (read pkcs11/hsm.h first):
 *
 *   P11()          the one guarded way to call into the module;
 *   rv_map()       the one table from CK_RV to MCX_ERR_*;
 *   rv_lost()      the CK_RVs after which a session is reopened;
 *   hsm_run()      borrows a pooled session, runs one operation (a short
 *                  sequence of PKCS#11 calls on that session), recovers the
 *                  session and re-runs the operation once when it was lost,
 *                  serialises and retries object-changing operations, counts.
 *
 * Each public function packs its arguments into a small context on its stack
 * and hands an op_* function to hsm_run(); op_* functions only call P11() and
 * return a CK_RV (or HSM_RV_LOCAL with an MCX_ERR_* in *err for errors that are
 * ours), so the retry logic lives in exactly one place.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define CRYPTOKI_GNU 1

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

#include "mcx/buf.h"
#include "mcx/error.h"
#include "mcx/safety.h"
#include "mcx/util.h"
#include "pkcs11/hsm.h"

/* An operation failed for a reason of ours; the MCX_ERR_* is in *err. */
#define HSM_RV_LOCAL (CKR_VENDOR_DEFINED | 0x6d6378UL)
#define HSM_PIN_MAX 256
#define HSM_APPLICATION "mcxvault"
#define HSM_GCM_IV_LEN 12
#define HSM_GCM_TAG_LEN 16
#define HSM_FIND_BATCH 64
#define HSM_WALK_MAX_OBJECTS 100000

/* The one guarded call into the module: a missing entry point is an error,
 * never a NULL call. */
#define P11(h, name, ...)                                                     \
	((h)->fl->name != NULL ? (h)->fl->name(__VA_ARGS__) : CKR_FUNCTION_NOT_SUPPORTED)

#define ATTR(t, p, l) { (t), (void *)(p), (unsigned long)(l) }

static unsigned char ck_true = 1, ck_false = 0;

/* DER OID 1.2.840.10045.3.1.7 (prime256v1) */
static const unsigned char p256_params[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };

struct hsm_session {
	ck_session_handle_t handle;
	int open;         /* 0: must be reopened before use */
	int need_login;   /* the session is fine but the login was lost */
	int stuck;        /* ours but stuck in an operation: close it, then reopen */
};

struct hsm {
	struct ck_function_list *fl;
	int finalize;                 /* we initialised the module */
	P11KitUri *uri;
	ck_slot_id_t slot;            /* under recover_lock */
	char *pin;                    /* mlocked copy for logins after recovery */
	size_t pin_len;

	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cond;
	struct hsm_session *sessions;
	unsigned *free_stack;
	unsigned n_sessions, n_free;

	pthread_mutex_t recover_lock; /* slot lookup, reopen and login */
	pthread_mutex_t object_lock;  /* object-changing calls (SoftHSM #573) */

	/* Token loss (see "States" in docs/hsm.md).  Every call holds
	 * module_lock for reading while it is in the module; re-initialisation
	 * (C_Finalize + C_Initialize) holds it for writing, so it never pulls the
	 * module out from under a running call.  While `down`, calls fail at once
	 * with MCX_ERR_HSM_UNAVAILABLE instead of queueing behind the recovery. */
	pthread_rwlock_t module_lock;
	_Atomic int down;
	_Atomic uint64_t generation;  /* +1 per re-initialisation: handles of older ones are stale */
	int initialised;              /* we hold a C_Initialize (under module_lock) */
	pthread_mutex_t state_lock;   /* recoverer wake-ups */
	pthread_cond_t state_cond;
	pthread_t recoverer;
	int recoverer_started;
	int stopping;                 /* under state_lock */

	_Atomic uint64_t calls, recoveries, retries, failures, reinits;
	_Atomic uint64_t ping_probed_ns;  /* when vault.status last probed the token */
	void (*event)(int lost, const char *message);

	struct hsm_token_info info;   /* cached strings; reachable unused */
	char sync_dir[PATH_MAX];      /* "" means sync() */
};

/* --- CK_RV mapping: the one table ---------------------------------------- */

static const struct {
	ck_rv_t rv;
	int err;
} rv_table[] = {
	{ CKR_OK, MCX_OK },
	{ CKR_HOST_MEMORY, MCX_ERR_ALLOC },
	{ CKR_ARGUMENTS_BAD, MCX_ERR_INVALID_ARGUMENT },
	{ CKR_DATA_LEN_RANGE, MCX_ERR_INVALID_ARGUMENT },
	{ CKR_DATA_INVALID, MCX_ERR_INVALID_ARGUMENT },
	{ CKR_KEY_TYPE_INCONSISTENT, MCX_ERR_INVALID_ARGUMENT },
	{ CKR_KEY_FUNCTION_NOT_PERMITTED, MCX_ERR_PERMISSION_DENIED },
	{ CKR_ATTRIBUTE_SENSITIVE, MCX_ERR_PERMISSION_DENIED },
	{ CKR_ATTRIBUTE_READ_ONLY, MCX_ERR_PERMISSION_DENIED },
	{ CKR_ACTION_PROHIBITED, MCX_ERR_PERMISSION_DENIED },
	{ CKR_OBJECT_HANDLE_INVALID, MCX_ERR_HSM_STALE_HANDLE },
	{ CKR_KEY_HANDLE_INVALID, MCX_ERR_HSM_STALE_HANDLE },
	{ CKR_PIN_INCORRECT, MCX_ERR_HSM_PIN },
	{ CKR_PIN_INVALID, MCX_ERR_HSM_PIN },
	{ CKR_PIN_LEN_RANGE, MCX_ERR_HSM_PIN },
	{ CKR_PIN_EXPIRED, MCX_ERR_HSM_PIN },
	{ CKR_PIN_LOCKED, MCX_ERR_HSM_PIN },
	{ CKR_USER_PIN_NOT_INITIALIZED, MCX_ERR_HSM_PIN },
	{ CKR_ENCRYPTED_DATA_INVALID, MCX_ERR_SIGNATURE_INVALID },
	{ CKR_ENCRYPTED_DATA_LEN_RANGE, MCX_ERR_SIGNATURE_INVALID },
	{ CKR_SIGNATURE_INVALID, MCX_ERR_SIGNATURE_INVALID },
	{ CKR_SIGNATURE_LEN_RANGE, MCX_ERR_SIGNATURE_INVALID },
	/* the token went away: recovery already failed when these reach here */
	{ CKR_SESSION_HANDLE_INVALID, MCX_ERR_HSM_UNAVAILABLE },
	{ CKR_SESSION_CLOSED, MCX_ERR_HSM_UNAVAILABLE },
	{ CKR_USER_NOT_LOGGED_IN, MCX_ERR_HSM_UNAVAILABLE },
	{ CKR_DEVICE_REMOVED, MCX_ERR_HSM_UNAVAILABLE },
	{ CKR_DEVICE_ERROR, MCX_ERR_HSM_UNAVAILABLE },
	{ CKR_TOKEN_NOT_PRESENT, MCX_ERR_HSM_UNAVAILABLE },
	{ CKR_TOKEN_NOT_RECOGNIZED, MCX_ERR_HSM_UNAVAILABLE },
	{ CKR_SLOT_ID_INVALID, MCX_ERR_HSM_UNAVAILABLE },
	{ CKR_SESSION_COUNT, MCX_ERR_HSM_UNAVAILABLE },
	{ CKR_CRYPTOKI_NOT_INITIALIZED, MCX_ERR_HSM_UNAVAILABLE },
};

static int rv_map(ck_rv_t rv)
{
	size_t i;

	for (i = 0; i < MCX_ARRAY_SIZE(rv_table); i++)
		if (rv_table[i].rv == rv)
			return rv_table[i].err;
	return MCX_ERR_HSM;
}

/* After these the session is reopened (or the login redone) and the
 * operation re-run once. */
static int rv_lost(ck_rv_t rv)
{
	switch (rv) {
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
	case CKR_USER_NOT_LOGGED_IN:
	case CKR_DEVICE_REMOVED:
	case CKR_DEVICE_ERROR:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_SLOT_ID_INVALID:
		return 1;
	default:
		return 0;
	}
}

/* The token or the module is gone (or broken) when these persist after the
 * session was recovered once: the whole module is re-initialised. */
static int rv_gone(ck_rv_t rv)
{
	switch (rv) {
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
	case CKR_DEVICE_REMOVED:
	case CKR_DEVICE_ERROR:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_SLOT_ID_INVALID:
	case CKR_CRYPTOKI_NOT_INITIALIZED:
	case CKR_GENERAL_ERROR:
		return 1;
	default:
		return 0;
	}
}

static void count(_Atomic uint64_t *counter)
{
	atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

/* After a re-initialisation the module numbers its objects afresh: an old
 * handle may name a different object now (SoftHSM starts again from 1), so
 * acting on it could sign with, or destroy, the wrong key.  Handles given to
 * callers therefore carry the generation they belong to in their top bits,
 * and a handle of an older generation is MCX_ERR_HSM_STALE_HANDLE without
 * the module being asked.  A handle without a generation (top bits 0) is one
 * a test made outside this layer: used as it is. */
#if ULONG_MAX > 0xffffffffUL
#define HSM_GEN_SHIFT 40
#define HSM_RAW_MASK ((1UL << HSM_GEN_SHIFT) - 1)
#define HSM_GEN_MASK ((1UL << (64 - HSM_GEN_SHIFT)) - 1)
#else
/* 32-bit handles have no room for a generation: none is kept (0 = no check) */
#define HSM_GEN_SHIFT 0
#define HSM_RAW_MASK ULONG_MAX
#define HSM_GEN_MASK 0UL
#endif

/* The generation the last hsm_run() of this thread ran its operation in. */
static _Thread_local uint64_t run_generation;

static hsm_handle_t handle_out(ck_object_handle_t raw)
{
	if (raw == 0 || HSM_GEN_MASK == 0 || (raw & ~HSM_RAW_MASK) != 0)
		return raw; /* 0 stays invalid; a module with huge handles gets them untagged */
	return (hsm_handle_t)((run_generation & HSM_GEN_MASK) << HSM_GEN_SHIFT) | raw;
}

static ck_object_handle_t handle_raw(hsm_handle_t handle)
{
	return handle & HSM_RAW_MASK;
}

static uint64_t handle_generation(hsm_handle_t handle)
{
	return HSM_GEN_MASK == 0 ? 0 : (uint64_t)handle >> HSM_GEN_SHIFT;
}

/* Copies a blank-padded PKCS#11 string into a NUL-terminated one. */
static void space_copy(char *dst, size_t dst_size, const unsigned char *src, size_t src_len)
{
	size_t n = p11_kit_space_strlen(src, src_len);

	if (n >= dst_size)
		n = dst_size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* --- slot lookup, login, session pool ------------------------------------- */

/* The one initialised token that matches the URI.  0, MCX_ERR_HSM_UNAVAILABLE
 * when none matches, MCX_ERR_CONFIG when several do. */
static int find_slot(struct hsm *h, ck_slot_id_t *slot, struct ck_token_info *token, int verbose)
{
	ck_slot_id_t *slots = NULL;
	unsigned long n = 0, i, matches = 0;
	struct ck_slot_info slot_info;
	struct ck_token_info ti;
	ck_rv_t rv;
	int r = MCX_ERR_INTERNAL;

	rv = P11(h, C_GetSlotList, 1, NULL, &n);
	MCX_ENSURE(rv == CKR_OK, rv_lost(rv) ? MCX_ERR_HSM_UNAVAILABLE : rv_map(rv));
	if (n > 0) {
		n += 4; /* a slot may appear between the two calls */
		slots = calloc(n, sizeof(*slots));
		MCX_ENSURE_ALLOC(slots);
		rv = P11(h, C_GetSlotList, 1, slots, &n);
		MCX_ENSURE(rv == CKR_OK, rv_lost(rv) || rv == CKR_BUFFER_TOO_SMALL ?
		                         MCX_ERR_HSM_UNAVAILABLE : rv_map(rv));
	}
	for (i = 0; i < n; i++) {
		if (P11(h, C_GetSlotInfo, slots[i], &slot_info) != CKR_OK ||
		    !p11_kit_uri_match_slot_info(h->uri, &slot_info))
			continue;
		if (P11(h, C_GetTokenInfo, slots[i], &ti) != CKR_OK)
			continue;
		if (!(ti.flags & CKF_TOKEN_INITIALIZED) || !p11_kit_uri_match_token_info(h->uri, &ti))
			continue;
		if (matches++ == 0) {
			*slot = slots[i];
			if (token != NULL)
				*token = ti;
		}
	}
	if (matches == 0) {
		if (verbose)
			fprintf(stderr, "hsm: no initialised token matches the token URI\n");
		MCX_BAIL(MCX_ERR_HSM_UNAVAILABLE);
	}
	if (matches > 1) {
		if (verbose)
			fprintf(stderr, "hsm: %lu tokens match the token URI; add serial= to it\n", matches);
		MCX_BAIL(MCX_ERR_CONFIG);
	}
	r = 0;
out:
	free(slots);
	return r;
}

static ck_rv_t login(struct hsm *h, ck_session_handle_t session)
{
	ck_rv_t rv = P11(h, C_Login, session, CKU_USER, (unsigned char *)h->pin, h->pin_len);

	return rv == CKR_USER_ALREADY_LOGGED_IN ? CKR_OK : rv;
}

/* Makes s usable again: logs in on it, or opens a new session (on the slot
 * the token is in now) and logs in.  The old handle is not closed: after a
 * token loss the module may already have given its number to another of our
 * sessions. */
static int session_recover(struct hsm *h, struct hsm_session *s)
{
	ck_session_handle_t handle = 0;
	ck_slot_id_t slot;
	ck_rv_t rv;
	int r = MCX_ERR_INTERNAL;

	pthread_mutex_lock(&h->recover_lock);
	count(&h->recoveries);
	if (s->open && s->need_login) {
		rv = login(h, s->handle);
		if (rv == CKR_OK) {
			s->need_login = 0;
			MCX_BAIL(0);
		}
		s->open = 0; /* then try a fresh session */
	}
	if (s->stuck) {
		/* still our handle (the module said so), so closing it is safe */
		(void)P11(h, C_CloseSession, s->handle);
		s->stuck = 0;
	}
	MCX_GUARD(find_slot(h, &slot, NULL, 0));
	h->slot = slot;
	rv = P11(h, C_OpenSession, slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &handle);
	MCX_ENSURE(rv == CKR_OK, rv_lost(rv) ? MCX_ERR_HSM_UNAVAILABLE : rv_map(rv));
	rv = login(h, handle);
	MCX_ENSURE(rv == CKR_OK, rv_lost(rv) ? MCX_ERR_HSM_UNAVAILABLE : rv_map(rv));
	s->handle = handle;
	s->open = 1;
	s->need_login = 0;
	r = 0;
out:
	pthread_mutex_unlock(&h->recover_lock);
	return r;
}

static struct hsm_session *session_borrow(struct hsm *h)
{
	struct hsm_session *s;

	pthread_mutex_lock(&h->pool_lock);
	while (h->n_free == 0)
		pthread_cond_wait(&h->pool_cond, &h->pool_lock);
	s = &h->sessions[h->free_stack[--h->n_free]];
	pthread_mutex_unlock(&h->pool_lock);
	return s;
}

static void session_return(struct hsm *h, struct hsm_session *s)
{
	pthread_mutex_lock(&h->pool_lock);
	h->free_stack[h->n_free++] = (unsigned)(s - h->sessions);
	pthread_cond_signal(&h->pool_cond);
	pthread_mutex_unlock(&h->pool_lock);
}

/* --- the token probe, the states ------------------------------------------ */

/* Is the token still there?  SoftHSM 2.6.1 keeps its sessions when the token
 * directory disappears, but then answers CKR_OBJECT_HANDLE_INVALID for every
 * key, finds no objects at all and fails C_GetTokenInfo (CKR_GENERAL_ERROR);
 * and it stays so after the directory is back, until C_Finalize +
 * C_Initialize.  So a stale handle or an empty search is only believed after
 * this probe: CKR_OK when the token answers and is initialised. */
static ck_rv_t token_probe(struct hsm *h)
{
	struct ck_token_info ti;
	ck_slot_id_t slot;
	ck_rv_t rv;

	pthread_mutex_lock(&h->recover_lock);
	slot = h->slot;
	pthread_mutex_unlock(&h->recover_lock);
	rv = P11(h, C_GetTokenInfo, slot, &ti);
	if (rv == CKR_OK && !(ti.flags & CKF_TOKEN_INITIALIZED))
		rv = CKR_TOKEN_NOT_RECOGNIZED;
	return rv;
}

/* The token or the module is gone: from now on calls fail fast with
 * MCX_ERR_HSM_UNAVAILABLE and the recoverer thread re-initialises the module
 * until the token is back. */
static void hsm_event(struct hsm *h, int lost, const char *message)
{
	if (h->event != NULL)
		h->event(lost, message);
	else
		fprintf(stderr, "hsm: %s\n", message);
}

static void hsm_mark_down(struct hsm *h, ck_rv_t rv)
{
	char message[192];

	if (atomic_exchange(&h->down, 1) == 0) {
		snprintf(message, sizeof(message), "the token or the module is gone (CK_RV 0x%lx): every call answers "
		         "\"HSM unavailable\" until it is back; recovering", rv);
		hsm_event(h, 1, message);
	}
	pthread_mutex_lock(&h->state_lock);
	pthread_cond_broadcast(&h->state_cond);
	pthread_mutex_unlock(&h->state_lock);
}

/* --- the operation runner ------------------------------------------------- */

typedef ck_rv_t (*hsm_op)(struct hsm *h, ck_session_handle_t session, void *ctx, int *err);

#define OP_CHANGES_OBJECTS 1u

/* need_generation: the generation of the handle the operation uses (0: none
 * or untagged); an older one is stale without asking the module. */
static int hsm_run(struct hsm *h, unsigned flags, hsm_op op, void *ctx, uint64_t need_generation)
{
	struct hsm_session *s = NULL;
	int attempt, unstuck = 0, retried = 0, gone = 0;
	ck_rv_t rv = CKR_OK;
	int r = MCX_ERR_INTERNAL, err;

	count(&h->calls);
	pthread_rwlock_rdlock(&h->module_lock);
	if (atomic_load(&h->down)) {
		r = MCX_ERR_HSM_UNAVAILABLE;
		goto unlock;
	}
	run_generation = atomic_load(&h->generation);
	if (need_generation != 0 && need_generation != (run_generation & HSM_GEN_MASK)) {
		r = MCX_ERR_HSM_STALE_HANDLE;
		goto unlock;
	}
	s = session_borrow(h);
	if (flags & OP_CHANGES_OBJECTS)
		pthread_mutex_lock(&h->object_lock);
	for (attempt = 0;; attempt++) {
		if (!s->open || s->need_login) {
			if ((r = session_recover(h, s)) != 0) {
				/* no slot, no session or no login: the token is not there */
				gone = r == MCX_ERR_HSM_UNAVAILABLE;
				rv = CKR_TOKEN_NOT_PRESENT;
				break;
			}
		}
		err = MCX_ERR_INTERNAL;
		rv = op(h, s->handle, ctx, &err);
		if (rv == CKR_OK) {
			r = 0;
			break;
		}
		if (rv == HSM_RV_LOCAL) {
			r = err;
			break;
		}
		if (rv_lost(rv)) {
			if (rv == CKR_USER_NOT_LOGGED_IN)
				s->need_login = 1;
			else
				s->open = 0;
			if (attempt == 0)
				continue;
			r = MCX_ERR_HSM_UNAVAILABLE;
			gone = rv_gone(rv);
			break;
		}
		if (rv == CKR_OPERATION_ACTIVE && !unstuck) {
			/* an earlier operation was left active (a module that did
			 * not end it on error): replace the session; once, and
			 * without using up the retry */
			unstuck = 1;
			s->open = 0;
			s->stuck = 1;
			attempt--;
			continue;
		}
		if (rv == CKR_GENERAL_ERROR && !retried) {
			/* SoftHSM #573 for object changes; a hiccup elsewhere */
			retried = 1;
			if (flags & OP_CHANGES_OBJECTS)
				count(&h->retries);
			attempt--;
			continue;
		}
		if (rv == CKR_OBJECT_HANDLE_INVALID || rv == CKR_KEY_HANDLE_INVALID) {
			ck_rv_t probe = token_probe(h);

			if (probe != CKR_OK) {
				/* not a stale handle: no handle works any more */
				rv = probe;
				r = MCX_ERR_HSM_UNAVAILABLE;
				gone = 1;
				break;
			}
		}
		if (rv_gone(rv)) {
			r = MCX_ERR_HSM_UNAVAILABLE;
			gone = 1;
			break;
		}
		r = rv_map(rv);
		break;
	}
	if (flags & OP_CHANGES_OBJECTS)
		pthread_mutex_unlock(&h->object_lock);
	session_return(h, s);
unlock:
	pthread_rwlock_unlock(&h->module_lock);
	if (gone)
		hsm_mark_down(h, rv);
	if (r != 0)
		count(&h->failures);
	return r;
}

/* Re-initialises the module and rebuilds the pool; the caller is the
 * recoverer thread.  Under module_lock for writing: no call is in the module.
 * 0 when the token is back. */
static int hsm_reinit(struct hsm *h)
{
	struct ck_c_initialize_args args;
	ck_slot_id_t slot;
	ck_rv_t rv = CKR_OK;
	unsigned i;
	int r = MCX_ERR_HSM_UNAVAILABLE;

	pthread_rwlock_wrlock(&h->module_lock);
	if (!atomic_load(&h->down)) {
		r = 0;
		goto out;
	}
	if (h->initialised && h->finalize) {
		/* drops every session of ours; never a C_Logout while serving */
		(void)P11(h, C_Finalize, NULL);
		h->initialised = 0;
	}
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;   /* SoftHSM crashes under threads without it */
	rv = P11(h, C_Initialize, &args);
	if (rv == CKR_OK || (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED && h->finalize))
		h->initialised = 1;   /* ALREADY: our C_Finalize failed, the initialisation is still ours */
	else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
		goto out;   /* e.g. SoftHSM without its token directory: CKR_GENERAL_ERROR */
	pthread_mutex_lock(&h->recover_lock);
	r = find_slot(h, &slot, NULL, 0);   /* by URI again: the slot id may have changed */
	if (r == 0)
		h->slot = slot;
	pthread_mutex_unlock(&h->recover_lock);
	if (r != 0)
		goto out;
	r = MCX_ERR_HSM_UNAVAILABLE;
	for (i = 0; i < h->n_sessions; i++) {
		struct hsm_session *s = &h->sessions[i];

		rv = P11(h, C_OpenSession, slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s->handle);
		s->open = rv == CKR_OK;
		s->need_login = 0;
		s->stuck = 0;
		if (rv != CKR_OK)
			goto out;
		if (i == 0 && (rv = login(h, s->handle)) != CKR_OK)
			goto out;
	}
	if ((rv = token_probe(h)) != CKR_OK)
		goto out;
	atomic_fetch_add(&h->generation, 1);
	count(&h->reinits);
	atomic_store(&h->down, 0);
	{
		char message[160];

		snprintf(message, sizeof(message), "the token is back (slot %lu); module re-initialised, object "
		         "handles renewed (generation %llu)", (unsigned long)slot,
		         (unsigned long long)atomic_load(&h->generation));
		hsm_event(h, 0, message);
	}
	r = 0;
out:
	if (r != 0) {
		/* sessions opened so far go with the next C_Finalize */
		for (i = 0; i < h->n_sessions; i++)
			h->sessions[i].open = 0;
	}
	pthread_rwlock_unlock(&h->module_lock);
	return r;
}

#define HSM_RECOVER_INTERVAL_MS 100

/* The recoverer: sleeps until the token is marked gone, then tries to bring
 * it back every HSM_RECOVER_INTERVAL_MS.  One thread, so one recovery at a
 * time; callers never wait for it (they fail fast while it works). */
static void *hsm_recoverer(void *arg)
{
	struct hsm *h = arg;
	struct timespec until;

	pthread_mutex_lock(&h->state_lock);
	while (!h->stopping) {
		if (!atomic_load(&h->down)) {
			pthread_cond_wait(&h->state_cond, &h->state_lock);
			continue;
		}
		pthread_mutex_unlock(&h->state_lock);
		(void)hsm_reinit(h);
		pthread_mutex_lock(&h->state_lock);
		if (!atomic_load(&h->down) || h->stopping)
			continue;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += HSM_RECOVER_INTERVAL_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		(void)pthread_cond_timedwait(&h->state_cond, &h->state_lock, &until);
	}
	pthread_mutex_unlock(&h->state_lock);
	return NULL;
}

/* --- open / close ----------------------------------------------------------- */

/* directories.tokendir from the SoftHSM configuration, or "" */
static void softhsm_tokendir(char *dir, size_t dir_size)
{
	const char *conf = getenv("SOFTHSM2_CONF");
	char line[PATH_MAX + 64];
	FILE *f;

	dir[0] = '\0';
	if (conf == NULL || conf[0] == '\0')
		conf = "/etc/softhsm/softhsm2.conf";
	if ((f = fopen(conf, "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p = line, *end;
		size_t klen = strlen("directories.tokendir");

		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, "directories.tokendir", klen) != 0)
			continue;
		p += klen;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p++ != '=')
			continue;
		while (*p == ' ' || *p == '\t')
			p++;
		end = p + strlen(p);
		while (end > p && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (*p != '\0' && (size_t)(end - p) < dir_size)
			memcpy(dir, p, (size_t)(end - p) + 1);
	}
	fclose(f);
}

/* Loads the module unmanaged (we call C_Initialize ourselves): an absolute
 * path directly, a registered name through p11-kit's configuration. */
static int load_module(const char *module, struct ck_function_list **fl, char *path, size_t path_size)
{
	struct ck_function_list **all = NULL, *named;
	char *filename = NULL;
	int r = MCX_ERR_INTERNAL;

	if (module[0] == '/') {
		MCX_ENSURE(strlen(module) < path_size, MCX_ERR_INVALID_ARGUMENT);
		snprintf(path, path_size, "%s", module);
	} else {
		MCX_ENSURE(strchr(module, '/') == NULL, MCX_ERR_INVALID_ARGUMENT);
		all = p11_kit_modules_load(NULL, P11_KIT_MODULE_UNMANAGED);
		named = all != NULL ? p11_kit_module_for_name(all, module) : NULL;
		filename = named != NULL ? p11_kit_module_get_filename(named) : NULL;
		if (filename == NULL) {
			fprintf(stderr, "hsm: no PKCS#11 module registered as \"%s\" (p11-kit list-modules)\n",
			        module);
			MCX_BAIL(MCX_ERR_NOT_FOUND);
		}
		MCX_ENSURE(strlen(filename) < path_size, MCX_ERR_CONFIG);
		snprintf(path, path_size, "%s", filename);
		/* Loaded again by path below so that only this module stays. */
		p11_kit_modules_release(all);
		all = NULL;
	}
	*fl = p11_kit_module_load(path, P11_KIT_MODULE_UNMANAGED);
	if (*fl == NULL) {
		const char *msg = p11_kit_message();

		fprintf(stderr, "hsm: cannot load PKCS#11 module %s: %s\n", path, msg ? msg : "unknown error");
		MCX_BAIL(MCX_ERR_NOT_FOUND);
	}
	r = 0;
out:
	free(filename);
	if (all != NULL)
		p11_kit_modules_release(all);
	return r;
}

MCX_RESULT hsm_open(const struct hsm_options *options, struct hsm **out)
{
	struct hsm *h = NULL;
	struct ck_c_initialize_args args;
	struct ck_info module_info;
	struct ck_token_info ti;
	unsigned i;
	ck_rv_t rv;
	int r = MCX_ERR_INTERNAL, uri_r, locks = 0;

	MCX_ENSURE_REF(out);
	*out = NULL;
	MCX_ENSURE_REF(options);
	MCX_ENSURE(options->module != NULL && options->module[0] != '\0', MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(options->token_uri != NULL && options->pin != NULL, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(options->sessions >= 1 && options->sessions <= 1024, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(strlen(options->pin) < HSM_PIN_MAX, MCX_ERR_HSM_PIN);

	h = calloc(1, sizeof(*h));
	MCX_ENSURE_ALLOC(h);
	pthread_mutex_init(&h->pool_lock, NULL);
	pthread_cond_init(&h->pool_cond, NULL);
	pthread_mutex_init(&h->recover_lock, NULL);
	pthread_mutex_init(&h->object_lock, NULL);
	{
		/* writer first: a stream of calls must not keep the recovery out
		 * (no call takes the lock twice, so this cannot deadlock) */
		pthread_rwlockattr_t attr;

		pthread_rwlockattr_init(&attr);
		pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&h->module_lock, &attr);
		pthread_rwlockattr_destroy(&attr);
	}
	pthread_mutex_init(&h->state_lock, NULL);
	pthread_cond_init(&h->state_cond, NULL);
	atomic_store(&h->generation, 1);
	h->event = options->event;
	locks = 1;

	h->pin = calloc(1, HSM_PIN_MAX);
	MCX_ENSURE_ALLOC(h->pin);
	mcx_lock_memory(h->pin, HSM_PIN_MAX);
	h->pin_len = strlen(options->pin);
	memcpy(h->pin, options->pin, h->pin_len);

	h->uri = p11_kit_uri_new();
	MCX_ENSURE_ALLOC(h->uri);
	uri_r = p11_kit_uri_parse(options->token_uri,
	                          P11_KIT_URI_FOR_TOKEN | P11_KIT_URI_FOR_SLOT | P11_KIT_URI_FOR_MODULE_WITH_VERSION,
	                          h->uri);
	if (uri_r != P11_KIT_URI_OK) {
		fprintf(stderr, "hsm: invalid token URI: %s\n", p11_kit_uri_message(uri_r));
		MCX_BAIL(MCX_ERR_CONFIG);
	}
	if (p11_kit_uri_any_unrecognized(h->uri)) {
		fprintf(stderr, "hsm: token URI has attributes p11-kit does not know\n");
		MCX_BAIL(MCX_ERR_CONFIG);
	}

	MCX_GUARD(load_module(options->module, &h->fl, h->info.module_path, sizeof(h->info.module_path)));
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	rv = P11(h, C_Initialize, &args);
	if (rv == CKR_OK)
		h->finalize = h->initialised = 1;
	else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		fprintf(stderr, "hsm: C_Initialize failed: CK_RV 0x%lx\n", rv);
		MCX_BAIL(MCX_ERR_HSM_UNAVAILABLE);
	}
	rv = P11(h, C_GetInfo, &module_info);
	MCX_ENSURE(rv == CKR_OK, MCX_ERR_HSM_UNAVAILABLE);
	if (!p11_kit_uri_match_module_info(h->uri, &module_info)) {
		fprintf(stderr, "hsm: the module does not match the token URI\n");
		MCX_BAIL(MCX_ERR_HSM_UNAVAILABLE);
	}
	space_copy(h->info.module_description, sizeof(h->info.module_description),
	           module_info.library_description, sizeof(module_info.library_description));

	MCX_GUARD(find_slot(h, &h->slot, &ti, 1));
	space_copy(h->info.token_label, sizeof(h->info.token_label), ti.label, sizeof(ti.label));
	space_copy(h->info.token_serial, sizeof(h->info.token_serial), ti.serial_number, sizeof(ti.serial_number));
	space_copy(h->info.token_manufacturer, sizeof(h->info.token_manufacturer), ti.manufacturer_id,
	           sizeof(ti.manufacturer_id));
	space_copy(h->info.token_model, sizeof(h->info.token_model), ti.model, sizeof(ti.model));

	h->sessions = calloc(options->sessions, sizeof(*h->sessions));
	h->free_stack = calloc(options->sessions, sizeof(*h->free_stack));
	MCX_ENSURE_ALLOC(h->sessions);
	MCX_ENSURE_ALLOC(h->free_stack);
	for (i = 0; i < options->sessions; i++) {
		rv = P11(h, C_OpenSession, h->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
		         &h->sessions[i].handle);
		if (rv != CKR_OK) {
			fprintf(stderr, "hsm: C_OpenSession failed: CK_RV 0x%lx\n", rv);
			MCX_BAIL(rv_lost(rv) ? MCX_ERR_HSM_UNAVAILABLE : rv_map(rv));
		}
		h->sessions[i].open = 1;
		h->n_sessions++;
		h->free_stack[h->n_free++] = i;
		if (i == 0) {
			rv = login(h, h->sessions[0].handle);
			if (rv != CKR_OK) {
				r = rv_lost(rv) ? MCX_ERR_HSM_UNAVAILABLE : rv_map(rv);
				fprintf(stderr, "hsm: user login failed: %s\n", mcx_strerror(r));
				MCX_BAIL(r == MCX_ERR_HSM ? MCX_ERR_HSM_PIN : r);
			}
		}
	}

	if (options->sync_path != NULL) {
		MCX_ENSURE(strlen(options->sync_path) < sizeof(h->sync_dir), MCX_ERR_INVALID_ARGUMENT);
		snprintf(h->sync_dir, sizeof(h->sync_dir), "%s", options->sync_path);
	} else {
		softhsm_tokendir(h->sync_dir, sizeof(h->sync_dir));
	}
	if (pthread_create(&h->recoverer, NULL, hsm_recoverer, h) != 0)
		MCX_BAIL(MCX_ERR_SYSTEM);
	h->recoverer_started = 1;

	*out = h;
	h = NULL;
	r = 0;
out:
	if (h != NULL && !locks) {
		free(h);
	} else if (h != NULL) {
		hsm_close(h);
	}
	return r;
}

void hsm_close(struct hsm *h)
{
	unsigned i;

	if (h == NULL)
		return;
	if (h->recoverer_started) {
		pthread_mutex_lock(&h->state_lock);
		h->stopping = 1;
		pthread_cond_broadcast(&h->state_cond);
		pthread_mutex_unlock(&h->state_lock);
		pthread_join(h->recoverer, NULL);
	}
	if (h->fl != NULL) {
		for (i = 0; i < h->n_sessions && h->initialised; i++)
			if (h->sessions[i].open)
				(void)P11(h, C_CloseSession, h->sessions[i].handle);
		if (h->finalize && h->initialised)
			(void)P11(h, C_Finalize, NULL);
		p11_kit_module_release(h->fl);
	}
	if (h->uri != NULL)
		p11_kit_uri_free(h->uri);
	if (h->pin != NULL) {
		mcx_wipe(h->pin, HSM_PIN_MAX);
		mcx_unlock_memory(h->pin, HSM_PIN_MAX);
		free(h->pin);
	}
	free(h->sessions);
	free(h->free_stack);
	pthread_mutex_destroy(&h->pool_lock);
	pthread_cond_destroy(&h->pool_cond);
	pthread_mutex_destroy(&h->recover_lock);
	pthread_mutex_destroy(&h->object_lock);
	pthread_rwlock_destroy(&h->module_lock);
	pthread_mutex_destroy(&h->state_lock);
	pthread_cond_destroy(&h->state_cond);
	free(h);
}

/* --- token info, stats, sync, random -------------------------------------- */

#define HSM_PING_PROBE_NS (200u * 1000u * 1000u)

/* A session that answers is not enough: SoftHSM keeps sessions of a token
 * whose directory is gone (see token_probe).  The probe costs more than the
 * rest of a vault.status, so it runs at most every 200 ms: a lost token is
 * seen that late at worst by a status that is all the traffic there is. */
static ck_rv_t op_ping(struct hsm *h, ck_session_handle_t session, void *ctx, int *err)
{
	struct ck_session_info si;
	ck_rv_t rv = P11(h, C_GetSessionInfo, session, &si);
	uint64_t now = mcx_monotonic_ns(), last = atomic_load(&h->ping_probed_ns);

	if (rv != CKR_OK || (now - last < HSM_PING_PROBE_NS && last != 0))
		return rv;
	atomic_store(&h->ping_probed_ns, now);
	return token_probe(h);
}

MCX_RESULT hsm_token_info(struct hsm *h, struct hsm_token_info *info)
{
	int r = MCX_ERR_INTERNAL;

	MCX_ENSURE_REF(h);
	MCX_ENSURE_REF(info);
	*info = h->info;
	info->reachable = hsm_run(h, 0, op_ping, NULL, 0) == 0;
	r = 0;
out:
	return r;
}

void hsm_stats_get(struct hsm *h, struct hsm_stats *stats)
{
	if (stats == NULL)
		return;
	memset(stats, 0, sizeof(*stats));
	if (h == NULL)
		return;
	stats->calls = atomic_load_explicit(&h->calls, memory_order_relaxed);
	stats->recoveries = atomic_load_explicit(&h->recoveries, memory_order_relaxed);
	stats->retries = atomic_load_explicit(&h->retries, memory_order_relaxed);
	stats->failures = atomic_load_explicit(&h->failures, memory_order_relaxed);
	stats->reinits = atomic_load_explicit(&h->reinits, memory_order_relaxed);
	stats->generation = atomic_load(&h->generation);
	stats->reachable = !atomic_load(&h->down);
}

MCX_RESULT hsm_sync(struct hsm *h)
{
	int r = MCX_ERR_INTERNAL, fd = -1;

	MCX_ENSURE_REF(h);
	if (h->sync_dir[0] == '\0') {
		sync();
		MCX_BAIL(0);
	}
	fd = open(h->sync_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	MCX_ENSURE(fd >= 0, MCX_ERR_SYSTEM);
	MCX_ENSURE(syncfs(fd) == 0, MCX_ERR_SYSTEM);
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	return r;
}

struct random_ctx {
	unsigned char *out;
	size_t len;
};

static ck_rv_t op_random(struct hsm *h, ck_session_handle_t session, void *ctx, int *err)
{
	struct random_ctx *c = ctx;

	return P11(h, C_GenerateRandom, session, c->out, c->len);
}

MCX_RESULT hsm_random(struct hsm *h, void *out, size_t len)
{
	struct random_ctx c = { out, len };
	int r = MCX_ERR_INTERNAL;

	MCX_ENSURE_REF(h);
	MCX_ENSURE(out != NULL || len == 0, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(len <= MCX_BUF_SIZE_MAX, MCX_ERR_INVALID_ARGUMENT);
	if (len == 0)
		MCX_BAIL(0);
	MCX_GUARD(hsm_run(h, 0, op_random, &c, 0));
	r = 0;
out:
	return r;
}

/* --- finding objects -------------------------------------------------------- */

static enum hsm_object_class class_from_ck(ck_object_class_t c)
{
	switch (c) {
	case CKO_DATA: return HSM_CLASS_DATA;
	case CKO_PUBLIC_KEY: return HSM_CLASS_PUBLIC_KEY;
	case CKO_PRIVATE_KEY: return HSM_CLASS_PRIVATE_KEY;
	case CKO_SECRET_KEY: return HSM_CLASS_SECRET_KEY;
	default: return HSM_CLASS_OTHER;
	}
}

static int class_to_ck(enum hsm_object_class c, ck_object_class_t *out)
{
	switch (c) {
	case HSM_CLASS_DATA: *out = CKO_DATA; return 0;
	case HSM_CLASS_PUBLIC_KEY: *out = CKO_PUBLIC_KEY; return 0;
	case HSM_CLASS_PRIVATE_KEY: *out = CKO_PRIVATE_KEY; return 0;
	case HSM_CLASS_SECRET_KEY: *out = CKO_SECRET_KEY; return 0;
	default: return MCX_ERR_INVALID_ARGUMENT;
	}
}

struct walk_item {
	struct hsm_object object;
	uint8_t *value; /* owned copy of object.value */
};

struct walk_ctx {
	const char *prefix;
	size_t prefix_len;
	ck_object_handle_t *handles;
	size_t n_handles, cap_handles;
	struct walk_item *items;
	size_t n_items;
};

static void walk_reset(struct walk_ctx *c)
{
	size_t i;

	for (i = 0; i < c->n_items; i++) {
		if (c->items[i].value != NULL) {
			mcx_wipe(c->items[i].value, c->items[i].object.value_len);
			free(c->items[i].value);
		}
	}
	free(c->items);
	free(c->handles);
	c->items = NULL;
	c->handles = NULL;
	c->n_items = c->n_handles = c->cap_handles = 0;
}

/* Reads one object into c->items if its label starts with the prefix;
 * objects destroyed meanwhile are skipped. */
static ck_rv_t walk_read(struct hsm *h, ck_session_handle_t session, struct walk_ctx *c,
                         ck_object_handle_t handle, int *err)
{
	ck_object_class_t cls = 0;
	char label[HSM_LABEL_MAX + 1];
	struct ck_attribute a[2] = { ATTR(CKA_CLASS, &cls, sizeof(cls)), ATTR(CKA_LABEL, label, HSM_LABEL_MAX) };
	struct ck_attribute v = ATTR(CKA_VALUE, NULL, 0);
	struct walk_item *item;
	ck_rv_t rv;

	rv = P11(h, C_GetAttributeValue, session, handle, a, 2);
	if (rv == CKR_OBJECT_HANDLE_INVALID)
		return CKR_OK;
	if (rv == CKR_BUFFER_TOO_SMALL || rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE)
		return CKR_OK; /* label longer than we can hold, or none: cannot match */
	if (rv != CKR_OK)
		return rv;
	if (a[1].value_len == (unsigned long)-1 || a[1].value_len > HSM_LABEL_MAX)
		return CKR_OK;
	label[a[1].value_len] = '\0';
	if (a[1].value_len < c->prefix_len || memcmp(label, c->prefix, c->prefix_len) != 0 ||
	    strlen(label) != a[1].value_len)
		return CKR_OK;

	item = &c->items[c->n_items];
	memset(item, 0, sizeof(*item));
	item->object.handle = handle;
	item->object.object_class = class_from_ck(cls);
	memcpy(item->object.label, label, a[1].value_len + 1);
	if (cls == CKO_DATA) {
		rv = P11(h, C_GetAttributeValue, session, handle, &v, 1);
		if (rv == CKR_OBJECT_HANDLE_INVALID)
			return CKR_OK;
		if (rv != CKR_OK)
			return rv;
		if (v.value_len > HSM_DATA_VALUE_MAX) {
			*err = MCX_ERR_NO_BUFFER_SPACE;
			return HSM_RV_LOCAL;
		}
		item->value = malloc(v.value_len > 0 ? v.value_len : 1);
		if (item->value == NULL) {
			*err = MCX_ERR_ALLOC;
			return HSM_RV_LOCAL;
		}
		v.value = item->value;
		rv = P11(h, C_GetAttributeValue, session, handle, &v, 1);
		if (rv != CKR_OK) {
			free(item->value);
			item->value = NULL;
			return rv == CKR_OBJECT_HANDLE_INVALID ? CKR_OK : rv;
		}
		item->object.value = item->value;
		item->object.value_len = v.value_len;
	}
	c->n_items++;
	return CKR_OK;
}

static ck_rv_t op_walk(struct hsm *h, ck_session_handle_t session, void *ctx, int *err)
{
	struct walk_ctx *c = ctx;
	struct ck_attribute tmpl[1] = { ATTR(CKA_TOKEN, &ck_true, sizeof(ck_true)) };
	unsigned long got;
	size_t i;
	ck_rv_t rv, frv;

	walk_reset(c); /* a re-run after recovery starts over */
	rv = P11(h, C_FindObjectsInit, session, tmpl, 1);
	for (;;) {
		if (rv != CKR_OK)
			break;
		if (c->n_handles + HSM_FIND_BATCH > c->cap_handles) {
			size_t cap = c->cap_handles ? c->cap_handles * 2 : 256;
			ck_object_handle_t *p;

			if (cap > HSM_WALK_MAX_OBJECTS + HSM_FIND_BATCH ||
			    (p = realloc(c->handles, cap * sizeof(*p))) == NULL) {
				*err = cap > HSM_WALK_MAX_OBJECTS ? MCX_ERR_NO_BUFFER_SPACE : MCX_ERR_ALLOC;
				rv = HSM_RV_LOCAL;
				break;
			}
			c->handles = p;
			c->cap_handles = cap;
		}
		got = 0;
		rv = P11(h, C_FindObjects, session, c->handles + c->n_handles, HSM_FIND_BATCH, &got);
		if (rv != CKR_OK || got == 0)
			break;
		c->n_handles += got;
	}
	/* always, even after a failed C_FindObjectsInit (see ../shared limits) */
	frv = P11(h, C_FindObjectsFinal, session);
	if (rv != CKR_OK)
		return rv;
	if (frv != CKR_OK && frv != CKR_OPERATION_NOT_INITIALIZED)
		return frv;
	if (c->n_handles == 0)
		return token_probe(h);
	c->items = calloc(c->n_handles, sizeof(*c->items));
	if (c->items == NULL) {
		*err = MCX_ERR_ALLOC;
		return HSM_RV_LOCAL;
	}
	for (i = 0; i < c->n_handles; i++) {
		rv = walk_read(h, session, c, c->handles[i], err);
		if (rv != CKR_OK)
			return rv;
	}
	/* an empty or short answer may be a token that is gone (token_probe) */
	return token_probe(h);
}

MCX_RESULT hsm_objects_walk(struct hsm *h, const char *label_prefix, hsm_object_fn fn, void *context)
{
	struct walk_ctx c;
	size_t i;
	int r = MCX_ERR_INTERNAL;

	memset(&c, 0, sizeof(c));
	MCX_ENSURE_REF(h);
	MCX_ENSURE_REF(fn);
	c.prefix = label_prefix != NULL ? label_prefix : "";
	c.prefix_len = strlen(c.prefix);
	MCX_ENSURE(c.prefix_len <= HSM_LABEL_MAX, MCX_ERR_INVALID_ARGUMENT);
	/* The session goes back to the pool before fn runs, so fn may call into
	 * this layer again. */
	MCX_GUARD(hsm_run(h, 0, op_walk, &c, 0));
	for (i = 0; i < c.n_items; i++) {
		c.items[i].object.handle = handle_out(c.items[i].object.handle);
		MCX_GUARD(fn(context, &c.items[i].object));
	}
	r = 0;
out:
	walk_reset(&c);
	return r;
}

struct find_ctx {
	struct ck_attribute tmpl[3];
	ck_object_handle_t found[2];
	unsigned long n;
};

static ck_rv_t op_find(struct hsm *h, ck_session_handle_t session, void *ctx, int *err)
{
	struct find_ctx *c = ctx;
	ck_rv_t rv, frv;

	c->n = 0;
	rv = P11(h, C_FindObjectsInit, session, c->tmpl, MCX_ARRAY_SIZE(c->tmpl));
	if (rv == CKR_OK)
		rv = P11(h, C_FindObjects, session, c->found, 2, &c->n);
	frv = P11(h, C_FindObjectsFinal, session);
	if (rv == CKR_OK && frv != CKR_OK)
		rv = frv;
	if (rv == CKR_OK && c->n == 0)
		rv = token_probe(h); /* "not found" only from a token that is there */
	return rv;
}

MCX_RESULT hsm_find_by_label(struct hsm *h, enum hsm_object_class object_class, const char *label,
                             hsm_handle_t *out)
{
	ck_object_class_t cls = 0;
	struct find_ctx c;
	int r = MCX_ERR_INTERNAL;

	MCX_ENSURE_REF(h);
	MCX_ENSURE_REF(label);
	MCX_ENSURE_REF(out);
	*out = HSM_HANDLE_INVALID;
	MCX_GUARD(class_to_ck(object_class, &cls));
	MCX_ENSURE(strlen(label) <= HSM_LABEL_MAX, MCX_ERR_INVALID_ARGUMENT);
	memset(&c, 0, sizeof(c));
	c.tmpl[0] = (struct ck_attribute)ATTR(CKA_TOKEN, &ck_true, sizeof(ck_true));
	c.tmpl[1] = (struct ck_attribute)ATTR(CKA_CLASS, &cls, sizeof(cls));
	c.tmpl[2] = (struct ck_attribute)ATTR(CKA_LABEL, label, strlen(label));
	MCX_GUARD(hsm_run(h, 0, op_find, &c, 0));
	MCX_ENSURE(c.n > 0, MCX_ERR_NOT_FOUND);
	MCX_ENSURE(c.n == 1, MCX_ERR_EXISTS);
	*out = handle_out(c.found[0]);
	r = 0;
out:
	return r;
}

/* --- EC P-256 ------------------------------------------------------------- */

/* CKA_EC_POINT is a DER OCTET STRING (04 41 04 x y); some modules give the
 * bare point. */
static int point_from_attr(const unsigned char *p, unsigned long len, uint8_t point[65])
{
	if (len == 67 && p[0] == 0x04 && p[1] == 0x41 && p[2] == 0x04) {
		memcpy(point, p + 2, 65);
		return 0;
	}
	if (len == 65 && p[0] == 0x04) {
		memcpy(point, p, 65);
		return 0;
	}
	return MCX_ERR_INVALID_ARGUMENT;
}

struct point_ctx {
	ck_object_handle_t key;
	uint8_t *point;
};

static ck_rv_t op_point(struct hsm *h, ck_session_handle_t session, void *ctx, int *err)
{
	struct point_ctx *c = ctx;
	unsigned char buf[80];
	struct ck_attribute a = ATTR(CKA_EC_POINT, buf, sizeof(buf));
	ck_rv_t rv;

	rv = P11(h, C_GetAttributeValue, session, c->key, &a, 1);
	if (rv == CKR_BUFFER_TOO_SMALL || rv == CKR_ATTRIBUTE_TYPE_INVALID) {
		*err = MCX_ERR_INVALID_ARGUMENT; /* not a P-256 public key */
		return HSM_RV_LOCAL;
	}
	if (rv != CKR_OK)
		return rv;
	if ((*err = point_from_attr(buf, a.value_len, c->point)) != 0)
		return HSM_RV_LOCAL;
	return CKR_OK;
}

MCX_RESULT hsm_ec_public_point(struct hsm *h, hsm_handle_t public_key, uint8_t point[65])
{
	struct point_ctx c = { handle_raw(public_key), point };
	int r = MCX_ERR_INTERNAL;

	MCX_ENSURE_REF(h);
	MCX_ENSURE_REF(point);
	MCX_GUARD(hsm_run(h, 0, op_point, &c, handle_generation(public_key)));
	r = 0;
out:
	return r;
}

struct ec_gen_ctx {
	const char *label;
	const uint8_t *id;
	size_t id_len;
	ck_object_handle_t priv, pub;
	uint8_t *point;
};

static ck_rv_t op_ec_generate(struct hsm *h, ck_session_handle_t session, void *ctx, int *err)
{
	struct ec_gen_ctx *c = ctx;
	size_t label_len = strlen(c->label);
	struct ck_mechanism mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	struct ck_attribute pub[] = {
		ATTR(CKA_TOKEN, &ck_true, 1),
		ATTR(CKA_PRIVATE, &ck_false, 1),
		ATTR(CKA_LABEL, c->label, label_len),
		ATTR(CKA_ID, c->id, c->id_len),
		ATTR(CKA_EC_PARAMS, p256_params, sizeof(p256_params)),
		ATTR(CKA_VERIFY, &ck_true, 1),
		ATTR(CKA_ENCRYPT, &ck_false, 1),
		ATTR(CKA_WRAP, &ck_false, 1),
		ATTR(CKA_DERIVE, &ck_false, 1),
	};
	struct ck_attribute priv[] = {
		ATTR(CKA_TOKEN, &ck_true, 1),
		ATTR(CKA_PRIVATE, &ck_true, 1),
		ATTR(CKA_SENSITIVE, &ck_true, 1),
		ATTR(CKA_EXTRACTABLE, &ck_false, 1),
		ATTR(CKA_LABEL, c->label, label_len),
		ATTR(CKA_ID, c->id, c->id_len),
		ATTR(CKA_SIGN, &ck_true, 1),
		ATTR(CKA_DECRYPT, &ck_false, 1),
		ATTR(CKA_UNWRAP, &ck_false, 1),
		ATTR(CKA_DERIVE, &ck_false, 1),
	};
	struct point_ctx pc;
	ck_rv_t rv;

	if (c->priv != 0 || c->pub != 0) {
		/* a pair of an attempt whose session was lost after it was made
		 * (the destroys below failed with the session): the token still
		 * holds it, under the same label; remove it before making another */
		(void)P11(h, C_DestroyObject, session, c->priv);
		(void)P11(h, C_DestroyObject, session, c->pub);
	}
	c->priv = c->pub = 0;
	rv = P11(h, C_GenerateKeyPair, session, &mech, pub, MCX_ARRAY_SIZE(pub), priv, MCX_ARRAY_SIZE(priv),
	         &c->pub, &c->priv);
	if (rv != CKR_OK)
		return rv;
	pc.key = c->pub;
	pc.point = c->point;
	rv = op_point(h, session, &pc, err);
	if (rv != CKR_OK) {
		/* do not leave a pair behind that the caller never heard of;
		 * if the session is gone, a re-run removes it (above) */
		if (P11(h, C_DestroyObject, session, c->priv) == CKR_OK)
			c->priv = 0;
		if (P11(h, C_DestroyObject, session, c->pub) == CKR_OK)
			c->pub = 0;
	}
	return rv;
}

MCX_RESULT hsm_ec_p256_generate(struct hsm *h, const char *label, const uint8_t *id, size_t id_len,
                                hsm_handle_t *private_key, hsm_handle_t *public_key, uint8_t point[65])
{
	struct ec_gen_ctx c;
	int r = MCX_ERR_INTERNAL;

	MCX_ENSURE_REF(h);
	MCX_ENSURE_REF(label);
	MCX_ENSURE_REF(private_key);
	MCX_ENSURE_REF(public_key);
	MCX_ENSURE_REF(point);
	MCX_ENSURE(id != NULL || id_len == 0, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(strlen(label) <= HSM_LABEL_MAX && id_len <= 255, MCX_ERR_INVALID_ARGUMENT);
	*private_key = *public_key = HSM_HANDLE_INVALID;
	memset(&c, 0, sizeof(c));
	c.label = label;
	c.id = id;
	c.id_len = id_len;
	c.point = point;
	MCX_GUARD(hsm_run(h, OP_CHANGES_OBJECTS, op_ec_generate, &c, 0));
	*private_key = handle_out(c.priv);
	*public_key = handle_out(c.pub);
	r = 0;
out:
	return r;
}

struct sign_ctx {
	ck_object_handle_t key;
	const uint8_t *digest;
	uint8_t *signature;
};

static ck_rv_t op_ecdsa_sign(struct hsm *h, ck_session_handle_t session, void *ctx, int *err)
{
	struct sign_ctx *c = ctx;
	struct ck_mechanism mech = { CKM_ECDSA, NULL, 0 };
	unsigned char sig[132]; /* room for any curve, so C_Sign always ends the operation */
	unsigned long sig_len = sizeof(sig);
	ck_rv_t rv;

	rv = P11(h, C_SignInit, session, &mech, c->key);
	if (rv != CKR_OK)
		return rv;
	rv = P11(h, C_Sign, session, (unsigned char *)c->digest, 32, sig, &sig_len);
	if (rv != CKR_OK)
		return rv;
	if (sig_len != 64) {
		*err = MCX_ERR_INVALID_ARGUMENT; /* not a P-256 key */
		return HSM_RV_LOCAL;
	}
	memcpy(c->signature, sig, 64);
	return CKR_OK;
}

MCX_RESULT hsm_ecdsa_sign(struct hsm *h, hsm_handle_t private_key, const uint8_t digest[32],
                          uint8_t signature[64])
{
	struct sign_ctx c = { handle_raw(private_key), digest, signature };
	int r = MCX_ERR_INTERNAL;

	MCX_ENSURE_REF(h);
	MCX_ENSURE_REF(digest);
	MCX_ENSURE_REF(signature);
	MCX_GUARD(hsm_run(h, 0, op_ecdsa_sign, &c, handle_generation(private_key)));
	r = 0;
out:
	return r;
}

/* --- data objects ----------------------------------------------------------- */

struct data_ctx {
	const char *label;
	ck_object_handle_t object;
	ck_object_handle_t new_object; /* set_value replaced the object */
	const void *value;
	size_t len;
	struct mcx_buf *out;
};

static ck_rv_t op_data_create(struct hsm *h, ck_session_handle_t session, void *ctx, int *err)
{
	struct data_ctx *c = ctx;
	ck_object_class_t cls = CKO_DATA;
	struct ck_attribute t[] = {
		ATTR(CKA_CLASS, &cls, sizeof(cls)),
		ATTR(CKA_TOKEN, &ck_true, 1),
		ATTR(CKA_PRIVATE, &ck_true, 1),
		ATTR(CKA_MODIFIABLE, &ck_true, 1),
		ATTR(CKA_APPLICATION, HSM_APPLICATION, strlen(HSM_APPLICATION)),
		ATTR(CKA_LABEL, c->label, strlen(c->label)),
		ATTR(CKA_VALUE, c->value, c->len),
	};

	return P11(h, C_CreateObject, session, t, MCX_ARRAY_SIZE(t), &c->object);
}

MCX_RESULT hsm_data_create(struct hsm *h, const char *label, const void *value, size_t len, hsm_handle_t *out)
{
	struct data_ctx c;
	int r = MCX_ERR_INTERNAL;

	MCX_ENSURE_REF(h);
	MCX_ENSURE_REF(label);
	MCX_ENSURE_REF(out);
	*out = HSM_HANDLE_INVALID;
	MCX_ENSURE(value != NULL || len == 0, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(len <= HSM_DATA_VALUE_MAX && strlen(label) <= HSM_LABEL_MAX, MCX_ERR_INVALID_ARGUMENT);
	memset(&c, 0, sizeof(c));
	c.label = label;
	c.value = value != NULL ? value : "";
	c.len = len;
	MCX_GUARD(hsm_run(h, OP_CHANGES_OBJECTS, op_data_create, &c, 0));
	*out = handle_out(c.object);
	r = 0;
out:
	return r;
}

/* SoftHSM 2.6.1 refuses to change CKA_VALUE of a data object
 * (CKR_ATTRIBUTE_READ_ONLY, by design in P11DataObj): then the object is
 * replaced by a new one with the same label, created first and the old one
 * destroyed after, so a crash in between leaves two objects, never none.  The
 * old handle becomes stale (MCX_ERR_HSM_STALE_HANDLE); callers find the new
 * one by label. */
static ck_rv_t op_data_set(struct hsm *h, ck_session_handle_t session, void *ctx, int *err)
{
	struct data_ctx *c = ctx;
	struct ck_attribute a = ATTR(CKA_VALUE, c->value, c->len);
	ck_object_class_t cls = 0;
	char label[HSM_LABEL_MAX + 1];
	struct ck_attribute read[2] = { ATTR(CKA_CLASS, &cls, sizeof(cls)), ATTR(CKA_LABEL, label, HSM_LABEL_MAX) };
	struct data_ctx nc;
	ck_rv_t rv;

	rv = P11(h, C_SetAttributeValue, session, c->object, &a, 1);
	if (rv != CKR_ATTRIBUTE_READ_ONLY)
		return rv;
	rv = P11(h, C_GetAttributeValue, session, c->object, read, 2);
	if (rv != CKR_OK)
		return rv;
	if (cls != CKO_DATA || read[1].value_len > HSM_LABEL_MAX) {
		*err = MCX_ERR_PERMISSION_DENIED;
		return HSM_RV_LOCAL;
	}
	label[read[1].value_len] = '\0';
	nc = *c;
	nc.label = label;
	rv = op_data_create(h, session, &nc, err);
	if (rv != CKR_OK)
		return rv;
	rv = P11(h, C_DestroyObject, session, c->object);
	if (rv != CKR_OK) {
		/* keep one object per label: undo, and let the caller see why */
		(void)P11(h, C_DestroyObject, session, nc.object);
		return rv;
	}
	c->new_object = nc.object;
	return CKR_OK;
}

MCX_RESULT hsm_data_set_value(struct hsm *h, hsm_handle_t object, const void *value, size_t len,
                              hsm_handle_t *current)
{
	struct data_ctx c;
	int r = MCX_ERR_INTERNAL;

	MCX_ENSURE_REF(h);
	MCX_ENSURE(value != NULL || len == 0, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(len <= HSM_DATA_VALUE_MAX, MCX_ERR_INVALID_ARGUMENT);
	memset(&c, 0, sizeof(c));
	c.object = handle_raw(object);
	c.value = value != NULL ? value : "";
	c.len = len;
	MCX_GUARD(hsm_run(h, OP_CHANGES_OBJECTS, op_data_set, &c, handle_generation(object)));
	if (current != NULL)
		*current = c.new_object != 0 ? handle_out(c.new_object) : object;
	r = 0;
out:
	return r;
}

static ck_rv_t op_data_get(struct hsm *h, ck_session_handle_t session, void *ctx, int *err)
{
	struct data_ctx *c = ctx;
	ck_object_class_t cls = 0;
	struct ck_attribute a[2] = { ATTR(CKA_CLASS, &cls, sizeof(cls)), ATTR(CKA_VALUE, NULL, 0) };
	uint8_t *dst = NULL;
	unsigned long want;
	ck_rv_t rv;

	rv = P11(h, C_GetAttributeValue, session, c->object, a, 2);
	if (rv != CKR_OK)
		return rv;
	if (cls != CKO_DATA) {
		*err = MCX_ERR_INVALID_ARGUMENT;
		return HSM_RV_LOCAL;
	}
	want = a[1].value_len;
	if (want > HSM_DATA_VALUE_MAX) {
		*err = MCX_ERR_NO_BUFFER_SPACE;
		return HSM_RV_LOCAL;
	}
	if ((*err = mcx_buf_reserve(c->out, want, &dst)) != 0)
		return HSM_RV_LOCAL;
	a[1].value = dst;
	rv = P11(h, C_GetAttributeValue, session, c->object, &a[1], 1);
	if (rv != CKR_OK || a[1].value_len != want) {
		/* the value changed between the two calls, or the call failed */
		mcx_wipe(dst, want);
		if (mcx_buf_consume_end(c->out, want) != 0)
			rv = CKR_GENERAL_ERROR;
		if (rv == CKR_OK) {
			*err = MCX_ERR_BUSY;
			rv = HSM_RV_LOCAL;
		}
	}
	return rv;
}

MCX_RESULT hsm_data_get_value(struct hsm *h, hsm_handle_t object, struct mcx_buf *out)
{
	struct data_ctx c;
	int r = MCX_ERR_INTERNAL;

	MCX_ENSURE_REF(h);
	MCX_ENSURE_REF(out);
	memset(&c, 0, sizeof(c));
	c.object = handle_raw(object);
	c.out = out;
	MCX_GUARD(hsm_run(h, 0, op_data_get, &c, handle_generation(object)));
	r = 0;
out:
	return r;
}

static ck_rv_t op_destroy(struct hsm *h, ck_session_handle_t session, void *ctx, int *err)
{
	ck_object_handle_t *object = ctx;

	return P11(h, C_DestroyObject, session, *object);
}

MCX_RESULT hsm_object_destroy(struct hsm *h, hsm_handle_t object)
{
	ck_object_handle_t o = handle_raw(object);
	int r = MCX_ERR_INTERNAL;

	MCX_ENSURE_REF(h);
	MCX_GUARD(hsm_run(h, OP_CHANGES_OBJECTS, op_destroy, &o, handle_generation(object)));
	r = 0;
out:
	return r;
}

/* --- secret keys: AES-256-GCM and HMAC-SHA-256 ------------------------------ */

struct secret_gen_ctx {
	const char *label;
	int aes;
	ck_object_handle_t key;
};

static ck_rv_t op_secret_generate(struct hsm *h, ck_session_handle_t session, void *ctx, int *err)
{
	struct secret_gen_ctx *c = ctx;
	ck_object_class_t cls = CKO_SECRET_KEY;
	ck_key_type_t type = c->aes ? CKK_AES : CKK_GENERIC_SECRET;
	unsigned long value_len = 32;
	unsigned char *crypt = c->aes ? &ck_true : &ck_false;
	unsigned char *mac = c->aes ? &ck_false : &ck_true;
	struct ck_mechanism mech = { c->aes ? CKM_AES_KEY_GEN : CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
	struct ck_attribute t[] = {
		ATTR(CKA_CLASS, &cls, sizeof(cls)),
		ATTR(CKA_KEY_TYPE, &type, sizeof(type)),
		ATTR(CKA_VALUE_LEN, &value_len, sizeof(value_len)),
		ATTR(CKA_TOKEN, &ck_true, 1),
		ATTR(CKA_PRIVATE, &ck_true, 1),
		ATTR(CKA_SENSITIVE, &ck_true, 1),
		ATTR(CKA_EXTRACTABLE, &ck_false, 1),
		ATTR(CKA_LABEL, c->label, strlen(c->label)),
		ATTR(CKA_ENCRYPT, crypt, 1),
		ATTR(CKA_DECRYPT, crypt, 1),
		ATTR(CKA_WRAP, crypt, 1),
		ATTR(CKA_UNWRAP, crypt, 1),
		ATTR(CKA_SIGN, mac, 1),
		ATTR(CKA_VERIFY, mac, 1),
		ATTR(CKA_DERIVE, &ck_false, 1),
	};

	return P11(h, C_GenerateKey, session, &mech, t, MCX_ARRAY_SIZE(t), &c->key);
}

static int secret_generate(struct hsm *h, const char *label, int aes, hsm_handle_t *out)
{
	struct secret_gen_ctx c = { label, aes, 0 };
	int r = MCX_ERR_INTERNAL;

	MCX_ENSURE_REF(h);
	MCX_ENSURE_REF(label);
	MCX_ENSURE_REF(out);
	*out = HSM_HANDLE_INVALID;
	MCX_ENSURE(strlen(label) <= HSM_LABEL_MAX, MCX_ERR_INVALID_ARGUMENT);
	MCX_GUARD(hsm_run(h, OP_CHANGES_OBJECTS, op_secret_generate, &c, 0));
	*out = handle_out(c.key);
	r = 0;
out:
	return r;
}

MCX_RESULT hsm_aes_generate(struct hsm *h, const char *label, hsm_handle_t *out)
{
	return secret_generate(h, label, 1, out);
}

MCX_RESULT hsm_hmac_generate(struct hsm *h, const char *label, hsm_handle_t *out)
{
	return secret_generate(h, label, 0, out);
}

struct gcm_ctx {
	ck_object_handle_t key;
	const void *aad;
	size_t aad_len;
	const uint8_t *in;
	size_t len;
	uint8_t *dst;         /* reserved room in the output buffer */
	size_t dst_len;
	unsigned long out_len;
};

static ck_rv_t op_gcm_encrypt(struct hsm *h, ck_session_handle_t session, void *ctx, int *err)
{
	struct gcm_ctx *c = ctx;
	struct ck_gcm_params params;
	struct ck_mechanism mech = { CKM_AES_GCM, &params, sizeof(params) };
	ck_rv_t rv;

	/* SoftHSM 2.6.1 expects the v2.40 layout with ulIvBits (p11-kit's too) */
	memset(&params, 0, sizeof(params));
	params.iv_ptr = c->dst;
	params.iv_len = HSM_GCM_IV_LEN;
	params.iv_bits = HSM_GCM_IV_LEN * 8;
	params.aad_ptr = (unsigned char *)c->aad;
	params.aad_len = c->aad_len;
	params.tag_bits = HSM_GCM_TAG_LEN * 8;
	rv = P11(h, C_GenerateRandom, session, c->dst, HSM_GCM_IV_LEN);
	if (rv != CKR_OK)
		return rv;
	rv = P11(h, C_EncryptInit, session, &mech, c->key);
	if (rv != CKR_OK)
		return rv;
	c->out_len = c->dst_len - HSM_GCM_IV_LEN;
	rv = P11(h, C_Encrypt, session, (unsigned char *)c->in, c->len, c->dst + HSM_GCM_IV_LEN, &c->out_len);
	if (rv == CKR_OK && c->out_len != c->len + HSM_GCM_TAG_LEN) {
		*err = MCX_ERR_HSM;
		rv = HSM_RV_LOCAL;
	}
	return rv;
}

MCX_RESULT hsm_aes_gcm_encrypt(struct hsm *h, hsm_handle_t key, const void *aad, size_t aad_len,
                               const void *plaintext, size_t len, struct mcx_buf *out)
{
	struct gcm_ctx c;
	int r = MCX_ERR_INTERNAL, reserved = 0;

	memset(&c, 0, sizeof(c));
	MCX_ENSURE_REF(h);
	MCX_ENSURE_REF(out);
	MCX_ENSURE(aad != NULL || aad_len == 0, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(plaintext != NULL || len == 0, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(len <= MCX_BUF_SIZE_MAX && aad_len <= MCX_BUF_SIZE_MAX, MCX_ERR_INVALID_ARGUMENT);
	c.key = handle_raw(key);
	c.aad = aad_len ? aad : NULL;
	c.aad_len = aad_len;
	c.in = plaintext != NULL ? plaintext : (const uint8_t *)"";
	c.len = len;
	c.dst_len = HSM_GCM_IV_LEN + len + HSM_GCM_TAG_LEN;
	MCX_GUARD(mcx_buf_reserve(out, c.dst_len, &c.dst));
	reserved = 1;
	MCX_GUARD(hsm_run(h, 0, op_gcm_encrypt, &c, handle_generation(key)));
	r = 0;
out:
	if (r != 0 && reserved) {
		mcx_wipe(c.dst, c.dst_len);
		if (mcx_buf_consume_end(out, c.dst_len) != 0)
			r = MCX_ERR_INTERNAL;
	}
	return r;
}

static ck_rv_t op_gcm_decrypt(struct hsm *h, ck_session_handle_t session, void *ctx, int *err)
{
	struct gcm_ctx *c = ctx;
	struct ck_gcm_params params;
	struct ck_mechanism mech = { CKM_AES_GCM, &params, sizeof(params) };
	ck_rv_t rv;

	memset(&params, 0, sizeof(params));
	params.iv_ptr = (unsigned char *)c->in;
	params.iv_len = HSM_GCM_IV_LEN;
	params.iv_bits = HSM_GCM_IV_LEN * 8;
	params.aad_ptr = (unsigned char *)c->aad;
	params.aad_len = c->aad_len;
	params.tag_bits = HSM_GCM_TAG_LEN * 8;
	rv = P11(h, C_DecryptInit, session, &mech, c->key);
	if (rv != CKR_OK)
		return rv;
	c->out_len = c->dst_len;
	rv = P11(h, C_Decrypt, session, (unsigned char *)c->in + HSM_GCM_IV_LEN, c->len - HSM_GCM_IV_LEN, c->dst,
	         &c->out_len);
	if (rv == CKR_OK && c->out_len != c->len - HSM_GCM_IV_LEN - HSM_GCM_TAG_LEN) {
		*err = MCX_ERR_SIGNATURE_INVALID;
		return HSM_RV_LOCAL;
	}
	/* SoftHSM 2.6.1 reports a tag mismatch as CKR_GENERAL_ERROR */
	if (rv == CKR_GENERAL_ERROR || rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_ENCRYPTED_DATA_LEN_RANGE) {
		*err = MCX_ERR_SIGNATURE_INVALID;
		return HSM_RV_LOCAL;
	}
	return rv;
}

MCX_RESULT hsm_aes_gcm_decrypt(struct hsm *h, hsm_handle_t key, const void *aad, size_t aad_len,
                               const void *sealed, size_t len, struct mcx_buf *out)
{
	struct gcm_ctx c;
	int r = MCX_ERR_INTERNAL, reserved = 0;

	memset(&c, 0, sizeof(c));
	MCX_ENSURE_REF(h);
	MCX_ENSURE_REF(out);
	MCX_ENSURE_REF(sealed);
	MCX_ENSURE(aad != NULL || aad_len == 0, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(len <= MCX_BUF_SIZE_MAX && aad_len <= MCX_BUF_SIZE_MAX, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(len >= HSM_GCM_IV_LEN + HSM_GCM_TAG_LEN, MCX_ERR_SIGNATURE_INVALID);
	c.key = handle_raw(key);
	c.aad = aad_len ? aad : NULL;
	c.aad_len = aad_len;
	c.in = sealed;
	c.len = len;
	/* room for ciphertext and tag: modules differ in what they demand */
	c.dst_len = len - HSM_GCM_IV_LEN;
	MCX_GUARD(mcx_buf_reserve(out, c.dst_len, &c.dst));
	reserved = 1;
	MCX_GUARD(hsm_run(h, 0, op_gcm_decrypt, &c, handle_generation(key)));
	mcx_wipe(c.dst + c.out_len, c.dst_len - c.out_len);
	MCX_GUARD(mcx_buf_consume_end(out, c.dst_len - c.out_len));
	reserved = 0;
	r = 0;
out:
	if (r != 0 && reserved) {
		mcx_wipe(c.dst, c.dst_len);
		if (mcx_buf_consume_end(out, c.dst_len) != 0)
			r = MCX_ERR_INTERNAL;
	}
	return r;
}

struct hmac_ctx {
	ck_object_handle_t key;
	const void *data;
	size_t len;
	uint8_t *mac;
};

static ck_rv_t op_hmac(struct hsm *h, ck_session_handle_t session, void *ctx, int *err)
{
	struct hmac_ctx *c = ctx;
	struct ck_mechanism mech = { CKM_SHA256_HMAC, NULL, 0 };
	unsigned char mac[64];
	unsigned long mac_len = sizeof(mac);
	ck_rv_t rv;

	rv = P11(h, C_SignInit, session, &mech, c->key);
	if (rv != CKR_OK)
		return rv;
	rv = P11(h, C_Sign, session, (unsigned char *)c->data, c->len, mac, &mac_len);
	if (rv != CKR_OK)
		return rv;
	if (mac_len != 32) {
		*err = MCX_ERR_HSM;
		return HSM_RV_LOCAL;
	}
	memcpy(c->mac, mac, 32);
	return CKR_OK;
}

MCX_RESULT hsm_hmac_sha256(struct hsm *h, hsm_handle_t key, const void *data, size_t len, uint8_t mac[32])
{
	struct hmac_ctx c = { handle_raw(key), data != NULL ? data : "", len, mac };
	int r = MCX_ERR_INTERNAL;

	MCX_ENSURE_REF(h);
	MCX_ENSURE_REF(mac);
	MCX_ENSURE(data != NULL || len == 0, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(len <= MCX_BUF_SIZE_MAX, MCX_ERR_INVALID_ARGUMENT);
	MCX_GUARD(hsm_run(h, 0, op_hmac, &c, handle_generation(key)));
	r = 0;
out:
	return r;
}

unsigned long hsm_handle_raw(hsm_handle_t handle)
{
	return handle_raw(handle);
}

uint64_t hsm_generation(struct hsm *h)
{
	return h != NULL ? atomic_load(&h->generation) : 0;
}
