/*
 * mcxvault — Security Domain Redirect Responses signed by an MCX identity
 * (ECCSI, RFC 6507; TR 33.880 "a signature (using the originating identity)
 * over the entire message"), over the real sockets of two real vaultd
 * processes on throw-away SoftHSM tokens (tests/lib/vault_fixture.c):
 *
 *   A  a.example (kms.a.example), trusts B; also p.example (kms.p.example),
 *      a home domain whose policy takes unsigned / unknown-signer responses
 *   B  b.example (kms.b.example), trusts A
 *
 * wolfCrypt is the independent oracle (test-only, as in tests/crypto): it
 * verifies the signatures vaultd makes, and signs responses that vaultd must
 * accept, with SSK/PVT the vault issued through kms.user_keys and a UID this
 * file computes itself (TS 33.180 F.2.1), not with crypto/uid.c.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/crypto/wolf_glue.h"
#include <wolfssl/wolfcrypt/sha256.h>

#include "mcx/buf.h"
#include "mcx/util.h"
#include "mcxvault.h"
#include "tests/lib/vault_fixture.h"
#include "tests/lib/rpc_checks.h"
#include "tests/test.h"

#define A_DOM "a.example"
#define B_DOM "b.example"
#define P_DOM "p.example"
#define A_KMS "kms.a.example"
#define B_KMS "kms.b.example"
#define P_KMS "kms.p.example"
#define X_KMS "kms.x.example"
#define SDRR_TYP "mcx-sdrr+jwt"
#define A_SIGNER "sip:redirect@a.example"
#define B_SIGNER "sip:redirect@b.example"

static struct test_vault vault_a, vault_b;
static struct mcxvault *va, *vb;
static WC_RNG wrng;

/* The public values of a KMS certificate an ECCSI verifier needs. */
struct kms_info {
	uint8_t kpak[65];
	char cert_uri[256];
	int64_t period, offset, valid_from;
};
static struct kms_info ka, kb;

/* ---- RPC helpers ------------------------------------------------------------ */

static json_t *list2(const char *x, const char *y)
{
	json_t *l = json_array();

	json_array_append_new(l, json_string(x));
	if (y != NULL)
		json_array_append_new(l, json_string(y));
	return l;
}

static int has_reason(json_t *res, const char *needle)
{
	size_t i;
	json_t *r;

	json_array_foreach(json_object_get(res, "reasons"), i, r)
		if (strstr(json_string_value(r), needle) != NULL)
			return 1;
	printf("  no reason containing \"%s\" in %s\n", needle,
	       json_dumps(json_object_get(res, "reasons"), JSON_COMPACT));
	return 0;
}

static int hex_to(const char *hex, uint8_t *out, size_t len)
{
	struct mcx_buf *b = mcx_buf_new(len + 1);
	int r = -1;

	if (b != NULL && hex != NULL && mcx_hex_decode(b, hex, strlen(hex)) == 0 && mcx_buf_len(b) == len) {
		memcpy(out, mcx_buf_ptr(b), len);
		r = 0;
	}
	mcx_buf_free(b);
	return r;
}

static int b64_to(const char *text, size_t text_len, uint8_t *out, size_t max, size_t *len)
{
	struct mcx_buf *b = mcx_buf_new(max);
	int r = -1;

	if (b != NULL && mcx_base64url_decode(b, text, text_len) == 0) {
		memcpy(out, mcx_buf_ptr(b), mcx_buf_len(b));
		*len = mcx_buf_len(b);
		r = 0;
	}
	mcx_buf_free(b);
	return r;
}

/* ---- an independent TS 33.180 F.2.1 UID ---------------------------------------- */

static size_t put_part(uint8_t *s, size_t at, const void *p, size_t n)
{
	memcpy(s + at, p, n);
	s[at + n] = (uint8_t)(n >> 8);
	s[at + n + 1] = (uint8_t)n;
	return at + n + 2;
}

static size_t put_int(uint8_t *s, size_t at, uint64_t v)
{
	uint8_t be[8];
	size_t n = 0;

	do {
		be[7 - n++] = (uint8_t)v;
		v >>= 8;
	} while (v != 0);
	return put_part(s, at, be + 8 - n, n);
}

static uint64_t period_of(int64_t t, const struct kms_info *k)
{
	return (uint64_t)((t + 2208988800LL - k->offset) / k->period);
}

/* UID = SHA-256(0x00 || "MIKEY-SAKKE-UID" || 0x000F || URI || L || KmsUri || L || period || L || offset || L || n || L) */
static void uid_of(const char *uri, const char *kms_uri, const struct kms_info *k, uint64_t period_no, uint8_t uid[32])
{
	uint8_t s[4096];
	size_t at = 1;

	s[0] = 0x00;
	at = put_part(s, at, "MIKEY-SAKKE-UID", 15);
	at = put_part(s, at, uri, strlen(uri));
	at = put_part(s, at, kms_uri, strlen(kms_uri));
	at = put_int(s, at, (uint64_t)k->period);
	at = put_int(s, at, (uint64_t)k->offset);
	at = put_int(s, at, period_no);
	wc_Sha256Hash(s, (word32)at, uid);
}

/* ---- set-up ------------------------------------------------------------------- */

static int kms_info_get(struct mcxvault *v, const char *domain, struct kms_info *k)
{
	json_t *res = NULL, *c;
	int r = -1;

	if (rpc(v, "kms.certificate", json_pack("{s:s}", "domain", domain), &res) == 0) {
		c = json_object_get(res, "certificate");
		snprintf(k->cert_uri, sizeof(k->cert_uri), "%s", str(res, "cert_uri"));
		k->period = json_integer_value(json_object_get(c, "user_key_period"));
		k->offset = json_integer_value(json_object_get(c, "user_key_offset"));
		if (mcx_time_parse(str(c, "valid_from"), &k->valid_from) == 0 && hex_to(str(c, "pub_auth_key"), k->kpak, 65) == 0 && k->period > 0)
			r = 0;
	}
	json_decref(res);
	return r;
}

static int trust(struct mcxvault *importer, const char *importer_domain, struct mcxvault *owner, const char *owner_domain)
{
	json_t *cert = NULL, *key = NULL, *res = NULL;
	int r = -1;

	if (rpc(owner, "kms.certificate", json_pack("{s:s}", "domain", owner_domain), &cert) == 0 &&
	    rpc(owner, "sign.public_key", json_pack("{s:s, s:s}", "domain", owner_domain, "purpose", "cert"), &key) == 0 &&
	    rpc(importer, "external.import",
		json_pack("{s:s, s:s, s:s}", "domain", importer_domain, "certificate", str(cert, "xml"), "signing_key",
			  str(key, "pem")),
		&res) == 0)
		r = 0;
	json_decref(cert);
	json_decref(key);
	json_decref(res);
	return r;
}

