/*
 * The redirect service's shared pieces: what a home domain trusts, who
 * signed a JWS, and the replay cache (see redirect.h).
 * SPDX-License-Identifier: Apache-2.0
 */
#include "vault/redirect/redirect.h"

#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcx/uid.h"
#include "vault/daemon/vault.h"
#include "vault/keys/keystore.h"
#include "vault/kms/kms.h"
#include "vault/store/store.h"

struct redirect_entry {
	uint8_t key[32];
	int64_t expires;          /* 0: free slot */
	enum redirect_seen state;
	uint64_t domain_tag;      /* whose quota the entry counts against */
};

struct redirect_service {
	pthread_mutex_t lock;
	struct redirect_entry *entries;   /* REDIRECT_CACHE_MAX, scanned linearly (a few microseconds) */
	struct mcx_store *shared;         /* set: the cache lives there, for every vault (store.h) */
};

void redirect_service_set_store(struct redirect_service *s, struct mcx_store *store)
{
	s->shared = mcx_store_shared(store) ? store : NULL;
}

MCX_RESULT redirect_service_open(struct redirect_service **out)
{
	int r = MCX_ERR_INTERNAL;
	struct redirect_service *s = NULL;

	*out = NULL;
	MCX_ENSURE_ALLOC(s = calloc(1, sizeof(*s)));
	MCX_ENSURE_ALLOC(s->entries = calloc(REDIRECT_CACHE_MAX, sizeof(*s->entries)));
	MCX_ENSURE(pthread_mutex_init(&s->lock, NULL) == 0, MCX_ERR_SYSTEM);
	*out = s;
	s = NULL;
	r = MCX_OK;
out:
	if (s != NULL) {
		free(s->entries);
		free(s);
	}
	return r;
}

void redirect_service_free(struct redirect_service *s)
{
	if (s == NULL)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s->entries);
	free(s);
}

const char *redirect_signature_name(enum redirect_signature s)
{
	switch (s) {
	case REDIRECT_SIG_VALID: return "valid";
	case REDIRECT_SIG_INVALID: return "invalid";
	case REDIRECT_SIG_UNSIGNED: return "unsigned";
	case REDIRECT_SIG_UNKNOWN_SIGNER: return "unknown-signer";
	}
	return "invalid";
}

const char *redirect_alg_name(enum jose_alg alg)
{
	switch (alg) {
	case JOSE_ALG_ES256: return "ES256";
	case JOSE_ALG_ECCSI: return "ECCSI";
	case JOSE_ALG_NONE: return "none";
	}
	return "none";
}

MCX_RESULT redirect_trust_load(struct vault *vault, const struct vault_domain_config *home, int64_t now,
                               struct redirect_trust *trust)
{
	memset(trust, 0, sizeof(*trust));
	trust->home = home;
	trust->now = now;
	/* the trust store's own lookup: revoked entries, and those not valid at now, are left out */
	return kms_external_list_trusted(kms_external_store(vault->kms), home->name, now, &trust->external,
	                                 &trust->external_count);
}

void redirect_trust_clear(struct redirect_trust *trust)
{
	kms_external_entries_free(trust->external, trust->external_count);
	memset(trust, 0, sizeof(*trust));
}

/* A trusted external KMS whose certificate is valid now, or NULL. */
static const struct kms_external_entry *trust_external(const struct redirect_trust *trust, const char *uri)
{
	for (size_t i = 0; i < trust->external_count; i++) {
		const struct kms_external_entry *e = &trust->external[i];
		if (strcmp(e->kms_uri, uri) == 0 && e->valid_from <= trust->now && trust->now <= e->valid_to)
			return e;
	}
	return NULL;
}

int redirect_trust_kms(const struct redirect_trust *trust, const char *uri)
{
	return strcmp(trust->home->kms_uri, uri) == 0 || trust_external(trust, uri) != NULL;
}

/* The public values an ECCSI signature of a KMS verifies with. */
struct eccsi_kms {
	uint8_t kpak[MCX_ECCSI_POINT_LEN];
	int64_t valid_from, valid_to, period, offset;
};

