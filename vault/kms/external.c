/*
 * The trusted external KMS store (see external.h).
 * SPDX-License-Identifier: Apache-2.0
 */
#include "vault/kms/external.h"

#include <jansson.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcx/util.h"
#include "pkcs11/hsm.h"
#include "vault/daemon/log.h"
#include "vault/keys/keystore.h"
#include "vault/kms/kms_cert.h"

#define EXTERNAL_PREFIX "mcxvault-external/"
#define EXTERNAL_REVOKED_SUFFIX "/revoked"

struct external_record {
	struct kms_external_entry entry;
	hsm_handle_t handle;
	hsm_handle_t revocation;            /* the "/revoked" marker, when entry.revoked */
	uint8_t cert_sha256[SHA256_DIGEST_LENGTH];
};

/* A revocation marker found by the start-up walk, applied once every entry is loaded. */
struct external_marker {
	char domain[129];
	char kms_uri[256];
	int64_t revoked_at;
	char reason[32];
	uint8_t cert_sha256[SHA256_DIGEST_LENGTH];
	hsm_handle_t handle;
};

struct kms_external {
	struct hsm *hsm;
	pthread_rwlock_t lock;
	pthread_mutex_t change_lock;
	struct external_record *records;
	size_t count;
	struct external_marker *markers;    /* only during kms_external_open */
	size_t marker_count;
	const struct keystore_cluster *cluster;   /* several vaults (store.h); NULL: one */
	_Atomic uint64_t seen;                    /* cluster->observed() the records reflect */
};

/* RFC 5280 section 5.3.1 CRLReason, without certificateHold and removeFromCRL:
 * a relying party's revocation here is final (external.remove and a new
 * external.import are the way back, both audited). */
static const char *const external_reasons[] = { "unspecified", "keyCompromise", "cACompromise",
	                                        "affiliationChanged", "superseded", "cessationOfOperation",
	                                        "privilegeWithdrawn", "aACompromise", NULL };

int kms_external_reason_valid(const char *reason)
{
	for (size_t i = 0; reason != NULL && external_reasons[i] != NULL; i++)
		if (strcmp(reason, external_reasons[i]) == 0)
			return 1;
	return 0;
}

MCX_RESULT kms_external_entry_check(const struct kms_external_entry *e, int64_t at, char *reason,
                                    size_t reason_size)
{
	char when[21];

	/* Untrusted once revoked, whatever instant is asked about: a response,
	 * token or certificate use dated before the revocation proves nothing,
	 * since whoever holds a compromised key can write any date. */
	if (e->revoked) {
		mcx_time_format(e->revoked_at, when);
		if (reason != NULL)
			snprintf(reason, reason_size, "the certificate of KMS '%.120s' was revoked at %s (%s)", e->kms_uri,
			         when, e->revocation_reason);
		return MCX_ERR_REVOKED;
	}
	if (at < e->valid_from || at > e->valid_to) {
		if (reason != NULL)
			snprintf(reason, reason_size, "the certificate of KMS '%.120s' is not valid at that time (%s)",
			         e->kms_uri, at > e->valid_to ? "expired" : "not yet valid");
		return MCX_ERR_EXPIRED;
	}
	return MCX_OK;
}

