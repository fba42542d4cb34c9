/*
 * The key store: index, rotation, retirement, crash recovery.
 *
 * Order of token writes — chosen so that a vaultd killed with SIGKILL at any
 * point leaves a token that start-up repairs to exactly one active version
 * per (domain, purpose) without losing an acknowledged key:
 *
 *   create version n:  1. key pair  mcxvault/D/P/n          (if the purpose has one)
 *                         blobs     mcxvault/D/P/n/<name>   (if any)
 *                      2. meta      mcxvault/D/P/n/meta     state "active"
 *   rotate:            3. old active version -> "verify-only"
 *                      4. syncfs(token dir), then acknowledge
 *   retire:            1. version -> "retired"
 *                      2. destroy the private key and the sealed blobs
 *   schedule / cancel: 1. new meta: same state, "destroy_at" set / dropped
 *   (keys.destroy_delay)  2. the old meta object is destroyed (later, see below)
 *
 * A meta change never edits an object in place: SoftHSM 2.6.1 refuses to
 * change a data object's CKA_VALUE (C_SetAttributeValue answers
 * CKR_ATTRIBUTE_READ_ONLY, 0x10: its P11DataObj gives CKA_VALUE no "modifiable"
 * flag; measured again 2026-12-04 — only CKA_LABEL changes in place), and an
 * in-place write is not atomic anyway (SoftHSM rewrites the object file from
 * offset 0: a kill in the middle leaves a torn object).  So a change creates
 * a new meta object; the old one is destroyed *later*, off the request path
 * (keystore_purge, from the server's housekeeping thread, and at a clean
 * stop): SoftHSM's C_DestroyObject re-reads the whole token directory and
 * costs ~46 ms at 5,000 objects (0.2 ms in an empty token), a create ~2.5 ms
 * either way.  Until it is destroyed the old meta is exactly what a crash
 * inside the change leaves, and the rule below already picks the winner.
 * Every meta object
 * carries "rev", one more than the object it replaces (absent in metas
 * written before schedules existed: 0).  When a crash leaves two meta
 * objects for one version, the rule is:
 *     the higher state wins (states only move forward: active ->
 *     verify-only -> retired); for the same state, the higher rev wins.
 * The state alone cannot decide a schedule or a cancellation, which keeps
 * the state ("verify-only" both before and after), so the rev does; it makes
 * the repair deterministic whatever order the token lists its objects in.
 * The loser is removed at start-up.  Either way the key survives: a
 * schedule lost to a crash was never acknowledged, and a cancellation lost
 * to a crash leaves the schedule, which the client did not see cancelled.
 * Destruction itself is always the retire path above (meta "retired" first),
 * whether an operator asks for it or a due schedule triggers it.
 *
 * Start-up repair (keystore_repair):
 *   - objects of a version without meta were never acknowledged (crash
 *     between 1 and 2): they are destroyed;
 *   - several "active" versions (crash between 2 and 3): the highest stays
 *     active, the others become "verify-only";
 *   - a "retired" version that still has its private key or sealed blobs
 *     (crash between retire 1 and 2): they are destroyed;
 *   - superseded meta objects (crash inside a meta change, or a stop before
 *     the purge: the loser of the rule above) are destroyed.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "vault/keys/keystore.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <jansson.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcx/util.h"
#include "pkcs11/hsm.h"
#include "vault/daemon/log.h"
#include "vault/keys/ec_public.h"

#define LABEL_PREFIX "mcxvault/"
#define META_NAME "meta"

struct keystore_blob {
	char name[KEYSTORE_BLOB_NAME_MAX + 1];
	hsm_handle_t handle;
	uint8_t *value;          /* a copy of CKA_VALUE (public data or ciphertext) */
	size_t len;
};

struct keystore_entry {
	char domain[KEYSTORE_DOMAIN_MAX + 1];
	char purpose[KEYSTORE_PURPOSE_MAX + 1];
	uint32_t version;
	enum keystore_state state;
	int64_t created;
	int64_t destroy_at;      /* 0: no scheduled destruction */
	uint64_t rev;            /* of the current meta object (see the top) */
	hsm_handle_t private_key;
	hsm_handle_t public_key;
	hsm_handle_t meta;
	uint8_t point[65];
	struct keystore_blob blobs[KEYSTORE_BLOBS_MAX];
	size_t blob_count;
};

struct keystore {
	struct hsm *hsm;
	pthread_rwlock_t lock;          /* guards entries/count */
	pthread_mutex_t change_lock;    /* serialises every version change */
	struct keystore_entry *entries; /* sorted by domain, purpose, version */
	size_t count;
	size_t alloc;
	/* meta objects to remove: losers found at start-up, and the metas a
	 * change replaced (destroyed by keystore_purge, off the request path);
	 * under change_lock once the store is open */
	hsm_handle_t *superseded;
	size_t superseded_count;
	uint64_t last_change_ns;        /* mcx_monotonic_ns() of the last meta change */
	_Atomic uint64_t generation;    /* hsm_generation() the handles belong to */
	const struct keystore_cluster *cluster;  /* NULL: this vault alone changes the token */
	_Atomic uint64_t cluster_seen;  /* cluster->observed() the index reflects */
};

enum label_kind { LABEL_KEY_PAIR, LABEL_META, LABEL_BLOB };

static const char *const state_names[] = { "active", "verify-only", "retired" };

const char *keystore_state_name(enum keystore_state state)
{
	return (unsigned)state < MCX_ARRAY_SIZE(state_names) ? state_names[state] : "unknown";
}

static int keystore_state_parse(const char *name, enum keystore_state *state)
{
	for (size_t i = 0; i < MCX_ARRAY_SIZE(state_names); i++)
		if (name != NULL && strcmp(name, state_names[i]) == 0) {
			*state = (enum keystore_state)i;
			return MCX_OK;
		}
	return MCX_ERR_PARSE;
}

void keystore_crash_point(const char *name)
{
	const char *want = getenv("MCXVAULT_TEST_CRASH_POINT");

	if (want != NULL && strcmp(want, name) == 0) {
		vault_warning("test crash point '%s' reached: killing vaultd", name);
		kill(getpid(), SIGKILL);
	}
}

int keystore_legacy_seam(void)
{
	const char *v = getenv("MCXVAULT_TEST_LEGACY_DOMAIN_INIT");

	return v != NULL && strcmp(v, "1") == 0;
}

int keystore_purpose_is_trust(const char *purpose)
{
	return purpose != NULL &&
	       (strcmp(purpose, KEYSTORE_PURPOSE_CERT) == 0 || strcmp(purpose, KEYSTORE_PURPOSE_TOKEN) == 0);
}

int keystore_purpose_has_key_pair(const char *purpose)
{
	return purpose != NULL && (strcmp(purpose, KEYSTORE_PURPOSE_SIGN) == 0 || keystore_purpose_is_trust(purpose));
}

static int blob_is_sealed(const char *name)
{
	return strncmp(name, "sealed", 6) == 0;
}

static int blob_name_valid(const char *name)
{
	size_t len = name != NULL ? strlen(name) : 0;

	if (len == 0 || len > KEYSTORE_BLOB_NAME_MAX || strcmp(name, META_NAME) == 0)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (name[i] < 'a' || name[i] > 'z')
			return 0;
	return 1;
}

/* "mcxvault/<domain>/<purpose>/<version>[/<name>]"; name NULL: the key pair. */
static void key_label(char *label, size_t size, const char *domain, const char *purpose, uint32_t version,
                      const char *name)
{
	snprintf(label, size, LABEL_PREFIX "%s/%s/%" PRIu32 "%s%s", domain, purpose, version, name ? "/" : "",
	         name ? name : "");
}