/* The home KMS generation whose CertUri is cert_uri, unless retired
 * (retirement destroys the KSAK, typically after a compromise: nothing signed
 * under it is trusted for new artefacts).  MCX_ERR_NOT_FOUND otherwise. */
static int eccsi_home_kms(struct vault *vault, const char *domain, const char *kms_uri, const char *cert_uri,
                          struct eccsi_kms *k,
                          char *detail, size_t detail_size)
{
	int r = MCX_ERR_INTERNAL;
	struct keystore_key *versions = NULL;
	struct kms_generation g;
	size_t count = 0;

	MCX_GUARD(keystore_list(vault->keystore, domain, KEYSTORE_PURPOSE_KMS, &versions, &count));
	r = MCX_ERR_NOT_FOUND;
	snprintf(detail, detail_size, "the home KMS has no certificate '%.150s'", cert_uri);
	for (size_t i = 0; i < count; i++) {
		int gr = kms_generation_get(vault->kms, domain, versions[i].version, &g);
		if (gr == MCX_ERR_NOT_FOUND)
			continue;
		MCX_GUARD(gr);
		/* the UID names the certificate's KmsUri: it must be the iss */
		if (strcmp(g.cert_uri, cert_uri) != 0 || strcmp(g.kms_uri, kms_uri) != 0)
			continue;
		if (versions[i].state == KEYSTORE_STATE_RETIRED) {
			snprintf(detail, detail_size, "the home KMS generation of '%.150s' is retired", cert_uri);
			MCX_BAIL(MCX_ERR_NOT_FOUND);
		}
		memcpy(k->kpak, g.kpak, sizeof(k->kpak));
		k->valid_from = g.valid_from;
		k->valid_to = g.valid_to;
		k->period = g.user_key_period;
		k->offset = g.user_key_offset;
		MCX_BAIL(MCX_OK);
	}
out:
	free(versions);
	return r;
}

/* An ECCSI-signed response (redirect.h): who signed, and does it verify. */
static int check_eccsi(struct vault *vault, const struct redirect_trust *trust, const struct jose_jws *jws,
                       const char *iss, const char *signer_id, int64_t iat, struct redirect_signer *out)
{
	int r = MCX_ERR_INTERNAL, home = 0;
	struct eccsi_kms k;
	struct kms_external_entry e;
	uint64_t period_no = 0;
	uint8_t uid[MCX_UID_LEN];

	memset(&k, 0, sizeof(k));
	memset(&e, 0, sizeof(e));
	out->signer_id = signer_id;
	if (jws->kid == NULL || iss == NULL || signer_id == NULL) {
		snprintf(out->detail, sizeof(out->detail), "an ECCSI response names its KMS certificate (kid), KMS (iss) "
		                                           "and identity (signer_id)");
		MCX_BAIL(MCX_OK);
	}
	if (strcmp(iss, trust->home->kms_uri) == 0) {
		r = eccsi_home_kms(vault, trust->home->name, iss, jws->kid, &k, out->detail, sizeof(out->detail));
		if (r == MCX_ERR_NOT_FOUND)
			MCX_BAIL(MCX_OK);
		MCX_GUARD(r);
		home = 1;
	} else {
		/* the trust store's own lookup: whatever it refuses (unknown,
		 * revoked) is not a provisioned KMS, hence an unknown signer */
		r = kms_external_find(kms_external_store(vault->kms), trust->home->name, iss, &e);
		if (r == MCX_ERR_ALLOC)
			goto out;
		if (r != MCX_OK) {
			snprintf(out->detail, sizeof(out->detail), "KMS '%.200s' is not trusted by %s", iss, trust->home->name);
			MCX_BAIL(MCX_OK);
		}
		if (strcmp(e.cert_uri, jws->kid) != 0) {
			snprintf(out->detail, sizeof(out->detail), "'%.100s' is not the certificate %s trusts for KMS '%.80s'",
			         jws->kid, trust->home->name, iss);
			MCX_BAIL(MCX_OK);
		}
		memcpy(k.kpak, e.kpak, sizeof(k.kpak));
		k.valid_from = e.valid_from;
		k.valid_to = e.valid_to;
		k.period = e.user_key_period;
		k.offset = e.user_key_offset;
	}
	/* TR 33.880: a certificate vouches for what was signed within its validity */
	if (iat < k.valid_from || iat > k.valid_to) {
		snprintf(out->detail, sizeof(out->detail), "the certificate '%.150s' is not valid at the response's iat",
		         jws->kid);
		MCX_BAIL(MCX_OK);
	}
	out->home = home;
	if (home)
		snprintf(out->domain, sizeof(out->domain), "%s", trust->home->name);
	out->status = REDIRECT_SIG_INVALID;
	/* TS 33.180 F.2.1: the signer's UID for the key period containing iat */
	if (k.period <= 0 || k.offset < 0 ||
	    mcx_uid_key_period(iat, (uint64_t)k.period, (uint64_t)k.offset, &period_no, NULL, NULL) != MCX_OK) {
		snprintf(out->detail, sizeof(out->detail), "iat lies before the key period offset of KMS '%.200s'", iss);
		MCX_BAIL(MCX_OK);
	}
	MCX_GUARD(mcx_uid_compute(signer_id, strlen(signer_id), iss, strlen(iss), (uint64_t)k.period,
	                          (uint64_t)k.offset, period_no, uid));
	/* RFC 6507 s.5.2.2 over M = the JWS signing input */
	r = mcx_eccsi_verify(kms_eccsi(vault->kms), k.kpak, uid, sizeof(uid), (const uint8_t *)jws->signing_input,
	                     jws->signing_input_len, jws->signature, jws->signature_len);
	if (r == MCX_ERR_ALLOC)
		goto out;
	if (r == MCX_OK)
		out->status = REDIRECT_SIG_VALID;
	else
		snprintf(out->detail, sizeof(out->detail),
		         "the ECCSI signature does not verify as '%.100s' of KMS '%.80s' in key period %llu", signer_id,
		         iss, (unsigned long long)period_no);
	r = MCX_OK;
out:
	free(e.xml);
	return r;
}

