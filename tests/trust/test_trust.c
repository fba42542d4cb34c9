/*
 * mcxvault — issue 9: the signatures partners trust are not for sale to a
 * signer.  Three real vaultd processes on throw-away SoftHSM tokens
 * (tests/lib/vault_fixture.c):
 *
 *   A  a.example (kms.a.example)  the victim; "nobody" holds only the signer role
 *   B  b.example (kms.b.example)  A's partner: trusts A's cert and token keys
 *   L  l.example, m.example       made in the old format (one "sign" key that
 *                                 also signed the KMS certificate) through the
 *                                 MCXVAULT_TEST_LEGACY_DOMAIN_INIT test seam, then
 *                                 upgraded by domain.upgrade and by a restart
 *
 * For each artefact a partner trusts — (a) a KMS certificate (XML-DSig over
 * the c14n SignedInfo), (b) a kms.cert_cache bundle (JWS), (c) a Security
 * Domain Redirect Response (JWS), (d) an ID token (JWT) — the attacker, a
 * caller with nothing but the signer role, has sign.sign sign the exact
 * signing input of a forged artefact and assembles it.  The forgeries must be
 * refused (external.import on B, xmlsec1 with A's cert key, OpenSSL with A's
 * cert key, redirect.evaluate and token.verify on A and B) while the vault's
 * own artefacts keep verifying; and each forgery does verify with A's sign
 * key, which proves the test signed exactly what an attacker would.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "mcxvault.h"
#include "mcx/buf.h"
#include "mcx/util.h"
#include "tests/lib/vault_fixture.h"
#include "tests/test.h"
#include "vault/kms/kms_cert.h"

#define A_DOM "a.example"
#define B_DOM "b.example"
#define L_DOM "l.example"
#define M_DOM "m.example"
#define A_KMS "kms.a.example"
#define B_KMS "kms.b.example"
#define SDRR_TYP "mcx-sdrr+jwt"
#define XMLSEC_ID_ATTR "--id-attr:Id urn:3gpp:ns:mcsecKMSInterface:1.0:KmsCertificate"

static struct test_vault vault_a, vault_b, vault_l;
static struct mcxvault *va, *vb, *vl;
static char tmpdir[64];
static int have_xmlsec1;

/* A's three public keys and B's certificate (the attacker's chosen Z and KPAK). */
static char *a_sign_pem, *a_cert_pem, *a_token_pem;
static uint8_t a_sign_point[65], a_cert_point[65];
static char *a_cert_xml, *b_cert_xml;

/* ---- helpers ------------------------------------------------------------------ */

static int rpc(struct mcxvault *v, const char *method, json_t *params, json_t **res, struct mcxvault_error *e)
{
	struct mcxvault_error local;
	int r;

	if (e == NULL)
		e = &local;
	memset(e, 0, sizeof(*e));
	r = mcxvault_call(v, method, params, res, e);
	json_decref(params);
	if (r != 0 && e == &local)
		printf("  %s: %s (%s, %d)\n", method, e->message, e->name, e->rpc_code);
	return r;
}

/* 1 when method(params) fails with exactly rpc_code. */
static int expect_error(struct mcxvault *v, const char *method, json_t *params, int rpc_code, const char *label)
{
	struct mcxvault_error e;
	json_t *res = NULL;
	int r = rpc(v, method, params, &res, &e);

	json_decref(res);
	if (r == 0) {
		printf("  %s: %s succeeded, expected error %d\n", label, method, rpc_code);
		return 0;
	}
	if (e.rpc_code != rpc_code) {
		printf("  %s: %s failed with %d (%s), expected %d\n", label, method, e.rpc_code, e.message, rpc_code);
		return 0;
	}
	return 1;
}

static const char *str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* A strdup'ed string member of a result. */
static char *call_string(struct mcxvault *v, const char *method, json_t *params, const char *member)
{
	json_t *res = NULL;
	char *out = NULL;

	if (rpc(v, method, params, &res, NULL) == 0 && str(res, member) != NULL)
		out = strdup(str(res, member));
	json_decref(res);
	return out;
}

static char *public_pem(struct mcxvault *v, const char *domain, const char *purpose)
{
	return call_string(v, "sign.public_key", json_pack("{s:s, s:s}", "domain", domain, "purpose", purpose), "pem");
}

static int pem_point(const char *pem, uint8_t point[65])
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = bio != NULL ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	size_t len = 0;
	int ok = k != NULL && EVP_PKEY_get_octet_string_param(k, "encoded-pub-key", point, 65, &len) == 1 && len == 65;

	EVP_PKEY_free(k);
	BIO_free(bio);
	return ok ? 0 : -1;
}

/* ES256 over data with a raw r||s signature and a PEM public key, as a JOSE client checks it. */
static int es256_verify(const char *pem, const void *data, size_t len, const uint8_t sig[64])
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *pub = bio != NULL ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
	unsigned char *der = NULL;
	int der_len, ok = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (pub != NULL && es != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(es, r, s) == 1) {
		r = s = NULL;
		if ((der_len = i2d_ECDSA_SIG(es, &der)) > 0 && md != NULL &&
		    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1)
			ok = EVP_DigestVerify(md, der, (size_t)der_len, data, len) == 1;
	}
	BN_free(r);
	BN_free(s);
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pub);
	BIO_free(bio);
	return ok;
}

/* A compact JWS verified with pem: 1 valid, 0 not. */
static int jws_verifies(const char *pem, const char *jws)
{
	const char *dot2 = jws != NULL ? strrchr(jws, '.') : NULL;
	struct mcx_buf *sig = mcx_buf_new(128);
	int ok = dot2 != NULL && sig != NULL && mcx_base64url_decode(sig, dot2 + 1, strlen(dot2 + 1)) == 0 &&
	         mcx_buf_len(sig) == 64 && es256_verify(pem, jws, (size_t)(dot2 - jws), mcx_buf_ptr(sig));

	mcx_buf_free(sig);
	return ok;
}

