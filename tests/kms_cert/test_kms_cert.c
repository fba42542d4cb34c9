/*
 * mcxvault — tests of the TS 33.180 Annex D KMS certificate (vault/kms/kms_cert.c):
 * round trip, the stock xmlsec1 verifying what we sign (and rejecting a
 * tampered copy), our verifier accepting what xmlsec1 signs, and the strict
 * parser rejecting every malformed or hostile document we could think of.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "mcx/util.h"
#include "tests/test.h"
#include "vault/kms/kms_cert.h"

static EVP_PKEY *signer, *other;
static uint8_t signer_point[65], other_point[65];
static char *good_xml;      /* a signed certificate, NUL-terminated */
static char tmpdir[64];

#define T_FROM  INT64_C(1795392000)   /* 2026-11-23T00:00:00Z */
#define T_TO    INT64_C(1826928000)   /* 2027-11-23T00:00:00Z */
#define KMS_URI "kms.a.example"
#define CERT_URI "cert1.kms.a.example"
#define ISSUER "www.a.example"

static int point_of(EVP_PKEY *k, uint8_t point[65])
{
	size_t n = 0;
	return EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, point, 65, &n) == 1 &&
	       n == 65 && point[0] == 0x04;
}

/* kms_cert_sign_fn over a software key: DER from OpenSSL to r || s. */
static int soft_sign(void *ctx, const uint8_t digest[32], uint8_t sig[64])
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(ctx, NULL);
	unsigned char der[80];
	const unsigned char *p = der;
	size_t der_len = sizeof(der);
	ECDSA_SIG *es = NULL;
	int r = MCX_ERR_CRYPTO;

	if (pctx != NULL && EVP_PKEY_sign_init(pctx) == 1 &&
	    EVP_PKEY_sign(pctx, der, &der_len, digest, 32) == 1 &&
	    (es = d2i_ECDSA_SIG(NULL, &p, (long)der_len)) != NULL &&
	    BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32) == 32 &&
	    BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32) == 32)
		r = 0;
	ECDSA_SIG_free(es);
	EVP_PKEY_CTX_free(pctx);
	return r;
}

/* Signs, then flips one bit of s: a signature that cannot verify. */
static int bad_sign(void *ctx, const uint8_t digest[32], uint8_t sig[64])
{
	int r = soft_sign(ctx, digest, sig);
	sig[63] ^= 1;
	return r;
}

static int failing_sign(void *ctx, const uint8_t digest[32], uint8_t sig[64])
{
	return MCX_ERR_HSM;
}

static void make_cert(struct kms_cert *c, const char *issuer)
{
	memset(c, 0, sizeof(*c));
	c->id = strdup("kms-a-2026");
	c->role = strdup("Root");
	c->kms_uri = strdup(KMS_URI);
	c->cert_uri = strdup(CERT_URI);
	c->issuer = issuer != NULL ? strdup(issuer) : NULL;
	c->valid_from = T_FROM;
	c->valid_to = T_TO;
	c->revoked = 0;
	c->user_key_period = 2592000;
	c->user_key_offset = 0;
	c->pub_enc_key[0] = 0x04;
	for (size_t i = 1; i < sizeof(c->pub_enc_key); i++)
		c->pub_enc_key[i] = (uint8_t)(i * 7 + 3);
	memcpy(c->pub_auth_key, other_point, 65);   /* any point on P-256 */
	c->parameter_set = 1;
}

static char *sign_cert(const struct kms_cert *c, kms_cert_sign_fn fn, void *ctx, int *rc)
{
	struct mcx_buf *b = mcx_buf_new(KMS_CERT_XML_MAX + 1);
	char *s = NULL;

	*rc = b == NULL ? MCX_ERR_ALLOC : kms_cert_to_xml(c, fn, ctx, b);
	if (*rc == 0 && (s = malloc(mcx_buf_len(b) + 1)) != NULL) {
		memcpy(s, mcx_buf_ptr(b), mcx_buf_len(b));
		s[mcx_buf_len(b)] = '\0';
	}
	mcx_buf_free(b);
	return s;
}

/* A copy of s with the first occurrence of from replaced by to (NULL if absent). */
static char *replace(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	size_t n;
	char *o;

	if (at == NULL)
		return NULL;
	n = strlen(s) - strlen(from) + strlen(to);
	if ((o = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(o, s, (size_t)(at - s));
	strcpy(o + (at - s), to);
	strcat(o, at + strlen(from));
	return o;
}

/* Parses a variant of good_xml with from -> to; returns the result code. */
static int parse_variant(const char *from, const char *to, const uint8_t *point)
{
	char *v = replace(good_xml, from, to);
	struct kms_cert c;
	int rc;

	if (v == NULL) {
		printf("  variant: \"%s\" not found\n", from);
		return 999;
	}
	rc = kms_cert_from_xml(v, strlen(v), point, &c);
	if (rc == 0)
		kms_cert_clear(&c);
	free(v);
	return rc;
}

static int write_file(const char *dir, const char *name, const char *data)
{
	char path[256];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "w")) == NULL)
		return 0;
	ok = fputs(data, f) >= 0;
	return fclose(f) == 0 && ok;
}

