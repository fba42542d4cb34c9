/*
 * kms.* and external.* methods (docs/protocol.md): what a KMS needs from the
 * vault — its certificates, its users' key material (TS 33.180 clause 5.3 and
 * Annex D), and the certificates of the external KMSs it trusts (TR 33.880).
 * SPDX-License-Identifier: Apache-2.0
 */
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcx/eccsi.h"
#include "mcx/sakke.h"
#include "mcx/uid.h"
#include "mcx/util.h"
#include "pkcs11/hsm.h"
#include "vault/daemon/log.h"
#include "vault/keys/ec_public.h"
#include "vault/kms/external.h"
#include "vault/kms/kms.h"
#include "vault/kms/kms_cert.h"
#include "vault/rpc/methods.h"
#include "vault/sign/jws.h"

#define USER_URI_MAX 2048

static json_t *json_time(int64_t t)
{
	char text[21];

	mcx_time_format(t, text);
	return json_string(text);
}

static json_t *json_hex(const uint8_t *data, size_t len)
{
	struct mcx_buf *b = mcx_buf_new(len * 2 + 1);
	json_t *s = NULL;

	if (b != NULL && mcx_hex_encode(b, data, len) == MCX_OK)
		s = json_stringn((const char *)mcx_buf_ptr(b), mcx_buf_len(b));
	mcx_buf_free(b);
	return s;
}

/* mcx_random_fn over the token's RNG. */
static int token_random(void *context, uint8_t *out, size_t len)
{
	return hsm_random(context, out, len) == MCX_OK ? 0 : -1;
}