/* A part of a compact JWS (0 header, 1 payload) decoded as JSON. */
static json_t *jws_part(const char *jws, int which)
{
	const char *dot1 = strchr(jws, '.'), *start = which == 0 ? jws : dot1 + 1;
	const char *end = which == 0 ? dot1 : strchr(dot1 + 1, '.');
	struct mcx_buf *b = mcx_buf_new(strlen(jws));
	json_t *j = NULL;

	if (b != NULL && dot1 != NULL && end != NULL && mcx_base64url_decode(b, start, (size_t)(end - start)) == 0)
		j = json_loadb((const char *)mcx_buf_ptr(b), mcx_buf_len(b), 0, NULL);
	mcx_buf_free(b);
	return j;
}

static int write_text(const char *name, const char *text)
{
	char path[128];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	ok = fputs(text, f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* xmlsec1 --verify of a KMS certificate with a PEM key: 0 when it verifies. */
static int xmlsec_verify(const char *pem, const char *xml)
{
	char cmd[512];

	if (write_text("check.pem", pem) != 0 || write_text("check.xml", xml) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd),
		 "xmlsec1 --verify --pubkey-pem %s/check.pem " XMLSEC_ID_ATTR " %s/check.xml >%s/xmlsec.log 2>&1",
		 tmpdir, tmpdir, tmpdir);
	return system(cmd);
}

/* ---- the attacker: a caller that holds only the signer role --------------------- */

/* In a child that became nobody (a signer of a.example and nothing else):
 * sign.sign {digest}; the signature goes to fd.  Exit status 0 on success. */
static int signer_child(const uint8_t digest[32], int fd)
{
	struct passwd *pw = getpwnam("nobody");
	struct mcxvault *v = NULL;
	struct mcxvault_error e;
	json_t *res = NULL;
	uint8_t sig[MCXVAULT_SIGNATURE_LEN];
	char *kid = NULL;
	int ok;

	if (pw == NULL || setgroups(0, NULL) != 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0 || mcxvault_connect(vault_a.socket, &v) != 0)
		return 10;
	/* really only a signer */
	if (rpc(v, "vault.status", NULL, &res, NULL) != 0 ||
	    json_array_size(json_object_get(json_object_get(res, "caller"), "roles")) != 1) {
		json_decref(res);
		return 11;
	}
	json_decref(res);
	ok = mcxvault_sign(v, A_DOM, digest, 32, 1, &kid, sig, &e) == 0 && kid != NULL &&
	     strcmp(kid, A_DOM "/sign/1") == 0 && write(fd, sig, sizeof(sig)) == (ssize_t)sizeof(sig);
	mcxvault_free(kid);
	mcxvault_close(v);
	return ok ? 0 : 12;
}

/* sign.sign {digest} as the signer-only caller (as root: really nobody; else
 * the test's own identity, whose sign.sign is the same call). */
static int attacker_sign(const uint8_t digest[32], uint8_t sig[64])
{
	int fds[2], status = 0;
	pid_t pid;

	if (geteuid() != 0) {
		char *kid = NULL;
		struct mcxvault_error e;
		int r = mcxvault_sign(va, A_DOM, digest, 32, 1, &kid, sig, &e);
		mcxvault_free(kid);
		return r;
	}
	if (pipe(fds) != 0)
		return -1;
	fflush(stdout);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		close(fds[0]);
		_exit(signer_child(digest, fds[1]));
	}
	close(fds[1]);
	status = read(fds[0], sig, 64) == 64 ? 0 : -1;
	close(fds[0]);
	{
		int child = 0;
		if (waitpid(pid, &child, 0) != pid || !WIFEXITED(child) || WEXITSTATUS(child) != 0) {
			printf("  signer child failed (status %d)\n", WIFEXITED(child) ? WEXITSTATUS(child) : -1);
			status = -1;
		}
	}
	return status;
}

/* kms_cert_sign_fn: the attacker signs the c14n SignedInfo digest with sign.sign. */
static int attacker_cert_sign(void *context, const uint8_t digest[32], uint8_t signature[64])
{
	(void)context;
	return attacker_sign(digest, signature) == 0 ? 0 : -1;
}

/* header_b64 "." base64url(payload) "." sign.sign(SHA-256 of both): a forged compact JWS. */
static char *forge_jws(const char *header_json, const json_t *payload)
{
	struct mcx_buf *b = mcx_buf_new(64 * 1024);
	char *text = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS), *out = NULL;
	uint8_t digest[32], sig[64];

	if (b == NULL || text == NULL || mcx_base64url_encode(b, header_json, strlen(header_json)) != 0 ||
	    mcx_buf_put_u8(b, '.') != 0 || mcx_base64url_encode(b, text, strlen(text)) != 0)
		goto out;
	SHA256(mcx_buf_ptr(b), mcx_buf_len(b), digest);
	if (attacker_sign(digest, sig) != 0 || mcx_buf_put_u8(b, '.') != 0 ||
	    mcx_base64url_encode(b, sig, sizeof(sig)) != 0 || mcx_buf_put_u8(b, 0) != 0)
		goto out;
	out = strdup((const char *)mcx_buf_ptr(b));
out:
	free(text);
	mcx_buf_free(b);
	return out;
}

static json_t *list1(const char *x)
{
	json_t *l = json_array();

	json_array_append_new(l, json_string(x));
	return l;
}

/* ---- tests ------------------------------------------------------------------------ */