static char *read_file(const char *dir, const char *name)
{
	char path[256], *s = NULL;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (s = malloc((size_t)n + 1)) != NULL) {
		if (fread(s, 1, (size_t)n, f) != (size_t)n) {
			free(s);
			s = NULL;
		} else {
			s[n] = '\0';
		}
	}
	fclose(f);
	return s;
}

static int have_xmlsec1(void)
{
	return system("command -v xmlsec1 >/dev/null 2>&1") == 0;
}

/* The exact command documented in docs: xmlsec1 needs the Id attribute
 * registered for the namespaced KmsCertificate element. */
#define XMLSEC_ID_ATTR "--id-attr:Id urn:3gpp:ns:mcsecKMSInterface:1.0:KmsCertificate"

static int xmlsec_verify(const char *pem, const char *file)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd),
		 "cd %s && xmlsec1 --verify --pubkey-pem %s " XMLSEC_ID_ATTR " %s >%s.%s.log 2>&1",
		 tmpdir, pem, file, file, pem);
	return system(cmd);
}

/* ---- tests ------------------------------------------------------------------ */

TEST(sign_and_round_trip)
{
	struct kms_cert c, p;
	int rc;
	char *xml;

	make_cert(&c, ISSUER);
	xml = sign_cert(&c, soft_sign, signer, &rc);
	CHECK_OK(rc);
	REQUIRE(xml != NULL);
	CHECK(strncmp(xml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>", 38) == 0);
	CHECK(strstr(xml, "<SignedKmsCertificate xmlns=\"" KMS_CERT_NS "\">") != NULL);
	CHECK(strstr(xml, "<ValidFrom>2026-11-23T00:00:00Z</ValidFrom>") != NULL);
	CHECK(strstr(xml, "<UserIdFormat>2</UserIdFormat>") != NULL);
	CHECK(strstr(xml, "Reference URI=\"#kms-a-2026\"") != NULL);
	/* KmsUri precedes CertUri precedes Issuer (Annex D order) */
	CHECK(strstr(xml, "<KmsUri>") < strstr(xml, "<CertUri>"));
	CHECK(strstr(xml, "<CertUri>") < strstr(xml, "<Issuer>"));
	good_xml = xml;

	memset(&p, 0, sizeof(p));
	rc = kms_cert_from_xml(xml, strlen(xml), signer_point, &p);
	CHECK_OK(rc);
	REQUIRE(rc == 0);
	CHECK_EQ_STR(p.id, c.id);
	CHECK_EQ_STR(p.role, "Root");
	CHECK_EQ_STR(p.kms_uri, KMS_URI);
	CHECK_EQ_STR(p.cert_uri, CERT_URI);
	CHECK_EQ_STR(p.issuer, ISSUER);
	CHECK_EQ_INT(p.valid_from, T_FROM);
	CHECK_EQ_INT(p.valid_to, T_TO);
	CHECK_EQ_INT(p.revoked, 0);
	CHECK_EQ_INT(p.user_key_period, 2592000);
	CHECK_EQ_INT(p.user_key_offset, 0);
	CHECK_MEM(p.pub_enc_key, c.pub_enc_key, sizeof(c.pub_enc_key));
	CHECK_MEM(p.pub_auth_key, c.pub_auth_key, sizeof(c.pub_auth_key));
	CHECK_EQ_INT(p.parameter_set, 1);
	kms_cert_clear(&p);
	CHECK(p.id == NULL && p.valid_to == 0);
	kms_cert_clear(&c);
}

TEST(round_trip_without_issuer_external_revoked)
{
	struct kms_cert c, p;
	int rc;
	char *xml;

	make_cert(&c, NULL);
	free(c.role);
	c.role = strdup("External");
	c.revoked = 1;
	c.user_key_offset = 3600;
	xml = sign_cert(&c, soft_sign, signer, &rc);
	CHECK_OK(rc);
	REQUIRE(xml != NULL);
	CHECK(strstr(xml, "<Issuer>") == NULL);
	CHECK(strstr(xml, "<Revoked>true</Revoked>") != NULL);
	rc = kms_cert_from_xml(xml, strlen(xml), signer_point, &p);
	CHECK_OK(rc);
	if (rc == 0) {
		CHECK(p.issuer == NULL);
		CHECK_EQ_STR(p.role, "External");
		CHECK_EQ_INT(p.revoked, 1);
		CHECK_EQ_INT(p.user_key_offset, 3600);
		CHECK_EQ_INT(kms_cert_check_validity(&p, T_FROM + 10), MCX_ERR_REVOKED);
		kms_cert_clear(&p);
	}
	free(xml);
	kms_cert_clear(&c);
}

TEST(xmlsec1_verifies_ours)
{
	char *tampered;
	FILE *f;
	char path[128];

	REQUIRE(good_xml != NULL);
	if (!have_xmlsec1())
		SKIP("xmlsec1 not installed");
	snprintf(path, sizeof(path), "%s/pub.pem", tmpdir);
	REQUIRE((f = fopen(path, "w")) != NULL);
	CHECK(PEM_write_PUBKEY(f, signer) == 1);
	fclose(f);
	snprintf(path, sizeof(path), "%s/other.pem", tmpdir);
	REQUIRE((f = fopen(path, "w")) != NULL);
	CHECK(PEM_write_PUBKEY(f, other) == 1);
	fclose(f);
	REQUIRE(write_file(tmpdir, "cert.xml", good_xml));
	CHECK_EQ_INT(xmlsec_verify("pub.pem", "cert.xml"), 0);
	/* another key: xmlsec1 must say no */
	CHECK(xmlsec_verify("other.pem", "cert.xml") != 0);

	/* a tampered field: xmlsec1 must say no */
	tampered = replace(good_xml, "<UserKeyPeriod>2592000<", "<UserKeyPeriod>2592001<");
	REQUIRE(tampered != NULL);
	REQUIRE(write_file(tmpdir, "tampered.xml", tampered));
	CHECK(xmlsec_verify("pub.pem", "tampered.xml") != 0);
	free(tampered);
	/* a tampered attribute */
	tampered = replace(good_xml, "Role=\"Root\"", "Role=\"External\"");
	REQUIRE(tampered != NULL);
	REQUIRE(write_file(tmpdir, "tampered2.xml", tampered));
	CHECK(xmlsec_verify("pub.pem", "tampered2.xml") != 0);
	free(tampered);
}

/* The other direction: xmlsec1 signs a template, our verifier accepts it. */
TEST(we_verify_xmlsec1)
{
	struct kms_cert c, p;
	char *tmpl = NULL, *t1 = NULL, *t2 = NULL, *signed_xml = NULL, *start, *end, cmd[512], path[128];
	FILE *f;
	int rc;

	REQUIRE(good_xml != NULL);
	if (!have_xmlsec1())
		SKIP("xmlsec1 not installed");
	/* the template: our document with the values emptied */
	start = strstr(good_xml, "<ds:DigestValue>");
	REQUIRE(start != NULL);
	start += strlen("<ds:DigestValue>");
	end = strstr(start, "</ds:DigestValue>");
	REQUIRE(end != NULL);
	tmpl = strdup(good_xml);
	REQUIRE(tmpl != NULL);
	memmove(tmpl + (start - good_xml), tmpl + (end - good_xml), strlen(end) + 1);
	start = strstr(tmpl, "<ds:SignatureValue>") + strlen("<ds:SignatureValue>");
	end = strstr(start, "</ds:SignatureValue>");
	memmove(start, end, strlen(end) + 1);
	/* and a different payload, so this is not our own signature */
	t1 = replace(tmpl, "<UserKeyOffset>0<", "<UserKeyOffset>7200<");
	REQUIRE(t1 != NULL);
	REQUIRE(write_file(tmpdir, "tmpl.xml", t1));
	snprintf(path, sizeof(path), "%s/key.pem", tmpdir);
	REQUIRE((f = fopen(path, "w")) != NULL);
	CHECK(PEM_write_PrivateKey(f, signer, NULL, NULL, 0, NULL, NULL) == 1);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "cd %s && xmlsec1 --sign --privkey-pem key.pem " XMLSEC_ID_ATTR
		 " --output xsigned.xml tmpl.xml >sign.log 2>&1", tmpdir);
	CHECK_EQ_INT(system(cmd), 0);
	signed_xml = read_file(tmpdir, "xsigned.xml");
	REQUIRE(signed_xml != NULL);
	rc = kms_cert_from_xml(signed_xml, strlen(signed_xml), signer_point, &p);
	CHECK_OK(rc);
	if (rc == 0) {
		CHECK_EQ_INT(p.user_key_offset, 7200);
		kms_cert_clear(&p);
	}
	CHECK_EQ_INT(kms_cert_from_xml(signed_xml, strlen(signed_xml), other_point, &p),
		     MCX_ERR_SIGNATURE_INVALID);
	t2 = replace(signed_xml, "<UserKeyOffset>7200<", "<UserKeyOffset>0<");
	REQUIRE(t2 != NULL);
	CHECK_EQ_INT(kms_cert_from_xml(t2, strlen(t2), signer_point, &c), MCX_ERR_SIGNATURE_INVALID);
	free(tmpl);
	free(t1);
	free(t2);
	free(signed_xml);
}

TEST(reject_signature_problems)
{
	struct kms_cert c, p;
	char *xml;
	int rc;

	REQUIRE(good_xml != NULL);
	/* tampered field */
	CHECK_EQ_INT(parse_variant("<KmsUri>" KMS_URI "<", "<KmsUri>kms.b.example<", signer_point),
		     MCX_ERR_SIGNATURE_INVALID);
	CHECK_EQ_INT(parse_variant("Role=\"Root\"", "Role=\"External\"", signer_point),
		     MCX_ERR_SIGNATURE_INVALID);
	/* ...which still parses without a key (the signature is not checked) */
	CHECK_OK(parse_variant("<KmsUri>" KMS_URI "<", "<KmsUri>kms.b.example<", NULL));
	/* wrong signer key */
	rc = kms_cert_from_xml(good_xml, strlen(good_xml), other_point, &p);
	CHECK_EQ_INT(rc, MCX_ERR_SIGNATURE_INVALID);
	/* bad signature bytes */
	make_cert(&c, ISSUER);
	xml = sign_cert(&c, bad_sign, signer, &rc);
	CHECK_OK(rc);
	REQUIRE(xml != NULL);
	CHECK_EQ_INT(kms_cert_from_xml(xml, strlen(xml), signer_point, &p), MCX_ERR_SIGNATURE_INVALID);
	free(xml);
	/* a failing signer fails the build with its own code */
	CHECK(sign_cert(&c, failing_sign, NULL, &rc) == NULL);
	CHECK_EQ_INT(rc, MCX_ERR_HSM);
	kms_cert_clear(&c);
	/* wrong algorithm URIs */
	CHECK_EQ_INT(parse_variant("xmldsig-more#ecdsa-sha256", "xmldsig-more#ecdsa-sha384", signer_point),
		     MCX_ERR_SIGNATURE_INVALID);
	CHECK_EQ_INT(parse_variant("<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"",
				   "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"",
				   signer_point), MCX_ERR_SIGNATURE_INVALID);
	CHECK_EQ_INT(parse_variant("xmlenc#sha256", "xmlenc#sha512", signer_point), MCX_ERR_SIGNATURE_INVALID);
	CHECK_EQ_INT(parse_variant("<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
				   "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>",
				   signer_point), MCX_ERR_SIGNATURE_INVALID);
	/* reference URI not the certificate's Id; empty URI (whole document) */
	CHECK_EQ_INT(parse_variant("URI=\"#kms-a-2026\"", "URI=\"#other\"", signer_point),
		     MCX_ERR_SIGNATURE_INVALID);
	CHECK_EQ_INT(parse_variant("URI=\"#kms-a-2026\"", "URI=\"\"", signer_point),
		     MCX_ERR_SIGNATURE_INVALID);
	/* the Id changed on both sides: the digest no longer matches */
	xml = replace(good_xml, "Id=\"kms-a-2026\"", "Id=\"kms-b\"");
	REQUIRE(xml != NULL);
	CHECK_EQ_INT(parse_variant("URI=\"#kms-a-2026\"", "URI=\"#kms-b\"", NULL), MCX_ERR_SIGNATURE_INVALID);
	{
		char *v = replace(xml, "URI=\"#kms-a-2026\"", "URI=\"#kms-b\"");
		REQUIRE(v != NULL);
		CHECK_EQ_INT(kms_cert_from_xml(v, strlen(v), signer_point, &p), MCX_ERR_SIGNATURE_INVALID);
		free(v);
	}
	free(xml);
	/* two references */
	{
		const char *r0 = strstr(good_xml, "<ds:Reference ");
		const char *r1 = strstr(good_xml, "</ds:Reference>");
		char ref[1024], *dup;
		REQUIRE(r0 != NULL && r1 != NULL && (size_t)(r1 - r0) + 16 < sizeof(ref));
		memcpy(ref, r0, (size_t)(r1 - r0) + 15);
		ref[(r1 - r0) + 15] = '\0';
		dup = malloc(strlen(ref) * 2 + 1);
		REQUIRE(dup != NULL);
		strcpy(dup, ref);
		strcat(dup, ref);
		CHECK_EQ_INT(parse_variant(ref, dup, signer_point), MCX_ERR_SIGNATURE_INVALID);
		free(dup);
	}
	/* a digest value of the wrong size, garbage base64, a truncated signature */
	CHECK_EQ_INT(parse_variant("<ds:DigestValue>", "<ds:DigestValue>AAAA", signer_point),
		     MCX_ERR_SIGNATURE_INVALID);
	CHECK_EQ_INT(parse_variant("<ds:SignatureValue>", "<ds:SignatureValue>!", signer_point),
		     MCX_ERR_SIGNATURE_INVALID);
	CHECK_EQ_INT(parse_variant("=</ds:SignatureValue>", "</ds:SignatureValue>", signer_point),
		     MCX_ERR_SIGNATURE_INVALID);
	/* a ds:Object smuggled into the signature */
	CHECK_EQ_INT(parse_variant("</ds:Signature>", "<ds:Object>x</ds:Object></ds:Signature>", signer_point),
		     MCX_ERR_SIGNATURE_INVALID);
	/* KeyInfo is tolerated as a hint */
	CHECK_OK(parse_variant("</ds:Signature>", "<ds:KeyInfo><ds:KeyName>k</ds:KeyName></ds:KeyInfo></ds:Signature>",
			       signer_point));
}

TEST(reject_hostile_and_malformed)
{
	struct kms_cert p;
	char *big, *v;
	const char *decl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";

	REQUIRE(good_xml != NULL);
	/* DOCTYPE with an external entity (XXE) */
	CHECK_EQ_INT(parse_variant(decl,
				   "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE SignedKmsCertificate "
				   "[<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>",
				   NULL), MCX_ERR_PARSE);
	v = replace(good_xml, decl,
		    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE SignedKmsCertificate "
		    "[<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>");
	REQUIRE(v != NULL);
	{
		char *w = replace(v, "<Issuer>" ISSUER, "<Issuer>&xxe;");
		REQUIRE(w != NULL);
		CHECK_EQ_INT(kms_cert_from_xml(w, strlen(w), NULL, &p), MCX_ERR_PARSE);
		free(w);
	}
	free(v);
	/* billion laughs */
	CHECK_EQ_INT(parse_variant(decl,
				   "<?xml version=\"1.0\"?><!DOCTYPE SignedKmsCertificate [<!ENTITY a \"aaaaaaaaaa\">"
				   "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">"
				   "<!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\"><!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">"
				   "<!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\"><!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">]>",
				   NULL), MCX_ERR_PARSE);
	/* an external DTD */
	CHECK_EQ_INT(parse_variant(decl, "<?xml version=\"1.0\"?><!DOCTYPE x SYSTEM \"http://127.0.0.1:9/x.dtd\">",
				   NULL), MCX_ERR_PARSE);
	/* an undeclared entity reference */
	CHECK_EQ_INT(parse_variant("<Issuer>" ISSUER, "<Issuer>&foo;", NULL), MCX_ERR_PARSE);
	/* wrong namespace / wrong root / DSig namespace */
	CHECK_EQ_INT(parse_variant("xmlns=\"" KMS_CERT_NS "\"", "xmlns=\"urn:3gpp:ns:mcsecKMSInterface:2.0\"", NULL),
		     MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("<SignedKmsCertificate ", "<SignedKmsCert ", NULL), MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"",
				   "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig-evil#\"", NULL), MCX_ERR_PARSE);
	/* unknown element, out-of-order element, unknown attribute, KmsDomainList */
	CHECK_EQ_INT(parse_variant("<ParameterSet>", "<Foo>1</Foo><ParameterSet>", NULL), MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("</KmsCertificate>", "<KmsDomainList><KmsDomain>x</KmsDomain></KmsDomainList></KmsCertificate>", NULL),
		     MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("<KmsUri>" KMS_URI "</KmsUri>", "", NULL), MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("Role=\"Root\"", "Role=\"Root\" Extra=\"1\"", NULL), MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("<KmsUri>", "<KmsUri a=\"b\">", NULL), MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("<KmsUri>" KMS_URI "</KmsUri>", "<KmsUri>" KMS_URI "<b/></KmsUri>", NULL),
		     MCX_ERR_PARSE);
	/* missing required elements and attributes; Issuer is optional */
	CHECK_EQ_INT(parse_variant("<CertUri>" CERT_URI "</CertUri>", "", NULL), MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("<Revoked>false</Revoked>", "", NULL), MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("<ParameterSet>1</ParameterSet>", "", NULL), MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant(" Version=\"1.1.0\"", "", NULL), MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("Version=\"1.1.0\"", "Version=\"2.0.0\"", NULL), MCX_ERR_PARSE);
	CHECK_OK(parse_variant("<Issuer>" ISSUER "</Issuer>", "", NULL));
	CHECK_EQ_INT(parse_variant("<Issuer>" ISSUER "</Issuer>", "<Issuer></Issuer>", NULL), MCX_ERR_PARSE);
	/* bad hex: length, characters, point format */
	CHECK_EQ_INT(parse_variant("<PubAuthKey>04", "<PubAuthKey>", NULL), MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("<PubAuthKey>04", "<PubAuthKey>0400", NULL), MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("<PubEncKey>04", "<PubEncKey>", NULL), MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("<PubEncKey>04", "<PubEncKey>02", NULL), MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("<PubAuthKey>04", "<PubAuthKey>02", NULL), MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("<PubEncKey>04", "<PubEncKey>0g", NULL), MCX_ERR_PARSE);
	/* integers and values out of range */
	CHECK_EQ_INT(parse_variant("<ParameterSet>1<", "<ParameterSet>2<", NULL), MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("<UserKeyPeriod>2592000<", "<UserKeyPeriod>0<", NULL), MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("<UserKeyPeriod>2592000<", "<UserKeyPeriod>99999999999999999999999<", NULL),
		     MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("<UserKeyOffset>0<", "<UserKeyOffset>-1<", NULL), MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("<UserKeyOffset>0<", "<UserKeyOffset>2592000<", NULL), MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("<UserKeyOffset>0<", "<UserKeyOffset>0x0<", NULL), MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("<UserIdFormat>2<", "<UserIdFormat>1<", NULL), MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("<Revoked>false<", "<Revoked>no<", NULL), MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("Role=\"Root\"", "Role=\"root\"", NULL), MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("Id=\"kms-a-2026\"", "Id=\"1bad\"", NULL), MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("<ValidFrom>2026-11-23T00:00:00Z<", "<ValidFrom>2026-02-30T00:00:00Z<", NULL),
		     MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("<ValidFrom>2026-11-23T00:00:00Z<", "<ValidFrom>2026-11-23<", NULL),
		     MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("<ValidFrom>2026-11-23T00:00:00Z<", "<ValidFrom>2028-01-01T00:00:00Z<", NULL),
		     MCX_ERR_PARSE);   /* after ValidTo */
	CHECK_EQ_INT(parse_variant("<KmsUri>" KMS_URI "<", "<KmsUri>kms a<", NULL), MCX_ERR_PARSE);
	/* comments, PIs, CDATA */
	CHECK_EQ_INT(parse_variant("<KmsUri>", "<!-- hi --><KmsUri>", NULL), MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("<SignedKmsCertificate", "<!-- hi --><SignedKmsCertificate", NULL),
		     MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("<KmsUri>", "<?pi x?><KmsUri>", NULL), MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant("<KmsUri>" KMS_URI "<", "<KmsUri><![CDATA[" KMS_URI "]]><", NULL),
		     MCX_ERR_PARSE);
	/* non-UTF-8 (and a Latin-1 declaration does not help) */
	CHECK_EQ_INT(parse_variant("<Issuer>" ISSUER, "<Issuer>caf\xe9", NULL), MCX_ERR_PARSE);
	CHECK_EQ_INT(parse_variant(decl, "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>", NULL), 0);
	v = replace(good_xml, decl, "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>");
	REQUIRE(v != NULL);
	{
		char *w = replace(v, "<Issuer>" ISSUER, "<Issuer>caf\xe9");
		REQUIRE(w != NULL);
		CHECK_EQ_INT(kms_cert_from_xml(w, strlen(w), NULL, &p), MCX_ERR_PARSE);
		free(w);
	}
	free(v);
	/* a NUL inside */
	CHECK_EQ_INT(kms_cert_from_xml(good_xml, strlen(good_xml) + 1, NULL, &p), MCX_ERR_PARSE);
	/* not well-formed, empty */
	CHECK_EQ_INT(kms_cert_from_xml(good_xml, strlen(good_xml) - 5, NULL, &p), MCX_ERR_PARSE);
	CHECK_EQ_INT(kms_cert_from_xml("", 0, NULL, &p), MCX_ERR_PARSE);
	/* two signatures, two certificates, trailing element */
	{
		const char *s0 = strstr(good_xml, "<ds:Signature");
		const char *s1 = strstr(good_xml, "</ds:Signature>");
		size_t n;
		char *sigblk, *two;
		REQUIRE(s0 != NULL && s1 != NULL);
		n = (size_t)(s1 - s0) + strlen("</ds:Signature>");
		sigblk = malloc(2 * n + 1);
		REQUIRE(sigblk != NULL);
		memcpy(sigblk, s0, n);
		memcpy(sigblk + n, s0, n);
		sigblk[2 * n] = '\0';
		two = malloc(n + 1);
		REQUIRE(two != NULL);
		memcpy(two, s0, n);
		two[n] = '\0';
		CHECK_EQ_INT(parse_variant(two, sigblk, signer_point), MCX_ERR_PARSE);
		free(two);
		free(sigblk);
	}
	CHECK_EQ_INT(parse_variant("</SignedKmsCertificate>", "<KmsCertificate/></SignedKmsCertificate>", NULL),
		     MCX_ERR_PARSE);
	/* the signature missing */
	{
		const char *s0 = strstr(good_xml, "<ds:Signature");
		const char *s1 = strstr(good_xml, "</ds:Signature>");
		char *nosig = strdup(good_xml);
		REQUIRE(nosig != NULL && s0 != NULL && s1 != NULL);
		memmove(nosig + (s0 - good_xml), nosig + (s1 - good_xml) + strlen("</ds:Signature>"),
			strlen(s1 + strlen("</ds:Signature>")) + 1);
		CHECK_EQ_INT(kms_cert_from_xml(nosig, strlen(nosig), NULL, &p), MCX_ERR_PARSE);
		free(nosig);
	}
	/* oversize: a document just above the cap, and one padded to it */
	big = malloc(KMS_CERT_XML_MAX + 2);
	REQUIRE(big != NULL);
	memset(big, ' ', KMS_CERT_XML_MAX + 1);
	memcpy(big, good_xml, strlen(good_xml));
	big[KMS_CERT_XML_MAX + 1] = '\0';
	CHECK_EQ_INT(kms_cert_from_xml(big, KMS_CERT_XML_MAX + 1, NULL, &p), MCX_ERR_REQUEST_TOO_LARGE);
	/* trailing whitespace after the root is fine within the cap */
	CHECK_OK(kms_cert_from_xml(big, KMS_CERT_XML_MAX, signer_point, &p));
	kms_cert_clear(&p);
	free(big);
	/* bad arguments */
	CHECK_EQ_INT(kms_cert_from_xml(NULL, 10, NULL, &p), MCX_ERR_INVALID_ARGUMENT);
	CHECK_EQ_INT(kms_cert_from_xml(good_xml, strlen(good_xml), NULL, NULL), MCX_ERR_INVALID_ARGUMENT);
}

