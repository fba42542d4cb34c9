/*
 * The key store: index, rotation, retirement, crash recovery.
 *
 * Order of token writes — chosen so that a vaultd killed with SIGKILL at any
 * point leaves a token that start-up repairs to exactly one active version
 * per (domain, purpose) without losing an acknowledged key:
 *
 *   create version n:  1. key pair  mcxvault/D/P/n          (no meta yet)
 *                      2. meta      mcxvault/D/P/n/meta     state "active"
 *   rotate:            3. old active version -> "verify-only"
 *                      4. syncfs(token dir), then acknowledge
 *   retire:            1. version -> "retired"   2. destroy the private key
 *
 * A state change never edits an object in place (SoftHSM refuses to change a
 * data object's CKA_VALUE, and an in-place write is not atomic anyway): it
 * creates a new meta object with the new state, then destroys the old one.
 * States only move forward (active -> verify-only -> retired), so when a
 * crash leaves two meta objects for one version, the later state is the true
 * one and the other is removed at start-up.
 *
 * Start-up repair (keystore_repair):
 *   - a key pair without meta was never acknowledged (crash between 1 and 2):
 *     it is destroyed;
 *   - several "active" versions (crash between 2 and 3): the highest stays
 *     active, the others become "verify-only";
 *   - a "retired" version that still has its private key (crash between
 *     retire 1 and 2): the private key is destroyed;
 *   - superseded meta objects (crash inside a state change) are destroyed.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "vault/keys/keystore.h"

#include <errno.h>
#include <inttypes.h>
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
#define META_SUFFIX "/meta"

struct keystore_entry {
	char domain[KEYSTORE_DOMAIN_MAX + 1];
	char purpose[KEYSTORE_PURPOSE_MAX + 1];
	uint32_t version;
	enum keystore_state state;
	int64_t created;
	hsm_handle_t private_key;
	hsm_handle_t public_key;
	hsm_handle_t meta;
	uint8_t point[65];
};

struct keystore {
	struct hsm *hsm;
	pthread_rwlock_t lock;          /* guards entries/count */
	pthread_mutex_t change_lock;    /* serialises init, rotate, retire */
	struct keystore_entry *entries; /* sorted by domain, purpose, version */
	size_t count;
	size_t alloc;
	hsm_handle_t *superseded;       /* start-up only: meta objects to remove */
	size_t superseded_count;
};

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

static void key_label(char *label, size_t size, const char *domain, const char *purpose, uint32_t version,
                      int meta)
{
	snprintf(label, size, LABEL_PREFIX "%s/%s/%" PRIu32 "%s", domain, purpose, version, meta ? META_SUFFIX : "");
}

static void entry_to_key(const struct keystore_entry *e, struct keystore_key *key)
{
	memset(key, 0, sizeof(*key));
	memcpy(key->domain, e->domain, sizeof(key->domain));
	memcpy(key->purpose, e->purpose, sizeof(key->purpose));
	key->version = e->version;
	key->state = e->state;
	key->created = e->created;
	key->has_private_key = e->private_key != HSM_HANDLE_INVALID;
	memcpy(key->public_point, e->point, sizeof(key->public_point));
	snprintf(key->kid, sizeof(key->kid), "%s/%s/%" PRIu32, e->domain, e->purpose, e->version);
}

/* Parses "mcxvault/<domain>/<purpose>/<version>[/meta]". */
static int label_parse(const char *label, char *domain, char *purpose, uint32_t *version, int *meta)
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
	if (*end == '\0')
		*meta = 0;
	else if (strcmp(end, META_SUFFIX) == 0)
		*meta = 1;
	else
		return MCX_ERR_PARSE;
	return MCX_OK;
}

static int meta_encode(enum keystore_state state, int64_t created, char *out, size_t size)
{
	int n = snprintf(out, size, "{\"state\":\"%s\",\"created\":%" PRId64 "}", keystore_state_name(state), created);
	return n > 0 && (size_t)n < size ? MCX_OK : MCX_ERR_INTERNAL;
}

