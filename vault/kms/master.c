/*
 * KMS master secrets: generation from the token RNG, sealing under the vault
 * KEK (a non-extractable AES-256 token key), KMS generations.
 *
 * Master secrets never exist in plaintext outside vaultd: they are generated
 * into mlocked memory, sealed with CKM_AES_GCM inside the HSM with the domain,
 * purpose and version bound in as additional data (so a sealed blob cannot be
 * replayed as another domain's or another version's secrets), and unsealed
 * only into mlocked buffers that are wiped right after use.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcx/util.h"
#include "pkcs11/hsm.h"
#include "vault/daemon/log.h"
#include "vault/kms/external.h"
#include "vault/kms/kms.h"
#include "vault/kms/kms_cert.h"

struct kms_service {
	struct hsm *hsm;
	struct keystore *keystore;
	struct mcx_sakke_params *sakke;
	struct mcx_eccsi_params *eccsi;
	pthread_mutex_t kek_lock;
	hsm_handle_t kek;
	struct kms_external *external;
};

const struct mcx_sakke_params *kms_sakke(const struct kms_service *kms)
{
	return kms->sakke;
}

const struct mcx_eccsi_params *kms_eccsi(const struct kms_service *kms)
{
	return kms->eccsi;
}

struct kms_external *kms_external_store(struct kms_service *kms)
{
	return kms->external;
}

static int kms_kek_find_or_create(struct kms_service *kms)
{
	int r = hsm_find_by_label(kms->hsm, HSM_CLASS_SECRET_KEY, KMS_KEK_LABEL, &kms->kek);

	if (r == MCX_ERR_NOT_FOUND) {
		vault_info("creating the vault key-encryption key %s in the token", KMS_KEK_LABEL);
		if ((r = hsm_aes_generate(kms->hsm, KMS_KEK_LABEL, &kms->kek)) == MCX_OK)
			r = hsm_sync(kms->hsm);
	}
	return r;
}

MCX_RESULT kms_service_open(struct hsm *hsm, struct keystore *keystore, struct kms_service **out)
{
	int r = MCX_ERR_INTERNAL;
	struct kms_service *kms = NULL;

	*out = NULL;
	MCX_ENSURE_ALLOC(kms = calloc(1, sizeof(*kms)));
	kms->hsm = hsm;
	kms->keystore = keystore;
	pthread_mutex_init(&kms->kek_lock, NULL);
	MCX_GUARD(mcx_sakke_params_new(&kms->sakke));
	MCX_GUARD(mcx_eccsi_params_new(&kms->eccsi));
	MCX_GUARD(kms_kek_find_or_create(kms));
	MCX_GUARD(kms_external_open(hsm, &kms->external));
	*out = kms;
	kms = NULL;
	r = MCX_OK;
out:
	kms_service_free(kms);
	return r;
}

void kms_service_free(struct kms_service *kms)
{
	if (kms == NULL)
		return;
	mcx_sakke_params_free(kms->sakke);
	mcx_eccsi_params_free(kms->eccsi);
	kms_external_free(kms->external);
	pthread_mutex_destroy(&kms->kek_lock);
	free(kms);
}

static void kms_aad(char *aad, size_t size, const char *domain, uint32_t version)
{
	snprintf(aad, size, "mcxvault/%s/kms/%" PRIu32, domain, version);
}

/* Runs a KEK operation, looking the KEK up again once if its handle went stale. */
static int kms_kek_handle(struct kms_service *kms, int refresh, hsm_handle_t *out)
{
	int r = MCX_OK;

	pthread_mutex_lock(&kms->kek_lock);
	if (refresh)
		r = hsm_find_by_label(kms->hsm, HSM_CLASS_SECRET_KEY, KMS_KEK_LABEL, &kms->kek);
	*out = kms->kek;
	pthread_mutex_unlock(&kms->kek_lock);
	return r;
}

MCX_RESULT kms_kek_seal(struct kms_service *kms, const char *aad, const void *plaintext, size_t len,
                        struct mcx_buf *out)
{
	int r = MCX_ERR_INTERNAL;
	hsm_handle_t kek;

	for (int attempt = 0; attempt < 2; attempt++) {
		MCX_GUARD(kms_kek_handle(kms, attempt > 0, &kek));
		mcx_buf_reset(out);
		r = hsm_aes_gcm_encrypt(kms->hsm, kek, aad, strlen(aad), plaintext, len, out);
		if (r != MCX_ERR_HSM_STALE_HANDLE)
			break;
	}
out:
	return r;
}