/* ---- responses ------------------------------------------------------------------ */

/* redirect.sign as signer_id (NULL: the ES256 domain form); NULL on failure, res (if wanted) the result. */
static char *vault_sign(struct mcxvault *v, const char *domain, const char *signer_id, const char *receiving_id,
			json_t **res_out)
{
	json_t *params, *res = NULL;
	char *out = NULL;

	params = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "domain", domain, "originating_id", "sip:alice@a.example",
			   "receiving_id", receiving_id, "originating_kms_uri", A_KMS, "acceptable_initiating_kms",
			   list2(A_KMS, B_KMS), "acceptable_receiving_kms", list2(B_KMS, A_KMS));
	if (signer_id != NULL)
		json_object_set_new(params, "signer_id", json_string(signer_id));
	if (rpc(v, "redirect.sign", params, &res) == 0)
		out = strdup(str(res, "response"));
	if (res_out != NULL)
		*res_out = res;
	else
		json_decref(res);
	return out;
}

/* A payload as a client's peer would send it (signer_id NULL: none). */
static json_t *payload_new(const char *iss, int64_t iat, const char *signer_id, const char *receiving_id,
			   json_t *lists)
{
	char jti[32];
	json_t *p;

	snprintf(jti, sizeof(jti), "wolf-%ld-%d", (long)iat, rand());
	p = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:O, s:O}", "response_type", "security-domain-redirect",
		      "iss", iss, "iat", (json_int_t)iat, "jti", jti, "originating_id", "sip:alice@a.example",
		      "receiving_id", receiving_id, "originating_kms_uri", A_KMS, "acceptable_initiating_kms", lists,
		      "acceptable_receiving_kms", lists);
	if (signer_id != NULL)
		json_object_set_new(p, "signer_id", json_string(signer_id));
	json_decref(lists);
	return p;
}

/* base64url(header) "." base64url(payload) — the JWS signing input. */
static char *signing_input(const char *alg, const char *kid, json_t *payload)
{
	json_t *h = json_pack("{s:s, s:s}", "alg", alg, "typ", SDRR_TYP);
	char *ht, *pt, *hb, *pb, *out = NULL;

	if (kid != NULL)
		json_object_set_new(h, "kid", json_string(kid));
	ht = json_dumps(h, JSON_COMPACT);
	pt = json_dumps(payload, JSON_COMPACT);
	hb = mcx_base64url_string(ht, strlen(ht));
	pb = mcx_base64url_string(pt, strlen(pt));
	if (asprintf(&out, "%s.%s", hb, pb) < 0)
		out = NULL;
	free(ht);
	free(pt);
	free(hb);
	free(pb);
	json_decref(h);
	return out;
}

static char *with_signature(const char *input, const uint8_t *sig, size_t len)
{
	char *sb = mcx_base64url_string(sig, len), *out = NULL;

	if (asprintf(&out, "%s.%s", input, sb) < 0)
		out = NULL;
	free(sb);
	return out;
}

/* The SSK/PVT the vault issues to uri at time (NULL: now), through kms.user_keys. */
static int user_keys(struct mcxvault *v, const char *domain, const char *uri, const char *time, uint8_t ssk[32],
		     uint8_t pvt[65], char *uid_hex)
{
	json_t *p = json_pack("{s:s, s:s}", "domain", domain, "user_uri", uri), *res = NULL;
	size_t n1 = 0, n2 = 0;
	int r = -1;

	if (time != NULL)
		json_object_set_new(p, "time", json_string(time));
	if (rpc(v, "kms.user_keys", p, &res) == 0 && b64_to(str(res, "ssk"), strlen(str(res, "ssk")), ssk, 32, &n1) == 0 &&
	    b64_to(str(res, "pvt"), strlen(str(res, "pvt")), pvt, 65, &n2) == 0 && n1 == 32 && n2 == 65) {
		if (uid_hex != NULL)
			snprintf(uid_hex, 65, "%s", str(res, "user_id"));
		r = 0;
	}
	json_decref(res);
	return r;
}

/* wolfCrypt signs input as (uid, ssk, pvt) under kpak. */
static int wolf_sign(const uint8_t kpak[65], const uint8_t uid[32], const uint8_t ssk[32], const uint8_t pvt[65],
		     const char *input, uint8_t sig[129])
{
	EccsiKey k;
	int r = wolf_eccsi_client_init(&k, kpak);

	if (r != 0)
		return r;
	r = wolf_eccsi_set_signer(&k, uid, 32, ssk, pvt);
	if (r == 0)
		r = wolf_eccsi_sign(&k, &wrng, (const uint8_t *)input, strlen(input), sig);
	wc_FreeEccsiKey(&k);
	return r;
}

/* 1 when wolfCrypt verifies sig over msg as uid under kpak. */
static int wolf_verifies(const uint8_t kpak[65], const uint8_t uid[32], const char *msg, size_t len, const uint8_t sig[129])
{
	EccsiKey k;
	int v = 0;

	if (wolf_eccsi_client_init(&k, kpak) != 0)
		return -1;
	if (wolf_eccsi_verify(&k, uid, 32, (const uint8_t *)msg, len, sig, &v) != 0)
		v = 0;
	wc_FreeEccsiKey(&k);
	return v;
}

/* A response signed by wolfCrypt as uri (keys of `keys_domain` on `kv` at keys_time) claiming iss/kid/signer_id. */
static char *wolf_response(struct mcxvault *kv, const char *keys_domain, const char *uri, const char *keys_time,
			   const uint8_t kpak[65], const uint8_t uid[32], const char *iss, const char *kid,
			   const char *signer_id, int64_t iat, const char *receiving_id, json_t *lists)
{
	uint8_t ssk[32], pvt[65], sig[129];
	json_t *payload = payload_new(iss, iat, signer_id, receiving_id, lists);
	char *input = signing_input("ECCSI", kid, payload), *out = NULL;

	if (input != NULL && user_keys(kv, keys_domain, uri, keys_time, ssk, pvt, NULL) == 0 &&
	    wolf_sign(kpak, uid, ssk, pvt, input, sig) == 0)
		out = with_signature(input, sig, sizeof(sig));
	memset(ssk, 0, sizeof(ssk));
	free(input);
	json_decref(payload);
	return out;
}