TEST(keys_per_purpose)
{
	json_t *res = NULL;
	size_t i;
	json_t *k;
	int sign = 0, cert = 0, token = 0, kms = 0;

	REQUIRE(rpc(va, "key.list", json_pack("{s:s}", "domain", A_DOM), &res, NULL) == 0);
	json_array_foreach(json_object_get(res, "keys"), i, k) {
		sign += str(k, "kid") != NULL && strcmp(str(k, "kid"), A_DOM "/sign/1") == 0;
		cert += str(k, "kid") != NULL && strcmp(str(k, "kid"), A_DOM "/cert/1") == 0;
		token += str(k, "kid") != NULL && strcmp(str(k, "kid"), A_DOM "/token/1") == 0;
		kms += str(k, "kid") != NULL && strcmp(str(k, "kid"), A_DOM "/kms/1") == 0;
	}
	CHECK(sign == 1 && cert == 1 && token == 1 && kms == 1);
	json_decref(res);
	res = NULL;
	/* three different keys */
	CHECK(strcmp(a_sign_pem, a_cert_pem) != 0 && strcmp(a_sign_pem, a_token_pem) != 0 &&
	      strcmp(a_cert_pem, a_token_pem) != 0);
	/* sign.public_key: the JWK names its purpose and is for verification only */
	REQUIRE(rpc(va, "sign.public_key", json_pack("{s:s, s:s}", "domain", A_DOM, "purpose", "token"), &res, NULL) == 0);
	CHECK_EQ_STR(str(res, "kid"), A_DOM "/token/1");
	CHECK_EQ_STR(str(res, "purpose"), "token");
	CHECK_EQ_STR(str(json_object_get(res, "jwk"), "kid"), A_DOM "/token/1");
	CHECK_EQ_STR(str(json_object_get(res, "jwk"), "use"), "sig");
	CHECK_EQ_STR(json_string_value(json_array_get(json_object_get(json_object_get(res, "jwk"), "key_ops"), 0)),
		     "verify");
	json_decref(res);
	res = NULL;
	REQUIRE(rpc(va, "sign.public_key", json_pack("{s:s}", "domain", A_DOM), &res, NULL) == 0);
	CHECK_EQ_STR(str(res, "kid"), A_DOM "/sign/1");
	json_decref(res);
	CHECK(expect_error(va, "sign.public_key", json_pack("{s:s, s:s}", "domain", A_DOM, "purpose", "kms"), -32602,
			   "public key of kms"));
	/* domain.init on a domain that has everything: -32003 */
	CHECK(expect_error(va, "domain.init", json_pack("{s:s}", "domain", A_DOM), -32003, "init twice"));
}

TEST(sign_sign_reaches_only_the_sign_key)
{
	static const uint8_t digest[32] = { 1, 2, 3 };
	json_t *res = NULL;
	struct mcx_buf *sig = mcx_buf_new(128);
	char *b64 = mcx_base64url_string(digest, sizeof(digest));

	REQUIRE(sig != NULL && b64 != NULL);
	/* no parameter selects another key */
	CHECK(expect_error(va, "sign.sign", json_pack("{s:s, s:s, s:s}", "domain", A_DOM, "digest", b64, "purpose", "cert"),
			   -32602, "sign.sign with purpose"));
	CHECK(expect_error(va, "sign.sign",
			   json_pack("{s:s, s:s, s:s}", "domain", A_DOM, "digest", b64, "kid", A_DOM "/token/1"), -32602,
			   "sign.sign with kid"));
	/* and what it signs verifies with the sign key only */
	REQUIRE(rpc(va, "sign.sign", json_pack("{s:s, s:s}", "domain", A_DOM, "digest", b64), &res, NULL) == 0);
	CHECK_EQ_STR(str(res, "kid"), A_DOM "/sign/1");
	REQUIRE(mcx_base64url_decode(sig, str(res, "signature"), strlen(str(res, "signature"))) == 0);
	json_decref(res);
	res = NULL;
	CHECK(mcx_buf_len(sig) == 64);
	/* sign.verify knows the sign key only: a cert or token kid is unknown */
	{
		char *sig64 = mcx_base64url_string(mcx_buf_ptr(sig), mcx_buf_len(sig));
		CHECK(sig64 != NULL &&
		      expect_error(va, "sign.verify",
				   json_pack("{s:s, s:s, s:s, s:s}", "domain", A_DOM, "digest", b64, "kid",
					     A_DOM "/cert/1", "signature", sig64),
				   -32002, "sign.verify with a cert kid"));
		free(sig64);
	}
	free(b64);
	mcx_buf_free(sig);
}