MCX_RESULT kms_kek_open(struct kms_service *kms, const char *aad, const void *sealed, size_t len,
                        struct mcx_buf *out)
{
	int r = MCX_ERR_INTERNAL;
	hsm_handle_t kek;

	for (int attempt = 0; attempt < 2; attempt++) {
		MCX_GUARD(kms_kek_handle(kms, attempt > 0, &kek));
		mcx_buf_reset(out);
		r = hsm_aes_gcm_decrypt(kms->hsm, kek, aad, strlen(aad), sealed, len, out);
		if (r != MCX_ERR_HSM_STALE_HANDLE)
			break;
	}
out:
	return r;
}

static int kms_seal(struct kms_service *kms, const char *domain, uint32_t version, const uint8_t *secrets,
                    size_t len, struct mcx_buf *out)
{
	char aad[KEYSTORE_KID_MAX + 16];

	kms_aad(aad, sizeof(aad), domain, version);
	return kms_kek_seal(kms, aad, secrets, len, out);
}

MCX_RESULT kms_secrets_open(struct kms_service *kms, const char *domain, uint32_t version, struct mcx_buf *secret)
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_buf *sealed = NULL;
	char aad[KEYSTORE_KID_MAX + 16];

	MCX_ENSURE_ALLOC(sealed = mcx_buf_new(4096));
	MCX_GUARD(keystore_blob_get(kms->keystore, domain, "kms", version, "sealed", sealed, NULL));
	kms_aad(aad, sizeof(aad), domain, version);
	r = kms_kek_open(kms, aad, mcx_buf_ptr(sealed), mcx_buf_len(sealed), secret);
	if (r == MCX_ERR_SIGNATURE_INVALID) {
		vault_error("sealed KMS secrets of %s version %" PRIu32 " do not open: wrong KEK or tampered token",
		            domain, version);
		r = MCX_ERR_HSM;
	}
	MCX_GUARD(r);
	MCX_ENSURE(mcx_buf_len(secret) == KMS_SECRETS_LEN, MCX_ERR_HSM);
out:
	if (r != MCX_OK)
		mcx_buf_reset(secret);
	mcx_buf_free(sealed);
	return r;
}

/* mcx_random_fn over the token's RNG: master secrets come from the HSM. */
static int kms_token_random(void *context, uint8_t *out, size_t len)
{
	return hsm_random(context, out, len) == MCX_OK ? 0 : -1;
}

/* kms_cert_sign_fn over one version of the domain's "cert" key, which signs
 * nothing but certificates and bundles the vault composes. */
struct kms_cert_signer {
	struct keystore *keystore;
	const char *domain;
	const char *purpose;
	uint32_t version;
};

static int kms_cert_sign(void *context, const uint8_t digest[32], uint8_t signature[64])
{
	struct kms_cert_signer *signer = context;
	struct keystore_key used;
	int r;

	if (strcmp(signer->purpose, KEYSTORE_PURPOSE_CERT) == 0)
		return keystore_sign_with(signer->keystore, signer->domain, signer->purpose, signer->version, digest,
		                          signature);
	/* MCXVAULT_TEST_LEGACY_DOMAIN_INIT only: the old format, signed by "sign" */
	r = keystore_sign(signer->keystore, signer->domain, digest, signature, &used);
	if (r == MCX_OK && used.version != signer->version) {
		mcx_wipe(signature, 64);
		r = MCX_ERR_KEY_STATE;
	}
	return r;
}

/* TS 33.180 Annex D: the domain's own certificate (Role "Root") from the
 * public values of a generation, signed by signer_key (a "cert" version; "sign"
 * only under the legacy test seam).  Everything it holds comes from g, so the
 * same document can be signed again later (kms_certificate_resign). */