MCX_RESULT redirect_check_signer(struct vault *vault, const struct redirect_trust *trust, const struct jose_jws *jws,
                                 const char *iss, const char *signer_id, int64_t iat, struct redirect_signer *out)
{
	int r = MCX_ERR_INTERNAL;
	const struct kms_external_entry *e;
	struct keystore_key key;
	uint32_t version = 0;

	memset(out, 0, sizeof(*out));
	out->alg = jws->alg;
	if (jws->alg == JOSE_ALG_ECCSI) {
		out->status = REDIRECT_SIG_UNKNOWN_SIGNER;
		if (jws->kid != NULL)
			snprintf(out->kid, sizeof(out->kid), "%s", jws->kid);
		return check_eccsi(vault, trust, jws, iss, signer_id, iat, out);
	}
	if (jws->alg == JOSE_ALG_NONE) {
		out->status = REDIRECT_SIG_UNSIGNED;
		snprintf(out->detail, sizeof(out->detail), "unsecured JWS (alg none)");
		return MCX_OK;
	}
	out->status = REDIRECT_SIG_UNKNOWN_SIGNER;
	if (jws->kid != NULL)
		snprintf(out->kid, sizeof(out->kid), "%s", jws->kid);
	/* only a "token" key signs responses and ID tokens; a kid of any other
	 * purpose (e.g. "sign", which signs whatever a signer asks) is refused */
	if (jws->kid == NULL || jose_kid_parse(jws->kid, KEYSTORE_PURPOSE_TOKEN, out->domain, &version) != MCX_OK) {
		out->domain[0] = '\0';
		snprintf(out->detail, sizeof(out->detail), "kid is missing or not '<domain>/token/<version>'");
		return MCX_OK;
	}
	if (iss == NULL) {
		snprintf(out->detail, sizeof(out->detail), "no issuer ('iss') names the signer's KMS");
		return MCX_OK;
	}
	if (strcmp(iss, trust->home->kms_uri) == 0) {
		/* the home domain: the kid must be one of its own token key versions */
		if (strcmp(out->domain, trust->home->name) != 0) {
			snprintf(out->detail, sizeof(out->detail), "iss is the home KMS but kid '%.150s' is not a key of %s",
			         jws->kid, trust->home->name);
			return MCX_OK;
		}
		r = keystore_get(vault->keystore, trust->home->name, KEYSTORE_PURPOSE_TOKEN, version, &key);
		if (r == MCX_ERR_NOT_FOUND) {
			snprintf(out->detail, sizeof(out->detail), "no token key %.150s", jws->kid);
			return MCX_OK;
		}
		MCX_GUARD(r);
		if (key.state == KEYSTORE_STATE_RETIRED) {
			snprintf(out->detail, sizeof(out->detail), "token key %.150s is retired", jws->kid);
			MCX_BAIL(MCX_OK);
		}
		out->home = 1;
		out->status = jose_jws_verify(jws, key.public_point) == MCX_OK ? REDIRECT_SIG_VALID : REDIRECT_SIG_INVALID;
	} else if ((e = trust_external(trust, iss)) != NULL) {
		/* never the partner's signing_key: that one signs its certificates */
		if (!e->has_token_key) {
			snprintf(out->detail, sizeof(out->detail), "no token key was imported for KMS '%.200s'", iss);
			MCX_BAIL(MCX_OK);
		}
		out->status = jose_jws_verify(jws, e->token_key) == MCX_OK ? REDIRECT_SIG_VALID : REDIRECT_SIG_INVALID;
	} else {
		snprintf(out->detail, sizeof(out->detail), "KMS '%.200s' is not trusted by %s", iss, trust->home->name);
		MCX_BAIL(MCX_OK);
	}
	if (out->status == REDIRECT_SIG_INVALID)
		snprintf(out->detail, sizeof(out->detail), "the signature does not verify with the key of %.200s", iss);
	r = MCX_OK;
out:
	return r;
}