/* RFC 5649 AES key wrap with padding under the caller's transport key. */
static int transport_wrap(const struct mcx_buf *kek, const uint8_t *key, size_t len, json_t **out)
{
	int r = MCX_ERR_INTERNAL, n = 0, m = 0;
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t wrapped[512];
	const EVP_CIPHER *cipher = mcx_buf_len(kek) == 16 ? EVP_aes_128_wrap_pad() : EVP_aes_256_wrap_pad();

	MCX_ENSURE(len + 16 <= sizeof(wrapped), MCX_ERR_INTERNAL);
	MCX_ENSURE_ALLOC(ctx = EVP_CIPHER_CTX_new());
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	MCX_ENSURE(EVP_EncryptInit_ex(ctx, cipher, NULL, mcx_buf_ptr(kek), NULL) == 1, MCX_ERR_CRYPTO);
	MCX_ENSURE(EVP_EncryptUpdate(ctx, wrapped, &n, key, (int)len) == 1, MCX_ERR_CRYPTO);
	MCX_ENSURE(EVP_EncryptFinal_ex(ctx, wrapped + n, &m) == 1, MCX_ERR_CRYPTO);
	MCX_ENSURE_ALLOC(*out = rpc_json_base64url(wrapped, (size_t)(n + m)));
	r = MCX_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

/* A key in a result: wrapped under the transport key when one was given. */
static int key_json(const struct mcx_buf *transport, const uint8_t *key, size_t len, json_t **out)
{
	if (transport != NULL)
		return transport_wrap(transport, key, len, out);
	return (*out = rpc_json_base64url(key, len)) != NULL ? MCX_OK : MCX_ERR_ALLOC;
}

#define USER_HOST_MAX 253

/* The host of a user URI, lower-cased: what follows its last '@', up to a
 * port, parameters or headers ("sip:alice@Ops.A.example:5061;transport=tls"
 * gives "ops.a.example").  "" for a URI without one (tel:+4930123456): it
 * names no system.  -1 when the host is longer than a DNS name can be. */
static int user_uri_host(const char *uri, char host[USER_HOST_MAX + 1])
{
	const char *at = strrchr(uri, '@');
	size_t n = 0;

	host[0] = '\0';
	if (at == NULL)
		return 0;
	for (const char *p = at + 1; *p != '\0' && strchr(":;?>/", *p) == NULL; p++) {
		if (n >= USER_HOST_MAX)
			return -1;
		host[n++] = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
	}
	host[n] = '\0';
	return 0;
}

/* 1 when host is one of names or a subdomain of one ("ops.a.example" is in
 * "a.example"; "evila.example" and "a.example.evil.example" are not). */
static int user_host_in(const char *host, char *const *names, size_t count)
{
	size_t h = strlen(host);

	for (size_t i = 0; i < count; i++) {
		size_t n = strlen(names[i]);
		if (strcmp(host, names[i]) == 0 || (h > n + 1 && host[h - n - 1] == '.' && strcmp(host + h - n, names[i]) == 0))
			return 1;
	}
	return 0;
}

/* Interconnect (TS 33.180 clause 5.3 issues keys to the KMS's own users;
 * a partner system that hosts groups for visiting users of another system
 * issues them key material under its own KMS): a user URI whose host is
 * outside the domain's user_namespaces is served only when its host is in
 * the domain's issue_to_external_users.  The audit record's subject then
 * names the user's home domain first.  MCX_ERR_POLICY_DENIED otherwise. */
static int user_keys_namespace(struct rpc_call *call, const char *user_uri)
{
	const struct vault_domain_config *d = call->domain_config;
	char host[USER_HOST_MAX + 1], subject[USER_HOST_MAX + 64];

	rpc_audit_subject(call, user_uri);
	if (user_uri_host(user_uri, host) != 0)
		return rpc_fail(call, MCX_ERR_INVALID_PARAMS, "the host of 'user_uri' is longer than %d octets",
		                USER_HOST_MAX);
	if (host[0] == '\0' || user_host_in(host, d->user_namespaces, d->user_namespace_count))
		return MCX_OK;
	snprintf(subject, sizeof(subject), "visiting user of %s: ", host);
	snprintf(subject + strlen(subject), sizeof(subject) - strlen(subject), "%.*s",
	         (int)(sizeof(subject) - strlen(subject) - 1), user_uri);
	rpc_audit_subject(call, subject);
	if (user_host_in(host, d->external_user_domains, d->external_user_domain_count))
		return MCX_OK;
	vault_warning("kms.user_keys %s: user of '%s' refused: not in the domain's namespace nor in "
	              "issue_to_external_users (uid %u)", call->domain, host, (unsigned)call->caller->uid);
	return rpc_fail(call, MCX_ERR_POLICY_DENIED,
	                "user '%.200s' is a user of '%s', outside the namespace of domain '%s', and the domain does not "
	                "issue keys to users of '%s' (issue_to_external_users)",
	                user_uri, host, call->domain, host);
}

int method_kms_user_keys(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	struct kms_service *kms = call->vault->kms;
	const char *user_uri = NULL, *when = NULL;
	struct mcx_buf *transport = NULL, *secrets = NULL, *keys = NULL;
	struct kms_generation g;
	int64_t t;
	uint64_t period_no = 0;
	int64_t period_start = 0, period_end = 0;
	uint8_t uid[MCX_UID_LEN], *rsk = NULL, *ssk = NULL, *pvt = NULL;
	json_t *jrsk = NULL, *jssk = NULL, *jpvt = NULL, *juid = NULL;

	MCX_GUARD(rpc_param_string(call, params, "user_uri", 1, &user_uri));
	MCX_ENSURE(strlen(user_uri) <= USER_URI_MAX,
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "'user_uri' is longer than %d octets", USER_URI_MAX));
	MCX_GUARD(rpc_param_string(call, params, "time", 0, &when));
	MCX_GUARD(rpc_param_binary(call, params, "transport_key", 0, 32, 1, &transport));
	MCX_ENSURE(transport == NULL || mcx_buf_len(transport) == 16 || mcx_buf_len(transport) == 32,
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "'transport_key' must be 16 or 32 octets, not %zu",
	                    mcx_buf_len(transport)));
	t = mcx_time_now();
	if (when != NULL)
		MCX_ENSURE(mcx_time_parse(when, &t) == MCX_OK,
		           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "'time' must be RFC 3339 UTC, e.g. 2026-11-23T17:44:00Z"));
	MCX_GUARD(user_keys_namespace(call, user_uri));

	r = kms_generation_get(kms, call->domain, 0, &g);
	if (r == MCX_ERR_NOT_FOUND)
		MCX_BAIL(rpc_fail(call, r, "domain '%s' has no KMS master secrets: run domain.init", call->domain));
	MCX_GUARD(r);
	/* TS 33.180 F.2.1: the key period containing t, counted from the offset */
	MCX_ENSURE(mcx_uid_key_period(t, (uint64_t)g.user_key_period, (uint64_t)g.user_key_offset, &period_no,
	                              &period_start, &period_end) == MCX_OK,
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS, "'time' lies before the key period offset of domain '%s'",
	                    call->domain));
	MCX_ENSURE(t <= g.valid_to && period_end >= g.valid_from,
	           rpc_fail(call, MCX_ERR_EXPIRED, "no KMS certificate of domain '%s' is valid at that time",
	                    call->domain));
	rpc_audit_key(call, "kms", g.version);
	MCX_GUARD(mcx_uid_compute(user_uri, strlen(user_uri), g.kms_uri, strlen(g.kms_uri),
	                          (uint64_t)g.user_key_period, (uint64_t)g.user_key_offset, period_no, uid));

	/* keys and master secrets live only in locked, wiped buffers */
	MCX_ENSURE_ALLOC(keys = mcx_buf_new_secret(MCX_SAKKE_POINT_LEN + MCX_ECCSI_SCALAR_LEN + MCX_ECCSI_POINT_LEN));
	MCX_GUARD(mcx_buf_reserve(keys, MCX_SAKKE_POINT_LEN + MCX_ECCSI_SCALAR_LEN + MCX_ECCSI_POINT_LEN, &rsk));
	ssk = rsk + MCX_SAKKE_POINT_LEN;
	pvt = ssk + MCX_ECCSI_SCALAR_LEN;
	MCX_ENSURE_ALLOC(secrets = mcx_buf_new_secret(KMS_SECRETS_LEN + 64));
	MCX_GUARD(kms_secrets_open(kms, call->domain, g.version, secrets));
	/* RFC 6508 s.6.1.1 RSK = [(z + b)^-1]P; RFC 6507 s.5.1.1 (SSK, PVT) */
	MCX_GUARD(mcx_sakke_rsk_issue(kms_sakke(kms), mcx_buf_ptr(secrets), uid, sizeof(uid), rsk));
	MCX_GUARD(mcx_eccsi_issue(kms_eccsi(kms), mcx_buf_ptr(secrets) + MCX_SAKKE_SCALAR_LEN, g.kpak, uid,
	                          sizeof(uid), token_random, call->vault->hsm, ssk, pvt));
	mcx_buf_free(secrets);
	secrets = NULL;
	/* what a client will check (RFC 6508 s.6.1.2, RFC 6507 s.5.1.2), checked before we answer */
	MCX_ENSURE(mcx_sakke_rsk_validate(kms_sakke(kms), g.z_public, uid, sizeof(uid), rsk) == MCX_OK,
	           rpc_fail(call, MCX_ERR_CRYPTO, "issued RSK failed validation"));
	MCX_ENSURE(mcx_eccsi_validate(kms_eccsi(kms), g.kpak, uid, sizeof(uid), ssk, pvt) == MCX_OK,
	           rpc_fail(call, MCX_ERR_CRYPTO, "issued SSK/PVT failed validation"));

	MCX_GUARD(key_json(transport, rsk, MCX_SAKKE_POINT_LEN, &jrsk));
	MCX_GUARD(key_json(transport, ssk, MCX_ECCSI_SCALAR_LEN, &jssk));
	MCX_GUARD(key_json(transport, pvt, MCX_ECCSI_POINT_LEN, &jpvt));
	MCX_ENSURE_ALLOC(juid = json_hex(uid, sizeof(uid)));
	MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:O, s:I, s:o, s:o, s:s, s:s, s:i, s:O, s:O, s:O, s:s*}",
	                                     "user_uri", user_uri, "user_id", juid, "key_period_no",
	                                     (json_int_t)period_no, "valid_from", json_time(period_start), "valid_to",
	                                     json_time(period_end), "kms_uri", g.kms_uri, "cert_uri", g.cert_uri,
	                                     "kms_version", (int)g.version, "rsk", jrsk, "ssk", jssk, "pvt", jpvt,
	                                     "key_wrap", transport != NULL ? "aes-key-wrap-pad" : NULL));
	vault_info("kms.user_keys %s: keys of period %" PRIu64 " issued to uid %u", call->domain, period_no,
	           (unsigned)call->caller->uid);
	r = MCX_OK;