static json_t *evaluate(struct mcxvault *v, const char *domain, const char *response)
{
	json_t *res = NULL;

	if (rpc(v, "redirect.evaluate", json_pack("{s:s, s:s}", "domain", domain, "response", response), &res) != 0)
		return NULL;
	return res;
}

/* The three parts of a compact JWS: header and payload decoded, message = the signing input. */
struct parts {
	json_t *header, *payload;
	char msg[8192];
	uint8_t sig[200];
	size_t sig_len;
};

static int split(const char *jws, struct parts *p)
{
	const char *d1 = strchr(jws, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	uint8_t buf[8192];
	size_t n = 0;

	memset(p, 0, sizeof(*p));
	if (d2 == NULL || (size_t)(d2 - jws) >= sizeof(p->msg))
		return -1;
	memcpy(p->msg, jws, (size_t)(d2 - jws));
	if (b64_to(jws, (size_t)(d1 - jws), buf, sizeof(buf), &n) != 0 ||
	    (p->header = json_loadb((const char *)buf, n, 0, NULL)) == NULL)
		return -1;
	if (b64_to(d1 + 1, (size_t)(d2 - d1 - 1), buf, sizeof(buf), &n) != 0 ||
	    (p->payload = json_loadb((const char *)buf, n, 0, NULL)) == NULL)
		return -1;
	return b64_to(d2 + 1, strlen(d2 + 1), p->sig, sizeof(p->sig), &p->sig_len);
}

static void parts_clear(struct parts *p)
{
	json_decref(p->header);
	json_decref(p->payload);
}

/* The same response with its payload replaced by payload (signature kept). */
static char *replace_payload(const char *jws, json_t *payload)
{
	const char *d1 = strchr(jws, '.'), *d2 = strchr(d1 + 1, '.');
	char *pt = json_dumps(payload, JSON_COMPACT), *pb = mcx_base64url_string(pt, strlen(pt)), *out = NULL;

	if (asprintf(&out, "%.*s.%s%s", (int)(d1 - jws), jws, pb, d2) < 0)
		out = NULL;
	free(pt);
	free(pb);
	return out;
}

static int audit_has(const char *a, const char *b, const char *c)
{
	char line[8192];
	FILE *f = fopen(vault_a.audit, "r");
	int found = 0;

	if (f == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, a) != NULL && (b == NULL || strstr(line, b) != NULL) &&
			(c == NULL || strstr(line, c) != NULL);
	fclose(f);
	if (!found)
		printf("  no audit record with \"%s\" \"%s\" \"%s\"\n", a, b ? b : "", c ? c : "");
	return found;
}

/* ---- tests ------------------------------------------------------------------------ */

/* vaultd signs as an identity; wolfCrypt verifies it with the KPAK of the
 * served certificate and a UID computed here; both vaults accept it. */
TEST(vault_signs_wolfcrypt_verifies)
{
	json_t *res = NULL, *ev;
	struct parts p;
	uint8_t uid[32], ssk[32], pvt[65];
	char uid_hex[65], expect_hex[65], *resp, when[32];
	int64_t iat;

	resp = vault_sign(va, A_DOM, A_SIGNER, "sip:bob@b.example", &res);
	REQUIRE(resp != NULL);
	CHECK_EQ_STR(str(res, "alg"), "ECCSI");
	CHECK_EQ_STR(str(res, "signer_id"), A_SIGNER);
	CHECK_EQ_STR(str(res, "signer_kms_uri"), A_KMS);
	CHECK_EQ_STR(str(res, "kid"), ka.cert_uri);
	/* exactly the documented members: no key material ever */
	{
		static const char *const members[] = { "response", "kid", "response_id", "iat", "alg", "signer_id",
						       "signer_kms_uri", "key_period_no" };
		CHECK_EQ_INT((int)json_object_size(res), (int)(sizeof(members) / sizeof(members[0])));
		for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
			CHECK(json_object_get(res, members[i]) != NULL);
	}
	REQUIRE(split(resp, &p) == 0);
	CHECK_EQ_STR(str(p.header, "alg"), "ECCSI");
	CHECK_EQ_STR(str(p.header, "typ"), SDRR_TYP);
	CHECK_EQ_STR(str(p.header, "kid"), ka.cert_uri);
	CHECK_EQ_STR(str(p.payload, "signer_id"), A_SIGNER);
	CHECK_EQ_STR(str(p.payload, "iss"), A_KMS);
	CHECK_EQ_INT((int)p.sig_len, 129);
	iat = json_integer_value(json_object_get(p.payload, "iat"));
	CHECK_EQ_INT((long long)json_integer_value(json_object_get(res, "key_period_no")), (long long)period_of(iat, &ka));
	/* our UID is the vault's UID (kms.user_keys for the same instant) */
	uid_of(A_SIGNER, A_KMS, &ka, period_of(iat, &ka), uid);
	for (int i = 0; i < 32; i++)
		snprintf(expect_hex + 2 * i, 3, "%02x", uid[i]);
	mcx_time_format(iat, when);
	REQUIRE(user_keys(va, A_DOM, A_SIGNER, when, ssk, pvt, uid_hex) == 0);
	CHECK_EQ_STR(uid_hex, expect_hex);
	/* the oracle */
	CHECK_EQ_INT(wolf_verifies(ka.kpak, uid, p.msg, strlen(p.msg), p.sig), 1);
	p.msg[strlen(p.msg) - 1] ^= 1;
	CHECK_EQ_INT(wolf_verifies(ka.kpak, uid, p.msg, strlen(p.msg), p.sig), 0);
	parts_clear(&p);
	json_decref(res);

	/* the home domain evaluates it: valid, and says who signed */
	ev = evaluate(va, A_DOM, resp);
	REQUIRE(ev != NULL);
	CHECK_EQ_STR(str(ev, "signature"), "valid");
	CHECK_EQ_STR(str(ev, "signature_alg"), "ECCSI");
	CHECK_EQ_STR(str(ev, "signer_id"), A_SIGNER);
	CHECK_EQ_STR(str(ev, "signer_kms_uri"), A_KMS);
	CHECK_EQ_STR(str(ev, "signer_domain"), A_DOM);
	CHECK_EQ_STR(str(ev, "decision"), "accept");
	json_decref(ev);
	/* and a partner that trusts kms.a.example (no token key needed) */
	ev = evaluate(vb, B_DOM, resp);
	REQUIRE(ev != NULL);
	CHECK_EQ_STR(str(ev, "signature"), "valid");
	CHECK_EQ_STR(str(ev, "signer_id"), A_SIGNER);
	CHECK(json_is_null(json_object_get(ev, "signer_domain")));
	CHECK_EQ_STR(str(ev, "decision"), "accept");
	json_decref(ev);
	/* a report names the signer and its KMS, in the result and in the audit record */
	res = NULL;
	REQUIRE(rpc(va, "redirect.report",
		    json_pack("{s:s, s:s, s:s}", "domain", A_DOM, "response", resp, "user_uri", "sip:alice@a.example"),
		    &res) == 0);
	CHECK_EQ_STR(str(res, "signature"), "valid");
	CHECK_EQ_STR(str(res, "signature_alg"), "ECCSI");
	CHECK_EQ_STR(str(res, "signer_id"), A_SIGNER);
	CHECK_EQ_STR(str(res, "signer_kms_uri"), A_KMS);
	json_decref(res);
	free(resp);

	/* the prefix entry: any sip:dispatch-… identity */
	resp = vault_sign(va, A_DOM, "sip:dispatch-7@a.example", "sip:bob@b.example", NULL);
	CHECK(resp != NULL);
	free(resp);
	/* without signer_id: the ES256 domain form, as before */
	res = NULL;
	resp = vault_sign(va, A_DOM, NULL, "sip:bob@b.example", &res);
	REQUIRE(resp != NULL);
	CHECK_EQ_STR(str(res, "alg"), "ES256");
	CHECK_EQ_STR(str(res, "kid"), A_DOM "/token/1");
	CHECK(json_object_get(res, "signer_id") == NULL);
	json_decref(res);
	ev = evaluate(va, A_DOM, resp);
	REQUIRE(ev != NULL);
	CHECK_EQ_STR(str(ev, "signature"), "valid");
	CHECK_EQ_STR(str(ev, "signature_alg"), "ES256");
	CHECK(json_is_null(json_object_get(ev, "signer_id")));
	json_decref(ev);
	free(resp);
}

/* wolfCrypt signs with SSK/PVT the vault issued; vaultd accepts it, home and external. */
TEST(wolfcrypt_signs_vault_accepts)
{
	uint8_t uid[32];
	int64_t now = mcx_time_now();
	char *resp;
	json_t *ev;

	uid_of("sip:carol@a.example", A_KMS, &ka, period_of(now, &ka), uid);
	resp = wolf_response(va, A_DOM, "sip:carol@a.example", NULL, ka.kpak, uid, A_KMS, ka.cert_uri,
			     "sip:carol@a.example", now, "sip:bob@b.example", list2(A_KMS, B_KMS));
	REQUIRE(resp != NULL);
	ev = evaluate(va, A_DOM, resp);
	REQUIRE(ev != NULL);
	CHECK_EQ_STR(str(ev, "signature"), "valid");
	CHECK_EQ_STR(str(ev, "signer_id"), "sip:carol@a.example");
	CHECK_EQ_STR(str(ev, "decision"), "accept");
	json_decref(ev);
	ev = evaluate(vb, B_DOM, resp);
	REQUIRE(ev != NULL);
	CHECK_EQ_STR(str(ev, "signature"), "valid");
	json_decref(ev);
	free(resp);

	/* an identity of the trusted external KMS B, evaluated by A */
	uid_of("sip:eve@b.example", B_KMS, &kb, period_of(now, &kb), uid);
	resp = wolf_response(vb, B_DOM, "sip:eve@b.example", NULL, kb.kpak, uid, B_KMS, kb.cert_uri,
			     "sip:eve@b.example", now, "sip:bob@b.example", list2(A_KMS, B_KMS));
	REQUIRE(resp != NULL);
	ev = evaluate(va, A_DOM, resp);
	REQUIRE(ev != NULL);
	CHECK_EQ_STR(str(ev, "signature"), "valid");
	CHECK_EQ_STR(str(ev, "signer_id"), "sip:eve@b.example");
	CHECK_EQ_STR(str(ev, "signer_kms_uri"), B_KMS);
	CHECK_EQ_STR(str(ev, "decision"), "accept");
	json_decref(ev);
	/* the report's audit record names the external KMS and the identity */
	ev = NULL;
	CHECK(rpc(va, "redirect.report",
		  json_pack("{s:s, s:s, s:s}", "domain", A_DOM, "response", resp, "user_uri", "sip:alice@a.example"),
		  &ev) == 0);
	CHECK_EQ_STR(str(ev, "signer_id"), "sip:eve@b.example");
	json_decref(ev);
	free(resp);
	/* and B's vault signing as its own identity, for A */
	resp = vault_sign(vb, B_DOM, B_SIGNER, "sip:bob@b.example", NULL);
	REQUIRE(resp != NULL);
	ev = evaluate(va, A_DOM, resp);
	REQUIRE(ev != NULL);
	CHECK_EQ_STR(str(ev, "signature"), "valid");
	CHECK_EQ_STR(str(ev, "signer_id"), B_SIGNER);
	CHECK_EQ_STR(str(ev, "signer_kms_uri"), B_KMS);
	json_decref(ev);
	free(resp);
}

/* Every forgery is "invalid" and rejected whatever the policy; an unknown KMS is "unknown-signer". */
TEST(forgeries_and_unknown_signers)
{
	uint8_t uid[32], sig[129];
	int64_t now = mcx_time_now();
	char *resp, *bad, when[32];
	struct parts p;
	json_t *ev, *payload;

#define EXPECT_SIG(domain, response, sig_status, decision_)                                            \
	do {                                                                                           \
		ev = evaluate(va, domain, response);                                                   \
		CHECK(ev != NULL);                                                                     \
		if (ev != NULL) {                                                                      \
			CHECK_EQ_STR(str(ev, "signature"), sig_status);                                \
			CHECK_EQ_STR(str(ev, "decision"), decision_);                                  \
		}                                                                                      \
		json_decref(ev);                                                                       \
	} while (0)

	/* forged: a vault signature with one octet of s changed */
	resp = vault_sign(va, A_DOM, A_SIGNER, "sip:forged@b.example", NULL);
	REQUIRE(resp != NULL && split(resp, &p) == 0);
	p.sig[40] ^= 0x01;
	bad = with_signature(p.msg, p.sig, p.sig_len);
	EXPECT_SIG(A_DOM, bad, "invalid", "reject");
	free(bad);
	/* tampered: the receiving identity changed after signing */
	json_object_set_new(p.payload, "receiving_id", json_string("sip:mallory@b.example"));
	bad = replace_payload(resp, p.payload);
	EXPECT_SIG(A_DOM, bad, "invalid", "reject");
	free(bad);
	/* wrong identity: the same signature claimed for another identity */
	json_object_set_new(p.payload, "receiving_id", json_string("sip:forged@b.example"));
	json_object_set_new(p.payload, "signer_id", json_string("sip:chief@a.example"));
	bad = replace_payload(resp, p.payload);
	EXPECT_SIG(A_DOM, bad, "invalid", "reject");
	free(bad);
	parts_clear(&p);
	/* the untouched response still verifies (the replay cache holds nothing of the above) */
	EXPECT_SIG(A_DOM, resp, "valid", "accept");
	free(resp);

	/* wrong identity, by wolfCrypt: alice's keys, bob's name */
	uid_of("sip:alice@a.example", A_KMS, &ka, period_of(now, &ka), uid);
	resp = wolf_response(va, A_DOM, "sip:alice@a.example", NULL, ka.kpak, uid, A_KMS, ka.cert_uri,
			     "sip:bob@a.example", now, "sip:x1@b.example", list2(A_KMS, B_KMS));
	REQUIRE(resp != NULL);
	EXPECT_SIG(A_DOM, resp, "invalid", "reject");
	free(resp);
	/* wrong KMS: B's keys for eve, claimed under A's KMS and certificate */
	uid_of("sip:eve@b.example", B_KMS, &kb, period_of(now, &kb), uid);
	resp = wolf_response(vb, B_DOM, "sip:eve@b.example", NULL, kb.kpak, uid, A_KMS, ka.cert_uri,
			     "sip:eve@b.example", now, "sip:x2@b.example", list2(A_KMS, B_KMS));
	REQUIRE(resp != NULL);
	EXPECT_SIG(A_DOM, resp, "invalid", "reject");
	free(resp);
	/* B's KMS with A's certificate as kid: not a certificate A trusts for B */
	resp = wolf_response(vb, B_DOM, "sip:eve@b.example", NULL, kb.kpak, uid, B_KMS, ka.cert_uri,
			     "sip:eve@b.example", now, "sip:x3@b.example", list2(A_KMS, B_KMS));
	REQUIRE(resp != NULL);
	EXPECT_SIG(A_DOM, resp, "unknown-signer", "reject");
	free(resp);
	/* wrong period: keys of the next key period, iat now */
	mcx_time_format(now + ka.period, when);
	uid_of("sip:alice@a.example", A_KMS, &ka, period_of(now + ka.period, &ka), uid);
	resp = wolf_response(va, A_DOM, "sip:alice@a.example", when, ka.kpak, uid, A_KMS, ka.cert_uri,
			     "sip:alice@a.example", now, "sip:x4@b.example", list2(A_KMS, B_KMS));
	REQUIRE(resp != NULL);
	EXPECT_SIG(A_DOM, resp, "invalid", "reject");
	free(resp);

	/* signed "before" the certificate was valid: the certificate does not vouch for it */
	uid_of("sip:alice@a.example", A_KMS, &ka, period_of(ka.valid_from - 120, &ka), uid);
	resp = wolf_response(va, A_DOM, "sip:alice@a.example", NULL, ka.kpak, uid, A_KMS, ka.cert_uri,
			     "sip:alice@a.example", ka.valid_from - 120, "sip:x6@b.example", list2(A_KMS, B_KMS));
	REQUIRE(resp != NULL);
	ev = evaluate(va, A_DOM, resp);
	REQUIRE(ev != NULL);
	CHECK_EQ_STR(str(ev, "signature"), "unknown-signer");
	CHECK(has_reason(ev, "not valid at the response's iat"));
	json_decref(ev);
	free(resp);

	/* an unknown KMS (a KMS of wolfCrypt's own): unknown-signer, through the policy */
	{
		EccsiKey kms;
		uint8_t kpak[65], ssk[32], pvt[65];
		struct kms_info kx = { .period = 86400, .offset = 0 };
		char *input;
		REQUIRE(wc_InitEccsiKey(&kms, NULL, INVALID_DEVID) == 0);
		REQUIRE(wc_MakeEccsiKey(&kms, &wrng) == 0);
		REQUIRE(wolf_eccsi_export_kpak(&kms, kpak) == 0);
		uid_of("sip:ghost@x.example", X_KMS, &kx, period_of(now, &kx), uid);
		REQUIRE(wolf_eccsi_issue(&kms, &wrng, uid, 32, ssk, pvt) == 0);
		wc_FreeEccsiKey(&kms);
		payload = payload_new(X_KMS, now, "sip:ghost@x.example", "sip:x5@b.example", list2(A_KMS, P_KMS));
		input = signing_input("ECCSI", X_KMS "/certificate/1", payload);
		REQUIRE(input != NULL && wolf_sign(kpak, uid, ssk, pvt, input, sig) == 0);
		resp = with_signature(input, sig, sizeof(sig));
		free(input);
		json_decref(payload);
		/* A: require_signed -> reject */
		ev = evaluate(va, A_DOM, resp);
		REQUIRE(ev != NULL);
		CHECK_EQ_STR(str(ev, "signature"), "unknown-signer");
		CHECK_EQ_STR(str(ev, "signer_id"), "sip:ghost@x.example");
		CHECK_EQ_STR(str(ev, "signer_kms_uri"), X_KMS);
		CHECK_EQ_STR(str(ev, "decision"), "reject");
		CHECK(has_reason(ev, "unknown"));
		json_decref(ev);
		/* P: require_signed off -> taken, with a reason */
		ev = evaluate(va, P_DOM, resp);
		REQUIRE(ev != NULL);
		CHECK_EQ_STR(str(ev, "signature"), "unknown-signer");
		CHECK_EQ_STR(str(ev, "decision"), "accept");
		json_decref(ev);
		free(resp);
	}
}

/* Malformed ECCSI responses are -32602 (nothing remembered); token.verify never takes ECCSI. */
TEST(malformed)
{
	int64_t now = mcx_time_now();
	uint8_t sig[129];
	json_t *payload;
	char *input, *resp;

	memset(sig, 0x5a, sizeof(sig));
	/* ECCSI without signer_id */
	payload = payload_new(A_KMS, now, NULL, "sip:m@b.example", list2(A_KMS, B_KMS));
	input = signing_input("ECCSI", ka.cert_uri, payload);
	resp = with_signature(input, sig, sizeof(sig));
	CHECK(expect_error(va, "redirect.evaluate", json_pack("{s:s, s:s}", "domain", A_DOM, "response", resp), -32602,
			   "signer_id"));
	free(resp);
	/* a 64-octet signature under alg ECCSI */
	resp = with_signature(input, sig, 64);
	CHECK(expect_error(va, "redirect.evaluate", json_pack("{s:s, s:s}", "domain", A_DOM, "response", resp), -32602,
			   "129 octets"));
	free(resp);
	free(input);
	json_decref(payload);
	/* signer_id in an unsigned response */
	payload = payload_new(A_KMS, now, "sip:alice@a.example", "sip:m@b.example", list2(A_KMS, B_KMS));
	input = signing_input("none", NULL, payload);
	resp = with_signature(input, sig, 0);
	CHECK(expect_error(va, "redirect.evaluate", json_pack("{s:s, s:s}", "domain", A_DOM, "response", resp), -32602,
			   "ECCSI-signed responses only"));
	free(resp);
	free(input);
	json_decref(payload);
	/* token.verify: alg ECCSI is refused as any alg but ES256 */
	payload = json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", A_KMS, "sub", "sip:a@a.example", "aud", "idm.b.example",
			    "iat", (json_int_t)now, "exp", (json_int_t)now + 60);
	{
		json_t *h = json_pack("{s:s, s:s, s:s}", "alg", "ECCSI", "typ", "JWT", "kid", ka.cert_uri);
		char *ht = json_dumps(h, JSON_COMPACT), *pt = json_dumps(payload, JSON_COMPACT);
		char *hb = mcx_base64url_string(ht, strlen(ht)), *pb = mcx_base64url_string(pt, strlen(pt)), *in = NULL;
		CHECK(asprintf(&in, "%s.%s", hb, pb) > 0);
		resp = with_signature(in, sig, sizeof(sig));
		CHECK(expect_error(va, "token.verify",
				   json_pack("{s:s, s:s, s:s}", "domain", A_DOM, "token", resp, "audience", "idm.b.example"),
				   -32007, NULL));
		free(resp);
		free(in);
		free(hb);
		free(pb);
		free(ht);
		free(pt);
		json_decref(h);
	}
	json_decref(payload);
}