static int meta_decode(const uint8_t *value, size_t len, enum keystore_state *state, int64_t *created)
{
	int r = MCX_ERR_PARSE;
	json_t *root = NULL, *s, *c;

	if ((root = json_loadb((const char *)value, len, 0, NULL)) == NULL)
		goto out;
	s = json_object_get(root, "state");
	c = json_object_get(root, "created");
	if (!json_is_string(s) || !json_is_integer(c))
		goto out;
	MCX_GUARD(keystore_state_parse(json_string_value(s), state));
	*created = json_integer_value(c);
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

/* Looks the entry up; the caller holds ks->lock. */
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

static int keystore_walk_object(void *context, const struct hsm_object *object)
{
	struct keystore *ks = context;
	char domain[KEYSTORE_DOMAIN_MAX + 1], purpose[KEYSTORE_PURPOSE_MAX + 1];
	uint32_t version;
	int meta;
	struct keystore_entry *e;

	if (label_parse(object->label, domain, purpose, &version, &meta) != MCX_OK) {
		vault_debug("token object '%s' is not a key version: ignored", object->label);
		return MCX_OK;
	}
	if ((e = entry_slot(ks, domain, purpose, version)) == NULL)
		return MCX_ERR_ALLOC;
	if (meta && object->object_class == HSM_CLASS_DATA) {
		enum keystore_state state;
		int64_t created;
		hsm_handle_t *grown;

		if (meta_decode(object->value, object->value_len, &state, &created) != MCX_OK) {
			vault_error("key metadata '%s' is unreadable: treating the version as retired", object->label);
			state = KEYSTORE_STATE_RETIRED;
			created = 0;
		}
		if (e->meta != HSM_HANDLE_INVALID) {
			/* an interrupted state change: the later state wins */
			grown = realloc(ks->superseded, (ks->superseded_count + 1) * sizeof(*grown));
			if (grown == NULL)
				return MCX_ERR_ALLOC;
			ks->superseded = grown;
			if (state < e->state) {
				ks->superseded[ks->superseded_count++] = object->handle;
				return MCX_OK;
			}
			ks->superseded[ks->superseded_count++] = e->meta;
		}
		e->meta = object->handle;
		e->state = state;
		e->created = created;
	} else if (!meta && object->object_class == HSM_CLASS_PRIVATE_KEY) {
		e->private_key = object->handle;
	} else if (!meta && object->object_class == HSM_CLASS_PUBLIC_KEY) {
		e->public_key = object->handle;
	}
	return MCX_OK;
}

static void entry_remove(struct keystore *ks, size_t index)
{
	memmove(&ks->entries[index], &ks->entries[index + 1], (ks->count - index - 1) * sizeof(ks->entries[0]));
	ks->count--;
}

/* Moves a version to a later state: new meta object first, then the old one
 * goes (see the top of the file).  Updates e->meta and e->state. */
static int keystore_change_state(struct keystore *ks, struct keystore_entry *e, enum keystore_state state)
{
	int r = MCX_ERR_INTERNAL;
	char label[HSM_LABEL_MAX + 1], meta[128];
	hsm_handle_t fresh = HSM_HANDLE_INVALID;

	MCX_ENSURE(state > e->state, MCX_ERR_KEY_STATE);
	key_label(label, sizeof(label), e->domain, e->purpose, e->version, 1);
	MCX_GUARD(meta_encode(state, e->created, meta, sizeof(meta)));
	MCX_GUARD(hsm_data_create(ks->hsm, label, meta, strlen(meta), &fresh));
	keystore_crash_point("state-after-new-meta");
	r = hsm_object_destroy(ks->hsm, e->meta);
	if (r != MCX_OK && r != MCX_ERR_HSM_STALE_HANDLE)
		vault_warning("could not remove the old metadata of %s: start-up will", label);
	e->meta = fresh;
	e->state = state;
	r = MCX_OK;
out:
	return r;
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
			              " (created by an interrupted rotation, never acknowledged)",
			              e->domain, e->purpose, e->version);
			if (e->private_key != HSM_HANDLE_INVALID)
				MCX_GUARD(hsm_object_destroy(ks->hsm, e->private_key));
			if (e->public_key != HSM_HANDLE_INVALID)
				MCX_GUARD(hsm_object_destroy(ks->hsm, e->public_key));
			entry_remove(ks, i);
			*changed = 1;
			continue;
		}
		if (e->state == KEYSTORE_STATE_RETIRED && e->private_key != HSM_HANDLE_INVALID) {
			vault_warning("finishing interrupted retirement of %s/%s/%" PRIu32, e->domain, e->purpose,
			              e->version);
			MCX_GUARD(hsm_object_destroy(ks->hsm, e->private_key));
			e->private_key = HSM_HANDLE_INVALID;
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

MCX_RESULT keystore_open(struct hsm *hsm, struct keystore **out)
{
	int r = MCX_ERR_INTERNAL, changed = 0;
	struct keystore *ks = NULL;

	*out = NULL;
	MCX_ENSURE_ALLOC(ks = calloc(1, sizeof(*ks)));
	ks->hsm = hsm;
	pthread_rwlock_init(&ks->lock, NULL);
	pthread_mutex_init(&ks->change_lock, NULL);
	MCX_GUARD(hsm_objects_walk(hsm, LABEL_PREFIX, keystore_walk_object, ks));
	MCX_GUARD(keystore_repair(ks, &changed));
	for (size_t i = 0; i < ks->count; i++) {
		struct keystore_entry *e = &ks->entries[i];
		if (e->public_key == HSM_HANDLE_INVALID) {
			vault_error("key version %s/%s/%" PRIu32 " has no public key in the token", e->domain,
			            e->purpose, e->version);
			continue;
		}
		MCX_GUARD(hsm_ec_public_point(hsm, e->public_key, e->point));
	}
	if (changed)
		MCX_GUARD(hsm_sync(hsm));
	vault_info("key store: %zu key versions in the token", ks->count);
	*out = ks;
	ks = NULL;
	r = MCX_OK;
out:
	keystore_free(ks);
	return r;
}

void keystore_free(struct keystore *ks)
{
	if (ks == NULL)
		return;
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

	pthread_rwlock_rdlock(&ks->lock);
	if ((e = entry_find(ks, domain, purpose, version)) != NULL) {
		entry_to_key(e, key);
		r = MCX_OK;
	}
	pthread_rwlock_unlock(&ks->lock);
	return r;
}

MCX_RESULT keystore_parse_kid(const char *kid, const char *domain, char purpose[KEYSTORE_PURPOSE_MAX + 1],
                              uint32_t *version)
{
	char label[KEYSTORE_KID_MAX + 32], kid_domain[KEYSTORE_DOMAIN_MAX + 1];
	int meta = 0;

	if (kid == NULL || strlen(kid) > KEYSTORE_KID_MAX)
		return MCX_ERR_PARSE;
	snprintf(label, sizeof(label), LABEL_PREFIX "%s", kid);
	if (label_parse(label, kid_domain, purpose, version, &meta) != MCX_OK || meta)
		return MCX_ERR_PARSE;
	if (strcmp(kid_domain, domain) != 0)
		return MCX_ERR_NOT_FOUND;
	return MCX_OK;
}

/* Steps 1 and 2 of "create version n" (see the top of the file). */
static int keystore_create_version(struct keystore *ks, const char *domain, const char *purpose, uint32_t version,
                                   struct keystore_entry *e)
{
	int r = MCX_ERR_INTERNAL;
	char label[HSM_LABEL_MAX + 1], meta[128];
	uint8_t id[SHA256_DIGEST_LENGTH];

	memset(e, 0, sizeof(*e));
	snprintf(e->domain, sizeof(e->domain), "%s", domain);
	snprintf(e->purpose, sizeof(e->purpose), "%s", purpose);
	e->version = version;
	e->state = KEYSTORE_STATE_ACTIVE;
	e->created = mcx_time_now();
	key_label(label, sizeof(label), domain, purpose, version, 0);
	SHA256((const uint8_t *)label, strlen(label), id);
	MCX_GUARD(hsm_ec_p256_generate(ks->hsm, label, id, 16, &e->private_key, &e->public_key, e->point));
	keystore_crash_point("after-keypair");
	key_label(label, sizeof(label), domain, purpose, version, 1);
	MCX_GUARD(meta_encode(KEYSTORE_STATE_ACTIVE, e->created, meta, sizeof(meta)));
	r = hsm_data_create(ks->hsm, label, meta, strlen(meta), &e->meta);
	if (r != MCX_OK) {
		/* leave nothing half-created behind; start-up would also clean it */
		if (hsm_object_destroy(ks->hsm, e->private_key) != MCX_OK ||
		    hsm_object_destroy(ks->hsm, e->public_key) != MCX_OK)
			vault_warning("could not remove unfinished key %s/%s/%" PRIu32 "; start-up will",
			              domain, purpose, version);
		goto out;
	}
	keystore_crash_point("after-meta");
	r = MCX_OK;
out:
	return r;
}

/* Inserts e keeping the order; caller holds the write lock. */
static int keystore_insert(struct keystore *ks, const struct keystore_entry *e)
{
	struct keystore_entry *slot;

	if ((slot = entry_slot(ks, e->domain, e->purpose, e->version)) == NULL)
		return MCX_ERR_ALLOC;
	*slot = *e;
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

MCX_RESULT keystore_domain_init(struct keystore *ks, const char *domain, struct keystore_key *created)
{
	int r = MCX_ERR_INTERNAL, locked = 0;
	struct keystore_entry e;
	uint32_t latest;

	pthread_mutex_lock(&ks->change_lock);
	pthread_rwlock_rdlock(&ks->lock);
	latest = keystore_latest_version(ks, domain, "sign");
	pthread_rwlock_unlock(&ks->lock);
	MCX_ENSURE(latest == 0, MCX_ERR_EXISTS);
	MCX_GUARD(keystore_create_version(ks, domain, "sign", 1, &e));
	MCX_GUARD(hsm_sync(ks->hsm));
	pthread_rwlock_wrlock(&ks->lock);
	locked = 1;
	MCX_GUARD(keystore_insert(ks, &e));
	entry_to_key(&e, created);
	vault_info("domain %s initialised: signing key version 1", domain);
	r = MCX_OK;
out:
	if (locked)
		pthread_rwlock_unlock(&ks->lock);
	pthread_mutex_unlock(&ks->change_lock);
	return r;
}

MCX_RESULT keystore_rotate(struct keystore *ks, const char *domain, const char *purpose,
                           struct keystore_key *created, uint32_t *previous_version)
{
	int r = MCX_ERR_INTERNAL, locked = 0, have_old = 0;
	struct keystore_entry e, old_copy, *old;
	uint32_t latest;

	pthread_mutex_lock(&ks->change_lock);
	pthread_rwlock_rdlock(&ks->lock);
	latest = keystore_latest_version(ks, domain, purpose);
	if ((old = entry_find(ks, domain, purpose, 0)) != NULL) {
		old_copy = *old;
		have_old = 1;
	}
	pthread_rwlock_unlock(&ks->lock);
	MCX_ENSURE(latest > 0 && latest < UINT32_MAX, MCX_ERR_NOT_FOUND);

	MCX_GUARD(keystore_create_version(ks, domain, purpose, latest + 1, &e));
	if (have_old) {
		r = keystore_change_state(ks, &old_copy, KEYSTORE_STATE_VERIFY_ONLY);
		if (r != MCX_OK) {
			/* roll back to the old state: the new version was never acknowledged */
			if (hsm_object_destroy(ks->hsm, e.meta) != MCX_OK ||
			    hsm_object_destroy(ks->hsm, e.private_key) != MCX_OK ||
			    hsm_object_destroy(ks->hsm, e.public_key) != MCX_OK)
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
	}
	MCX_GUARD(keystore_insert(ks, &e));
	entry_to_key(&e, created);
	*previous_version = have_old ? old_copy.version : 0;
	vault_info("rotated %s/%s: version %" PRIu32 " active, version %" PRIu32 " verify-only", domain, purpose,
	           e.version, *previous_version);
	r = MCX_OK;
out:
	if (locked)
		pthread_rwlock_unlock(&ks->lock);
	pthread_mutex_unlock(&ks->change_lock);
	return r;
}

MCX_RESULT keystore_retire(struct keystore *ks, const char *domain, const char *purpose, uint32_t version)
{
	int r = MCX_ERR_INTERNAL;
	struct keystore_entry *e, copy;

	pthread_mutex_lock(&ks->change_lock);
	pthread_rwlock_rdlock(&ks->lock);
	if ((e = entry_find(ks, domain, purpose, version)) != NULL)
		copy = *e;
	pthread_rwlock_unlock(&ks->lock);
	MCX_ENSURE(version != 0 && e != NULL, MCX_ERR_NOT_FOUND);
	MCX_ENSURE(copy.state == KEYSTORE_STATE_VERIFY_ONLY, MCX_ERR_KEY_STATE);

	MCX_GUARD(keystore_change_state(ks, &copy, KEYSTORE_STATE_RETIRED));
	pthread_rwlock_wrlock(&ks->lock);
	if ((e = entry_find(ks, domain, purpose, version)) != NULL) {
		e->state = copy.state;
		e->meta = copy.meta;
	}
	pthread_rwlock_unlock(&ks->lock);
	keystore_crash_point("retire-after-meta");
	if (copy.private_key != HSM_HANDLE_INVALID) {
		r = hsm_object_destroy(ks->hsm, copy.private_key);
		/* already gone is fine: the goal is that it does not exist */
		if (r != MCX_OK && r != MCX_ERR_HSM_STALE_HANDLE)
			goto out;
	}
	MCX_GUARD(hsm_sync(ks->hsm));
	pthread_rwlock_wrlock(&ks->lock);
	if ((e = entry_find(ks, domain, purpose, version)) != NULL)
		e->private_key = HSM_HANDLE_INVALID;
	pthread_rwlock_unlock(&ks->lock);
	vault_info("retired %s/%s/%" PRIu32 ": private key destroyed", domain, purpose, version);
	r = MCX_OK;
out:
	pthread_mutex_unlock(&ks->change_lock);
	return r;
}

/* Looks a private key up again by label after its handle went stale. */
static int keystore_refresh_private(struct keystore *ks, const char *domain, const char *purpose, uint32_t version)
{
	int r = MCX_ERR_INTERNAL;
	char label[HSM_LABEL_MAX + 1];
	hsm_handle_t handle = HSM_HANDLE_INVALID;
	struct keystore_entry *e;

	key_label(label, sizeof(label), domain, purpose, version, 0);
	r = hsm_find_by_label(ks->hsm, HSM_CLASS_PRIVATE_KEY, label, &handle);
	pthread_rwlock_wrlock(&ks->lock);
	if ((e = entry_find(ks, domain, purpose, version)) != NULL)
		e->private_key = r == MCX_OK ? handle : HSM_HANDLE_INVALID;
	pthread_rwlock_unlock(&ks->lock);
	if (r == MCX_OK)
		vault_info("key %s: handle was stale, found again", label);
	return r;
}

MCX_RESULT keystore_sign(struct keystore *ks, const char *domain, const uint8_t digest[32], uint8_t signature[64],
                         struct keystore_key *used)
{
	int r = MCX_ERR_INTERNAL;
	const struct keystore_entry *e;
	hsm_handle_t handle = HSM_HANDLE_INVALID;
	uint32_t version = 0;

	/* two tries: a handle can go stale (token re-inserted) or the version can
	 * be rotated and retired between the look-up and the signature */
	for (int attempt = 0; attempt < 2; attempt++) {
		pthread_rwlock_rdlock(&ks->lock);
		if ((e = entry_find(ks, domain, "sign", 0)) != NULL) {
			handle = e->private_key;
			version = e->version;
			entry_to_key(e, used);
		}
		pthread_rwlock_unlock(&ks->lock);
		MCX_ENSURE(e != NULL, MCX_ERR_NOT_FOUND);
		if (handle == HSM_HANDLE_INVALID) {
			if (keystore_refresh_private(ks, domain, "sign", version) != MCX_OK)
				MCX_BAIL(MCX_ERR_HSM_UNAVAILABLE);
			continue;
		}
		r = hsm_ecdsa_sign(ks->hsm, handle, digest, signature);
		if (r != MCX_ERR_HSM_STALE_HANDLE)
			goto out;
		(void)keystore_refresh_private(ks, domain, "sign", version);
	}
	/* still stale after a fresh look-up: the token is not answering sanely */
	r = MCX_ERR_HSM_UNAVAILABLE;
out:
	return r;
}