out:
	json_decref(jrsk);
	json_decref(jssk);
	json_decref(jpvt);
	json_decref(juid);
	mcx_buf_free(secrets);
	mcx_buf_free(keys);
	mcx_buf_free(transport);
	mcx_wipe(uid, sizeof(uid));
	return r;
}

/* The JSON view of a home certificate, parsed from its stored XML. */
static int home_cert_json(struct rpc_call *call, uint32_t version, json_t **out)
{
	int r = MCX_ERR_INTERNAL;
	struct kms_service *kms = call->vault->kms;
	struct mcx_buf *xml = NULL;
	struct kms_cert cert;
	struct kms_generation g;
	json_t *view = NULL;

	memset(&cert, 0, sizeof(cert));
	MCX_GUARD(kms_generation_get(kms, call->domain, version, &g));
	MCX_ENSURE_ALLOC(xml = mcx_buf_new(HSM_DATA_VALUE_MAX));
	MCX_GUARD(kms_certificate_xml(kms, call->domain, g.version, xml));
	MCX_GUARD(kms_cert_from_xml((const char *)mcx_buf_ptr(xml), mcx_buf_len(xml), NULL, &cert));
	MCX_GUARD(kms_cert_to_json(&cert, &view));
	MCX_ENSURE_ALLOC(*out = json_pack("{s:i, s:s, s:s, s:s, s:s%, s:O}", "version", (int)g.version, "state",
	                                  keystore_state_name(g.state), "cert_uri", g.cert_uri, "signed_by",
	                                  g.signed_by, "xml", (const char *)mcx_buf_ptr(xml), mcx_buf_len(xml),
	                                  "certificate", view));
	r = MCX_OK;
out:
	json_decref(view);
	kms_cert_clear(&cert);
	mcx_buf_free(xml);
	return r;
}