static int kms_cert_compose(struct keystore *ks, const char *domain, const struct kms_generation *g,
                            const struct keystore_key *signer_key, struct mcx_buf *out)
{
	struct kms_cert cert;
	struct kms_cert_signer signer;
	char id[KEYSTORE_DOMAIN_MAX + 32], issuer[300];

	memset(&cert, 0, sizeof(cert));
	snprintf(id, sizeof(id), "KmsCertificate-%s-%" PRIu32, domain, g->version);
	snprintf(issuer, sizeof(issuer), "mcxvault %s", g->kms_uri);
	cert.id = id;
	cert.role = (char *)"Root";
	cert.kms_uri = (char *)g->kms_uri;
	cert.cert_uri = (char *)g->cert_uri;
	cert.issuer = issuer;
	cert.valid_from = g->valid_from;
	cert.valid_to = g->valid_to;
	cert.revoked = 0;
	cert.user_key_period = g->user_key_period;
	cert.user_key_offset = g->user_key_offset;
	memcpy(cert.pub_enc_key, g->z_public, sizeof(cert.pub_enc_key));
	memcpy(cert.pub_auth_key, g->kpak, sizeof(cert.pub_auth_key));
	cert.parameter_set = 1;
	signer.keystore = ks;
	signer.domain = domain;
	signer.purpose = signer_key->purpose;
	signer.version = signer_key->version;
	mcx_buf_reset(out);
	return kms_cert_to_xml(&cert, kms_cert_sign, &signer, out);
}

static int kms_params_encode(const struct kms_generation *g, struct mcx_buf *out)
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_buf *z = NULL, *kpak = NULL;
	json_t *root = NULL;
	char *text = NULL;

	MCX_ENSURE_ALLOC(z = mcx_buf_new(1024));
	MCX_ENSURE_ALLOC(kpak = mcx_buf_new(256));
	MCX_GUARD(mcx_hex_encode(z, g->z_public, sizeof(g->z_public)));
	MCX_GUARD(mcx_hex_encode(kpak, g->kpak, sizeof(g->kpak)));
	MCX_ENSURE_ALLOC(root = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:s%, s:s%, s:s}", "kms_uri", g->kms_uri,
	                                  "cert_uri", g->cert_uri, "valid_from", (json_int_t)g->valid_from, "valid_to",
	                                  (json_int_t)g->valid_to, "user_key_period", (json_int_t)g->user_key_period,
	                                  "user_key_offset", (json_int_t)g->user_key_offset, "z",
	                                  (const char *)mcx_buf_ptr(z), mcx_buf_len(z), "kpak",
	                                  (const char *)mcx_buf_ptr(kpak), mcx_buf_len(kpak), "signed_by",
	                                  g->signed_by));
	MCX_ENSURE_ALLOC(text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS));
	MCX_GUARD(mcx_buf_put(out, text, strlen(text)));
	r = MCX_OK;
out:
	free(text);
	json_decref(root);
	mcx_buf_free(z);
	mcx_buf_free(kpak);
	return r;
}

static int kms_hex_field(json_t *root, const char *name, uint8_t *out, size_t len)
{
	int r = MCX_ERR_INTERNAL;
	json_t *v = json_object_get(root, name);
	struct mcx_buf *b = NULL;

	MCX_ENSURE(json_is_string(v), MCX_ERR_PARSE);
	MCX_ENSURE_ALLOC(b = mcx_buf_new(len + 1));
	MCX_GUARD(mcx_hex_decode(b, json_string_value(v), json_string_length(v)));
	MCX_ENSURE(mcx_buf_len(b) == len, MCX_ERR_PARSE);
	memcpy(out, mcx_buf_ptr(b), len);
	r = MCX_OK;
out:
	mcx_buf_free(b);
	return r;
}