int64_t redirect_max_age_horizon(const struct vault_config *config)
{
	int64_t m = 0;

	for (size_t i = 0; i < config->domain_count; i++)
		if (config->domains[i].redirect.max_age > m)
			m = config->domains[i].redirect.max_age;
	return m;
}

void redirect_cache_key(const char *domain, const uint8_t payload_digest[32], uint8_t key[32])
{
	uint8_t input[KEYSTORE_DOMAIN_MAX + 1 + 32];
	size_t dlen = strnlen(domain, KEYSTORE_DOMAIN_MAX);

	memcpy(input, domain, dlen);
	input[dlen] = 0;
	memcpy(input + dlen + 1, payload_digest, 32);
	SHA256(input, dlen + 1 + 32, key);
}

size_t redirect_cache_quota(const struct vault_config *config)
{
	size_t domains = config != NULL && config->domain_count > 0 ? config->domain_count : 1;

	return REDIRECT_CACHE_MAX / domains > 0 ? REDIRECT_CACHE_MAX / domains : 1;
}

/* FNV-1a of the domain name: entries only need to tell domains apart for
 * counting (a collision would merely share a quota). */
static uint64_t cache_domain_tag(const char *domain)
{
	uint64_t h = 1469598103934665603ull;

	for (const unsigned char *p = (const unsigned char *)domain; *p != '\0'; p++)
		h = (h ^ *p) * 1099511628211ull;
	return h;
}

/* Under the lock: the live entry with key, or NULL; *free_slot gets a
 * reusable slot; *in_domain (if not NULL) counts the live entries of tag. */
static struct redirect_entry *cache_find(struct redirect_service *s, const uint8_t key[32], int64_t now,
                                         struct redirect_entry **free_slot, uint64_t tag, size_t *in_domain)
{
	struct redirect_entry *found = NULL;