int method_kms_certificate(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL, present = 0;
	uint64_t version = 0;

	MCX_GUARD(rpc_param_uint(call, params, "version", 0, UINT32_MAX, &version, &present));
	MCX_ENSURE(!present || version > 0, rpc_fail(call, MCX_ERR_INVALID_PARAMS, "'version' starts at 1"));
	r = home_cert_json(call, (uint32_t)version, result);
	if (r == MCX_ERR_NOT_FOUND)
		MCX_BAIL(rpc_fail(call, r, present ? "domain '%s' has no KMS certificate version %llu"
		                                   : "domain '%s' has no KMS certificate: run domain.init",
		                  call->domain, (unsigned long long)version));
out:
	return r;
}

int method_kms_cert_cache(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	struct keystore_key *versions = NULL;
	struct kms_external_entry *external = NULL;
	size_t version_count = 0, external_count = 0, listed = 0;
	json_t *certs = NULL, *payload = NULL, *item;
	struct mcx_buf *xml = NULL;
	struct kms_generation g;
	int64_t now = mcx_time_now();
	char *bundle = NULL, kid[KEYSTORE_KID_MAX + 1];

	MCX_ENSURE_ALLOC(certs = json_array());
	MCX_ENSURE_ALLOC(xml = mcx_buf_new(HSM_DATA_VALUE_MAX));
	MCX_GUARD(keystore_list(call->vault->keystore, call->domain, "kms", &versions, &version_count));
	MCX_ENSURE(version_count > 0,
	           rpc_fail(call, MCX_ERR_NOT_FOUND, "domain '%s' has no KMS certificate: run domain.init",
	                    call->domain));
	/* the previous certificate stays listed until its ValidTo */
	for (size_t i = version_count; i-- > 0;) {
		if (versions[i].state == KEYSTORE_STATE_RETIRED)
			continue;
		MCX_GUARD(kms_generation_get(call->vault->kms, call->domain, versions[i].version, &g));
		if (g.valid_to < now)
			continue;
		MCX_GUARD(kms_certificate_xml(call->vault->kms, call->domain, g.version, xml));
		MCX_ENSURE_ALLOC(item = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s%}", "role", "Root", "kms_uri", g.kms_uri,
		                                  "cert_uri", g.cert_uri, "valid_to", json_time(g.valid_to), "status",
		                                  "valid", "xml", (const char *)mcx_buf_ptr(xml), mcx_buf_len(xml)));
		MCX_ENSURE(json_array_append_new(certs, item) == 0, MCX_ERR_ALLOC);
		listed++;
	}
	MCX_GUARD(kms_external_list(kms_external_store(call->vault->kms), call->domain, &external, &external_count));
	for (size_t i = 0; i < external_count; i++) {
		if (external[i].valid_to < now)
			continue;   /* expired: every client drops it by itself */
		rpc_audit_external(call, external[i].kms_uri);
		if (external[i].revoked) {
			/* listed, until its ValidTo, so that clients that cached it drop it; without
			 * the XML, so that no client can install it from the bundle */
			MCX_ENSURE_ALLOC(item = json_pack("{s:s, s:s, s:s, s:o, s:s, s:o, s:s}", "role", "External",
			                                  "kms_uri", external[i].kms_uri, "cert_uri", external[i].cert_uri,
			                                  "valid_to", json_time(external[i].valid_to), "status", "revoked",
			                                  "revoked_at", json_time(external[i].revoked_at),
			                                  "revocation_reason", external[i].revocation_reason));
			MCX_ENSURE(json_array_append_new(certs, item) == 0, MCX_ERR_ALLOC);
			listed++;
			continue;
		}
		MCX_ENSURE_ALLOC(item = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s}", "role", "External", "kms_uri",
		                                  external[i].kms_uri, "cert_uri", external[i].cert_uri, "valid_to",
		                                  json_time(external[i].valid_to), "status", "valid", "xml",
		                                  external[i].xml));
		MCX_ENSURE(json_array_append_new(certs, item) == 0, MCX_ERR_ALLOC);
		listed++;
	}
	MCX_ENSURE_ALLOC(payload = json_pack("{s:s, s:I, s:O}", "iss", call->domain, "iat", (json_int_t)now,
	                                     "certificates", certs));
	/* the bundle is trusted like the certificates in it: signed by "cert" */
	MCX_GUARD(jws_sign_compact(call->vault->keystore, call->domain, KEYSTORE_PURPOSE_CERT, "mcx-kms-cert-cache+jws",
	                           payload, &bundle, kid));
	MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:s, s:I, s:s}", "domain", call->domain, "kid", kid,
	                                     "certificates", (json_int_t)listed, "bundle", bundle));
	r = MCX_OK;