static void entry_to_key(const struct keystore_entry *e, struct keystore_key *key)
{
	memset(key, 0, sizeof(*key));
	memcpy(key->domain, e->domain, sizeof(key->domain));
	memcpy(key->purpose, e->purpose, sizeof(key->purpose));
	key->version = e->version;
	key->state = e->state;
	key->created = e->created;
	key->destroy_at = e->destroy_at;
	key->has_private_key = e->private_key != HSM_HANDLE_INVALID;
	memcpy(key->public_point, e->point, sizeof(key->public_point));
	snprintf(key->kid, sizeof(key->kid), "%s/%s/%" PRIu32, e->domain, e->purpose, e->version);
}

/* Parses "mcxvault/<domain>/<purpose>/<version>[/<name>]". */
static int label_parse(const char *label, char *domain, char *purpose, uint32_t *version, enum label_kind *kind,
                       char name[KEYSTORE_BLOB_NAME_MAX + 1])
{
	const char *p = label, *slash;
	char *end;
	unsigned long v;
	size_t len;

	if (strncmp(p, LABEL_PREFIX, strlen(LABEL_PREFIX)) != 0)
		return MCX_ERR_PARSE;
	p += strlen(LABEL_PREFIX);
	if ((slash = strchr(p, '/')) == NULL || (len = (size_t)(slash - p)) == 0 || len > KEYSTORE_DOMAIN_MAX)
		return MCX_ERR_PARSE;
	memcpy(domain, p, len);
	domain[len] = '\0';
	p = slash + 1;
	if ((slash = strchr(p, '/')) == NULL || (len = (size_t)(slash - p)) == 0 || len > KEYSTORE_PURPOSE_MAX)
		return MCX_ERR_PARSE;
	memcpy(purpose, p, len);
	purpose[len] = '\0';
	p = slash + 1;
	if (*p < '1' || *p > '9')
		return MCX_ERR_PARSE;
	errno = 0;
	v = strtoul(p, &end, 10);
	if (errno != 0 || v > UINT32_MAX)
		return MCX_ERR_PARSE;
	*version = (uint32_t)v;
	name[0] = '\0';
	if (*end == '\0') {
		*kind = LABEL_KEY_PAIR;
		return MCX_OK;
	}
	if (*end != '/' || strlen(end + 1) > KEYSTORE_BLOB_NAME_MAX)
		return MCX_ERR_PARSE;
	snprintf(name, KEYSTORE_BLOB_NAME_MAX + 1, "%s", end + 1);
	if (strcmp(name, META_NAME) == 0)
		*kind = LABEL_META;
	else if (blob_name_valid(name))
		*kind = LABEL_BLOB;
	else
		return MCX_ERR_PARSE;
	return MCX_OK;
}

/* What a meta object holds (see the top of the file). */
struct meta_fields {
	enum keystore_state state;
	int64_t created;
	int64_t destroy_at;   /* 0: not written */
	uint64_t rev;
};

static int meta_encode(const struct meta_fields *m, char *out, size_t size)
{
	char extra[64] = "";
	int n;

	/* destroy_at only while scheduled: a meta without it reads as before */
	if (m->destroy_at > 0 && m->state == KEYSTORE_STATE_VERIFY_ONLY)
		snprintf(extra, sizeof(extra), ",\"destroy_at\":%" PRId64, m->destroy_at);
	n = snprintf(out, size, "{\"state\":\"%s\",\"created\":%" PRId64 "%s,\"rev\":%" PRIu64 "}",
	             keystore_state_name(m->state), m->created, extra, m->rev);
	return n > 0 && (size_t)n < size ? MCX_OK : MCX_ERR_INTERNAL;
}

static int meta_decode(const uint8_t *value, size_t len, struct meta_fields *m)
{
	int r = MCX_ERR_PARSE;
	json_t *root = NULL, *s, *c, *d, *v;

	if (value == NULL || (root = json_loadb((const char *)value, len, 0, NULL)) == NULL)
		goto out;
	s = json_object_get(root, "state");
	c = json_object_get(root, "created");
	d = json_object_get(root, "destroy_at");
	v = json_object_get(root, "rev");
	if (!json_is_string(s) || !json_is_integer(c) || (d != NULL && !json_is_integer(d)) ||
	    (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 0)))
		goto out;
	memset(m, 0, sizeof(*m));
	MCX_GUARD(keystore_state_parse(json_string_value(s), &m->state));
	m->created = json_integer_value(c);
	m->destroy_at = d != NULL && m->state == KEYSTORE_STATE_VERIFY_ONLY ? json_integer_value(d) : 0;
	if (m->destroy_at < 0)
		m->destroy_at = 0;
	m->rev = v != NULL ? (uint64_t)json_integer_value(v) : 0;
	r = MCX_OK;
out:
	json_decref(root);
	return r;
}

static int entry_compare(const void *a, const void *b)
{
	const struct keystore_entry *x = a, *y = b;
	int c;

	if ((c = strcmp(x->domain, y->domain)) != 0)
		return c;
	if ((c = strcmp(x->purpose, y->purpose)) != 0)
		return c;
	return x->version < y->version ? -1 : x->version > y->version;
}

static void entry_release_blobs(struct keystore_entry *e)
{
	for (size_t i = 0; i < e->blob_count; i++) {
		mcx_wipe(e->blobs[i].value, e->blobs[i].len);
		free(e->blobs[i].value);
		e->blobs[i].value = NULL;
	}
	e->blob_count = 0;
}

/* Finds or adds the entry for (domain, purpose, version); entries are sorted later. */
static struct keystore_entry *entry_slot(struct keystore *ks, const char *domain, const char *purpose,
                                         uint32_t version)
{
	struct keystore_entry *grown;

	for (size_t i = 0; i < ks->count; i++)
		if (ks->entries[i].version == version && strcmp(ks->entries[i].domain, domain) == 0 &&
		    strcmp(ks->entries[i].purpose, purpose) == 0)
			return &ks->entries[i];
	if (ks->count == ks->alloc) {
		size_t n = ks->alloc == 0 ? 16 : ks->alloc * 2;
		if ((grown = realloc(ks->entries, n * sizeof(*grown))) == NULL)
			return NULL;
		ks->entries = grown;
		ks->alloc = n;
	}
	grown = &ks->entries[ks->count++];
	memset(grown, 0, sizeof(*grown));
	snprintf(grown->domain, sizeof(grown->domain), "%s", domain);
	snprintf(grown->purpose, sizeof(grown->purpose), "%s", purpose);
	grown->version = version;
	grown->created = -1;  /* no meta seen yet */
	return grown;
}

/* Looks the entry up (version 0: the active one); the caller holds ks->lock. */
static struct keystore_entry *entry_find(struct keystore *ks, const char *domain, const char *purpose,
                                         uint32_t version)
{
	for (size_t i = 0; i < ks->count; i++) {
		struct keystore_entry *e = &ks->entries[i];
		if (strcmp(e->domain, domain) != 0 || strcmp(e->purpose, purpose) != 0)
			continue;
		if (version == 0 ? e->state == KEYSTORE_STATE_ACTIVE : e->version == version)
			return e;
	}
	return NULL;
}

static int entry_add_blob(struct keystore_entry *e, const char *name, hsm_handle_t handle, const uint8_t *value,
                          size_t len)
{
	struct keystore_blob *b;

	for (size_t i = 0; i < e->blob_count; i++)
		if (strcmp(e->blobs[i].name, name) == 0)
			return MCX_ERR_EXISTS;
	if (e->blob_count == KEYSTORE_BLOBS_MAX)
		return MCX_ERR_NO_BUFFER_SPACE;
	b = &e->blobs[e->blob_count];
	memset(b, 0, sizeof(*b));
	if ((b->value = malloc(len > 0 ? len : 1)) == NULL)
		return MCX_ERR_ALLOC;
	if (len > 0)
		memcpy(b->value, value, len);
	b->len = len;
	b->handle = handle;
	snprintf(b->name, sizeof(b->name), "%s", name);
	e->blob_count++;
	return MCX_OK;
}