TEST(datetime_forms)
{
	struct kms_cert p;
	char *v;
	int rc;

	REQUIRE(good_xml != NULL);
	/* without Z (the TS 33.180 examples), with fraction, with an offset */
	static const struct {
		const char *text;
		int64_t t;
	} forms[] = {
		{ "2026-11-23T00:00:00", T_FROM },
		{ "2026-11-23T00:00:00.250Z", T_FROM },
		{ "2026-11-23T01:30:00+01:30", T_FROM },
		{ "2026-11-22T23:00:00-01:00", T_FROM },
		{ " 2026-11-23T00:00:00Z\n", T_FROM },
	};
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		char repl[80];
		snprintf(repl, sizeof(repl), "<ValidFrom>%s<", forms[i].text);
		v = replace(good_xml, "<ValidFrom>2026-11-23T00:00:00Z<", repl);
		REQUIRE(v != NULL);
		rc = kms_cert_from_xml(v, strlen(v), NULL, &p);
		CHECK_OK(rc);
		if (rc == 0) {
			CHECK_EQ_INT(p.valid_from, forms[i].t);
			kms_cert_clear(&p);
		}
		free(v);
	}
	static const char *const bad[] = {
		"2026-11-23T00:00", "2026-11-23T24:00:00Z", "2026-13-01T00:00:00Z", "26-11-23T00:00:00Z",
		"2026-11-23T00:00:00+15:00", "2026-11-23T00:00:00Y", "2026-11-23t00:00:00Z",
		"1969-12-31T23:59:59Z", "2026-11-23T00:00:00.Z", "2026-11-23T00:00:60Z",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char repl[80];
		snprintf(repl, sizeof(repl), "<ValidFrom>%s<", bad[i]);
		rc = parse_variant("<ValidFrom>2026-11-23T00:00:00Z<", repl, NULL);
		if (rc != MCX_ERR_PARSE)
			printf("  accepted ValidFrom \"%s\"\n", bad[i]);
		CHECK_EQ_INT(rc, MCX_ERR_PARSE);
	}
	/* 2028-02-29 exists */
	CHECK_OK(parse_variant("<ValidTo>2027-11-23T00:00:00Z<", "<ValidTo>2028-02-29T00:00:00Z<", NULL));
}