/* A signer signs only as the identities its access entry lists (sign_as); refusals are audited. */
TEST(sign_as_refusals)
{
	json_t *params;

	params = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "domain", A_DOM, "signer_id", "sip:chief@a.example",
			   "originating_id", "sip:alice@a.example", "receiving_id", "sip:bob@b.example",
			   "originating_kms_uri", A_KMS, "acceptable_initiating_kms", list2(A_KMS, NULL),
			   "acceptable_receiving_kms", list2(B_KMS, NULL));
	CHECK(expect_error(va, "redirect.sign", params, -32001, "may not sign as 'sip:chief@a.example'"));
	/* a prefix is a prefix: "sip:dispatch-*" does not cover "sip:dispatch@…" */
	params = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "domain", A_DOM, "signer_id", "sip:dispatch@a.example",
			   "originating_id", "sip:alice@a.example", "receiving_id", "sip:bob@b.example",
			   "originating_kms_uri", A_KMS, "acceptable_initiating_kms", list2(A_KMS, NULL),
			   "acceptable_receiving_kms", list2(B_KMS, NULL));
	CHECK(expect_error(va, "redirect.sign", params, -32001, "may not sign as"));
	/* the entry is limited to a.example: not even its own identity in p.example */
	params = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "domain", P_DOM, "signer_id", A_SIGNER,
			   "originating_id", "sip:alice@a.example", "receiving_id", "sip:bob@b.example",
			   "originating_kms_uri", P_KMS, "acceptable_initiating_kms", list2(P_KMS, NULL),
			   "acceptable_receiving_kms", list2(P_KMS, NULL));
	CHECK(expect_error(va, "redirect.sign", params, -32001, "may not sign as"));
	/* bad values */
	params = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "domain", A_DOM, "signer_id", "", "originating_id",
			   "sip:alice@a.example", "receiving_id", "sip:bob@b.example", "originating_kms_uri", A_KMS,
			   "acceptable_initiating_kms", list2(A_KMS, NULL), "acceptable_receiving_kms", list2(B_KMS, NULL));
	CHECK(expect_error(va, "redirect.sign", params, -32602, "signer_id"));
	params = json_pack("{s:s, s:i, s:s, s:s, s:s, s:o, s:o}", "domain", A_DOM, "signer_id", 7, "originating_id",
			   "sip:alice@a.example", "receiving_id", "sip:bob@b.example", "originating_kms_uri", A_KMS,
			   "acceptable_initiating_kms", list2(A_KMS, NULL), "acceptable_receiving_kms", list2(B_KMS, NULL));
	CHECK(expect_error(va, "redirect.sign", params, -32602, "signer_id"));
	/* the refusal is in the audit log, with the identity asked for */
	CHECK(audit_has("\"method\":\"redirect.sign\"", "\"code\":-32001", "redirect as sip:chief@a.example"));
}