static int keystore_note_superseded(struct keystore *ks, hsm_handle_t handle)
{
	hsm_handle_t *grown = realloc(ks->superseded, (ks->superseded_count + 1) * sizeof(*grown));

	if (grown == NULL)
		return MCX_ERR_ALLOC;
	ks->superseded = grown;
	ks->superseded[ks->superseded_count++] = handle;
	return MCX_OK;
}

static int keystore_walk_object(void *context, const struct hsm_object *object)
{
	struct keystore *ks = context;
	char domain[KEYSTORE_DOMAIN_MAX + 1], purpose[KEYSTORE_PURPOSE_MAX + 1], name[KEYSTORE_BLOB_NAME_MAX + 1];
	uint32_t version;
	enum label_kind kind;
	struct keystore_entry *e;

	if (label_parse(object->label, domain, purpose, &version, &kind, name) != MCX_OK) {
		vault_debug("token object '%s' is not part of a key version: ignored", object->label);
		return MCX_OK;
	}
	if ((e = entry_slot(ks, domain, purpose, version)) == NULL)
		return MCX_ERR_ALLOC;
	if (kind == LABEL_META && object->object_class == HSM_CLASS_DATA) {
		struct meta_fields m;

		if (meta_decode(object->value, object->value_len, &m) != MCX_OK) {
			vault_error("key metadata '%s' is unreadable: treating the version as retired", object->label);
			memset(&m, 0, sizeof(m));
			m.state = KEYSTORE_STATE_RETIRED;
		}
		if (e->meta != HSM_HANDLE_INVALID) {
			/* an interrupted meta change: the higher state wins, then the
			 * higher rev (the top of the file) */
			if (m.state < e->state || (m.state == e->state && m.rev < e->rev))
				return keystore_note_superseded(ks, object->handle);
			if (keystore_note_superseded(ks, e->meta) != MCX_OK)
				return MCX_ERR_ALLOC;
		}
		e->meta = object->handle;
		e->state = m.state;
		e->created = m.created;
		e->destroy_at = m.destroy_at;
		e->rev = m.rev;
	} else if (kind == LABEL_BLOB && object->object_class == HSM_CLASS_DATA) {
		int r = entry_add_blob(e, name, object->handle, object->value, object->value_len);
		if (r == MCX_ERR_EXISTS) {
			vault_warning("duplicate blob '%s': the second copy is removed", object->label);
			return keystore_note_superseded(ks, object->handle);
		}
		return r;
	} else if (kind == LABEL_KEY_PAIR && object->object_class == HSM_CLASS_PRIVATE_KEY) {
		e->private_key = object->handle;
	} else if (kind == LABEL_KEY_PAIR && object->object_class == HSM_CLASS_PUBLIC_KEY) {
		e->public_key = object->handle;
	}
	return MCX_OK;
}

static void entry_remove(struct keystore *ks, size_t index)
{
	entry_release_blobs(&ks->entries[index]);
	memmove(&ks->entries[index], &ks->entries[index + 1], (ks->count - index - 1) * sizeof(ks->entries[0]));
	ks->count--;
}

/* Destroys every token object of a version that was never acknowledged. */
static int entry_destroy_objects(struct keystore *ks, struct keystore_entry *e)
{
	int r = MCX_ERR_INTERNAL;

	if (e->private_key != HSM_HANDLE_INVALID)
		MCX_GUARD(hsm_object_destroy(ks->hsm, e->private_key));
	if (e->public_key != HSM_HANDLE_INVALID)
		MCX_GUARD(hsm_object_destroy(ks->hsm, e->public_key));
	for (size_t i = 0; i < e->blob_count; i++)
		MCX_GUARD(hsm_object_destroy(ks->hsm, e->blobs[i].handle));
	r = MCX_OK;
out:
	return r;
}

/* Destroys a secret object.  A stale handle is not proof that the object is
 * gone (the token may have been re-initialised and numbered it afresh): it
 * is looked up by label and destroyed; only "not found" means gone. */
static int secret_destroy(struct keystore *ks, hsm_handle_t handle, enum hsm_object_class object_class,
                          const char *label)
{
	int r = hsm_object_destroy(ks->hsm, handle);

	if (r == MCX_ERR_HSM_STALE_HANDLE && (r = hsm_find_by_label(ks->hsm, object_class, label, &handle)) == MCX_OK)
		r = hsm_object_destroy(ks->hsm, handle);
	return r == MCX_ERR_NOT_FOUND ? MCX_OK : r;
}

/* Destroys the private key and the sealed blobs of a retired version. */
static int entry_destroy_secrets(struct keystore *ks, struct keystore_entry *e)
{
	int r = MCX_ERR_INTERNAL;
	char label[HSM_LABEL_MAX + 1];

	if (e->private_key != HSM_HANDLE_INVALID) {
		key_label(label, sizeof(label), e->domain, e->purpose, e->version, NULL);
		/* already gone is fine: the goal is that it does not exist */
		MCX_GUARD(secret_destroy(ks, e->private_key, HSM_CLASS_PRIVATE_KEY, label));
		e->private_key = HSM_HANDLE_INVALID;
	}
	for (size_t i = 0; i < e->blob_count;) {
		if (!blob_is_sealed(e->blobs[i].name)) {
			i++;
			continue;
		}
		key_label(label, sizeof(label), e->domain, e->purpose, e->version, e->blobs[i].name);
		MCX_GUARD(secret_destroy(ks, e->blobs[i].handle, HSM_CLASS_DATA, label));
		mcx_wipe(e->blobs[i].value, e->blobs[i].len);
		free(e->blobs[i].value);
		e->blobs[i] = e->blobs[e->blob_count - 1];
		e->blob_count--;
	}
	r = MCX_OK;
out:
	return r;
}

static int entry_has_secrets(const struct keystore_entry *e)
{
	if (e->private_key != HSM_HANDLE_INVALID)
		return 1;
	for (size_t i = 0; i < e->blob_count; i++)
		if (blob_is_sealed(e->blobs[i].name))
			return 1;
	return 0;
}

/* Writes a new meta object for e (rev + 1) with the given state and
 * schedule and notes the old one for keystore_purge (see the top of the
 * file).  crash_point names the seam after the write.  Updates e->meta,
 * state, destroy_at, rev.  The caller holds change_lock (or is start-up). */
static int keystore_write_meta(struct keystore *ks, struct keystore_entry *e, enum keystore_state state,
                               int64_t destroy_at, const char *crash_point)
{
	int r = MCX_ERR_INTERNAL;
	char label[HSM_LABEL_MAX + 1], meta[192];
	hsm_handle_t fresh = HSM_HANDLE_INVALID;
	struct meta_fields m = { state, e->created, state == KEYSTORE_STATE_VERIFY_ONLY ? destroy_at : 0, e->rev + 1 };

	key_label(label, sizeof(label), e->domain, e->purpose, e->version, META_NAME);
	MCX_GUARD(meta_encode(&m, meta, sizeof(meta)));
	MCX_GUARD(hsm_data_create(ks->hsm, label, meta, strlen(meta), &fresh));
	keystore_crash_point(crash_point);
	/* the old meta is destroyed later (keystore_purge): ~46 ms at 5,000
	 * token objects.  If it cannot even be noted, start-up removes it. */
	if (e->meta != HSM_HANDLE_INVALID && keystore_note_superseded(ks, e->meta) != MCX_OK)
		vault_warning("could not note the old metadata of %s for removal: start-up will remove it", label);
	ks->last_change_ns = mcx_monotonic_ns();
	e->meta = fresh;
	e->state = m.state;
	e->destroy_at = m.destroy_at;
	e->rev = m.rev;
	r = MCX_OK;
out:
	return r;
}