MCX_RESULT kms_generation_get(struct kms_service *kms, const char *domain, uint32_t version,
                              struct kms_generation *g)
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_buf *blob = NULL;
	struct keystore_key key;
	json_t *root = NULL;
	const char *kms_uri = NULL, *cert_uri = NULL, *signed_by = NULL;
	json_int_t from = 0, to = 0, period = 0, offset = 0;

	memset(g, 0, sizeof(*g));
	MCX_ENSURE_ALLOC(blob = mcx_buf_new(HSM_DATA_VALUE_MAX));
	MCX_GUARD(keystore_blob_get(kms->keystore, domain, "kms", version, "params", blob, &key));
	MCX_ENSURE((root = json_loadb((const char *)mcx_buf_ptr(blob), mcx_buf_len(blob), 0, NULL)) != NULL,
	           MCX_ERR_PARSE);
	MCX_ENSURE(json_unpack(root, "{s:s, s:s, s:I, s:I, s:I, s:I, s:s}", "kms_uri", &kms_uri, "cert_uri",
	                       &cert_uri, "valid_from", &from, "valid_to", &to, "user_key_period", &period,
	                       "user_key_offset", &offset, "signed_by", &signed_by) == 0,
	           MCX_ERR_PARSE);
	g->version = key.version;
	g->state = key.state;
	snprintf(g->kms_uri, sizeof(g->kms_uri), "%s", kms_uri);
	snprintf(g->cert_uri, sizeof(g->cert_uri), "%s", cert_uri);
	snprintf(g->signed_by, sizeof(g->signed_by), "%s", signed_by);
	g->valid_from = from;
	g->valid_to = to;
	g->user_key_period = period;
	g->user_key_offset = offset;
	MCX_GUARD(kms_hex_field(root, "z", g->z_public, sizeof(g->z_public)));
	MCX_GUARD(kms_hex_field(root, "kpak", g->kpak, sizeof(g->kpak)));
	/* an upgraded generation: the certificate that counts is the re-signed one */
	json_decref(root);
	root = NULL;
	mcx_buf_reset(blob);
	r = keystore_blob_get(kms->keystore, domain, KEYSTORE_PURPOSE_KMS, g->version, KMS_RESIGNED_BLOB, blob, NULL);
	if (r == MCX_OK) {
		MCX_ENSURE((root = json_loadb((const char *)mcx_buf_ptr(blob), mcx_buf_len(blob), 0, NULL)) != NULL &&
		           json_unpack(root, "{s:s}", "signed_by", &signed_by) == 0,
		           MCX_ERR_PARSE);
		snprintf(g->signed_by, sizeof(g->signed_by), "%s", signed_by);
	} else if (r != MCX_ERR_NOT_FOUND) {
		goto out;
	}
	r = MCX_OK;
out:
	json_decref(root);
	mcx_buf_free(blob);
	return r;
}

MCX_RESULT kms_certificate_xml(struct kms_service *kms, const char *domain, uint32_t version, struct mcx_buf *xml)
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_buf *blob = NULL;
	json_t *root = NULL;
	const char *text = NULL;
	size_t len = 0;

	MCX_ENSURE(version > 0, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE_ALLOC(blob = mcx_buf_new(HSM_DATA_VALUE_MAX));
	r = keystore_blob_get(kms->keystore, domain, KEYSTORE_PURPOSE_KMS, version, KMS_RESIGNED_BLOB, blob, NULL);
	if (r == MCX_ERR_NOT_FOUND) {
		mcx_buf_reset(xml);
		r = keystore_blob_get(kms->keystore, domain, KEYSTORE_PURPOSE_KMS, version, "cert", xml, NULL);
		goto out;
	}
	MCX_GUARD(r);
	MCX_ENSURE((root = json_loadb((const char *)mcx_buf_ptr(blob), mcx_buf_len(blob), 0, NULL)) != NULL &&
	           json_unpack(root, "{s:s%}", "xml", &text, &len) == 0,
	           MCX_ERR_PARSE);
	mcx_buf_reset(xml);
	MCX_GUARD(mcx_buf_put(xml, text, len));
	r = MCX_OK;
out:
	json_decref(root);
	mcx_buf_free(blob);
	return r;
}

/* Builds the blobs of a new generation (keystore_build_fn). */
struct kms_build {
	struct kms_service *kms;
	const struct vault_domain_config *domain;
	struct mcx_buf *sealed, *params, *cert;
};