out:
	free(bundle);
	json_decref(payload);
	json_decref(certs);
	mcx_buf_free(xml);
	free(versions);
	kms_external_entries_free(external, external_count);
	return r;
}

/* signing_key / token_key: a PEM string or a JWK object {"kty":"EC","crv":"P-256","x","y"}.
 * *present is 0 when the (optional) parameter is absent. */
static int external_key_param(struct rpc_call *call, json_t *params, const char *name, int required,
                              uint8_t point[65], int *present)
{
	json_t *v = json_object_get(params, name);
	const char *kty = NULL, *crv = NULL, *x = NULL, *y = NULL;

	*present = v != NULL;
	if (v == NULL)
		return required ? rpc_fail(call, MCX_ERR_INVALID_PARAMS, "missing parameter '%s'", name) : MCX_OK;
	if (json_is_string(v)) {
		if (vault_ec_point_from_pem(json_string_value(v), json_string_length(v), point) != MCX_OK)
			return rpc_fail(call, MCX_ERR_INVALID_PARAMS, "'%s' is not a P-256 public key in PEM", name);
		return MCX_OK;
	}
	if (!json_is_object(v) || json_unpack(v, "{s:s, s:s, s:s, s:s}", "kty", &kty, "crv", &crv, "x", &x, "y", &y) != 0 ||
	    strcmp(kty, "EC") != 0 || strcmp(crv, "P-256") != 0 || vault_ec_point_from_jwk_xy(x, y, point) != MCX_OK)
		return rpc_fail(call, MCX_ERR_INVALID_PARAMS, "'%s' must be a PEM string or a P-256 JWK {kty, crv, x, y}",
		                name);
	return MCX_OK;
}