/* Moves a version to a later state (a schedule does not survive it). */
static int keystore_change_state(struct keystore *ks, struct keystore_entry *e, enum keystore_state state)
{
	if (state <= e->state)
		return MCX_ERR_KEY_STATE;
	return keystore_write_meta(ks, e, state, 0, "state-after-new-meta");
}

/* Start-up repair; see the comment at the top of this file. */
static int keystore_repair(struct keystore *ks, int *changed)
{
	int r = MCX_ERR_INTERNAL;

	for (size_t i = 0; i < ks->superseded_count; i++) {
		vault_warning("removing superseded key metadata left by an interrupted state change");
		MCX_GUARD(hsm_object_destroy(ks->hsm, ks->superseded[i]));
		*changed = 1;
	}
	ks->superseded_count = 0;
	for (size_t i = 0; i < ks->count;) {
		struct keystore_entry *e = &ks->entries[i];
		if (e->meta == HSM_HANDLE_INVALID) {
			vault_warning("discarding unfinished key version %s/%s/%" PRIu32
			              " (created by an interrupted change, never acknowledged)",
			              e->domain, e->purpose, e->version);
			MCX_GUARD(entry_destroy_objects(ks, e));
			entry_remove(ks, i);
			*changed = 1;
			continue;
		}
		if (e->state == KEYSTORE_STATE_RETIRED && entry_has_secrets(e)) {
			vault_warning("finishing interrupted retirement of %s/%s/%" PRIu32, e->domain, e->purpose,
			              e->version);
			MCX_GUARD(entry_destroy_secrets(ks, e));
			*changed = 1;
		}
		i++;
	}
	if (ks->count > 1)
		qsort(ks->entries, ks->count, sizeof(ks->entries[0]), entry_compare);
	/* entries are sorted: the last active of each (domain, purpose) wins */
	for (size_t i = 0; i < ks->count; i++) {
		struct keystore_entry *e = &ks->entries[i];
		if (e->state != KEYSTORE_STATE_ACTIVE)
			continue;
		for (size_t k = i + 1; k < ks->count; k++) {
			struct keystore_entry *later = &ks->entries[k];
			if (strcmp(later->domain, e->domain) != 0 || strcmp(later->purpose, e->purpose) != 0)
				break;
			if (later->state == KEYSTORE_STATE_ACTIVE) {
				vault_warning("finishing interrupted rotation: %s/%s/%" PRIu32 " becomes verify-only",
				              e->domain, e->purpose, e->version);
				MCX_GUARD(keystore_change_state(ks, e, KEYSTORE_STATE_VERIFY_ONLY));
				*changed = 1;
				break;
			}
		}
	}
	r = MCX_OK;
out:
	return r;
}

/* Without the right to write (another vault may be changing keys right now,
 * and we do not hold the cluster lock): the index of what is complete.  A
 * version without meta is another vault's change in progress (or a crash
 * the next locked change repairs): left out; of two active versions the
 * later counts, as the repair would decide. */
static void keystore_tolerate(struct keystore *ks)
{
	ks->superseded_count = 0;
	for (size_t i = 0; i < ks->count;) {
		if (ks->entries[i].meta == HSM_HANDLE_INVALID)
			entry_remove(ks, i);
		else
			i++;
	}
	if (ks->count > 1)
		qsort(ks->entries, ks->count, sizeof(ks->entries[0]), entry_compare);
	for (size_t i = 0; i + 1 < ks->count; i++) {
		struct keystore_entry *e = &ks->entries[i], *next = &ks->entries[i + 1];
		if (e->state == KEYSTORE_STATE_ACTIVE && strcmp(next->domain, e->domain) == 0 &&
		    strcmp(next->purpose, e->purpose) == 0 && next->state == KEYSTORE_STATE_ACTIVE)
			e->state = KEYSTORE_STATE_VERIFY_ONLY;   /* in memory only */
	}
}

/* The token was re-initialised (hsm_generation changed), or another vault
 * changed keys in it (cluster->observed moved): every handle in the index
 * may be stale.  Walks the token again into a fresh index, repairs it
 * as start-up does (an operation the token loss interrupted may have left
 * half a version or two active ones), keeps the public points already known
 * and swaps the index.  The caller holds change_lock.  On failure the old
 * index stays and the next operation tries again. */
static int keystore_reload(struct keystore *ks, uint64_t generation, int repair)
{
	int r = MCX_ERR_INTERNAL, changed = 0;
	struct keystore fresh;

	memset(&fresh, 0, sizeof(fresh));
	fresh.hsm = ks->hsm;
	MCX_GUARD(hsm_objects_walk(ks->hsm, LABEL_PREFIX, keystore_walk_object, &fresh));
	if (repair)
		MCX_GUARD(keystore_repair(&fresh, &changed));
	else
		keystore_tolerate(&fresh);
	for (size_t i = 0; i < fresh.count; i++) {
		struct keystore_entry *e = &fresh.entries[i];
		const struct keystore_entry *known;

		if (e->public_key == HSM_HANDLE_INVALID)
			continue;
		pthread_rwlock_rdlock(&ks->lock);
		known = entry_find(ks, e->domain, e->purpose, e->version);
		if (known != NULL)
			memcpy(e->point, known->point, sizeof(e->point));
		pthread_rwlock_unlock(&ks->lock);
		if (known == NULL)
			MCX_GUARD(hsm_ec_public_point(ks->hsm, e->public_key, e->point));
	}
	if (changed)
		MCX_GUARD(hsm_sync(ks->hsm));
	pthread_rwlock_wrlock(&ks->lock);
	for (size_t i = 0; i < ks->count; i++)
		entry_release_blobs(&ks->entries[i]);
	free(ks->entries);
	ks->entries = fresh.entries;
	ks->count = fresh.count;
	ks->alloc = fresh.alloc;
	fresh.entries = NULL;
	fresh.count = 0;
	/* metas the repair replaced: for keystore_purge (the old queue's handles
	 * belong to the old generation; the purge drops them as stale) */
	for (size_t i = 0; i < fresh.superseded_count; i++)
		if (keystore_note_superseded(ks, fresh.superseded[i]) != MCX_OK)
			vault_warning("key store: a superseded meta is left for start-up to remove");
	atomic_store(&ks->generation, generation);
	pthread_rwlock_unlock(&ks->lock);
	vault_info("key store: the token %s; index rebuilt (%zu key versions)",
	           ks->cluster != NULL ? "changed (another vault, or re-initialised)" : "was re-initialised", ks->count);
	r = MCX_OK;
out:
	for (size_t i = 0; i < fresh.count; i++)
		entry_release_blobs(&fresh.entries[i]);
	free(fresh.entries);
	free(fresh.superseded);
	return r;
}

/* Cheap when nothing happened (one atomic load); rebuilds the index after a
 * re-initialisation of the token.  have_change_lock: the caller holds it;
 * otherwise it is only tried, because a key change in progress may call back
 * into the key store (a KMS generation signs its certificate) and then
 * rebuilds the index itself. */