static void external_label(char *label, size_t size, const char *domain, const char *kms_uri)
{
	uint8_t digest[SHA256_DIGEST_LENGTH];
	char hex[17];

	SHA256((const uint8_t *)kms_uri, strlen(kms_uri), digest);
	for (size_t i = 0; i < 8; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	snprintf(label, size, EXTERNAL_PREFIX "%s/%s", domain, hex);
}

/* The entry's revocation marker: "<entry label>/revoked" (at most 171 octets). */
static void external_marker_label(char *marker, size_t size, const char *domain, const char *kms_uri)
{
	char label[HSM_LABEL_MAX + 1];

	external_label(label, sizeof(label), domain, kms_uri);
	if (snprintf(marker, size, "%s" EXTERNAL_REVOKED_SUFFIX, label) >= (int)size)
		marker[0] = '\0';   /* not reached: domain names are at most 128 octets */
}

/* Fills entry from a verified certificate. */
static void external_entry_fill(struct kms_external_entry *e, const char *domain, const struct kms_cert *cert,
                                const uint8_t signing_key[65], const uint8_t *token_key, int64_t imported)
{
	e->has_token_key = token_key != NULL;
	if (token_key != NULL)
		memcpy(e->token_key, token_key, 65);
	snprintf(e->domain, sizeof(e->domain), "%s", domain);
	snprintf(e->kms_uri, sizeof(e->kms_uri), "%s", cert->kms_uri);
	snprintf(e->cert_uri, sizeof(e->cert_uri), "%s", cert->cert_uri ? cert->cert_uri : "");
	e->valid_from = cert->valid_from;
	e->valid_to = cert->valid_to;
	e->user_key_period = cert->user_key_period;
	e->user_key_offset = cert->user_key_offset;
	e->imported = imported;
	memcpy(e->signing_key, signing_key, 65);
	memcpy(e->z_public, cert->pub_enc_key, sizeof(e->z_public));
	memcpy(e->kpak, cert->pub_auth_key, sizeof(e->kpak));
}

static int external_append(struct kms_external *ext, const struct kms_external_entry *entry, hsm_handle_t handle)
{
	struct external_record *grown = realloc(ext->records, (ext->count + 1) * sizeof(*grown));

	if (grown == NULL)
		return MCX_ERR_ALLOC;
	ext->records = grown;
	memset(&ext->records[ext->count], 0, sizeof(ext->records[0]));
	ext->records[ext->count].entry = *entry;
	ext->records[ext->count].handle = handle;
	ext->records[ext->count].revocation = HSM_HANDLE_INVALID;
	SHA256((const uint8_t *)entry->xml, strlen(entry->xml), ext->records[ext->count].cert_sha256);
	ext->count++;
	return MCX_OK;
}

static int external_hex32(const char *hex, uint8_t out[32])
{
	struct mcx_buf *b = mcx_buf_new(64);
	int r = MCX_ERR_PARSE;

	if (b != NULL && hex != NULL && mcx_hex_decode(b, hex, strlen(hex)) == MCX_OK && mcx_buf_len(b) == 32) {
		memcpy(out, mcx_buf_ptr(b), 32);
		r = MCX_OK;
	}
	mcx_buf_free(b);
	return r;
}

/* A "<entry label>/revoked" object: kept for external_apply_markers. */
static int external_walk_marker(struct kms_external *ext, const char *domain, const struct hsm_object *object)
{
	json_t *root = NULL;
	const char *kms_uri = NULL, *reason = NULL, *hash = NULL;
	json_int_t at = 0;
	struct external_marker m, *grown;
	int r = MCX_OK;

	memset(&m, 0, sizeof(m));
	if ((root = json_loadb((const char *)object->value, object->value_len, 0, NULL)) == NULL ||
	    json_unpack(root, "{s:s, s:I, s:s, s:s}", "kms_uri", &kms_uri, "revoked_at", &at, "reason", &reason,
	                "cert_sha256", &hash) != 0 ||
	    !kms_external_reason_valid(reason) || external_hex32(hash, m.cert_sha256) != MCX_OK ||
	    strlen(kms_uri) >= sizeof(m.kms_uri)) {
		/* fail closed is impossible without knowing which entry it revokes:
		 * say so loudly, the operator revokes again */
		vault_error("revocation marker '%s' is unreadable: ignored (revoke the KMS again)", object->label);
		goto out;
	}
	snprintf(m.domain, sizeof(m.domain), "%s", domain);
	snprintf(m.kms_uri, sizeof(m.kms_uri), "%s", kms_uri);
	snprintf(m.reason, sizeof(m.reason), "%s", reason);
	m.revoked_at = at;
	m.handle = object->handle;
	if ((grown = realloc(ext->markers, (ext->marker_count + 1) * sizeof(*grown))) == NULL) {
		r = MCX_ERR_ALLOC;
		goto out;
	}
	ext->markers = grown;
	ext->markers[ext->marker_count++] = m;
out:
	json_decref(root);
	return r;
}

static int external_walk(void *context, const struct hsm_object *object)
{
	struct kms_external *ext = context;
	char domain[129];
	const char *p = object->label + strlen(EXTERNAL_PREFIX), *slash;
	json_t *root = NULL;
	const char *xml = NULL, *key_hex = NULL, *token_hex = NULL;
	json_int_t imported = 0;
	struct mcx_buf *key = NULL, *token = NULL;
	struct kms_cert cert;
	struct kms_external_entry entry;
	int r = MCX_OK;

	memset(&cert, 0, sizeof(cert));
	memset(&entry, 0, sizeof(entry));
	if (object->object_class != HSM_CLASS_DATA || (slash = strchr(p, '/')) == NULL ||
	    (size_t)(slash - p) >= sizeof(domain))
		return MCX_OK;
	memcpy(domain, p, (size_t)(slash - p));
	domain[slash - p] = '\0';
	if (strchr(slash + 1, '/') != NULL) {
		if (strcmp(strchr(slash + 1, '/'), EXTERNAL_REVOKED_SUFFIX) == 0)
			return external_walk_marker(ext, domain, object);
		return MCX_OK;
	}
	if ((root = json_loadb((const char *)object->value, object->value_len, 0, NULL)) == NULL ||
	    json_unpack(root, "{s:s, s:s, s:I, s?s}", "xml", &xml, "signing_key", &key_hex, "imported", &imported,
	                "token_key", &token_hex) != 0 ||
	    (key = mcx_buf_new(128)) == NULL || mcx_hex_decode(key, key_hex, strlen(key_hex)) != MCX_OK ||
	    mcx_buf_len(key) != 65 ||
	    (token_hex != NULL && ((token = mcx_buf_new(128)) == NULL ||
	                           mcx_hex_decode(token, token_hex, strlen(token_hex)) != MCX_OK ||
	                           mcx_buf_len(token) != 65))) {
		vault_error("trusted external certificate '%s' is unreadable: ignored", object->label);
		goto out;
	}
	/* the token is ours, but a certificate is only ever trusted with its signature */
	if (kms_cert_from_xml(xml, strlen(xml), mcx_buf_ptr(key), &cert) != MCX_OK) {
		vault_error("trusted external certificate '%s' no longer verifies: ignored", object->label);
		goto out;
	}
	external_entry_fill(&entry, domain, &cert, mcx_buf_ptr(key), token != NULL ? mcx_buf_ptr(token) : NULL,
	                    imported);
	if ((entry.xml = strdup(xml)) == NULL || (r = external_append(ext, &entry, object->handle)) != MCX_OK) {
		free(entry.xml);
		r = MCX_ERR_ALLOC;
	}
out:
	kms_cert_clear(&cert);
	mcx_buf_free(key);
	mcx_buf_free(token);
	json_decref(root);
	return r;
}

static struct external_record *external_lookup(struct kms_external *ext, const char *domain, const char *kms_uri);

/* Each marker revokes the entry of its domain and KMS whose certificate has
 * its hash; any other marker is a leftover of an interrupted external.remove
 * (the next import of that KMS deletes it). */
static void external_apply_markers(struct kms_external *ext)
{
	for (size_t i = 0; i < ext->marker_count; i++) {
		const struct external_marker *m = &ext->markers[i];
		struct external_record *rec = external_lookup(ext, m->domain, m->kms_uri);
		if (rec == NULL || memcmp(rec->cert_sha256, m->cert_sha256, sizeof(m->cert_sha256)) != 0) {
			vault_info("a revocation marker of KMS '%s' in %s revokes no stored certificate: ignored", m->kms_uri,
			           m->domain);
			continue;
		}
		if (rec->entry.revoked && rec->entry.revoked_at <= m->revoked_at)
			continue;   /* two markers (never written by one vaultd): the first revocation stands */
		rec->entry.revoked = 1;
		rec->entry.revoked_at = m->revoked_at;
		snprintf(rec->entry.revocation_reason, sizeof(rec->entry.revocation_reason), "%s", m->reason);
		rec->revocation = m->handle;
	}
	free(ext->markers);
	ext->markers = NULL;
	ext->marker_count = 0;
}

MCX_RESULT kms_external_open(struct hsm *hsm, struct kms_external **out)
{
	int r = MCX_ERR_INTERNAL;
	struct kms_external *ext = NULL;

	*out = NULL;
	MCX_ENSURE_ALLOC(ext = calloc(1, sizeof(*ext)));
	ext->hsm = hsm;
	pthread_rwlock_init(&ext->lock, NULL);
	pthread_mutex_init(&ext->change_lock, NULL);
	MCX_GUARD(hsm_objects_walk(hsm, EXTERNAL_PREFIX, external_walk, ext));
	external_apply_markers(ext);
	vault_info("trusted external KMS certificates: %zu", ext->count);
	*out = ext;
	ext = NULL;
	r = MCX_OK;
out:
	kms_external_free(ext);
	return r;
}

/* Several vaults: another one may have imported or removed an entry (its
 * change moved cluster->observed): the records are read from the token
 * again.  The caller holds change_lock; on failure the old records stay and
 * the next call tries again. */
static void external_reload(struct kms_external *ext, uint64_t observed)
{
	struct kms_external fresh;
	struct external_record *old;
	size_t old_count;

	memset(&fresh, 0, sizeof(fresh));
	fresh.hsm = ext->hsm;
	if (hsm_objects_walk(ext->hsm, EXTERNAL_PREFIX, external_walk, &fresh) != MCX_OK) {
		vault_warning("trusted external KMSs: cannot re-read them from the token; trying again later");
		old = fresh.records;
		old_count = fresh.count;
		free(fresh.markers);
	} else {
		external_apply_markers(&fresh);   /* revocations written by any vault */
		pthread_rwlock_wrlock(&ext->lock);
		old = ext->records;
		old_count = ext->count;
		ext->records = fresh.records;
		ext->count = fresh.count;
		atomic_store(&ext->seen, observed);
		pthread_rwlock_unlock(&ext->lock);
	}
	for (size_t i = 0; i < old_count; i++)
		free(old[i].entry.xml);
	free(old);
}

/* Before a read: one atomic load unless another vault changed something. */
static void external_follow(struct kms_external *ext)
{
	uint64_t observed;

	if (ext->cluster == NULL)
		return;
	observed = ext->cluster->observed(ext->cluster->context);
	if (atomic_load(&ext->seen) == observed || pthread_mutex_trylock(&ext->change_lock) != 0)
		return;
	if (atomic_load(&ext->seen) != observed)
		external_reload(ext, observed);
	pthread_mutex_unlock(&ext->change_lock);
}

void kms_external_set_cluster(struct kms_external *ext, const struct keystore_cluster *cluster)
{
	ext->cluster = cluster;
	atomic_store(&ext->seen, cluster != NULL ? cluster->observed(cluster->context) : 0);
}

/* A change: change_lock and, with several vaults, the cluster-wide lock of
 * key changes (the trust entries are token objects like the keys), then
 * the records catch up with the token. */
static int external_change_begin(struct kms_external *ext)
{
	int r = MCX_OK;

	pthread_mutex_lock(&ext->change_lock);
	if (ext->cluster == NULL)
		return MCX_OK;
	if ((r = ext->cluster->lock(ext->cluster->context)) != MCX_OK) {
		pthread_mutex_unlock(&ext->change_lock);
		return r;
	}
	if (atomic_load(&ext->seen) != ext->cluster->observed(ext->cluster->context))
		external_reload(ext, ext->cluster->observed(ext->cluster->context));
	return MCX_OK;
}

/* The other vaults hear of the change before the caller gets its answer. */
static void external_change_end(struct kms_external *ext)
{
	if (ext->cluster != NULL)
		atomic_store(&ext->seen, ext->cluster->unlock(ext->cluster->context, 1));
	pthread_mutex_unlock(&ext->change_lock);
}

void kms_external_free(struct kms_external *ext)
{
	if (ext == NULL)
		return;
	for (size_t i = 0; i < ext->count; i++)
		free(ext->records[i].entry.xml);
	free(ext->records);
	free(ext->markers);
	pthread_rwlock_destroy(&ext->lock);
	pthread_mutex_destroy(&ext->change_lock);
	free(ext);
}

static struct external_record *external_lookup(struct kms_external *ext, const char *domain, const char *kms_uri)
{
	for (size_t i = 0; i < ext->count; i++)
		if (strcmp(ext->records[i].entry.domain, domain) == 0 &&
		    strcmp(ext->records[i].entry.kms_uri, kms_uri) == 0)
			return &ext->records[i];
	return NULL;
}

MCX_RESULT kms_external_import(struct kms_external *ext, const char *domain, const char *xml, size_t len,
                               const uint8_t signing_key[65], const uint8_t *token_key, int64_t now,
                               struct kms_external_entry *stored,
                               char *reason, size_t reason_size)
{
	int r = MCX_ERR_INTERNAL, exists, changing = 0;
	struct kms_cert cert;
	struct kms_external_entry entry;
	struct mcx_buf *hex = NULL, *token_hex = NULL;
	json_t *root = NULL;
	char *value = NULL, label[HSM_LABEL_MAX + 1];
	hsm_handle_t handle = HSM_HANDLE_INVALID;

	memset(&cert, 0, sizeof(cert));
	memset(&entry, 0, sizeof(entry));
	MCX_GUARD(external_change_begin(ext));
	changing = 1;
	MCX_ENSURE(len <= KMS_EXTERNAL_XML_MAX,
	           (snprintf(reason, reason_size, "certificate larger than %u octets", KMS_EXTERNAL_XML_MAX),
	            MCX_ERR_INVALID_PARAMS));
	r = kms_cert_from_xml(xml, len, signing_key, &cert);
	if (r == MCX_ERR_SIGNATURE_INVALID)
		snprintf(reason, reason_size, "the certificate's signature does not verify with the given signing key");
	else if (r != MCX_OK)
		snprintf(reason, reason_size, "not a valid TS 33.180 KMS certificate: %s", mcx_strerror(r));
	MCX_GUARD(r);
	/* an external domain's own certificate is its Root; we store it as External */
	MCX_ENSURE(cert.role != NULL && strcmp(cert.role, "Root") == 0,
	           (snprintf(reason, reason_size, "certificate Role is '%s', expected 'Root'",
	                     cert.role ? cert.role : ""),
	            MCX_ERR_INVALID_PARAMS));
	r = kms_cert_check_validity(&cert, now);
	if (r == MCX_ERR_REVOKED)
		snprintf(reason, reason_size, "the certificate is revoked");
	else if (r != MCX_OK)
		snprintf(reason, reason_size, "the certificate is outside its validity period");
	MCX_GUARD(r);
	pthread_rwlock_rdlock(&ext->lock);
	{
		const struct external_record *rec = external_lookup(ext, domain, cert.kms_uri);
		exists = rec == NULL ? 0 : rec->entry.revoked ? 2 : 1;
	}
	pthread_rwlock_unlock(&ext->lock);
	MCX_ENSURE(exists != 2, (snprintf(reason, reason_size,
	                                  "domain '%s' holds KMS '%s' as revoked: external.remove it first to trust "
	                                  "a new certificate", domain, cert.kms_uri),
	                         MCX_ERR_EXISTS));
	MCX_ENSURE(!exists, (snprintf(reason, reason_size, "domain '%s' already trusts KMS '%s'", domain, cert.kms_uri),
	                     MCX_ERR_EXISTS));

	MCX_ENSURE_ALLOC(hex = mcx_buf_new(256));
	MCX_GUARD(mcx_hex_encode(hex, signing_key, 65));
	MCX_ENSURE_ALLOC(root = json_pack("{s:s, s:I, s:s%, s:s%}", "kms_uri", cert.kms_uri, "imported", (json_int_t)now,
	                                  "signing_key", (const char *)mcx_buf_ptr(hex), mcx_buf_len(hex), "xml", xml,
	                                  len));
	if (token_key != NULL) {
		MCX_ENSURE_ALLOC(token_hex = mcx_buf_new(256));
		MCX_GUARD(mcx_hex_encode(token_hex, token_key, 65));
		MCX_ENSURE(json_object_set_new(root, "token_key", json_stringn((const char *)mcx_buf_ptr(token_hex),
		                                                               mcx_buf_len(token_hex))) == 0,
		           MCX_ERR_ALLOC);
	}
	MCX_ENSURE_ALLOC(value = json_dumps(root, JSON_COMPACT));
	MCX_ENSURE(strlen(value) <= HSM_DATA_VALUE_MAX, MCX_ERR_NO_BUFFER_SPACE);
	external_label(label, sizeof(label), domain, cert.kms_uri);
	{
		/* a revocation marker left by an interrupted external.remove of this KMS must not
		 * revoke the new certificate at the next start (nor revive: it is gone first) */
		char marker[HSM_LABEL_MAX + 1];
		hsm_handle_t leftover;
		external_marker_label(marker, sizeof(marker), domain, cert.kms_uri);
		r = hsm_find_by_label(ext->hsm, HSM_CLASS_DATA, marker, &leftover);
		if (r == MCX_OK)
			r = hsm_object_destroy(ext->hsm, leftover);
		MCX_ENSURE(r == MCX_OK || r == MCX_ERR_NOT_FOUND, r);
	}
	MCX_GUARD(hsm_data_create(ext->hsm, label, value, strlen(value), &handle));
	r = hsm_sync(ext->hsm);
	if (r != MCX_OK) {
		if (hsm_object_destroy(ext->hsm, handle) != MCX_OK)
			vault_warning("could not undo the import of %s", label);
		goto out;
	}
	external_entry_fill(&entry, domain, &cert, signing_key, token_key, now);
	MCX_ENSURE_ALLOC(entry.xml = strndup(xml, len));
	pthread_rwlock_wrlock(&ext->lock);
	r = external_append(ext, &entry, handle);
	pthread_rwlock_unlock(&ext->lock);
	if (r != MCX_OK) {
		free(entry.xml);
		goto out;
	}
	*stored = entry;
	stored->xml = NULL;
	r = MCX_OK;
out:
	if (changing)
		external_change_end(ext);
	free(value);
	json_decref(root);
	mcx_buf_free(hex);
	mcx_buf_free(token_hex);
	kms_cert_clear(&cert);
	return r;
}

/* Destroys an object by handle, or by label when the handle went stale (the token came back). */
static int external_destroy(struct kms_external *ext, hsm_handle_t handle, const char *label)
{
	int r = hsm_object_destroy(ext->hsm, handle);

	if (r == MCX_ERR_HSM_STALE_HANDLE && (r = hsm_find_by_label(ext->hsm, HSM_CLASS_DATA, label, &handle)) == MCX_OK)
		r = hsm_object_destroy(ext->hsm, handle);
	return r;
}

MCX_RESULT kms_external_remove(struct kms_external *ext, const char *domain, const char *kms_uri)
{
	int r = MCX_ERR_INTERNAL, changing = 0;
	struct external_record *rec, copy;
	char label[HSM_LABEL_MAX + 1], marker[HSM_LABEL_MAX + 1];

	MCX_GUARD(external_change_begin(ext));
	changing = 1;
	pthread_rwlock_rdlock(&ext->lock);
	if ((rec = external_lookup(ext, domain, kms_uri)) != NULL)
		copy = *rec;
	pthread_rwlock_unlock(&ext->lock);
	MCX_ENSURE(rec != NULL, MCX_ERR_NOT_FOUND);
	external_label(label, sizeof(label), domain, kms_uri);
	external_marker_label(marker, sizeof(marker), domain, kms_uri);
	/* the certificate first: a crash before the marker goes leaves a marker
	 * that revokes nothing (never a revoked certificate without its marker) */
	MCX_GUARD(external_destroy(ext, copy.handle, label));
	if (copy.entry.revoked && external_destroy(ext, copy.revocation, marker) != MCX_OK)
		vault_warning("the revocation marker %s could not be deleted: the next import of KMS '%s' deletes it",
		              marker, kms_uri);
	MCX_GUARD(hsm_sync(ext->hsm));
	pthread_rwlock_wrlock(&ext->lock);
	if ((rec = external_lookup(ext, domain, kms_uri)) != NULL) {
		free(rec->entry.xml);
		*rec = ext->records[ext->count - 1];
		ext->count--;
	}
	pthread_rwlock_unlock(&ext->lock);
	r = MCX_OK;
out:
	if (changing)
		external_change_end(ext);
	return r;
}

MCX_RESULT kms_external_revoke(struct kms_external *ext, const char *domain, const char *kms_uri,
                               const char *reason, int64_t now, struct kms_external_entry *stored)
{
	int r = MCX_ERR_INTERNAL, changing = 0;
	struct external_record *rec, copy;
	struct mcx_buf *hash = NULL;
	json_t *root = NULL;
	char *value = NULL, marker[HSM_LABEL_MAX + 1];
	hsm_handle_t handle = HSM_HANDLE_INVALID;

	MCX_ENSURE(kms_external_reason_valid(reason), MCX_ERR_INVALID_PARAMS);
	/* with several vaults: under the cluster lock, announced to the others */
	MCX_GUARD(external_change_begin(ext));
	changing = 1;
	pthread_rwlock_rdlock(&ext->lock);
	if ((rec = external_lookup(ext, domain, kms_uri)) != NULL)
		copy = *rec;
	pthread_rwlock_unlock(&ext->lock);
	MCX_ENSURE(rec != NULL, MCX_ERR_NOT_FOUND);
	copy.entry.xml = NULL;
	if (stored != NULL)
		*stored = copy.entry;
	/* the first revocation stands: a repeated call must not move its time */
	MCX_ENSURE(!copy.entry.revoked, MCX_ERR_EXISTS);

	MCX_ENSURE_ALLOC(hash = mcx_buf_new(2 * SHA256_DIGEST_LENGTH + 1));
	MCX_GUARD(mcx_hex_encode(hash, copy.cert_sha256, sizeof(copy.cert_sha256)));
	MCX_ENSURE_ALLOC(root = json_pack("{s:s, s:I, s:s, s:s%}", "kms_uri", kms_uri, "revoked_at", (json_int_t)now,
	                                  "reason", reason, "cert_sha256", (const char *)mcx_buf_ptr(hash),
	                                  mcx_buf_len(hash)));
	MCX_ENSURE_ALLOC(value = json_dumps(root, JSON_COMPACT));
	external_marker_label(marker, sizeof(marker), domain, kms_uri);
	/* one object created and synced is the whole revocation */
	MCX_GUARD(hsm_data_create(ext->hsm, marker, value, strlen(value), &handle));
	r = hsm_sync(ext->hsm);
	if (r != MCX_OK) {
		if (hsm_object_destroy(ext->hsm, handle) != MCX_OK)
			vault_warning("could not undo the revocation %s", marker);
		goto out;
	}
	pthread_rwlock_wrlock(&ext->lock);
	if ((rec = external_lookup(ext, domain, kms_uri)) != NULL) {
		rec->entry.revoked = 1;
		rec->entry.revoked_at = now;
		snprintf(rec->entry.revocation_reason, sizeof(rec->entry.revocation_reason), "%s", reason);
		rec->revocation = handle;
		if (stored != NULL) {
			*stored = rec->entry;
			stored->xml = NULL;
		}
	}
	pthread_rwlock_unlock(&ext->lock);
	r = MCX_OK;
out:
	if (changing)
		external_change_end(ext);
	free(value);
	json_decref(root);
	mcx_buf_free(hash);
	return r;
}

void kms_external_entries_free(struct kms_external_entry *entries, size_t count)
{
	if (entries == NULL)
		return;
	for (size_t i = 0; i < count; i++)
		free(entries[i].xml);
	free(entries);
}

/* Copies of the domain's entries; only those trusted at `at` when trusted_only. */
static int external_copy(struct kms_external *ext, const char *domain, int trusted_only, int64_t at,
                         struct kms_external_entry **out, size_t *count)
{
	int r = MCX_ERR_INTERNAL;
	struct kms_external_entry *list = NULL;
	size_t n = 0;

	*out = NULL;
	*count = 0;
	external_follow(ext);
	pthread_rwlock_rdlock(&ext->lock);
	MCX_ENSURE_ALLOC(list = calloc(ext->count + 1, sizeof(*list)));
	for (size_t i = 0; i < ext->count; i++) {
		if (strcmp(ext->records[i].entry.domain, domain) != 0 ||
		    (trusted_only && kms_external_entry_check(&ext->records[i].entry, at, NULL, 0) != MCX_OK))
			continue;
		list[n] = ext->records[i].entry;
		MCX_ENSURE_ALLOC(list[n].xml = strdup(ext->records[i].entry.xml));
		n++;
	}
	*out = list;
	*count = n;
	list = NULL;
	r = MCX_OK;
out:
	pthread_rwlock_unlock(&ext->lock);
	kms_external_entries_free(list, n);
	return r;
}

MCX_RESULT kms_external_list(struct kms_external *ext, const char *domain, struct kms_external_entry **out,
                             size_t *count)
{
	return external_copy(ext, domain, 0, 0, out, count);
}

MCX_RESULT kms_external_list_trusted(struct kms_external *ext, const char *domain, int64_t at,
                                     struct kms_external_entry **out, size_t *count)
{
	return external_copy(ext, domain, 1, at, out, count);
}

MCX_RESULT kms_external_find_at(struct kms_external *ext, const char *domain, const char *kms_uri, int64_t at,
                                struct kms_external_entry *out, char *reason, size_t reason_size)
{
	int r = MCX_ERR_NOT_FOUND;
	struct external_record *rec;

	memset(out, 0, sizeof(*out));
	external_follow(ext);
	pthread_rwlock_rdlock(&ext->lock);
	if ((rec = external_lookup(ext, domain, kms_uri)) != NULL) {
		*out = rec->entry;
		out->xml = strdup(rec->entry.xml);
		r = out->xml != NULL ? kms_external_entry_check(out, at, reason, reason_size) : MCX_ERR_ALLOC;
	} else if (reason != NULL) {
		snprintf(reason, reason_size, "external security domain not trusted: KMS '%.120s'", kms_uri);
	}
	pthread_rwlock_unlock(&ext->lock);
	return r;
}

MCX_RESULT kms_external_find(struct kms_external *ext, const char *domain, const char *kms_uri,
                             struct kms_external_entry *out)
{
	return kms_external_find_at(ext, domain, kms_uri, mcx_time_now(), out, NULL, 0);
}