/* (a) a KMS certificate with the attacker's Z and KPAK, XML-DSig by sign.sign */
TEST(forged_kms_certificate)
{
	struct kms_cert legit, mine;
	struct mcx_buf *xml = mcx_buf_new(KMS_CERT_XML_MAX);
	char *forged = NULL;
	json_t *res = NULL;

	memset(&legit, 0, sizeof(legit));
	memset(&mine, 0, sizeof(mine));
	REQUIRE(xml != NULL);
	REQUIRE(kms_cert_from_xml(a_cert_xml, strlen(a_cert_xml), NULL, &legit) == 0);
	REQUIRE(kms_cert_from_xml(b_cert_xml, strlen(b_cert_xml), NULL, &mine) == 0);
	/* A's certificate in every field, but B's Z and KPAK: master secrets the attacker holds */
	memcpy(legit.pub_enc_key, mine.pub_enc_key, sizeof(legit.pub_enc_key));
	memcpy(legit.pub_auth_key, mine.pub_auth_key, sizeof(legit.pub_auth_key));
	REQUIRE(kms_cert_to_xml(&legit, attacker_cert_sign, NULL, xml) == 0);
	REQUIRE(mcx_buf_put_u8(xml, 0) == 0);
	forged = strdup((const char *)mcx_buf_ptr(xml));
	REQUIRE(forged != NULL);
	/* it is what the sign key signs ... */
	kms_cert_clear(&mine);
	CHECK(kms_cert_from_xml(forged, strlen(forged), a_sign_point, &mine) == 0);
	kms_cert_clear(&mine);
	/* ... and nobody who trusts A's cert key accepts it */
	CHECK(kms_cert_from_xml(forged, strlen(forged), a_cert_point, &mine) != 0);
	kms_cert_clear(&mine);
	CHECK(expect_error(vb, "external.import",
			   json_pack("{s:s, s:s, s:s, s:s}", "domain", B_DOM, "certificate", forged, "signing_key",
				     a_cert_pem, "token_key", a_token_pem),
			   -32007, "forged certificate into B"));
	if (have_xmlsec1) {
		CHECK(xmlsec_verify(a_cert_pem, forged) != 0);
		CHECK_EQ_INT(xmlsec_verify(a_cert_pem, a_cert_xml), 0);
		CHECK(xmlsec_verify(a_sign_pem, a_cert_xml) != 0);
	}
	/* the real one is accepted, with A's token key */
	REQUIRE(rpc(vb, "external.import",
		    json_pack("{s:s, s:s, s:s, s:s}", "domain", B_DOM, "certificate", a_cert_xml, "signing_key", a_cert_pem,
			      "token_key", a_token_pem),
		    &res, NULL) == 0);
	CHECK(json_is_object(json_object_get(res, "token_key")));
	json_decref(res);
	kms_cert_clear(&legit);
	free(forged);
	mcx_buf_free(xml);
}

/* (b) a kms.cert_cache bundle whose certificate list the attacker chose */
TEST(forged_cert_cache_bundle)
{
	char *bundle = call_string(va, "kms.cert_cache", json_pack("{s:s}", "domain", A_DOM), "bundle");
	json_t *header = NULL, *payload = NULL, *entry;
	char *header_text = NULL, *forged = NULL;

	REQUIRE(bundle != NULL);
	CHECK(jws_verifies(a_cert_pem, bundle));
	CHECK(!jws_verifies(a_sign_pem, bundle));
	REQUIRE((header = jws_part(bundle, 0)) != NULL && (payload = jws_part(bundle, 1)) != NULL);
	CHECK_EQ_STR(str(header, "kid"), A_DOM "/cert/1");
	/* the attacker's certificate in place of A's */
	entry = json_array_get(json_object_get(payload, "certificates"), 0);
	REQUIRE(entry != NULL);
	json_object_set_new(entry, "xml", json_string(b_cert_xml));
	REQUIRE((header_text = json_dumps(header, JSON_COMPACT | JSON_SORT_KEYS)) != NULL);
	forged = forge_jws(header_text, payload);
	REQUIRE(forged != NULL);
	CHECK(jws_verifies(a_sign_pem, forged));
	CHECK(!jws_verifies(a_cert_pem, forged));
	free(forged);
	free(header_text);
	json_decref(header);
	json_decref(payload);
	free(bundle);
}

/* (c) a redirect response with an acceptable_receiving_kms list the attacker chose */
TEST(forged_redirect_response)
{
	char *legit = call_string(va, "redirect.sign",
				  json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "domain", A_DOM, "originating_id",
					    "sip:alice@a.example", "receiving_id", "sip:bob@b.example",
					    "originating_kms_uri", A_KMS, "acceptable_initiating_kms", list1(A_KMS),
					    "acceptable_receiving_kms", list1(A_KMS)),
				  "response");
	json_t *payload = NULL, *res = NULL;
	char *forged = NULL, *forged_sign_kid = NULL;

	REQUIRE(legit != NULL);
	CHECK(jws_verifies(a_token_pem, legit));
	REQUIRE((payload = jws_part(legit, 1)) != NULL);
	json_object_set_new(payload, "acceptable_receiving_kms", list1(B_KMS));
	json_object_set_new(payload, "jti", json_string("forged-1"));
	forged = forge_jws("{\"alg\":\"ES256\",\"kid\":\"" A_DOM "/token/1\",\"typ\":\"" SDRR_TYP "\"}", payload);
	json_object_set_new(payload, "jti", json_string("forged-2"));
	forged_sign_kid = forge_jws("{\"alg\":\"ES256\",\"kid\":\"" A_DOM "/sign/1\",\"typ\":\"" SDRR_TYP "\"}", payload);
	REQUIRE(forged != NULL && forged_sign_kid != NULL);
	CHECK(jws_verifies(a_sign_pem, forged));

	/* the partner: the real one is validly signed, the forgeries are not */
	REQUIRE(rpc(vb, "redirect.evaluate", json_pack("{s:s, s:s}", "domain", B_DOM, "response", legit), &res, NULL) == 0);
	CHECK_EQ_STR(str(res, "signature"), "valid");
	json_decref(res);
	res = NULL;
	REQUIRE(rpc(vb, "redirect.evaluate", json_pack("{s:s, s:s}", "domain", B_DOM, "response", forged), &res, NULL) == 0);
	CHECK_EQ_STR(str(res, "signature"), "invalid");
	CHECK_EQ_STR(str(res, "decision"), "reject");
	json_decref(res);
	res = NULL;
	REQUIRE(rpc(vb, "redirect.evaluate", json_pack("{s:s, s:s}", "domain", B_DOM, "response", forged_sign_kid), &res,
		    NULL) == 0);
	CHECK_EQ_STR(str(res, "signature"), "unknown-signer");
	CHECK_EQ_STR(str(res, "decision"), "reject");
	json_decref(res);
	res = NULL;
	/* and the home domain itself */
	REQUIRE(rpc(va, "redirect.evaluate", json_pack("{s:s, s:s}", "domain", A_DOM, "response", forged), &res, NULL) == 0);
	CHECK_EQ_STR(str(res, "signature"), "invalid");
	json_decref(res);
	res = NULL;
	REQUIRE(rpc(va, "redirect.evaluate", json_pack("{s:s, s:s}", "domain", A_DOM, "response", forged_sign_kid), &res,
		    NULL) == 0);
	CHECK_EQ_STR(str(res, "signature"), "unknown-signer");
	json_decref(res);
	json_decref(payload);
	free(forged);
	free(forged_sign_kid);
	free(legit);
}