static void keystore_follow_token(struct keystore *ks, int have_change_lock)
{
	uint64_t generation = hsm_generation(ks->hsm);
	uint64_t observed = ks->cluster != NULL ? ks->cluster->observed(ks->cluster->context) : 0;

	if (atomic_load(&ks->generation) == generation && atomic_load(&ks->cluster_seen) == observed)
		return;
	if (!have_change_lock && pthread_mutex_trylock(&ks->change_lock) != 0)
		return;
	if (atomic_load(&ks->generation) != generation || atomic_load(&ks->cluster_seen) != observed) {
		/* repairs write to the token: only under the cluster lock, which a
		 * caller holding change_lock also holds (keystore_change_begin) */
		if (keystore_reload(ks, generation, have_change_lock || ks->cluster == NULL) == MCX_OK)
			atomic_store(&ks->cluster_seen, observed);
		else
			vault_warning("key store: cannot rebuild the index from the token; trying again later");
	}
	if (!have_change_lock)
		pthread_mutex_unlock(&ks->change_lock);
}

void keystore_set_cluster(struct keystore *ks, const struct keystore_cluster *cluster)
{
	ks->cluster = cluster;
	atomic_store(&ks->cluster_seen, cluster != NULL ? cluster->observed(cluster->context) : 0);
}

/* Every key change begins here: change_lock, and with several vaults the
 * cluster lock (MCX_ERR_STORE_UNAVAILABLE when it cannot be had: no change
 * without it), then the index catches up with the token. */
static int keystore_change_begin(struct keystore *ks)
{
	int r = MCX_OK;

	pthread_mutex_lock(&ks->change_lock);
	if (ks->cluster != NULL && (r = ks->cluster->lock(ks->cluster->context)) != MCX_OK) {
		pthread_mutex_unlock(&ks->change_lock);
		return r;
	}
	keystore_follow_token(ks, 1);
	return r;
}

/* ... and ends here: the other vaults hear of it before our caller answers.
 * Announced even after a failure, which may have written half a change. */
static void keystore_change_end(struct keystore *ks)
{
	if (ks->cluster != NULL)
		atomic_store(&ks->cluster_seen, ks->cluster->unlock(ks->cluster->context, 1));
	pthread_mutex_unlock(&ks->change_lock);
}

MCX_RESULT keystore_open(struct hsm *hsm, struct keystore **out)
{
	int r = MCX_ERR_INTERNAL, changed = 0;
	struct keystore *ks = NULL;

	*out = NULL;
	MCX_ENSURE_ALLOC(ks = calloc(1, sizeof(*ks)));
	ks->hsm = hsm;
	atomic_store(&ks->generation, hsm_generation(hsm));
	pthread_rwlock_init(&ks->lock, NULL);
	pthread_mutex_init(&ks->change_lock, NULL);
	MCX_GUARD(hsm_objects_walk(hsm, LABEL_PREFIX, keystore_walk_object, ks));
	MCX_GUARD(keystore_repair(ks, &changed));
	for (size_t i = 0; i < ks->count; i++) {
		struct keystore_entry *e = &ks->entries[i];
		if (e->public_key == HSM_HANDLE_INVALID)
			continue;   /* a purpose without a key pair (e.g. kms) */
		MCX_GUARD(hsm_ec_public_point(hsm, e->public_key, e->point));
	}
	if (changed)
		MCX_GUARD(hsm_sync(hsm));
	vault_info("key store: %zu key versions in the token", ks->count);
	*out = ks;
	ks = NULL;
	r = MCX_OK;
out:
	if (ks != NULL)
		ks->superseded_count = 0;   /* a failed open changes nothing in the token */
	keystore_free(ks);
	return r;
}

/* Destroys the meta objects changes replaced.  Waits quiet_ms after the
 * last change (a rotation is often followed by a retirement: let it run
 * first), then destroys them under change_lock; a handle that went stale
 * (token re-initialised) is dropped: the rebuilt index's repair removed it.
 * Failures stay queued for the next call. */
void keystore_purge(struct keystore *ks, unsigned quiet_ms)
{
	size_t kept = 0;

	if (ks == NULL)
		return;
	pthread_mutex_lock(&ks->change_lock);
	if (ks->superseded_count == 0 ||
	    mcx_monotonic_ns() - ks->last_change_ns < (uint64_t)quiet_ms * 1000000u)
		goto out;
	for (size_t i = 0; i < ks->superseded_count; i++) {
		int r = hsm_object_destroy(ks->hsm, ks->superseded[i]);
		if (r != MCX_OK && r != MCX_ERR_HSM_STALE_HANDLE && r != MCX_ERR_NOT_FOUND)
			ks->superseded[kept++] = ks->superseded[i];
	}
	if (kept < ks->superseded_count && hsm_sync(ks->hsm) != MCX_OK)
		vault_warning("key store: could not sync the token after removing superseded metadata");
	if (kept > 0)
		vault_warning("key store: %zu superseded metadata objects not removed yet; trying again later", kept);
	ks->superseded_count = kept;
out:
	pthread_mutex_unlock(&ks->change_lock);
}

void keystore_free(struct keystore *ks)
{
	if (ks == NULL)
		return;
	/* a clean stop leaves one meta per version (start-up would remove the
	 * others too, but a token should look tidy when vaultd is not running) */
	keystore_purge(ks, 0);
	for (size_t i = 0; i < ks->count; i++)
		entry_release_blobs(&ks->entries[i]);
	pthread_rwlock_destroy(&ks->lock);
	pthread_mutex_destroy(&ks->change_lock);
	free(ks->entries);
	free(ks->superseded);
	free(ks);
}

MCX_RESULT keystore_list(struct keystore *ks, const char *domain, const char *purpose, struct keystore_key **keys,
                         size_t *count)
{
	int r = MCX_ERR_INTERNAL;
	struct keystore_key *list = NULL;
	size_t n = 0;

	*keys = NULL;
	*count = 0;
	keystore_follow_token(ks, 0);
	pthread_rwlock_rdlock(&ks->lock);
	MCX_ENSURE_ALLOC(list = calloc(ks->count + 1, sizeof(*list)));
	for (size_t i = 0; i < ks->count; i++) {
		const struct keystore_entry *e = &ks->entries[i];
		if (strcmp(e->domain, domain) != 0 || (purpose != NULL && strcmp(e->purpose, purpose) != 0))
			continue;
		entry_to_key(e, &list[n++]);
	}
	*keys = list;
	*count = n;
	list = NULL;
	r = MCX_OK;
out:
	pthread_rwlock_unlock(&ks->lock);
	free(list);
	return r;
}

MCX_RESULT keystore_get(struct keystore *ks, const char *domain, const char *purpose, uint32_t version,
                        struct keystore_key *key)
{
	int r = MCX_ERR_NOT_FOUND;
	const struct keystore_entry *e;

	keystore_follow_token(ks, 0);
	pthread_rwlock_rdlock(&ks->lock);
	if ((e = entry_find(ks, domain, purpose, version)) != NULL) {
		entry_to_key(e, key);
		r = MCX_OK;
	}
	pthread_rwlock_unlock(&ks->lock);
	return r;
}

MCX_RESULT keystore_blob_get(struct keystore *ks, const char *domain, const char *purpose, uint32_t version,
                             const char *name, struct mcx_buf *out, struct keystore_key *key)
{
	int r = MCX_ERR_NOT_FOUND;
	const struct keystore_entry *e;

	keystore_follow_token(ks, 0);
	pthread_rwlock_rdlock(&ks->lock);
	if ((e = entry_find(ks, domain, purpose, version)) != NULL) {
		if (key != NULL)
			entry_to_key(e, key);
		for (size_t i = 0; i < e->blob_count; i++)
			if (strcmp(e->blobs[i].name, name) == 0)
				r = mcx_buf_put(out, e->blobs[i].value, e->blobs[i].len);
	}
	pthread_rwlock_unlock(&ks->lock);
	return r;
}