TEST(check_validity)
{
	struct kms_cert c;

	make_cert(&c, ISSUER);
	CHECK_OK(kms_cert_check_validity(&c, T_FROM));
	CHECK_OK(kms_cert_check_validity(&c, T_TO));
	CHECK_OK(kms_cert_check_validity(&c, T_FROM + 86400));
	CHECK_EQ_INT(kms_cert_check_validity(&c, T_FROM - 1), MCX_ERR_EXPIRED);   /* not yet valid */
	CHECK_EQ_INT(kms_cert_check_validity(&c, T_TO + 1), MCX_ERR_EXPIRED);
	c.revoked = 1;
	CHECK_EQ_INT(kms_cert_check_validity(&c, T_FROM + 86400), MCX_ERR_REVOKED);
	CHECK_EQ_INT(kms_cert_check_validity(NULL, 0), MCX_ERR_INVALID_ARGUMENT);
	kms_cert_clear(&c);
	kms_cert_clear(NULL);
}

TEST(to_json)
{
	struct kms_cert c;
	json_t *j = NULL;
	const char *s;

	make_cert(&c, ISSUER);
	CHECK_OK(kms_cert_to_json(&c, &j));
	REQUIRE(j != NULL);
	CHECK_EQ_STR(json_string_value(json_object_get(j, "id")), "kms-a-2026");
	CHECK_EQ_STR(json_string_value(json_object_get(j, "role")), "Root");
	CHECK_EQ_STR(json_string_value(json_object_get(j, "kms_uri")), KMS_URI);
	CHECK_EQ_STR(json_string_value(json_object_get(j, "cert_uri")), CERT_URI);
	CHECK_EQ_STR(json_string_value(json_object_get(j, "issuer")), ISSUER);
	CHECK_EQ_STR(json_string_value(json_object_get(j, "valid_from")), "2026-11-23T00:00:00Z");
	CHECK_EQ_STR(json_string_value(json_object_get(j, "valid_to")), "2027-11-23T00:00:00Z");
	CHECK(json_is_false(json_object_get(j, "revoked")));
	CHECK_EQ_INT(json_integer_value(json_object_get(j, "user_key_period")), 2592000);
	CHECK_EQ_INT(json_integer_value(json_object_get(j, "user_key_offset")), 0);
	CHECK_EQ_INT(json_integer_value(json_object_get(j, "parameter_set")), 1);
	s = json_string_value(json_object_get(j, "pub_enc_key"));
	CHECK(s != NULL && strlen(s) == 514 && strncmp(s, "04", 2) == 0);
	s = json_string_value(json_object_get(j, "pub_auth_key"));
	CHECK(s != NULL && strlen(s) == 130 && strncmp(s, "04", 2) == 0);
	json_decref(j);
	free(c.issuer);
	c.issuer = NULL;
	CHECK_OK(kms_cert_to_json(&c, &j));
	CHECK(j != NULL && json_is_null(json_object_get(j, "issuer")));
	json_decref(j);
	kms_cert_clear(&c);
}