	if (free_slot != NULL)
		*free_slot = NULL;
	if (in_domain != NULL)
		*in_domain = 0;
	for (size_t i = 0; i < REDIRECT_CACHE_MAX; i++) {
		struct redirect_entry *e = &s->entries[i];
		if (e->expires != 0 && e->expires < now)
			e->expires = 0;   /* outside every window: forget it */
		if (e->expires == 0) {
			if (free_slot != NULL && *free_slot == NULL)
				*free_slot = e;
			continue;
		}
		if (in_domain != NULL && e->domain_tag == tag)
			(*in_domain)++;
		if (found == NULL && memcmp(e->key, key, 32) == 0)
			found = e;
	}
	return found;
}

enum redirect_seen redirect_cache_peek(struct redirect_service *s, const uint8_t key[32], int64_t now)
{
	struct redirect_entry *e;
	enum redirect_seen state;
	int shared_state = 0;

	if (s->shared != NULL) {
		/* only adds "replayed" to an answer that is a reject already: a
		 * store that cannot say leaves that reason out */
		if (mcx_store_replay_peek(s->shared, key, now, &shared_state) != MCX_OK)
			shared_state = 0;
		return (enum redirect_seen)shared_state;
	}
	pthread_mutex_lock(&s->lock);
	e = cache_find(s, key, now, NULL, 0, NULL);
	state = e != NULL ? e->state : REDIRECT_SEEN_NONE;
	pthread_mutex_unlock(&s->lock);
	return state;
}

/* Under the lock: the entry for key, created in *slot if new and the
 * domain is within its quota. */
static int cache_slot(struct redirect_service *s, const char *domain, size_t quota, const uint8_t key[32],
                      int64_t expires, int64_t now, struct redirect_entry **out)
{
	uint64_t tag = cache_domain_tag(domain);
	size_t held = 0;
	struct redirect_entry *slot = NULL, *e = cache_find(s, key, now, &slot, tag, &held);

	if (e == NULL) {
		if (slot == NULL || held >= quota)
			return MCX_ERR_BUSY;
		memcpy(slot->key, key, 32);
		slot->state = REDIRECT_SEEN_NONE;
		slot->expires = expires;
		slot->domain_tag = tag;
		e = slot;
	} else if (expires > e->expires) {
		e->expires = expires;
	}
	*out = e;
	return MCX_OK;
}

MCX_RESULT redirect_cache_claim(struct redirect_service *s, const char *domain, size_t quota, const uint8_t key[32],
                                int64_t expires, int hold, int64_t now, enum redirect_seen *previous,
                                enum redirect_seen *now_state)
{
	int r = MCX_ERR_INTERNAL, before = 0, after = 0;
	struct redirect_entry *e = NULL;

	if (s->shared != NULL) {
		r = mcx_store_replay_claim(s->shared, domain, quota, key, expires, hold, now, &before, &after);
		*previous = (enum redirect_seen)before;
		*now_state = (enum redirect_seen)after;
		return r;
	}
	pthread_mutex_lock(&s->lock);
	MCX_GUARD(cache_slot(s, domain, quota, key, expires, now, &e));
	*previous = e->state;
	switch (e->state) {
	case REDIRECT_SEEN_USED: break;
	case REDIRECT_SEEN_ACCEPTED: e->state = REDIRECT_SEEN_USED; break;
	case REDIRECT_SEEN_NONE:
	case REDIRECT_SEEN_HELD: e->state = hold ? REDIRECT_SEEN_HELD : REDIRECT_SEEN_USED; break;
	}
	*now_state = e->state;
	r = MCX_OK;
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}

MCX_RESULT redirect_cache_accept(struct redirect_service *s, const char *domain, size_t quota, const uint8_t key[32],
                                 int64_t expires, int64_t now)
{
	int r = MCX_ERR_INTERNAL;
	struct redirect_entry *e = NULL;

	if (s->shared != NULL)
		return mcx_store_replay_accept(s->shared, domain, quota, key, expires, now);
	pthread_mutex_lock(&s->lock);
	MCX_GUARD(cache_slot(s, domain, quota, key, expires, now, &e));
	MCX_ENSURE(e->state != REDIRECT_SEEN_USED, MCX_ERR_EXISTS);
	e->state = REDIRECT_SEEN_ACCEPTED;
	r = MCX_OK;
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}