MCX_RESULT keystore_parse_kid(const char *kid, const char *domain, char purpose[KEYSTORE_PURPOSE_MAX + 1],
                              uint32_t *version)
{
	char label[KEYSTORE_KID_MAX + 32], kid_domain[KEYSTORE_DOMAIN_MAX + 1], name[KEYSTORE_BLOB_NAME_MAX + 1];
	enum label_kind kind;

	if (kid == NULL || strlen(kid) > KEYSTORE_KID_MAX)
		return MCX_ERR_PARSE;
	snprintf(label, sizeof(label), LABEL_PREFIX "%s", kid);
	if (label_parse(label, kid_domain, purpose, version, &kind, name) != MCX_OK || kind != LABEL_KEY_PAIR)
		return MCX_ERR_PARSE;
	if (strcmp(kid_domain, domain) != 0)
		return MCX_ERR_NOT_FOUND;
	return MCX_OK;
}

/* Steps 1 and 2 of "create version n" (see the top of the file).  On failure
 * nothing of the version is left behind (or start-up removes it). */
static int keystore_create_version(struct keystore *ks, const char *domain, const char *purpose, uint32_t version,
                                   int with_key_pair, const struct keystore_blob_spec *blobs, size_t blob_count,
                                   struct keystore_entry *e)
{
	int r = MCX_ERR_INTERNAL;
	char label[HSM_LABEL_MAX + 1], meta[192];
	uint8_t id[SHA256_DIGEST_LENGTH];
	hsm_handle_t handle;

	memset(e, 0, sizeof(*e));
	snprintf(e->domain, sizeof(e->domain), "%s", domain);
	snprintf(e->purpose, sizeof(e->purpose), "%s", purpose);
	e->version = version;
	e->state = KEYSTORE_STATE_ACTIVE;
	e->created = mcx_time_now();
	if (with_key_pair) {
		key_label(label, sizeof(label), domain, purpose, version, NULL);
		SHA256((const uint8_t *)label, strlen(label), id);
		MCX_GUARD(hsm_ec_p256_generate(ks->hsm, label, id, 16, &e->private_key, &e->public_key, e->point));
		keystore_crash_point("after-keypair");
	}
	for (size_t i = 0; i < blob_count; i++) {
		MCX_ENSURE(blob_name_valid(blobs[i].name), MCX_ERR_INVALID_ARGUMENT);
		key_label(label, sizeof(label), domain, purpose, version, blobs[i].name);
		MCX_GUARD(hsm_data_create(ks->hsm, label, blobs[i].value, blobs[i].len, &handle));
		r = entry_add_blob(e, blobs[i].name, handle, blobs[i].value, blobs[i].len);
		if (r != MCX_OK) {
			if (hsm_object_destroy(ks->hsm, handle) != MCX_OK)
				vault_warning("could not remove unfinished blob %s; start-up will", label);
			goto out;
		}
		keystore_crash_point("after-blob");
	}
	key_label(label, sizeof(label), domain, purpose, version, META_NAME);
	e->rev = 1;
	MCX_GUARD(meta_encode(&(struct meta_fields){ KEYSTORE_STATE_ACTIVE, e->created, 0, e->rev }, meta, sizeof(meta)));
	MCX_GUARD(hsm_data_create(ks->hsm, label, meta, strlen(meta), &e->meta));
	keystore_crash_point("after-meta");
	r = MCX_OK;
out:
	if (r != MCX_OK) {
		/* leave nothing half-created behind; start-up would also clean it */
		if (entry_destroy_objects(ks, e) != MCX_OK)
			vault_warning("could not remove unfinished key %s/%s/%" PRIu32 "; start-up will", domain, purpose,
			              version);
		entry_release_blobs(e);
	}
	return r;
}

/* Inserts e keeping the order (takes over its blobs); caller holds the write lock. */
static int keystore_insert(struct keystore *ks, const struct keystore_entry *e)
{
	struct keystore_entry *slot;

	if ((slot = entry_slot(ks, e->domain, e->purpose, e->version)) == NULL)
		return MCX_ERR_ALLOC;
	*slot = *e;
	if (ks->count > 1)
		qsort(ks->entries, ks->count, sizeof(ks->entries[0]), entry_compare);
	return MCX_OK;
}

static uint32_t keystore_latest_version(struct keystore *ks, const char *domain, const char *purpose)
{
	uint32_t latest = 0;

	for (size_t i = 0; i < ks->count; i++)
		if (strcmp(ks->entries[i].domain, domain) == 0 && strcmp(ks->entries[i].purpose, purpose) == 0 &&
		    ks->entries[i].version > latest)
			latest = ks->entries[i].version;
	return latest;
}

MCX_RESULT keystore_add_version(struct keystore *ks, const char *domain, const char *purpose,
                                enum keystore_add_mode mode, int with_key_pair, keystore_build_fn build,
                                void *build_context, struct keystore_key *created, uint32_t *previous_version)
{
	int r = MCX_ERR_INTERNAL, locked = 0, have_old = 0, made = 0, changing = 0;
	struct keystore_entry e, old_copy, *old;
	struct keystore_blob_spec blobs[KEYSTORE_BLOBS_MAX];
	size_t blob_count = 0;
	uint32_t latest;

	memset(&e, 0, sizeof(e));
	memset(blobs, 0, sizeof(blobs));
	if (previous_version != NULL)
		*previous_version = 0;
	MCX_GUARD(keystore_change_begin(ks));
	changing = 1;
	pthread_rwlock_rdlock(&ks->lock);
	latest = keystore_latest_version(ks, domain, purpose);
	if ((old = entry_find(ks, domain, purpose, 0)) != NULL) {
		old_copy = *old;
		have_old = 1;
	}
	pthread_rwlock_unlock(&ks->lock);
	if (mode == KEYSTORE_ADD_FIRST)
		MCX_ENSURE(latest == 0, MCX_ERR_EXISTS);
	else
		MCX_ENSURE(latest > 0, MCX_ERR_NOT_FOUND);
	MCX_ENSURE(latest < UINT32_MAX, MCX_ERR_NO_BUFFER_SPACE);
	if (build != NULL) {
		MCX_GUARD(build(build_context, latest + 1, blobs, &blob_count));
		MCX_ENSURE(blob_count <= KEYSTORE_BLOBS_MAX, MCX_ERR_INTERNAL);
	}

	MCX_GUARD(keystore_create_version(ks, domain, purpose, latest + 1, with_key_pair, blobs, blob_count, &e));
	made = 1;
	if (have_old) {
		r = keystore_change_state(ks, &old_copy, KEYSTORE_STATE_VERIFY_ONLY);
		if (r != MCX_OK) {
			/* roll back: the new version was never acknowledged */
			if (hsm_object_destroy(ks->hsm, e.meta) != MCX_OK || entry_destroy_objects(ks, &e) != MCX_OK)
				vault_warning("rotation of %s/%s failed half way; start-up will repair it", domain,
				              purpose);
			goto out;
		}
		keystore_crash_point("after-demote");
	}
	MCX_GUARD(hsm_sync(ks->hsm));

	pthread_rwlock_wrlock(&ks->lock);
	locked = 1;
	if (have_old && (old = entry_find(ks, domain, purpose, old_copy.version)) != NULL) {
		old->state = old_copy.state;
		old->meta = old_copy.meta;
		old->destroy_at = old_copy.destroy_at;
		old->rev = old_copy.rev;
	}
	MCX_GUARD(keystore_insert(ks, &e));
	made = 0;   /* the index owns e's blobs now */
	entry_to_key(&e, created);
	if (previous_version != NULL)
		*previous_version = have_old ? old_copy.version : 0;
	if (have_old)
		vault_info("rotated %s/%s: version %" PRIu32 " active, version %" PRIu32 " verify-only", domain,
		           purpose, e.version, old_copy.version);
	else
		vault_info("created %s/%s version %" PRIu32, domain, purpose, e.version);
	r = MCX_OK;
out:
	if (locked)
		pthread_rwlock_unlock(&ks->lock);
	if (changing)
		keystore_change_end(ks);
	if (made)
		entry_release_blobs(&e);
	return r;
}