/* vaultd -t refuses sign_as without the signer role and '*' inside an identity. */
TEST(sign_as_config_checks)
{
	static const char *const bad[] = {
		"{ uid = 4242; roles = [ \"kms\" ]; sign_as = [ \"sip:x@a.example\" ]; }",
		"{ uid = 4242; roles = [ \"signer\" ]; sign_as = [ \"sip:*@a.example\" ]; }",
		"{ uid = 4242; roles = [ \"signer\" ]; sign_as = [ ]; }",
	};
	char path[160], cmd[PATH_MAX + 512], *text = NULL, *at;
	FILE *f = fopen(vault_a.config, "r");
	long len = 0;

	REQUIRE(f != NULL && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0);
	REQUIRE((text = calloc(1, (size_t)len + 1)) != NULL && fread(text, 1, (size_t)len, f) == (size_t)len);
	fclose(f);
	REQUIRE((at = strstr(text, "access = (\n")) != NULL);
	at += strlen("access = (\n");
	snprintf(path, sizeof(path), "%s/bad.conf", vault_a.dir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		FILE *o = fopen(path, "w");
		int rc;
		REQUIRE(o != NULL);
		fprintf(o, "%.*s  %s,\n%s", (int)(at - text), text, bad[i], at);
		fclose(o);
		snprintf(cmd, sizeof(cmd), "%s -t -c %s > %s/bad.out 2>&1", vault_a.vaultd_path, path, vault_a.dir);
		rc = system(cmd);
		CHECK(rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) != 0);
		snprintf(cmd, sizeof(cmd), "grep -q sign_as %s/bad.out", vault_a.dir);
		CHECK(system(cmd) == 0);
	}
	/* the real configuration passes */
	snprintf(cmd, sizeof(cmd), "%s -t -c %s > %s/good.out 2>&1", vault_a.vaultd_path, vault_a.config, vault_a.dir);
	CHECK(system(cmd) == 0);
	free(text);
}