TEST(to_xml_refuses_bad_fields)
{
	struct kms_cert c;
	int rc;
	char *xml;

	make_cert(&c, ISSUER);
	c.pub_auth_key[64] ^= 1;   /* off the curve */
	xml = sign_cert(&c, soft_sign, signer, &rc);
	CHECK(xml == NULL);
	CHECK_EQ_INT(rc, MCX_ERR_INVALID_ARGUMENT);
	kms_cert_clear(&c);

	make_cert(&c, ISSUER);
	free(c.role);
	c.role = strdup("Admin");
	CHECK(sign_cert(&c, soft_sign, signer, &rc) == NULL);
	CHECK_EQ_INT(rc, MCX_ERR_INVALID_ARGUMENT);
	kms_cert_clear(&c);

	make_cert(&c, ISSUER);
	c.valid_to = c.valid_from - 1;
	CHECK(sign_cert(&c, soft_sign, signer, &rc) == NULL);
	CHECK_EQ_INT(rc, MCX_ERR_INVALID_ARGUMENT);
	kms_cert_clear(&c);

	make_cert(&c, ISSUER);
	free(c.id);
	c.id = strdup("has space");
	CHECK(sign_cert(&c, soft_sign, signer, &rc) == NULL);
	CHECK_EQ_INT(rc, MCX_ERR_INVALID_ARGUMENT);
	kms_cert_clear(&c);

	/* markup in the Issuer is escaped by libxml2, and survives the round trip */
	make_cert(&c, "A & B <KMS>");
	xml = sign_cert(&c, soft_sign, signer, &rc);
	CHECK_OK(rc);
	if (xml != NULL) {
		struct kms_cert p;
		CHECK(strstr(xml, "<Issuer>A &amp; B &lt;KMS&gt;</Issuer>") != NULL);
		rc = kms_cert_from_xml(xml, strlen(xml), signer_point, &p);
		CHECK_OK(rc);
		if (rc == 0) {
			CHECK_EQ_STR(p.issuer, "A & B <KMS>");
			kms_cert_clear(&p);
		}
		free(xml);
	}
	kms_cert_clear(&c);
}

int main(void)
{
	char cmd[128];
	int rc;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/mcx-kms-cert.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	signer = EVP_EC_gen("P-256");
	other = EVP_EC_gen("P-256");
	if (signer == NULL || other == NULL || !point_of(signer, signer_point) ||
	    !point_of(other, other_point)) {
		printf("cannot make test keys\n");
		return 2;
	}
	RUN(sign_and_round_trip);
	RUN(round_trip_without_issuer_external_revoked);
	RUN(xmlsec1_verifies_ours);
	RUN(we_verify_xmlsec1);
	RUN(reject_signature_problems);
	RUN(reject_hostile_and_malformed);
	RUN(datetime_forms);
	RUN(check_validity);
	RUN(to_json);
	RUN(to_xml_refuses_bad_fields);

	free(good_xml);
	EVP_PKEY_free(signer);
	EVP_PKEY_free(other);
	xmlCleanupParser();
	if (getenv("KMS_CERT_KEEP_TMP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		if (system(cmd) != 0)
			printf("could not remove %s\n", tmpdir);
	} else {
		printf("kept %s\n", tmpdir);
	}
	rc = test_summary("kms-cert");
	return rc;
}