static json_t *external_jwk(const uint8_t point[65])
{
	json_t *x = rpc_json_base64url(point + 1, 32), *y = rpc_json_base64url(point + 33, 32), *jwk = NULL;

	if (x != NULL && y != NULL)
		jwk = json_pack("{s:s, s:s, s:O, s:O}", "kty", "EC", "crv", "P-256", "x", x, "y", y);
	json_decref(x);
	json_decref(y);
	return jwk;
}

/* An entry's state now: "trusted", "revoked", "expired" or "not-yet-valid" (kms_external_entry_check). */
static const char *external_state(const struct kms_external_entry *e, int64_t now)
{
	switch (kms_external_entry_check(e, now, NULL, 0)) {
	case MCX_OK: return "trusted";
	case MCX_ERR_REVOKED: return "revoked";
	default: return now > e->valid_to ? "expired" : "not-yet-valid";
	}
}

static json_t *external_json(const struct kms_external_entry *e)
{
	json_t *signing = external_jwk(e->signing_key), *token = e->has_token_key ? external_jwk(e->token_key) : NULL;
	json_t *item = NULL;

	if (signing != NULL && (token != NULL || !e->has_token_key))
		item = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:I, s:I, s:O, s:O*, s:s}", "role", "External", "kms_uri",
		                 e->kms_uri, "cert_uri", e->cert_uri, "valid_from", json_time(e->valid_from), "valid_to",
		                 json_time(e->valid_to), "imported", json_time(e->imported), "user_key_period",
		                 (json_int_t)e->user_key_period, "user_key_offset", (json_int_t)e->user_key_offset,
		                 "signing_key", signing, "token_key", token, "state", external_state(e, mcx_time_now()));
	if (item != NULL && e->revoked &&
	    (json_object_set_new(item, "revoked_at", json_time(e->revoked_at)) != 0 ||
	     json_object_set_new(item, "revocation_reason", json_string(e->revocation_reason)) != 0)) {
		json_decref(item);
		item = NULL;
	}
	json_decref(signing);
	json_decref(token);
	return item;
}

int method_external_import(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	const char *xml = NULL;
	uint8_t point[65], token_point[65];
	int have_signing = 0, have_token = 0;
	struct kms_cert cert;
	struct kms_external_entry stored;
	char reason[256] = "";

	memset(&cert, 0, sizeof(cert));
	memset(&stored, 0, sizeof(stored));
	MCX_GUARD(rpc_param_string(call, params, "certificate", 1, &xml));
	/* signing_key is the partner's "cert" key: it verifies the certificate's
	 * XML-DSig.  token_key is its "token" key, for its ID tokens and redirect
	 * responses; without it those are from an unknown signer. */
	MCX_GUARD(external_key_param(call, params, "signing_key", 1, point, &have_signing));
	MCX_GUARD(external_key_param(call, params, "token_key", 0, token_point, &have_token));
	if (kms_cert_from_xml(xml, strlen(xml), NULL, &cert) == MCX_OK && cert.kms_uri != NULL)
		rpc_audit_external(call, cert.kms_uri);
	kms_cert_clear(&cert);
	/* a KmsUri of a home domain can never be external: that would let a
	 * partner impersonate our own KMS to our users */
	if (kms_cert_from_xml(xml, strlen(xml), NULL, &cert) == MCX_OK && cert.kms_uri != NULL) {
		for (size_t i = 0; i < call->config->domain_count; i++)
			MCX_ENSURE(strcmp(call->config->domains[i].kms_uri, cert.kms_uri) != 0,
			           rpc_fail(call, MCX_ERR_EXISTS,
			                    "KmsUri '%.200s' belongs to home domain '%s': not importable as external",
			                    cert.kms_uri, call->config->domains[i].name));
	}
	r = kms_external_import(kms_external_store(call->vault->kms), call->domain, xml, strlen(xml), point,
	                        have_token ? token_point : NULL, mcx_time_now(), &stored, reason, sizeof(reason));
	if (r != MCX_OK) {
		vault_warning("external.import into %s by uid %u refused: %s", call->domain, (unsigned)call->caller->uid,
		              reason[0] ? reason : mcx_strerror(r));
		MCX_BAIL(rpc_fail(call, r == MCX_ERR_PARSE ? MCX_ERR_INVALID_PARAMS : r, "%s",
		                  reason[0] ? reason : mcx_strerror(r)));
	}
	vault_info("external.import: domain %s now trusts KMS %s (by uid %u)", call->domain, stored.kms_uri,
	           (unsigned)call->caller->uid);
	MCX_ENSURE_ALLOC(*result = external_json(&stored));
	r = MCX_OK;
out:
	kms_cert_clear(&cert);
	return r;
}