MCX_RESULT keystore_domain_init(struct keystore *ks, const char *domain, const char *purpose,
                                struct keystore_key *created)
{
	if (!keystore_purpose_has_key_pair(purpose))
		return MCX_ERR_INVALID_ARGUMENT;
	return keystore_add_version(ks, domain, purpose, KEYSTORE_ADD_FIRST, 1, NULL, NULL, created, NULL);
}

MCX_RESULT keystore_rotate(struct keystore *ks, const char *domain, const char *purpose,
                           struct keystore_key *created, uint32_t *previous_version)
{
	if (!keystore_purpose_has_key_pair(purpose))
		return MCX_ERR_INVALID_ARGUMENT;
	return keystore_add_version(ks, domain, purpose, KEYSTORE_ADD_ROTATE, 1, NULL, NULL, created,
	                            previous_version);
}

/* Under change_lock: a copy of a verify-only version's entry to change
 * (MCX_ERR_NOT_FOUND, MCX_ERR_KEY_STATE otherwise). */
static int entry_copy_verify_only(struct keystore *ks, const char *domain, const char *purpose, uint32_t version,
                                  struct keystore_entry *copy)
{
	struct keystore_entry *e;

	keystore_follow_token(ks, 1);
	pthread_rwlock_rdlock(&ks->lock);
	if ((e = entry_find(ks, domain, purpose, version)) != NULL)
		*copy = *e;
	pthread_rwlock_unlock(&ks->lock);
	if (version == 0 || e == NULL)
		return MCX_ERR_NOT_FOUND;
	return copy->state == KEYSTORE_STATE_VERIFY_ONLY ? MCX_OK : MCX_ERR_KEY_STATE;
}

/* After a meta change in the token: the index takes the new state, meta
 * handle, schedule and rev of copy. */
static void entry_store_meta(struct keystore *ks, const struct keystore_entry *copy)
{
	struct keystore_entry *e;

	pthread_rwlock_wrlock(&ks->lock);
	if ((e = entry_find(ks, copy->domain, copy->purpose, copy->version)) != NULL) {
		e->state = copy->state;
		e->meta = copy->meta;
		e->destroy_at = copy->destroy_at;
		e->rev = copy->rev;
	}
	pthread_rwlock_unlock(&ks->lock);
}

/* Retires a verify-only version.  due_by >= 0: only if it is still
 * scheduled for destruction at or before due_by (the automatic destruction:
 * a cancellation that came first wins, MCX_ERR_KEY_STATE). */
static int keystore_retire_checked(struct keystore *ks, const char *domain, const char *purpose, uint32_t version,
                                   int64_t due_by)
{
	int r = MCX_ERR_INTERNAL, changing = 0;
	struct keystore_entry *e, copy;

	MCX_GUARD(keystore_change_begin(ks));
	changing = 1;
	MCX_GUARD(entry_copy_verify_only(ks, domain, purpose, version, &copy));
	if (due_by >= 0)
		MCX_ENSURE(copy.destroy_at > 0 && copy.destroy_at <= due_by, MCX_ERR_KEY_STATE);

	MCX_GUARD(keystore_change_state(ks, &copy, KEYSTORE_STATE_RETIRED));
	entry_store_meta(ks, &copy);
	keystore_crash_point("retire-after-meta");
	/* under the write lock: the entry's blob array changes */
	pthread_rwlock_wrlock(&ks->lock);
	if ((e = entry_find(ks, domain, purpose, version)) != NULL)
		r = entry_destroy_secrets(ks, e);
	else
		r = MCX_ERR_NOT_FOUND;
	pthread_rwlock_unlock(&ks->lock);
	MCX_GUARD(r);
	MCX_GUARD(hsm_sync(ks->hsm));
	vault_info("retired %s/%s/%" PRIu32 ": private key material destroyed%s", domain, purpose, version,
	           due_by >= 0 ? " (scheduled destruction)" : "");
	r = MCX_OK;
out:
	if (changing)
		keystore_change_end(ks);
	return r;
}

MCX_RESULT keystore_retire(struct keystore *ks, const char *domain, const char *purpose, uint32_t version)
{
	return keystore_retire_checked(ks, domain, purpose, version, -1);
}

MCX_RESULT keystore_retire_due(struct keystore *ks, const char *domain, const char *purpose, uint32_t version,
                               int64_t now)
{
	return keystore_retire_checked(ks, domain, purpose, version, now < 0 ? 0 : now);
}

/* The schedule change of keystore_schedule_retire and keystore_cancel_retire:
 * destroy_at > 0 sets it (kept if one is already set), 0 removes it. */
static int keystore_set_schedule(struct keystore *ks, const char *domain, const char *purpose, uint32_t version,
                                 int64_t destroy_at, struct keystore_key *key)
{
	int r = MCX_ERR_INTERNAL, changing = 0;
	struct keystore_entry *e, copy;

	MCX_GUARD(keystore_change_begin(ks));
	changing = 1;
	MCX_GUARD(entry_copy_verify_only(ks, domain, purpose, version, &copy));
	if (destroy_at > 0 && copy.destroy_at > 0) {
		/* already scheduled: a repeated key.retire (a retry, or a second
		 * operator) must not postpone the destruction; cancel first to move it */
		r = MCX_OK;
		goto done;
	}
	MCX_ENSURE(destroy_at > 0 || copy.destroy_at > 0, MCX_ERR_KEY_STATE);   /* cancel: nothing scheduled */
	MCX_GUARD(keystore_write_meta(ks, &copy, KEYSTORE_STATE_VERIFY_ONLY, destroy_at,
	                              destroy_at > 0 ? "schedule-after-new-meta" : "cancel-after-new-meta"));
	MCX_GUARD(hsm_sync(ks->hsm));
	entry_store_meta(ks, &copy);
	if (destroy_at > 0)
		vault_info("%s/%s/%" PRIu32 ": destruction scheduled", domain, purpose, version);
	else
		vault_info("%s/%s/%" PRIu32 ": scheduled destruction cancelled", domain, purpose, version);
	r = MCX_OK;
done:
	if (key != NULL) {
		pthread_rwlock_rdlock(&ks->lock);
		if ((e = entry_find(ks, domain, purpose, version)) != NULL)
			entry_to_key(e, key);
		pthread_rwlock_unlock(&ks->lock);
	}
out:
	if (changing)
		keystore_change_end(ks);
	return r;
}

MCX_RESULT keystore_schedule_retire(struct keystore *ks, const char *domain, const char *purpose,
                                    uint32_t version, int64_t destroy_at, struct keystore_key *key)
{
	if (destroy_at <= 0)
		return MCX_ERR_INVALID_ARGUMENT;
	return keystore_set_schedule(ks, domain, purpose, version, destroy_at, key);
}

MCX_RESULT keystore_cancel_retire(struct keystore *ks, const char *domain, const char *purpose, uint32_t version,
                                  struct keystore_key *key)
{
	return keystore_set_schedule(ks, domain, purpose, version, 0, key);
}