/* (d) an ID token with claims token.sign refuses (a lifetime of a day, a reserved iss) */
TEST(forged_id_token)
{
	char *legit = call_string(va, "token.sign",
				  json_pack("{s:s, s:{s:s, s:s}}", "domain", A_DOM, "claims", "sub", "sip:alice@a.example",
					    "aud", "idm.b.example"),
				  "token");
	json_t *payload = NULL, *res = NULL;
	char *forged = NULL, *forged_sign_kid = NULL;
	int64_t now = mcx_time_now();

	REQUIRE(legit != NULL);
	CHECK(jws_verifies(a_token_pem, legit));
	REQUIRE(rpc(vb, "token.verify",
		    json_pack("{s:s, s:s, s:s}", "domain", B_DOM, "token", legit, "audience", "idm.b.example"), &res,
		    NULL) == 0);
	CHECK(json_is_true(json_object_get(res, "valid")));
	CHECK_EQ_STR(str(res, "kid"), A_DOM "/token/1");
	json_decref(res);
	res = NULL;
	/* the vault would not sign this: a day-long token for someone else */
	CHECK(expect_error(va, "token.sign",
			   json_pack("{s:s, s:{s:s, s:s, s:I}}", "domain", A_DOM, "claims", "sub", "sip:chief@a.example",
				     "aud", "idm.b.example", "exp", (json_int_t)(now + 86400)),
			   -32005, "token.sign over the lifetime"));
	REQUIRE((payload = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "iss", A_KMS, "sub", "sip:chief@a.example", "aud",
				     "idm.b.example", "iat", (json_int_t)now, "exp", (json_int_t)(now + 500), "jti",
				     "forged")) != NULL);
	forged = forge_jws("{\"alg\":\"ES256\",\"kid\":\"" A_DOM "/token/1\",\"typ\":\"JWT\"}", payload);
	forged_sign_kid = forge_jws("{\"alg\":\"ES256\",\"kid\":\"" A_DOM "/sign/1\",\"typ\":\"JWT\"}", payload);
	REQUIRE(forged != NULL && forged_sign_kid != NULL);
	CHECK(jws_verifies(a_sign_pem, forged));
	CHECK(expect_error(vb, "token.verify",
			   json_pack("{s:s, s:s, s:s}", "domain", B_DOM, "token", forged, "audience", "idm.b.example"),
			   -32007, "forged token at the partner"));
	CHECK(expect_error(vb, "token.verify",
			   json_pack("{s:s, s:s, s:s}", "domain", B_DOM, "token", forged_sign_kid, "audience",
				     "idm.b.example"),
			   -32005, "forged token with a sign kid at the partner"));
	CHECK(expect_error(va, "token.verify",
			   json_pack("{s:s, s:s, s:s}", "domain", A_DOM, "token", forged, "audience", "idm.b.example"),
			   -32007, "forged token at home"));
	CHECK(expect_error(va, "token.verify",
			   json_pack("{s:s, s:s, s:s}", "domain", A_DOM, "token", forged_sign_kid, "audience",
				     "idm.b.example"),
			   -32005, "forged token with a sign kid at home"));
	json_decref(payload);
	free(forged);
	free(forged_sign_kid);
	free(legit);
}

/* A partner imported without token_key: its tokens and responses are from an unknown signer. */
TEST(partner_without_token_key)
{
	char *b_cert_pem = public_pem(vb, B_DOM, "cert");
	char *token = call_string(vb, "token.sign",
				  json_pack("{s:s, s:{s:s, s:s}}", "domain", B_DOM, "claims", "sub", "sip:bob@b.example",
					    "aud", "idm.a.example"),
				  "token");
	char *response = call_string(vb, "redirect.sign",
				     json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "domain", B_DOM, "originating_id",
					       "sip:bob@b.example", "receiving_id", "sip:alice@a.example",
					       "originating_kms_uri", B_KMS, "acceptable_initiating_kms", list1(B_KMS),
					       "acceptable_receiving_kms", list1(B_KMS)),
				     "response");
	json_t *res = NULL;

	REQUIRE(b_cert_pem != NULL && token != NULL && response != NULL);
	REQUIRE(rpc(va, "external.import",
		    json_pack("{s:s, s:s, s:s}", "domain", A_DOM, "certificate", b_cert_xml, "signing_key", b_cert_pem),
		    &res, NULL) == 0);
	CHECK(json_object_get(res, "token_key") == NULL);
	json_decref(res);
	res = NULL;
	/* no fallback to the cert key */
	CHECK(expect_error(va, "token.verify",
			   json_pack("{s:s, s:s, s:s}", "domain", A_DOM, "token", token, "audience", "idm.a.example"),
			   -32005, "token of a partner without token key"));
	REQUIRE(rpc(va, "redirect.evaluate", json_pack("{s:s, s:s}", "domain", A_DOM, "response", response), &res,
		    NULL) == 0);
	CHECK_EQ_STR(str(res, "signature"), "unknown-signer");
	json_decref(res);
	res = NULL;
	/* the token key given as a JWK, after a remove, makes them trusted */
	REQUIRE(rpc(va, "external.remove", json_pack("{s:s, s:s}", "domain", A_DOM, "kms_uri", B_KMS), &res, NULL) == 0);
	json_decref(res);
	res = NULL;
	{
		json_t *jwk = NULL;
		REQUIRE(rpc(vb, "sign.public_key", json_pack("{s:s, s:s}", "domain", B_DOM, "purpose", "token"), &jwk,
			    NULL) == 0);
		REQUIRE(rpc(va, "external.import",
			    json_pack("{s:s, s:s, s:s, s:O}", "domain", A_DOM, "certificate", b_cert_xml, "signing_key",
				      b_cert_pem, "token_key", json_object_get(jwk, "jwk")),
			    &res, NULL) == 0);
		json_decref(jwk);
		json_decref(res);
		res = NULL;
	}
	REQUIRE(rpc(va, "token.verify",
		    json_pack("{s:s, s:s, s:s}", "domain", A_DOM, "token", token, "audience", "idm.a.example"), &res,
		    NULL) == 0);
	CHECK_EQ_STR(str(res, "kid"), B_DOM "/token/1");
	json_decref(res);
	/* the trust store keeps the token key across a restart */
	mcxvault_close(va);
	va = NULL;
	CHECK_EQ_INT(test_vault_stop(&vault_a), 0);
	REQUIRE(test_vault_start(&vault_a) == 0);
	REQUIRE(mcxvault_connect(vault_a.socket, &va) == 0);
	res = NULL;
	REQUIRE(rpc(va, "token.verify",
		    json_pack("{s:s, s:s, s:s}", "domain", A_DOM, "token", token, "audience", "idm.a.example"), &res,
		    NULL) == 0);
	json_decref(res);
	free(b_cert_pem);
	free(token);
	free(response);
}