static int count_reloads(void)
{
	char line[2048];
	int n = 0;
	FILE *f = fopen(vault_a.log, "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, "configuration reloaded") != NULL)
			n++;
	fclose(f);
	return n;
}

/* Replaces from with to in A's configuration and reloads it with SIGHUP; 0 once reloaded. */
static int a_config_replace(const char *from, const char *to)
{
	char *text = NULL, *at, tmp[200];
	long len = 0;
	FILE *f = fopen(vault_a.config, "r"), *o;
	int before = count_reloads(), rc = -1;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    (text = calloc(1, (size_t)len + 1)) == NULL || fread(text, 1, (size_t)len, f) != (size_t)len ||
	    (at = strstr(text, from)) == NULL)
		goto out;
	snprintf(tmp, sizeof(tmp), "%s.new", vault_a.config);
	if ((o = fopen(tmp, "w")) == NULL)
		goto out;
	fprintf(o, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	if (fclose(o) != 0 || rename(tmp, vault_a.config) != 0 || kill(vault_a.pid, SIGHUP) != 0)
		goto out;
	for (int i = 0; i < 500 && rc != 0; i++) {
		if (count_reloads() > before)
			rc = 0;
		else
			usleep(10000);
	}
out:
	if (f != NULL)
		fclose(f);
	free(text);
	return rc;
}

/* A SIGHUP that takes an identity off sign_as takes effect for the next request. */
TEST(sign_as_reload)
{
	char *resp;

	REQUIRE(a_config_replace("\"" A_SIGNER "\", ", "") == 0);
	resp = vault_sign(va, A_DOM, "sip:dispatch-1@a.example", "sip:bob@b.example", NULL);
	CHECK(resp != NULL);
	free(resp);
	CHECK(expect_error(va, "redirect.sign",
			   json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "domain", A_DOM, "signer_id", A_SIGNER,
				     "originating_id", "sip:alice@a.example", "receiving_id", "sip:bob@b.example",
				     "originating_kms_uri", A_KMS, "acceptable_initiating_kms", list2(A_KMS, NULL),
				     "acceptable_receiving_kms", list2(B_KMS, NULL)),
			   -32001, "may not sign as"));
	REQUIRE(a_config_replace("sign_as = [ ", "sign_as = [ \"" A_SIGNER "\", ") == 0);
	resp = vault_sign(va, A_DOM, A_SIGNER, "sip:bob@b.example", NULL);
	CHECK(resp != NULL);
	free(resp);
}