MCX_RESULT keystore_due(struct keystore *ks, int64_t now, struct keystore_key **keys, size_t *count)
{
	int r = MCX_ERR_INTERNAL;
	struct keystore_key *list = NULL;
	size_t n = 0;

	*keys = NULL;
	*count = 0;
	keystore_follow_token(ks, 0);
	pthread_rwlock_rdlock(&ks->lock);
	MCX_ENSURE_ALLOC(list = calloc(ks->count + 1, sizeof(*list)));
	for (size_t i = 0; i < ks->count; i++) {
		const struct keystore_entry *e = &ks->entries[i];
		if (e->state == KEYSTORE_STATE_VERIFY_ONLY && e->destroy_at > 0 && e->destroy_at <= now)
			entry_to_key(e, &list[n++]);
	}
	*keys = list;
	*count = n;
	list = NULL;
	r = MCX_OK;
out:
	pthread_rwlock_unlock(&ks->lock);
	free(list);
	return r;
}

MCX_RESULT keystore_all(struct keystore *ks, struct keystore_key **keys, size_t *count)
{
	int r = MCX_ERR_INTERNAL;
	struct keystore_key *list = NULL;

	*keys = NULL;
	*count = 0;
	keystore_follow_token(ks, 0);
	pthread_rwlock_rdlock(&ks->lock);
	MCX_ENSURE_ALLOC(list = calloc(ks->count + 1, sizeof(*list)));
	for (size_t i = 0; i < ks->count; i++)
		entry_to_key(&ks->entries[i], &list[i]);
	*keys = list;
	*count = ks->count;
	list = NULL;
	r = MCX_OK;
out:
	pthread_rwlock_unlock(&ks->lock);
	free(list);
	return r;
}

/* Looks a private key up again by label after its handle went stale. */
static int keystore_refresh_private(struct keystore *ks, const char *domain, const char *purpose, uint32_t version)
{
	int r = MCX_ERR_INTERNAL;
	char label[HSM_LABEL_MAX + 1];
	hsm_handle_t handle = HSM_HANDLE_INVALID;
	struct keystore_entry *e;

	key_label(label, sizeof(label), domain, purpose, version, NULL);
	r = hsm_find_by_label(ks->hsm, HSM_CLASS_PRIVATE_KEY, label, &handle);
	pthread_rwlock_wrlock(&ks->lock);
	/* only a token that answers "no such key" clears it: a token that is
	 * gone (MCX_ERR_HSM_UNAVAILABLE) must not make the key look destroyed */
	if ((e = entry_find(ks, domain, purpose, version)) != NULL && (r == MCX_OK || r == MCX_ERR_NOT_FOUND))
		e->private_key = r == MCX_OK ? handle : HSM_HANDLE_INVALID;
	pthread_rwlock_unlock(&ks->lock);
	if (r == MCX_OK)
		vault_info("key %s: handle was stale, found again", label);
	return r;
}

MCX_RESULT keystore_blob_add(struct keystore *ks, const char *domain, const char *purpose, uint32_t version,
                             const char *name, const void *value, size_t len)
{
	int r = MCX_ERR_INTERNAL, created = 0;
	char label[HSM_LABEL_MAX + 1];
	hsm_handle_t handle = HSM_HANDLE_INVALID;
	struct keystore_entry *e;
	int exists = 0;

	MCX_ENSURE(blob_name_valid(name) && !blob_is_sealed(name) && len <= 65536, MCX_ERR_INVALID_ARGUMENT);
	MCX_GUARD(keystore_change_begin(ks));
	pthread_rwlock_rdlock(&ks->lock);
	if ((e = entry_find(ks, domain, purpose, version)) != NULL)
		for (size_t i = 0; i < e->blob_count; i++)
			exists |= strcmp(e->blobs[i].name, name) == 0;
	pthread_rwlock_unlock(&ks->lock);
	if (version == 0 || e == NULL)
		r = MCX_ERR_NOT_FOUND;
	else if (exists)
		r = MCX_ERR_EXISTS;
	else
		r = MCX_OK;
	if (r == MCX_OK) {
		key_label(label, sizeof(label), domain, purpose, version, name);
		r = hsm_data_create(ks->hsm, label, value, len, &handle);
		created = r == MCX_OK;
	}
	if (r == MCX_OK)
		r = hsm_sync(ks->hsm);
	if (r == MCX_OK) {
		pthread_rwlock_wrlock(&ks->lock);
		if ((e = entry_find(ks, domain, purpose, version)) != NULL)
			r = entry_add_blob(e, name, handle, value, len);
		else
			r = MCX_ERR_NOT_FOUND;
		pthread_rwlock_unlock(&ks->lock);
	}
	if (r != MCX_OK && created && hsm_object_destroy(ks->hsm, handle) != MCX_OK)
		vault_warning("could not remove the unfinished blob %s", label);
	keystore_change_end(ks);
out:
	return r;
}

/* The signature itself, with the active version of any key-pair purpose:
 * private, so that only keystore_sign ("sign") and keystore_sign_with
 * (trust keys, composed documents) decide which purpose a caller reaches. */
static int keystore_sign_active(struct keystore *ks, const char *domain, const char *purpose,
                                const uint8_t digest[32], uint8_t signature[64], struct keystore_key *used)
{
	int r = MCX_ERR_INTERNAL;
	const struct keystore_entry *e;
	hsm_handle_t handle = HSM_HANDLE_INVALID;
	uint32_t version = 0;

	keystore_follow_token(ks, 0);
	/* two tries: a handle can go stale (token re-inserted) or the version can
	 * be rotated and retired between the look-up and the signature */
	for (int attempt = 0; attempt < 2; attempt++) {
		pthread_rwlock_rdlock(&ks->lock);
		if ((e = entry_find(ks, domain, purpose, 0)) != NULL) {
			handle = e->private_key;
			version = e->version;
			entry_to_key(e, used);
		}
		pthread_rwlock_unlock(&ks->lock);
		MCX_ENSURE(e != NULL, MCX_ERR_NOT_FOUND);
		if (handle == HSM_HANDLE_INVALID) {
			if (keystore_refresh_private(ks, domain, purpose, version) != MCX_OK)
				MCX_BAIL(MCX_ERR_HSM_UNAVAILABLE);
			continue;
		}
		r = hsm_ecdsa_sign(ks->hsm, handle, digest, signature);
		if (r != MCX_ERR_HSM_STALE_HANDLE)
			goto out;
		if ((r = keystore_refresh_private(ks, domain, purpose, version)) == MCX_ERR_HSM_UNAVAILABLE)
			goto out;
	}
	/* still stale after a fresh look-up: the token is not answering sanely */
	r = MCX_ERR_HSM_UNAVAILABLE;
out:
	return r;
}

MCX_RESULT keystore_sign(struct keystore *ks, const char *domain, const uint8_t digest[32], uint8_t signature[64],
                         struct keystore_key *used)
{
	return keystore_sign_active(ks, domain, KEYSTORE_PURPOSE_SIGN, digest, signature, used);
}

MCX_RESULT keystore_sign_with(struct keystore *ks, const char *domain, const char *purpose, uint32_t version,
                              const uint8_t digest[32], uint8_t signature[64])
{
	int r = MCX_ERR_INTERNAL;
	struct keystore_key used;

	if (!keystore_purpose_is_trust(purpose))
		return MCX_ERR_INVALID_ARGUMENT;
	r = keystore_sign_active(ks, domain, purpose, digest, signature, &used);
	if (r == MCX_OK && used.version != version) {
		/* rotated meanwhile: the caller's header names the old version */
		mcx_wipe(signature, 64);
		r = MCX_ERR_KEY_STATE;
	}
	return r;
}