/* Rotation of the trust keys: new artefacts name the new version; key.retire accepts them. */
TEST(trust_key_rotation)
{
	json_t *res = NULL;
	char *bundle;

	REQUIRE(rpc(va, "key.rotate", json_pack("{s:s, s:s}", "domain", A_DOM, "purpose", "cert"), &res, NULL) == 0);
	CHECK_EQ_STR(str(res, "kid"), A_DOM "/cert/2");
	json_decref(res);
	res = NULL;
	bundle = call_string(va, "kms.cert_cache", json_pack("{s:s}", "domain", A_DOM), "kid");
	CHECK(bundle != NULL && strcmp(bundle, A_DOM "/cert/2") == 0);
	free(bundle);
	REQUIRE(rpc(va, "key.retire", json_pack("{s:s, s:s, s:i}", "domain", A_DOM, "purpose", "cert", "version", 1), &res,
		    NULL) == 0);
	CHECK_EQ_STR(str(res, "state"), "retired");
	json_decref(res);
	res = NULL;
	/* the KMS certificate it signed is still served as it was */
	REQUIRE(rpc(va, "kms.certificate", json_pack("{s:s}", "domain", A_DOM), &res, NULL) == 0);
	CHECK_EQ_STR(str(res, "signed_by"), A_DOM "/cert/1");
	json_decref(res);
}

/* kms.certificate of domain verifies with its cert key and not with its sign key. */
static void check_cert_signed_by_cert(struct mcxvault *v, const char *domain, int version)
{
	json_t *res = NULL;
	char *cert_pem = public_pem(v, domain, "cert"), *sign_pem = public_pem(v, domain, "sign");
	uint8_t cert_point[65], sign_point[65];
	struct kms_cert c;
	const char *xml;

	memset(&c, 0, sizeof(c));
	REQUIRE(cert_pem != NULL && sign_pem != NULL && pem_point(cert_pem, cert_point) == 0 &&
		pem_point(sign_pem, sign_point) == 0);
	REQUIRE(rpc(v, "kms.certificate", json_pack("{s:s, s:i}", "domain", domain, "version", version), &res, NULL) == 0);
	xml = str(res, "xml");
	REQUIRE(xml != NULL);
	CHECK(strstr(str(res, "signed_by"), "/cert/1") != NULL);
	CHECK(kms_cert_from_xml(xml, strlen(xml), cert_point, &c) == 0);
	kms_cert_clear(&c);
	CHECK(kms_cert_from_xml(xml, strlen(xml), sign_point, &c) != 0);
	kms_cert_clear(&c);
	if (have_xmlsec1) {
		CHECK_EQ_INT(xmlsec_verify(cert_pem, xml), 0);
		CHECK(xmlsec_verify(sign_pem, xml) != 0);
	}
	json_decref(res);
	free(cert_pem);
	free(sign_pem);
}

static int has_key(struct mcxvault *v, const char *domain, const char *kid)
{
	json_t *res = NULL, *k;
	size_t i;
	int found = 0;

	if (rpc(v, "key.list", json_pack("{s:s}", "domain", domain), &res, NULL) != 0)
		return -1;
	json_array_foreach(json_object_get(res, "keys"), i, k)
		found |= str(k, "kid") != NULL && strcmp(str(k, "kid"), kid) == 0;
	json_decref(res);
	return found;
}