/* A new KMS generation signs with its own certificate; the previous one
 * (verify-only) still verifies; once retired its identities are unknown. */
TEST(kms_rotation_and_retirement)
{
	char *old_resp, *new_resp;
	json_t *res = NULL, *ev;
	struct kms_info k2;

	old_resp = vault_sign(va, A_DOM, A_SIGNER, "sip:rot-old@b.example", NULL);
	REQUIRE(old_resp != NULL);
	REQUIRE(rpc(va, "key.rotate", json_pack("{s:s, s:s}", "domain", A_DOM, "purpose", "kms"), &res) == 0);
	json_decref(res);
	REQUIRE(kms_info_get(va, A_DOM, &k2) == 0);
	CHECK(strcmp(k2.cert_uri, ka.cert_uri) != 0);
	res = NULL;
	new_resp = vault_sign(va, A_DOM, A_SIGNER, "sip:rot-new@b.example", &res);
	REQUIRE(new_resp != NULL);
	CHECK_EQ_STR(str(res, "kid"), k2.cert_uri);
	json_decref(res);
	/* wolfCrypt: the new one verifies with the new KPAK only */
	{
		struct parts p;
		uint8_t uid[32];
		int64_t iat;
		REQUIRE(split(new_resp, &p) == 0);
		iat = json_integer_value(json_object_get(p.payload, "iat"));
		uid_of(A_SIGNER, A_KMS, &k2, period_of(iat, &k2), uid);
		CHECK_EQ_INT(wolf_verifies(k2.kpak, uid, p.msg, strlen(p.msg), p.sig), 1);
		CHECK_EQ_INT(wolf_verifies(ka.kpak, uid, p.msg, strlen(p.msg), p.sig), 0);
		parts_clear(&p);
	}
	ev = evaluate(va, A_DOM, new_resp);
	REQUIRE(ev != NULL);
	CHECK_EQ_STR(str(ev, "signature"), "valid");
	json_decref(ev);
	ev = evaluate(va, A_DOM, old_resp);
	REQUIRE(ev != NULL);
	CHECK_EQ_STR(str(ev, "signature"), "valid");
	json_decref(ev);
	/* B imported A's first certificate only: the new one is not provisioned there */
	ev = evaluate(vb, B_DOM, new_resp);
	REQUIRE(ev != NULL);
	CHECK_EQ_STR(str(ev, "signature"), "unknown-signer");
	json_decref(ev);
	/* retirement destroys generation 1's KSAK: nothing it vouched for is trusted any more */
	res = NULL;
	REQUIRE(rpc(va, "key.retire", json_pack("{s:s, s:s, s:i, s:b}", "domain", A_DOM, "purpose", "kms", "version", 1,
						 "now", 1),
		    &res) == 0);
	json_decref(res);
	ev = evaluate(va, A_DOM, old_resp);
	REQUIRE(ev != NULL);
	CHECK_EQ_STR(str(ev, "signature"), "unknown-signer");
	CHECK(has_reason(ev, "retired"));
	CHECK_EQ_STR(str(ev, "decision"), "reject");
	json_decref(ev);
	free(old_resp);
	free(new_resp);
	ka = k2;
}

/* Restarts (SIGKILL, SIGTERM): the identity signatures keep working, nothing is
 * cached that matters; the audit log names signers and is intact. */
/* external.revoke of the partner KMS: an identity signature by one of its
 * users is no longer trusted (unknown-signer, rejected), whenever it was made. */