int method_external_list(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	struct kms_external_entry *entries = NULL;
	size_t count = 0;
	json_t *array = NULL, *item;

	MCX_GUARD(kms_external_list(kms_external_store(call->vault->kms), call->domain, &entries, &count));
	MCX_ENSURE_ALLOC(array = json_array());
	for (size_t i = 0; i < count; i++) {
		MCX_ENSURE_ALLOC(item = external_json(&entries[i]));
		MCX_ENSURE(json_array_append_new(array, item) == 0, MCX_ERR_ALLOC);
	}
	MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:O}", "domain", call->domain, "external", array));
	r = MCX_OK;
out:
	json_decref(array);
	kms_external_entries_free(entries, count);
	return r;
}

int method_external_remove(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	const char *kms_uri = NULL;

	MCX_GUARD(rpc_param_string(call, params, "kms_uri", 1, &kms_uri));
	rpc_audit_external(call, kms_uri);
	r = kms_external_remove(kms_external_store(call->vault->kms), call->domain, kms_uri);
	if (r == MCX_ERR_NOT_FOUND)
		MCX_BAIL(rpc_fail(call, r, "domain '%s' does not trust KMS '%.200s'", call->domain, kms_uri));
	MCX_GUARD(r);
	vault_info("external.remove: domain %s no longer trusts KMS %s (by uid %u)", call->domain, kms_uri,
	           (unsigned)call->caller->uid);
	MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:s, s:b}", "domain", call->domain, "kms_uri", kms_uri, "removed", 1));
	r = MCX_OK;
out:
	return r;
}

int method_external_revoke(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	const char *kms_uri = NULL, *reason = NULL;
	struct kms_external_entry stored;
	char when[21];

	memset(&stored, 0, sizeof(stored));
	MCX_GUARD(rpc_param_string(call, params, "kms_uri", 1, &kms_uri));
	MCX_GUARD(rpc_param_string(call, params, "reason", 1, &reason));
	rpc_audit_external(call, kms_uri);
	MCX_ENSURE(kms_external_reason_valid(reason),
	           rpc_fail(call, MCX_ERR_INVALID_PARAMS,
	                    "'reason' must be an RFC 5280 CRLReason: unspecified, keyCompromise, cACompromise, "
	                    "affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn or aACompromise"));
	{
		char subject[64];
		snprintf(subject, sizeof(subject), "revocation reason %s", reason);
		rpc_audit_subject(call, subject);
	}
	r = kms_external_revoke(kms_external_store(call->vault->kms), call->domain, kms_uri, reason, mcx_time_now(),
	                        &stored);
	if (r == MCX_ERR_NOT_FOUND)
		MCX_BAIL(rpc_fail(call, r, "domain '%s' does not trust KMS '%.200s'", call->domain, kms_uri));
	if (r == MCX_ERR_EXISTS) {
		mcx_time_format(stored.revoked_at, when);
		MCX_BAIL(rpc_fail(call, r, "KMS '%.200s' was already revoked by domain '%s' at %s (%s)", kms_uri,
		                  call->domain, when, stored.revocation_reason));
	}
	MCX_GUARD(r);
	vault_warning("external.revoke: domain %s revoked its trust in KMS %s (%s, by uid %u)", call->domain, kms_uri,
	              reason, (unsigned)call->caller->uid);
	MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:s, s:b, s:o, s:s}", "domain", call->domain, "kms_uri", kms_uri,
	                                     "revoked", 1, "revoked_at", json_time(stored.revoked_at),
	                                     "revocation_reason", stored.revocation_reason));
	r = MCX_OK;
out:
	return r;
}