/* A token in the format before key purposes, upgraded by domain.upgrade and by start-up. */
TEST(upgrade_from_one_sign_key)
{
	json_t *res = NULL;
	char *sign_pem = NULL;
	uint8_t sign_point[65];
	struct kms_cert c;
	const char *doms[] = { L_DOM, M_DOM };

	memset(&c, 0, sizeof(c));
	/* the old format: only sign/1, and the KMS certificates signed by it (two generations of l) */
	for (size_t i = 0; i < 2; i++) {
		REQUIRE(rpc(vl, "domain.init", json_pack("{s:s}", "domain", doms[i]), &res, NULL) == 0);
		json_decref(res);
		res = NULL;
		CHECK_EQ_INT(has_key(vl, doms[i], i == 0 ? L_DOM "/cert/1" : M_DOM "/cert/1"), 0);
		CHECK_EQ_INT(has_key(vl, doms[i], i == 0 ? L_DOM "/token/1" : M_DOM "/token/1"), 0);
	}
	REQUIRE(rpc(vl, "key.rotate", json_pack("{s:s, s:s}", "domain", L_DOM, "purpose", "kms"), &res, NULL) == 0);
	json_decref(res);
	res = NULL;
	REQUIRE((sign_pem = public_pem(vl, L_DOM, "sign")) != NULL && pem_point(sign_pem, sign_point) == 0);
	REQUIRE(rpc(vl, "kms.certificate", json_pack("{s:s, s:i}", "domain", L_DOM, "version", 1), &res, NULL) == 0);
	CHECK_EQ_STR(str(res, "signed_by"), L_DOM "/sign/1");
	CHECK(str(res, "xml") != NULL && kms_cert_from_xml(str(res, "xml"), strlen(str(res, "xml")), sign_point, &c) == 0);
	kms_cert_clear(&c);
	json_decref(res);
	res = NULL;
	/* without a token key, nothing signs tokens */
	CHECK(expect_error(vl, "token.sign",
			   json_pack("{s:s, s:{s:s, s:s}}", "domain", L_DOM, "claims", "sub", "sip:x", "aud", "idm"),
			   -32002, "token.sign before the upgrade"));

	/* l.example: by the admin's domain.upgrade (on the running, old-format vault) */
	REQUIRE(rpc(vl, "domain.upgrade", json_pack("{s:s}", "domain", L_DOM), &res, NULL) == 0);
	CHECK(json_is_true(json_object_get(res, "changed")));
	CHECK_EQ_INT(json_integer_value(json_object_get(res, "keys_created")), 2);
	CHECK_EQ_INT(json_integer_value(json_object_get(res, "certificates_resigned")), 2);
	json_decref(res);
	res = NULL;
	CHECK_EQ_INT(has_key(vl, L_DOM, L_DOM "/cert/1"), 1);
	CHECK_EQ_INT(has_key(vl, L_DOM, L_DOM "/token/1"), 1);
	check_cert_signed_by_cert(vl, L_DOM, 1);
	check_cert_signed_by_cert(vl, L_DOM, 2);
	/* idempotent */
	REQUIRE(rpc(vl, "domain.upgrade", json_pack("{s:s}", "domain", L_DOM), &res, NULL) == 0);
	CHECK(json_is_false(json_object_get(res, "changed")));
	json_decref(res);
	res = NULL;
	/* the other domain is untouched until its turn */
	CHECK_EQ_INT(has_key(vl, M_DOM, M_DOM "/cert/1"), 0);

	/* m.example: by the next start of vaultd without the seam */
	mcxvault_close(vl);
	vl = NULL;
	CHECK_EQ_INT(test_vault_stop(&vault_l), 0);
	unsetenv("MCXVAULT_TEST_LEGACY_DOMAIN_INIT");
	REQUIRE(test_vault_start(&vault_l) == 0);
	REQUIRE(mcxvault_connect(vault_l.socket, &vl) == 0);
	REQUIRE(mcxvault_set_timeout(vl, 120000) == 0);
	CHECK_EQ_INT(has_key(vl, M_DOM, M_DOM "/cert/1"), 1);
	CHECK_EQ_INT(has_key(vl, M_DOM, M_DOM "/token/1"), 1);
	check_cert_signed_by_cert(vl, M_DOM, 1);
	check_cert_signed_by_cert(vl, L_DOM, 1);   /* the re-signed certificate survives a restart */
	/* the start-up upgrade is written ahead and recorded, as domain.upgrade is */
	if (vault_l.audit[0] != '\0') {
		FILE *log = fopen(vault_l.audit, "r");
		char line[4096];
		int intent = 0, outcome = 0;
		while (log != NULL && fgets(line, sizeof(line), log) != NULL) {
			if (strstr(line, "\"method\":\"domain.upgrade\"") == NULL || strstr(line, M_DOM) == NULL)
				continue;
			intent += strstr(line, "\"type\":\"intent\"") != NULL;
			outcome += strstr(line, "\"subject\":\"vaultd start-up\"") != NULL &&
			           strstr(line, "\"outcome\":\"ok\"") != NULL && strstr(line, "\"intent\":") != NULL;
		}
		if (log != NULL)
			fclose(log);
		CHECK_EQ_INT(intent, 1);
		CHECK_EQ_INT(outcome, 1);
	}
	REQUIRE(rpc(vl, "domain.upgrade", json_pack("{s:s}", "domain", M_DOM), &res, NULL) == 0);
	CHECK(json_is_false(json_object_get(res, "changed")));
	json_decref(res);
	res = NULL;
	/* an upgraded domain works as a new one: its bundle is signed by cert, a partner imports it */
	{
		char *bundle = call_string(vl, "kms.cert_cache", json_pack("{s:s}", "domain", L_DOM), "bundle");
		char *cert_pem = public_pem(vl, L_DOM, "cert"), *token_pem = public_pem(vl, L_DOM, "token");
		char *xml = call_string(vl, "kms.certificate", json_pack("{s:s}", "domain", L_DOM), "xml");
		CHECK(bundle != NULL && cert_pem != NULL && jws_verifies(cert_pem, bundle));
		CHECK(bundle != NULL && !jws_verifies(sign_pem, bundle));
		REQUIRE(xml != NULL && cert_pem != NULL && token_pem != NULL);
		REQUIRE(rpc(vb, "external.import",
			    json_pack("{s:s, s:s, s:s, s:s}", "domain", B_DOM, "certificate", xml, "signing_key", cert_pem,
				      "token_key", token_pem),
			    &res, NULL) == 0);
		json_decref(res);
		res = NULL;
		free(bundle);
		free(cert_pem);
		free(token_pem);
		free(xml);
	}
	free(sign_pem);
}