TEST(revoked_partner)
{
	char *resp;
	json_t *ev, *res = NULL;

	resp = vault_sign(vb, B_DOM, B_SIGNER, "sip:bob@b.example", NULL);
	REQUIRE(resp != NULL);
	ev = evaluate(va, A_DOM, resp);
	REQUIRE(ev != NULL);
	CHECK_EQ_STR(str(ev, "signature"), "valid");
	json_decref(ev);
	REQUIRE(rpc(va, "external.revoke",
		    json_pack("{s:s, s:s, s:s}", "domain", A_DOM, "kms_uri", B_KMS, "reason", "keyCompromise"), &res) == 0);
	json_decref(res);
	ev = evaluate(va, A_DOM, resp);
	REQUIRE(ev != NULL);
	CHECK_EQ_STR(str(ev, "signature"), "unknown-signer");
	CHECK_EQ_STR(str(ev, "decision"), "reject");
	json_decref(ev);
	free(resp);
}

TEST(restarts_and_audit)
{
	char *resp;
	json_t *ev;

	mcxvault_close(va);
	va = NULL;
	REQUIRE(test_vault_restart(&vault_a, SIGKILL) == 0);
	REQUIRE(mcxvault_connect(vault_a.socket, &va) == 0);
	resp = vault_sign(va, A_DOM, A_SIGNER, "sip:after-kill@b.example", NULL);
	REQUIRE(resp != NULL);
	ev = evaluate(va, A_DOM, resp);
	REQUIRE(ev != NULL);
	CHECK_EQ_STR(str(ev, "signature"), "valid");
	CHECK_EQ_STR(str(ev, "decision"), "accept");
	json_decref(ev);
	mcxvault_close(va);
	va = NULL;
	REQUIRE(test_vault_restart(&vault_a, SIGTERM) == 0);
	REQUIRE(mcxvault_connect(vault_a.socket, &va) == 0);
	ev = evaluate(va, A_DOM, resp);   /* the replay cache is in memory: accepted once more, and still valid */
	REQUIRE(ev != NULL);
	CHECK_EQ_STR(str(ev, "signature"), "valid");
	json_decref(ev);
	free(resp);
	/* the trail: who signed as whom, under which KMS */
	CHECK(audit_has("\"method\":\"redirect.sign\"", "as sip:redirect@a.example of kms.a.example", "\"purpose\":\"kms\""));
	CHECK(audit_has("\"method\":\"redirect.report\"", "sip:alice@a.example redirect", "by sip:redirect@a.example of kms.a.example"));
	CHECK(audit_has("\"method\":\"redirect.report\"", "by sip:eve@b.example of kms.b.example", "\"external_kms\":[\"kms.b.example\"]"));
	CHECK(audit_has("\"method\":\"redirect.evaluate\"", "by sip:ghost@x.example of kms.x.example", NULL));
	CHECK_EQ_INT(test_vault_audit_verify(&vault_a), 0);
}

int main(void)
{
	char a_domains[1024], a_access[512], b_access[256];
	int ok;

	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(a_domains, sizeof(a_domains),
		 "{ name = \"" A_DOM "\"; kms_uri = \"" A_KMS "\"; },\n"
		 "  { name = \"" P_DOM "\"; kms_uri = \"" P_KMS "\"; redirect = { require_signed = false; }; }");
	snprintf(a_access, sizeof(a_access),
		 ",\n  { uid = %u; roles = [ \"signer\" ]; domains = [ \"" A_DOM "\" ];\n"
		 "    sign_as = [ \"" A_SIGNER "\", \"sip:dispatch-*\" ]; }",
		 (unsigned)getuid());
	snprintf(b_access, sizeof(b_access), ",\n  { uid = %u; roles = [ \"signer\" ]; sign_as = [ \"" B_SIGNER "\" ]; }",
		 (unsigned)getuid());
	ok = wc_InitRng(&wrng) == 0 && test_vault_setup(&vault_a, "ea", a_domains, a_access, 2, 0) == 0 &&
	     test_vault_setup(&vault_b, "eb", "{ name = \"" B_DOM "\"; kms_uri = \"" B_KMS "\"; }", b_access, 2, 0) == 0 &&
	     test_vault_start(&vault_a) == 0 && test_vault_start(&vault_b) == 0 &&
	     mcxvault_connect(vault_a.socket, &va) == 0 && mcxvault_connect(vault_b.socket, &vb) == 0;
	if (ok) {
		json_t *res = NULL;
		ok = rpc(va, "domain.init", json_pack("{s:s}", "domain", A_DOM), &res) == 0;
		json_decref(res);
		res = NULL;
		ok = ok && rpc(vb, "domain.init", json_pack("{s:s}", "domain", B_DOM), &res) == 0;
		json_decref(res);
		ok = ok && trust(va, A_DOM, vb, B_DOM) == 0 && trust(vb, B_DOM, va, A_DOM) == 0 &&
		     kms_info_get(va, A_DOM, &ka) == 0 && kms_info_get(vb, B_DOM, &kb) == 0;
	}
	if (!ok) {
		printf("FAIL - setup (two vaults on throw-away tokens, trust between them)\n");
		test_vault_dump_log(&vault_a);
		test_vault_dump_log(&vault_b);
		test_vault_cleanup_all();
		printf("redirect_eccsi: 0 passed, 1 failed\n");
		return 1;
	}
	RUN(vault_signs_wolfcrypt_verifies);
	RUN(wolfcrypt_signs_vault_accepts);
	RUN(forgeries_and_unknown_signers);
	RUN(malformed);
	RUN(sign_as_refusals);
	RUN(sign_as_config_checks);
	RUN(sign_as_reload);
	RUN(kms_rotation_and_retirement);
	RUN(restarts_and_audit);
	RUN(revoked_partner);
	mcxvault_close(va);
	mcxvault_close(vb);
	{
		int sa = test_vault_stop(&vault_a), sb = test_vault_stop(&vault_b);
		char cmd[512];
		test_current_failed = 0;
		if (sa != 0 || sb != 0) {
			printf("FAIL - vaultd exit status %d %d\n", sa, sb);
			test_failed++;
		}
		snprintf(cmd, sizeof(cmd), "grep -l -e AddressSanitizer -e 'runtime error:' -e LeakSanitizer %s %s",
			 vault_a.log, vault_b.log);
		if (system(cmd) == 0) {
			printf("FAIL - sanitizer report in a vaultd log\n");
			test_vault_dump_log(&vault_a);
			test_failed++;
		}
	}
	wc_FreeRng(&wrng);
	test_vault_cleanup_all();
	return test_summary("redirect_eccsi");
}