static int kms_build_generation(void *context, uint32_t version, struct keystore_blob_spec *blobs, size_t *count)
{
	struct kms_build *b = context;
	struct kms_service *kms = b->kms;
	int r = MCX_ERR_INTERNAL;
	struct mcx_buf *secrets = NULL;
	uint8_t *z, *ksak;
	struct kms_generation g;
	struct keystore_key signer_key;

	memset(&g, 0, sizeof(g));
	MCX_GUARD(keystore_get(kms->keystore, b->domain->name,
	                       keystore_legacy_seam() ? KEYSTORE_PURPOSE_SIGN : KEYSTORE_PURPOSE_CERT, 0, &signer_key));
	MCX_ENSURE_ALLOC(secrets = mcx_buf_new_secret(KMS_SECRETS_LEN + 64));
	MCX_GUARD(mcx_buf_reserve(secrets, KMS_SECRETS_LEN, &z));
	ksak = z + MCX_SAKKE_SCALAR_LEN;
	/* RFC 6508 s.2.2 and RFC 6507 s.4.2: fresh master secrets, from the token RNG */
	MCX_GUARD(mcx_sakke_master_generate(kms->sakke, kms_token_random, kms->hsm, z, g.z_public));
	MCX_GUARD(mcx_eccsi_kms_generate(kms->eccsi, kms_token_random, kms->hsm, ksak, g.kpak));
	MCX_GUARD(kms_seal(kms, b->domain->name, version, z, KMS_SECRETS_LEN, b->sealed));

	g.version = version;
	snprintf(g.kms_uri, sizeof(g.kms_uri), "%s", b->domain->kms_uri);
	snprintf(g.cert_uri, sizeof(g.cert_uri), "%s/certificate/%" PRIu32, b->domain->kms_uri, version);
	g.valid_from = mcx_time_now();
	g.valid_to = g.valid_from + b->domain->certificate_lifetime;
	g.user_key_period = b->domain->user_key_period;
	g.user_key_offset = b->domain->user_key_offset;
	snprintf(g.signed_by, sizeof(g.signed_by), "%s", signer_key.kid);
	MCX_GUARD(kms_params_encode(&g, b->params));
	MCX_GUARD(kms_cert_compose(kms->keystore, b->domain->name, &g, &signer_key, b->cert));

	blobs[0].name = "sealed";
	blobs[0].value = mcx_buf_ptr(b->sealed);
	blobs[0].len = mcx_buf_len(b->sealed);
	blobs[1].name = "params";
	blobs[1].value = mcx_buf_ptr(b->params);
	blobs[1].len = mcx_buf_len(b->params);
	blobs[2].name = "cert";
	blobs[2].value = mcx_buf_ptr(b->cert);
	blobs[2].len = mcx_buf_len(b->cert);
	*count = 3;
	r = MCX_OK;
out:
	mcx_buf_free(secrets);   /* wiped */
	return r;
}

MCX_RESULT kms_generation_create(struct kms_service *kms, const struct vault_domain_config *domain,
                                 enum keystore_add_mode mode, struct keystore_key *created, uint32_t *previous)
{
	int r = MCX_ERR_INTERNAL;
	struct kms_build b;

	memset(&b, 0, sizeof(b));
	b.kms = kms;
	b.domain = domain;
	MCX_ENSURE_ALLOC(b.sealed = mcx_buf_new(4096));
	MCX_ENSURE_ALLOC(b.params = mcx_buf_new(16384));
	MCX_ENSURE_ALLOC(b.cert = mcx_buf_new(HSM_DATA_VALUE_MAX));
	MCX_GUARD(keystore_add_version(kms->keystore, domain->name, "kms", mode, 0, kms_build_generation, &b, created,
	                               previous));
	r = MCX_OK;
out:
	mcx_buf_free(b.sealed);
	mcx_buf_free(b.params);
	mcx_buf_free(b.cert);
	return r;
}

/* Re-signs the certificate of one generation with the active "cert" key and
 * stores it next to the old one as the blob "resigned"
 * {"signed_by": <cert kid>, "xml": <certificate>}: one new token object, so
 * a crash leaves the generation either untouched (the next upgrade does it)
 * or upgraded; the old "cert" blob is never served again. */
static int kms_certificate_resign(struct kms_service *kms, const char *domain, const struct kms_generation *g)
{
	int r = MCX_ERR_INTERNAL;
	struct keystore_key cert_key;
	struct mcx_buf *xml = NULL;
	json_t *root = NULL;
	char *value = NULL;

	MCX_GUARD(keystore_get(kms->keystore, domain, KEYSTORE_PURPOSE_CERT, 0, &cert_key));
	MCX_ENSURE_ALLOC(xml = mcx_buf_new(HSM_DATA_VALUE_MAX));
	MCX_GUARD(kms_cert_compose(kms->keystore, domain, g, &cert_key, xml));
	MCX_ENSURE_ALLOC(root = json_pack("{s:s, s:s%}", "signed_by", cert_key.kid, "xml",
	                                  (const char *)mcx_buf_ptr(xml), mcx_buf_len(xml)));
	MCX_ENSURE_ALLOC(value = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS));
	MCX_ENSURE(strlen(value) <= HSM_DATA_VALUE_MAX, MCX_ERR_NO_BUFFER_SPACE);
	MCX_GUARD(keystore_blob_add(kms->keystore, domain, KEYSTORE_PURPOSE_KMS, g->version, KMS_RESIGNED_BLOB, value,
	                            strlen(value)));
	vault_info("upgrade %s: KMS certificate version %" PRIu32 " re-signed by %s (was %s)", domain, g->version,
	           cert_key.kid, g->signed_by);
	r = MCX_OK;