/* Every daemon exits 0 on SIGTERM: under ASan that also means no leak and no error. */
TEST(vaults_stop_cleanly)
{
	mcxvault_close(va);
	mcxvault_close(vb);
	mcxvault_close(vl);
	va = vb = vl = NULL;
	CHECK_EQ_INT(test_vault_stop(&vault_a), 0);
	CHECK_EQ_INT(test_vault_stop(&vault_b), 0);
	CHECK_EQ_INT(test_vault_stop(&vault_l), 0);
}

/* ---- main --------------------------------------------------------------------------- */

static int setup(void)
{
	const char *tmp = getenv("TMPDIR");
	json_t *res = NULL;
	struct group *gr;
	int ok;

	if (tmp == NULL || strlen(tmp) > 24)
		tmp = "/tmp";
	snprintf(tmpdir, sizeof(tmpdir), "%s/mcx-trust.XXXXXX", tmp);
	if (mkdtemp(tmpdir) == NULL) {
		tmpdir[0] = '\0';
		return -1;
	}
	have_xmlsec1 = system("command -v xmlsec1 >/dev/null 2>&1") == 0;
	if (test_vault_setup(&vault_a, "ta", "{ name = \"" A_DOM "\"; kms_uri = \"" A_KMS "\"; }",
			     ",\n  { user = \"nobody\"; roles = [ \"signer\" ]; }", 2, 0) != 0 ||
	    test_vault_setup(&vault_b, "tb", "{ name = \"" B_DOM "\"; kms_uri = \"" B_KMS "\"; }", NULL, 2, 0) != 0 ||
	    test_vault_setup(&vault_l, "tl",
			     "{ name = \"" L_DOM "\"; kms_uri = \"kms." L_DOM "\"; },\n"
			     "  { name = \"" M_DOM "\"; kms_uri = \"kms." M_DOM "\"; }",
			     NULL, 2, 0) != 0 ||
	    test_vault_start(&vault_a) != 0 || test_vault_start(&vault_b) != 0)
		return -1;
	/* L is the previous version: domain.init as it was, no upgrade at start */
	setenv("MCXVAULT_TEST_LEGACY_DOMAIN_INIT", "1", 1);
	if (test_vault_start(&vault_l) != 0)
		return -1;
	if (mcxvault_connect(vault_a.socket, &va) != 0 || mcxvault_connect(vault_b.socket, &vb) != 0 ||
	    mcxvault_connect(vault_l.socket, &vl) != 0 || mcxvault_set_timeout(va, 120000) != 0 ||
	    mcxvault_set_timeout(vb, 120000) != 0 || mcxvault_set_timeout(vl, 120000) != 0)
		return -1;
	/* nobody reaches A's socket through its group, as an operator would set it up */
	if (geteuid() == 0 && (((gr = getgrnam("nogroup")) == NULL && (gr = getgrnam("nobody")) == NULL) ||
			       chown(vault_a.socket, (uid_t)-1, gr->gr_gid) != 0))
		return -1;
	ok = rpc(va, "domain.init", json_pack("{s:s}", "domain", A_DOM), &res, NULL) == 0;
	json_decref(res);
	res = NULL;
	ok = ok && rpc(vb, "domain.init", json_pack("{s:s}", "domain", B_DOM), &res, NULL) == 0;
	json_decref(res);
	if (!ok)
		return -1;
	a_sign_pem = public_pem(va, A_DOM, "sign");
	a_cert_pem = public_pem(va, A_DOM, "cert");
	a_token_pem = public_pem(va, A_DOM, "token");
	a_cert_xml = call_string(va, "kms.certificate", json_pack("{s:s}", "domain", A_DOM), "xml");
	b_cert_xml = call_string(vb, "kms.certificate", json_pack("{s:s}", "domain", B_DOM), "xml");
	if (a_sign_pem == NULL || a_cert_pem == NULL || a_token_pem == NULL || a_cert_xml == NULL || b_cert_xml == NULL ||
	    pem_point(a_sign_pem, a_sign_point) != 0 || pem_point(a_cert_pem, a_cert_point) != 0)
		return -1;
	return 0;
}

static void teardown(void)
{
	char cmd[128];

	mcxvault_close(va);
	mcxvault_close(vb);
	mcxvault_close(vl);
	if (test_failed > 0) {
		test_vault_dump_log(&vault_a);
		test_vault_dump_log(&vault_b);
		test_vault_dump_log(&vault_l);
	}
	test_vault_cleanup_all();
	free(a_sign_pem);
	free(a_cert_pem);
	free(a_token_pem);
	free(a_cert_xml);
	free(b_cert_xml);
	if (tmpdir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (access("/usr/bin/softhsm2-util", X_OK) != 0 && system("command -v softhsm2-util >/dev/null 2>&1") != 0) {
		printf("skipped - trust: softhsm2-util not installed\n");
		printf("trust: 0 passed, 0 failed, 1 skipped\n");
		return 0;
	}
	if (setup() != 0) {
		printf("FAIL - setup (three vaults on throw-away tokens)\n");
		test_failed++;
		teardown();
		return test_summary("trust");
	}
	RUN(keys_per_purpose);
	RUN(sign_sign_reaches_only_the_sign_key);
	RUN(forged_kms_certificate);
	RUN(forged_cert_cache_bundle);
	RUN(forged_redirect_response);
	RUN(forged_id_token);
	RUN(partner_without_token_key);
	RUN(trust_key_rotation);
	RUN(upgrade_from_one_sign_key);
	RUN(vaults_stop_cleanly);
	teardown();
	return test_summary("trust");
}