out:
	free(value);
	json_decref(root);
	mcx_buf_free(xml);
	return r;
}

int kms_domain_needs_upgrade(struct kms_service *kms, const char *domain)
{
	struct keystore_key key, *versions = NULL;
	size_t count = 0;
	struct kms_generation g;
	char purpose[KEYSTORE_PURPOSE_MAX + 1];
	uint32_t signer_version = 0;
	int needs = 0;

	if (keystore_get(kms->keystore, domain, KEYSTORE_PURPOSE_SIGN, 0, &key) != MCX_OK)
		return 0;   /* never initialised */
	if (keystore_get(kms->keystore, domain, KEYSTORE_PURPOSE_CERT, 0, &key) != MCX_OK ||
	    keystore_get(kms->keystore, domain, KEYSTORE_PURPOSE_TOKEN, 0, &key) != MCX_OK)
		return 1;
	if (keystore_list(kms->keystore, domain, KEYSTORE_PURPOSE_KMS, &versions, &count) != MCX_OK)
		return 1;   /* let the upgrade itself say what is wrong */
	for (size_t i = 0; i < count && !needs; i++) {
		if (versions[i].state == KEYSTORE_STATE_RETIRED)
			continue;
		needs = kms_generation_get(kms, domain, versions[i].version, &g) != MCX_OK ||
		        keystore_parse_kid(g.signed_by, domain, purpose, &signer_version) != MCX_OK ||
		        strcmp(purpose, KEYSTORE_PURPOSE_CERT) != 0;
	}
	free(versions);
	return needs;
}

MCX_RESULT kms_domain_upgrade(struct kms_service *kms, const char *domain, struct kms_upgrade *done)
{
	static const char *const trust[] = { KEYSTORE_PURPOSE_CERT, KEYSTORE_PURPOSE_TOKEN };
	int r = MCX_ERR_INTERNAL;
	struct keystore_key key, *versions = NULL;
	size_t count = 0;
	struct kms_generation g;
	char purpose[KEYSTORE_PURPOSE_MAX + 1];
	uint32_t signer_version = 0;

	memset(done, 0, sizeof(*done));
	/* a domain without a "sign" key was never initialised: nothing to upgrade */
	r = keystore_get(kms->keystore, domain, KEYSTORE_PURPOSE_SIGN, 0, &key);
	if (r == MCX_ERR_NOT_FOUND)
		MCX_BAIL(MCX_OK);
	MCX_GUARD(r);
	/* the trust keys first: the re-signing needs "cert" */
	for (size_t i = 0; i < MCX_ARRAY_SIZE(trust); i++) {
		r = keystore_domain_init(kms->keystore, domain, trust[i], &key);
		if (r == MCX_OK) {
			vault_info("upgrade %s: created the %s key %s", domain, trust[i], key.kid);
			done->keys_created++;
		} else if (r != MCX_ERR_EXISTS) {
			goto out;
		}
	}
	/* then what the "sign" key signed that partners verify with "cert":
	 * the certificate of every generation that may still be served */
	MCX_GUARD(keystore_list(kms->keystore, domain, KEYSTORE_PURPOSE_KMS, &versions, &count));
	for (size_t i = 0; i < count; i++) {
		if (versions[i].state == KEYSTORE_STATE_RETIRED)
			continue;
		MCX_GUARD(kms_generation_get(kms, domain, versions[i].version, &g));
		if (keystore_parse_kid(g.signed_by, domain, purpose, &signer_version) == MCX_OK &&
		    strcmp(purpose, KEYSTORE_PURPOSE_CERT) == 0)
			continue;   /* already signed by a "cert" key */
		r = kms_certificate_resign(kms, domain, &g);
		if (r == MCX_ERR_EXISTS)
			continue;   /* another upgrade got there first */
		MCX_GUARD(r);
		done->certificates_resigned++;
	}
	if (done->keys_created > 0 || done->certificates_resigned > 0)
		vault_info("upgrade %s: %u trust keys created, %u KMS certificates re-signed", domain,
		           done->keys_created, done->certificates_resigned);
	r = MCX_OK;
out:
	free(versions);
	return r;
}
