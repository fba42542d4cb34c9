/*
 * mcxvault — the TS 33.180 Annex D KMS certificate (see kms_cert.h).
 *
 * Everything XML goes through libxml2: the tree API builds the document,
 * xmlC14NExecute() canonicalizes (exclusive C14N 1.0, without comments) the
 * KmsCertificate element and the ds:SignedInfo element, and the parser reads
 * untrusted certificates with the network off, no DTD loading, no entity
 * substitution and a SAX hook that stops the parse at the first DOCTYPE, so
 * an XXE or billion-laughs payload never gets its entities declared.
 *
 * The signature is XML-DSig over a sibling element: ds:Signature follows
 * KmsCertificate inside SignedKmsCertificate and references it by "#<Id>",
 * so no enveloped-signature transform is needed.  SignatureValue is the raw
 * r || s (RFC 4050 / XML-DSig 1.1), base64 as XML-DSig writes it.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/c14n.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlIO.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "mcx/util.h"
#include "vault/kms/kms_cert.h"

#define DSIG_NS        "http://www.w3.org/2000/09/xmldsig#"
#define ALG_EXC_C14N   "http://www.w3.org/2001/10/xml-exc-c14n#"
#define ALG_ECDSA_SHA256 "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
#define ALG_SHA256     "http://www.w3.org/2001/04/xmlenc#sha256"
#define CERT_VERSION   "1.1.0"
#define USER_ID_FORMAT "2"   /* TS 33.180 Annex F UID format */

#define TIME_MAX         INT64_C(253402300799)   /* 9999-12-31T23:59:59Z */
#define KEY_PERIOD_MAX   INT64_C(3155760000)     /* 100 years */

#define X(s) ((const xmlChar *)(s))

/* ---- field checks shared by the writer and the reader --------------------- */

/* xs:ID is an NCName; we accept its ASCII subset. */
static int id_valid(const char *s)
{
	size_t n;

	if (s == NULL || (n = strlen(s)) == 0 || n > KMS_CERT_STRING_MAX)
		return 0;
	if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return 0;
	for (size_t i = 1; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

/* A URI (xs:anyURI) as we accept it: printable ASCII without spaces. */
static int uri_valid(const char *s)
{
	size_t n;

	if (s == NULL || (n = strlen(s)) == 0 || n > KMS_CERT_STRING_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

/* Issuer (xs:string): UTF-8 without control characters. */
static int text_valid(const char *s)
{
	size_t n;

	if (s == NULL || (n = strlen(s)) == 0 || n > KMS_CERT_STRING_MAX || !mcx_utf8_valid(s, n))
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* An uncompressed point on P-256 as an EVP_PKEY (fromdata checks the curve). */
static MCX_RESULT p256_public_key(const uint8_t point[65], EVP_PKEY **out)
{
	int r = MCX_ERR_INTERNAL;
	EVP_PKEY_CTX *ctx = NULL;
	char group[] = "prime256v1";
	OSSL_PARAM params[3];

	*out = NULL;
	MCX_ENSURE(point[0] == 0x04, MCX_ERR_INVALID_ARGUMENT);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point, 65);
	params[2] = OSSL_PARAM_construct_end();
	MCX_ENSURE((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) != NULL, MCX_ERR_CRYPTO);
	MCX_ENSURE(EVP_PKEY_fromdata_init(ctx) == 1, MCX_ERR_CRYPTO);
	MCX_ENSURE(EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) == 1,
		   MCX_ERR_INVALID_ARGUMENT);
	r = MCX_OK;
out:
	EVP_PKEY_CTX_free(ctx);
	return r;
}

static MCX_RESULT cert_check(const struct kms_cert *c)
{
	int r = MCX_ERR_INTERNAL;
	EVP_PKEY *kpak = NULL;

	MCX_ENSURE(id_valid(c->id), MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(c->role != NULL && (strcmp(c->role, "Root") == 0 || strcmp(c->role, "External") == 0),
		   MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(uri_valid(c->kms_uri) && uri_valid(c->cert_uri), MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(c->issuer == NULL || text_valid(c->issuer), MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(c->valid_from >= 0 && c->valid_from <= c->valid_to && c->valid_to <= TIME_MAX,
		   MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(c->revoked == 0 || c->revoked == 1, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(c->user_key_period >= 1 && c->user_key_period <= KEY_PERIOD_MAX,
		   MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(c->user_key_offset >= 0 && c->user_key_offset < c->user_key_period,
		   MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(c->pub_enc_key[0] == 0x04, MCX_ERR_INVALID_ARGUMENT);
	MCX_GUARD(p256_public_key(c->pub_auth_key, &kpak));
	MCX_ENSURE(c->parameter_set == 1, MCX_ERR_INVALID_ARGUMENT);
	r = MCX_OK;
out:
	EVP_PKEY_free(kpak);
	return r;
}

/* ---- xs:dateTime ------------------------------------------------------------ */

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int digits(const char *s, size_t n, int *v)
{
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		*v = *v * 10 + (s[i] - '0');
	}
	return 1;
}

/*
 * YYYY-MM-DDThh:mm:ss[.fraction][Z|(+|-)hh:mm]; no zone means UTC (TS 33.180
 * examples carry none).  The fraction is dropped.
 */
static MCX_RESULT datetime_parse(const char *s, int64_t *t)
{
	int r = MCX_ERR_INTERNAL, y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
	int zh = 0, zm = 0, sign = 0;
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	const char *p;
	int leap;

	MCX_ENSURE(strlen(s) >= 19, MCX_ERR_PARSE);
	MCX_ENSURE(digits(s, 4, &y) && s[4] == '-' && digits(s + 5, 2, &mo) && s[7] == '-' &&
		   digits(s + 8, 2, &d) && s[10] == 'T' && digits(s + 11, 2, &h) && s[13] == ':' &&
		   digits(s + 14, 2, &mi) && s[16] == ':' && digits(s + 17, 2, &sec), MCX_ERR_PARSE);
	p = s + 19;
	if (*p == '.') {
		p++;
		MCX_ENSURE(*p >= '0' && *p <= '9', MCX_ERR_PARSE);
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		MCX_ENSURE(digits(p + 1, 2, &zh) && p[3] == ':' && digits(p + 4, 2, &zm), MCX_ERR_PARSE);
		MCX_ENSURE(zh < 14 || (zh == 14 && zm == 0), MCX_ERR_PARSE);
		MCX_ENSURE(zm < 60, MCX_ERR_PARSE);
		p += 6;
	}
	MCX_ENSURE(*p == '\0', MCX_ERR_PARSE);
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	MCX_ENSURE(y >= 1970 && mo >= 1 && mo <= 12 && d >= 1 &&
		   d <= mdays[mo - 1] + (mo == 2 && leap) && h <= 23 && mi <= 59 && sec <= 59,
		   MCX_ERR_PARSE);
	*t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
	     sign * (zh * 3600 + zm * 60);
	MCX_ENSURE(*t >= 0 && *t <= TIME_MAX, MCX_ERR_PARSE);
	r = MCX_OK;
out:
	return r;
}

/* ---- base64 (standard alphabet, padded, as XML-DSig) ----------------------- */

static MCX_RESULT b64_encode(const uint8_t *data, size_t len, char *out, size_t out_size)
{
	int r = MCX_ERR_INTERNAL;

	MCX_ENSURE(out_size >= 4 * ((len + 2) / 3) + 1 && len <= 1024, MCX_ERR_INTERNAL);
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	r = MCX_OK;
out:
	return r;
}

/* Decodes exactly n octets; XML whitespace anywhere is skipped, anything else
 * must be the canonical encoding. */
static MCX_RESULT b64_decode_exact(const char *text, uint8_t *out, size_t n)
{
	int r = MCX_ERR_INTERNAL;
	char compact[128], again[128];
	uint8_t tmp[96];
	size_t k = 0, want = 4 * ((n + 2) / 3);

	MCX_ENSURE(want < sizeof(compact) && n <= sizeof(tmp), MCX_ERR_INTERNAL);
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			continue;
		MCX_ENSURE(k < want, MCX_ERR_PARSE);
		compact[k++] = *p;
	}
	MCX_ENSURE(k == want, MCX_ERR_PARSE);
	compact[k] = '\0';
	MCX_ENSURE(EVP_DecodeBlock(tmp, (const unsigned char *)compact, (int)k) == (int)(3 * k / 4),
		   MCX_ERR_PARSE);
	EVP_EncodeBlock((unsigned char *)again, tmp, (int)n);
	MCX_ENSURE(strcmp(again, compact) == 0, MCX_ERR_PARSE);
	memcpy(out, tmp, n);
	r = MCX_OK;
out:
	mcx_wipe(tmp, sizeof(tmp));
	return r;
}

/* ---- exclusive C14N + SHA-256 ---------------------------------------------- */

/* Node-set of one element's subtree: the element, its descendants, their
 * attributes and namespace nodes (what a same-document "#id" reference means). */
static int c14n_visible(void *user_data, xmlNodePtr node, xmlNodePtr parent)
{
	xmlNodePtr target = user_data, n;

	if (node == NULL)
		return 0;
	n = node->type == XML_NAMESPACE_DECL ? parent : node;
	for (; n != NULL; n = n->parent)
		if (n == target)
			return 1;
	return 0;
}

static int c14n_write(void *context, const char *buffer, int len)
{
	if (len < 0 || EVP_DigestUpdate(context, buffer, (size_t)len) != 1)
		return -1;
	return len;
}

/* SHA-256 of the exclusive canonicalization (no comments) of node's subtree. */
static MCX_RESULT c14n_sha256(xmlDocPtr doc, xmlNodePtr node, uint8_t digest[32])
{
	int r = MCX_ERR_INTERNAL;
	EVP_MD_CTX *md = NULL;
	xmlOutputBufferPtr ob = NULL;
	unsigned int dlen = 0;
	int n;

	MCX_ENSURE((md = EVP_MD_CTX_new()) != NULL, MCX_ERR_ALLOC);
	MCX_ENSURE(EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1, MCX_ERR_CRYPTO);
	MCX_ENSURE_ALLOC(ob = xmlOutputBufferCreateIO(c14n_write, NULL, md, NULL));
	n = xmlC14NExecute(doc, c14n_visible, node, XML_C14N_EXCLUSIVE_1_0, NULL, 0, ob);
	n = xmlOutputBufferClose(ob) < 0 ? -1 : n;
	ob = NULL;
	MCX_ENSURE(n > 0, MCX_ERR_PARSE);
	MCX_ENSURE(EVP_DigestFinal_ex(md, digest, &dlen) == 1 && dlen == 32, MCX_ERR_CRYPTO);
	r = MCX_OK;
out:
	if (ob != NULL)
		(void)xmlOutputBufferClose(ob);
	EVP_MD_CTX_free(md);
	return r;
}

/* ---- writer ---------------------------------------------------------------- */

static MCX_RESULT add_ws(xmlNodePtr parent, const char *ws)
{
	int r = MCX_ERR_INTERNAL;
	xmlNodePtr t;

	MCX_ENSURE_ALLOC(t = xmlNewText(X(ws)));
	MCX_ENSURE_ALLOC(xmlAddChild(parent, t));
	r = MCX_OK;
out:
	return r;
}

/* Appends "<indent><name>text</name>"; text is escaped by libxml2. */
static MCX_RESULT add_elem(xmlNodePtr parent, xmlNsPtr ns, const char *indent, const char *name,
			   const char *text, xmlNodePtr *made)
{
	int r = MCX_ERR_INTERNAL;
	xmlNodePtr e;

	MCX_GUARD(add_ws(parent, indent));
	MCX_ENSURE_ALLOC(e = xmlNewTextChild(parent, ns, X(name), text != NULL ? X(text) : NULL));
	if (made != NULL)
		*made = e;
	r = MCX_OK;
out:
	return r;
}

static MCX_RESULT add_alg(xmlNodePtr parent, xmlNsPtr ns, const char *indent, const char *name,
			  const char *alg, xmlNodePtr *made)
{
	int r = MCX_ERR_INTERNAL;
	xmlNodePtr e = NULL;

	MCX_GUARD(add_elem(parent, ns, indent, name, NULL, &e));
	if (alg != NULL)
		MCX_ENSURE_ALLOC(xmlNewProp(e, X("Algorithm"), X(alg)));
	if (made != NULL)
		*made = e;
	r = MCX_OK;
out:
	return r;
}

static MCX_RESULT hex_string(const uint8_t *data, size_t len, char **out)
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_buf *b = NULL;

	*out = NULL;
	MCX_ENSURE_ALLOC(b = mcx_buf_new(2 * len + 1));
	MCX_GUARD(mcx_hex_encode(b, data, len));
	MCX_GUARD(mcx_buf_put_u8(b, 0));
	MCX_ENSURE_ALLOC(*out = strdup((const char *)mcx_buf_ptr(b)));
	r = MCX_OK;
out:
	mcx_buf_free(b);
	return r;
}

MCX_RESULT kms_cert_to_xml(const struct kms_cert *cert, kms_cert_sign_fn sign, void *sign_ctx,
			   struct mcx_buf *out)
{
	int r = MCX_ERR_INTERNAL;
	xmlDocPtr doc = NULL;
	xmlNodePtr root, kc, sig, si, ref, tr;
	xmlNsPtr ns, ds;
	xmlChar *mem = NULL;
	int mem_len = 0;
	char from[21], to[21], num[3][24], *enc_hex = NULL, *auth_hex = NULL, *uri = NULL;
	char b64[96];
	uint8_t digest[32], sigval[64];
	size_t uri_len;

	MCX_ENSURE_REF(cert);
	MCX_ENSURE_REF(sign);
	MCX_ENSURE_REF(out);
	MCX_GUARD(cert_check(cert));
	xmlInitParser();

	mcx_time_format(cert->valid_from, from);
	mcx_time_format(cert->valid_to, to);
	snprintf(num[0], sizeof(num[0]), "%lld", (long long)cert->user_key_period);
	snprintf(num[1], sizeof(num[1]), "%lld", (long long)cert->user_key_offset);
	snprintf(num[2], sizeof(num[2]), "%d", cert->parameter_set);
	MCX_GUARD(hex_string(cert->pub_enc_key, sizeof(cert->pub_enc_key), &enc_hex));
	MCX_GUARD(hex_string(cert->pub_auth_key, sizeof(cert->pub_auth_key), &auth_hex));
	uri_len = strlen(cert->id) + 2;
	MCX_ENSURE_ALLOC(uri = malloc(uri_len));
	snprintf(uri, uri_len, "#%s", cert->id);

	MCX_ENSURE_ALLOC(doc = xmlNewDoc(X("1.0")));
	MCX_ENSURE_ALLOC(root = xmlNewDocNode(doc, NULL, X("SignedKmsCertificate"), NULL));
	xmlDocSetRootElement(doc, root);
	MCX_ENSURE_ALLOC(ns = xmlNewNs(root, X(KMS_CERT_NS), NULL));
	xmlSetNs(root, ns);

	MCX_GUARD(add_elem(root, ns, "\n  ", "KmsCertificate", NULL, &kc));
	MCX_ENSURE_ALLOC(xmlNewProp(kc, X("Id"), X(cert->id)));
	MCX_ENSURE_ALLOC(xmlNewProp(kc, X("Version"), X(CERT_VERSION)));
	MCX_ENSURE_ALLOC(xmlNewProp(kc, X("Role"), X(cert->role)));
	MCX_GUARD(add_elem(kc, ns, "\n    ", "KmsUri", cert->kms_uri, NULL));
	MCX_GUARD(add_elem(kc, ns, "\n    ", "CertUri", cert->cert_uri, NULL));
	if (cert->issuer != NULL)
		MCX_GUARD(add_elem(kc, ns, "\n    ", "Issuer", cert->issuer, NULL));
	MCX_GUARD(add_elem(kc, ns, "\n    ", "ValidFrom", from, NULL));
	MCX_GUARD(add_elem(kc, ns, "\n    ", "ValidTo", to, NULL));
	MCX_GUARD(add_elem(kc, ns, "\n    ", "Revoked", cert->revoked ? "true" : "false", NULL));
	MCX_GUARD(add_elem(kc, ns, "\n    ", "UserIdFormat", USER_ID_FORMAT, NULL));
	MCX_GUARD(add_elem(kc, ns, "\n    ", "UserKeyPeriod", num[0], NULL));
	MCX_GUARD(add_elem(kc, ns, "\n    ", "UserKeyOffset", num[1], NULL));
	MCX_GUARD(add_elem(kc, ns, "\n    ", "PubEncKey", enc_hex, NULL));
	MCX_GUARD(add_elem(kc, ns, "\n    ", "PubAuthKey", auth_hex, NULL));
	MCX_GUARD(add_elem(kc, ns, "\n    ", "ParameterSet", num[2], NULL));
	MCX_GUARD(add_ws(kc, "\n  "));

	/* <ds:Signature> with its namespace declared on itself */
	MCX_GUARD(add_ws(root, "\n  "));
	MCX_ENSURE_ALLOC(sig = xmlNewDocNode(doc, NULL, X("Signature"), NULL));
	MCX_ENSURE_ALLOC(xmlAddChild(root, sig));
	MCX_ENSURE_ALLOC(ds = xmlNewNs(sig, X(DSIG_NS), X("ds")));
	xmlSetNs(sig, ds);
	MCX_GUARD(add_elem(sig, ds, "\n    ", "SignedInfo", NULL, &si));
	MCX_GUARD(add_alg(si, ds, "\n      ", "CanonicalizationMethod", ALG_EXC_C14N, NULL));
	MCX_GUARD(add_alg(si, ds, "\n      ", "SignatureMethod", ALG_ECDSA_SHA256, NULL));
	MCX_GUARD(add_elem(si, ds, "\n      ", "Reference", NULL, &ref));
	MCX_ENSURE_ALLOC(xmlNewProp(ref, X("URI"), X(uri)));
	MCX_GUARD(add_alg(ref, ds, "\n        ", "Transforms", NULL, &tr));
	MCX_GUARD(add_alg(tr, ds, "\n          ", "Transform", ALG_EXC_C14N, NULL));
	MCX_GUARD(add_ws(tr, "\n        "));
	MCX_GUARD(add_alg(ref, ds, "\n        ", "DigestMethod", ALG_SHA256, NULL));
	MCX_GUARD(c14n_sha256(doc, kc, digest));
	MCX_GUARD(b64_encode(digest, sizeof(digest), b64, sizeof(b64)));
	MCX_GUARD(add_elem(ref, ds, "\n        ", "DigestValue", b64, NULL));
	MCX_GUARD(add_ws(ref, "\n      "));
	MCX_GUARD(add_ws(si, "\n    "));

	/* the HSM signs SHA-256 of the canonical SignedInfo */
	MCX_GUARD(c14n_sha256(doc, si, digest));
	MCX_GUARD(sign(sign_ctx, digest, sigval));
	MCX_GUARD(b64_encode(sigval, sizeof(sigval), b64, sizeof(b64)));
	MCX_GUARD(add_elem(sig, ds, "\n    ", "SignatureValue", b64, NULL));
	MCX_GUARD(add_ws(sig, "\n  "));
	MCX_GUARD(add_ws(root, "\n"));

	xmlDocDumpMemoryEnc(doc, &mem, &mem_len, "UTF-8");
	MCX_ENSURE_ALLOC(mem);
	MCX_ENSURE(mem_len > 0 && (size_t)mem_len <= KMS_CERT_XML_MAX, MCX_ERR_NO_BUFFER_SPACE);
	MCX_GUARD(mcx_buf_put(out, mem, (size_t)mem_len));
	r = MCX_OK;
out:
	xmlFree(mem);
	xmlFreeDoc(doc);
	free(enc_hex);
	free(auth_hex);
	free(uri);
	return r;
}

/* ---- reader ---------------------------------------------------------------- */

struct parse_guard {
	int saw_dtd;
};

/* SAX hooks: a DOCTYPE stops the parse before any declaration is read. */
static void sax_internal_subset(void *ctx, const xmlChar *name, const xmlChar *ext,
				const xmlChar *sys)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct parse_guard *g = ctxt->_private;

	if (g != NULL)
		g->saw_dtd = 1;
	xmlStopParser(ctxt);
}

static void sax_entity_decl(void *ctx, const xmlChar *name, int type, const xmlChar *public_id,
			    const xmlChar *system_id, xmlChar *content)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct parse_guard *g = ctxt->_private;

	if (g != NULL)
		g->saw_dtd = 1;
	xmlStopParser(ctxt);
}

static int is_xml_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int only_space(const xmlChar *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if (!is_xml_space((char)*s))
			return 0;
	return 1;
}

static int name_is(xmlNodePtr n, const char *ns, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL &&
	       xmlStrEqual(n->ns->href, X(ns)) && xmlStrEqual(n->name, X(name));
}

/* Next element child after prev (NULL: the first); text between elements must
 * be whitespace, and nothing else (comment, PI, CDATA, entity) may appear. */
static MCX_RESULT next_elem(xmlNodePtr parent, xmlNodePtr prev, xmlNodePtr *next)
{
	int r = MCX_ERR_INTERNAL;
	xmlNodePtr n = prev != NULL ? prev->next : parent->children;

	*next = NULL;
	for (; n != NULL; n = n->next) {
		if (n->type == XML_ELEMENT_NODE)
			break;
		MCX_ENSURE(n->type == XML_TEXT_NODE && only_space(n->content), MCX_ERR_PARSE);
	}
	*next = n;
	r = MCX_OK;
out:
	return r;
}

/* The attributes of e are exactly the unqualified names in allowed[]
 * (each at most once, the parser already refuses duplicates). */
static MCX_RESULT attrs_only(xmlNodePtr e, const char *const *allowed, size_t n_allowed)
{
	int r = MCX_ERR_INTERNAL;

	for (xmlAttrPtr a = e->properties; a != NULL; a = a->next) {
		int ok = 0;
		MCX_ENSURE(a->ns == NULL, MCX_ERR_PARSE);
		for (size_t i = 0; i < n_allowed; i++)
			ok |= xmlStrEqual(a->name, X(allowed[i]));
		MCX_ENSURE(ok, MCX_ERR_PARSE);
	}
	r = MCX_OK;
out:
	return r;
}

/* The attribute's value as a pointer into the tree, or NULL if absent. */
static const char *attr_value(xmlNodePtr e, const char *name)
{
	for (xmlAttrPtr a = e->properties; a != NULL; a = a->next)
		if (a->ns == NULL && xmlStrEqual(a->name, X(name)))
			return a->children != NULL && a->children->type == XML_TEXT_NODE &&
					       a->children->next == NULL
				       ? (const char *)a->children->content
				       : "";
	return NULL;
}

/* A leaf element: no attributes, one text node; trim applies the xs
 * whitespace "collapse" facet's edges (non-string types). */
static MCX_RESULT leaf_text(xmlNodePtr e, int trim, char *buf, size_t size)
{
	int r = MCX_ERR_INTERNAL;
	const char *s;
	size_t n;

	MCX_ENSURE(e->properties == NULL, MCX_ERR_PARSE);
	MCX_ENSURE(e->children != NULL && e->children->type == XML_TEXT_NODE &&
		   e->children->next == NULL, MCX_ERR_PARSE);
	s = (const char *)e->children->content;
	n = strlen(s);
	if (trim) {
		while (n > 0 && is_xml_space(*s)) {
			s++;
			n--;
		}
		while (n > 0 && is_xml_space(s[n - 1]))
			n--;
	}
	MCX_ENSURE(n > 0 && n < size, MCX_ERR_PARSE);
	memcpy(buf, s, n);
	buf[n] = '\0';
	r = MCX_OK;
out:
	return r;
}

/* An empty element (an algorithm identifier) with exactly Algorithm="alg". */
static MCX_RESULT alg_elem(xmlNodePtr e, const char *name, const char *alg)
{
	int r = MCX_ERR_INTERNAL;
	static const char *const attrs[] = { "Algorithm" };
	const char *v;
	xmlNodePtr child = NULL;

	MCX_ENSURE(name_is(e, DSIG_NS, name), MCX_ERR_SIGNATURE_INVALID);
	MCX_ENSURE(attrs_only(e, attrs, 1) == 0, MCX_ERR_SIGNATURE_INVALID);
	MCX_ENSURE((v = attr_value(e, "Algorithm")) != NULL && strcmp(v, alg) == 0,
		   MCX_ERR_SIGNATURE_INVALID);
	MCX_GUARD(next_elem(e, NULL, &child));
	MCX_ENSURE(child == NULL, MCX_ERR_SIGNATURE_INVALID);
	r = MCX_OK;
out:
	return r;
}

static MCX_RESULT parse_int(const char *s, int64_t lo, int64_t hi, int64_t *v)
{
	int r = MCX_ERR_INTERNAL, neg = 0;
	int64_t x = 0;

	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	MCX_ENSURE(*s != '\0', MCX_ERR_PARSE);
	for (; *s != '\0'; s++) {
		MCX_ENSURE(*s >= '0' && *s <= '9', MCX_ERR_PARSE);
		MCX_ENSURE(x <= (INT64_MAX - 9) / 10, MCX_ERR_PARSE);
		x = x * 10 + (*s - '0');
	}
	x = neg ? -x : x;
	MCX_ENSURE(x >= lo && x <= hi, MCX_ERR_PARSE);
	*v = x;
	r = MCX_OK;
out:
	return r;
}

static MCX_RESULT parse_hex_exact(const char *s, uint8_t *outb, size_t n)
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_buf *b = NULL;

	MCX_ENSURE(strlen(s) == 2 * n, MCX_ERR_PARSE);
	MCX_ENSURE_ALLOC(b = mcx_buf_new(n));
	MCX_GUARD(mcx_hex_decode(b, s, 2 * n));
	MCX_ENSURE(mcx_buf_len(b) == n, MCX_ERR_PARSE);
	memcpy(outb, mcx_buf_ptr(b), n);
	r = MCX_OK;
out:
	mcx_buf_free(b);
	return r;
}

/* Reads the KmsCertificate element into c (strings allocated). */
static MCX_RESULT parse_cert(xmlNodePtr kc, struct kms_cert *c)
{
	int r = MCX_ERR_INTERNAL;
	static const char *const attrs[] = { "Id", "Version", "Role" };
	static const struct {
		const char *name;
		int optional;
		int trim;
	} fields[] = {
		{ "KmsUri", 0, 1 },    { "CertUri", 0, 1 },      { "Issuer", 1, 0 },
		{ "ValidFrom", 0, 1 }, { "ValidTo", 0, 1 },      { "Revoked", 0, 1 },
		{ "UserIdFormat", 0, 0 }, { "UserKeyPeriod", 0, 1 }, { "UserKeyOffset", 0, 1 },
		{ "PubEncKey", 0, 1 }, { "PubAuthKey", 0, 1 },   { "ParameterSet", 0, 1 },
	};
	const char *v;
	char text[2 * KMS_CERT_ENC_KEY_LEN + 1 > KMS_CERT_STRING_MAX + 1 ?
			  2 * KMS_CERT_ENC_KEY_LEN + 1 : KMS_CERT_STRING_MAX + 1];
	xmlNodePtr e = NULL;
	int64_t v64;

	MCX_ENSURE(attrs_only(kc, attrs, MCX_ARRAY_SIZE(attrs)) == 0, MCX_ERR_PARSE);
	MCX_ENSURE((v = attr_value(kc, "Id")) != NULL && id_valid(v), MCX_ERR_PARSE);
	MCX_ENSURE_ALLOC(c->id = strdup(v));
	MCX_ENSURE((v = attr_value(kc, "Version")) != NULL && strcmp(v, CERT_VERSION) == 0,
		   MCX_ERR_PARSE);
	MCX_ENSURE((v = attr_value(kc, "Role")) != NULL &&
		   (strcmp(v, "Root") == 0 || strcmp(v, "External") == 0), MCX_ERR_PARSE);
	MCX_ENSURE_ALLOC(c->role = strdup(v));

	MCX_GUARD(next_elem(kc, NULL, &e));
	for (size_t i = 0; i < MCX_ARRAY_SIZE(fields); i++) {
		if (!name_is(e, KMS_CERT_NS, fields[i].name)) {
			MCX_ENSURE(fields[i].optional, MCX_ERR_PARSE);
			continue;
		}
		MCX_GUARD(leaf_text(e, fields[i].trim, text, sizeof(text)));
		switch (i) {
		case 0:
			MCX_ENSURE(uri_valid(text), MCX_ERR_PARSE);
			MCX_ENSURE_ALLOC(c->kms_uri = strdup(text));
			break;
		case 1:
			MCX_ENSURE(uri_valid(text), MCX_ERR_PARSE);
			MCX_ENSURE_ALLOC(c->cert_uri = strdup(text));
			break;
		case 2:
			MCX_ENSURE(text_valid(text), MCX_ERR_PARSE);
			MCX_ENSURE_ALLOC(c->issuer = strdup(text));
			break;
		case 3:
			MCX_GUARD(datetime_parse(text, &c->valid_from));
			break;
		case 4:
			MCX_GUARD(datetime_parse(text, &c->valid_to));
			break;
		case 5:
			if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0)
				c->revoked = 1;
			else
				MCX_ENSURE(strcmp(text, "false") == 0 || strcmp(text, "0") == 0,
					   MCX_ERR_PARSE);
			break;
		case 6:
			MCX_ENSURE(strcmp(text, USER_ID_FORMAT) == 0, MCX_ERR_PARSE);
			break;
		case 7:
			MCX_GUARD(parse_int(text, 1, KEY_PERIOD_MAX, &c->user_key_period));
			break;
		case 8:
			MCX_GUARD(parse_int(text, 0, KEY_PERIOD_MAX, &c->user_key_offset));
			break;
		case 9:
			MCX_GUARD(parse_hex_exact(text, c->pub_enc_key, sizeof(c->pub_enc_key)));
			break;
		case 10:
			MCX_GUARD(parse_hex_exact(text, c->pub_auth_key, sizeof(c->pub_auth_key)));
			break;
		case 11:
			MCX_GUARD(parse_int(text, 1, 1, &v64));
			c->parameter_set = (int)v64;
			break;
		default:
			MCX_BAIL(MCX_ERR_INTERNAL);
		}
		MCX_GUARD(next_elem(kc, e, &e));
	}
	MCX_ENSURE(e == NULL, MCX_ERR_PARSE);   /* unknown or out-of-order element */
	/* the same rules the writer applies (ranges, the KPAK on P-256) */
	MCX_ENSURE(cert_check(c) == 0, MCX_ERR_PARSE);
	r = MCX_OK;
out:
	mcx_wipe(text, sizeof(text));
	return r;
}

/* Checks the ds:Signature structure; returns SignedInfo and the values. */
static MCX_RESULT parse_signature(xmlNodePtr sig, const char *id, xmlNodePtr *si_out,
				  uint8_t digest_value[32], uint8_t sigval[64])
{
	int r = MCX_ERR_INTERNAL;
	static const char *const ref_attrs[] = { "URI" };
	xmlNodePtr si = NULL, e = NULL, ref = NULL, tr = NULL, t = NULL;
	const char *uri;
	char text[256];

	MCX_ENSURE(sig->properties == NULL, MCX_ERR_SIGNATURE_INVALID);
	MCX_GUARD(next_elem(sig, NULL, &si));
	MCX_ENSURE(name_is(si, DSIG_NS, "SignedInfo") && si->properties == NULL,
		   MCX_ERR_SIGNATURE_INVALID);

	MCX_GUARD(next_elem(si, NULL, &e));
	MCX_GUARD(alg_elem(e, "CanonicalizationMethod", ALG_EXC_C14N));
	MCX_GUARD(next_elem(si, e, &e));
	MCX_GUARD(alg_elem(e, "SignatureMethod", ALG_ECDSA_SHA256));
	MCX_GUARD(next_elem(si, e, &ref));
	MCX_ENSURE(name_is(ref, DSIG_NS, "Reference"), MCX_ERR_SIGNATURE_INVALID);
	MCX_GUARD(next_elem(si, ref, &e));
	MCX_ENSURE(e == NULL, MCX_ERR_SIGNATURE_INVALID);   /* exactly one Reference */

	MCX_ENSURE(attrs_only(ref, ref_attrs, 1) == 0, MCX_ERR_SIGNATURE_INVALID);
	MCX_ENSURE((uri = attr_value(ref, "URI")) != NULL && uri[0] == '#' &&
		   strcmp(uri + 1, id) == 0, MCX_ERR_SIGNATURE_INVALID);
	MCX_GUARD(next_elem(ref, NULL, &tr));
	MCX_ENSURE(name_is(tr, DSIG_NS, "Transforms") && tr->properties == NULL,
		   MCX_ERR_SIGNATURE_INVALID);
	MCX_GUARD(next_elem(tr, NULL, &t));
	MCX_GUARD(alg_elem(t, "Transform", ALG_EXC_C14N));
	MCX_GUARD(next_elem(tr, t, &t));
	MCX_ENSURE(t == NULL, MCX_ERR_SIGNATURE_INVALID);
	MCX_GUARD(next_elem(ref, tr, &e));
	MCX_GUARD(alg_elem(e, "DigestMethod", ALG_SHA256));
	MCX_GUARD(next_elem(ref, e, &e));
	MCX_ENSURE(name_is(e, DSIG_NS, "DigestValue"), MCX_ERR_SIGNATURE_INVALID);
	MCX_ENSURE(leaf_text(e, 0, text, sizeof(text)) == 0, MCX_ERR_SIGNATURE_INVALID);
	MCX_ENSURE(b64_decode_exact(text, digest_value, 32) == 0, MCX_ERR_SIGNATURE_INVALID);
	MCX_GUARD(next_elem(ref, e, &e));
	MCX_ENSURE(e == NULL, MCX_ERR_SIGNATURE_INVALID);

	MCX_GUARD(next_elem(sig, si, &e));
	MCX_ENSURE(name_is(e, DSIG_NS, "SignatureValue"), MCX_ERR_SIGNATURE_INVALID);
	MCX_ENSURE(leaf_text(e, 0, text, sizeof(text)) == 0, MCX_ERR_SIGNATURE_INVALID);
	MCX_ENSURE(b64_decode_exact(text, sigval, 64) == 0, MCX_ERR_SIGNATURE_INVALID);
	MCX_GUARD(next_elem(sig, e, &e));
	if (e != NULL && name_is(e, DSIG_NS, "KeyInfo"))   /* a hint we do not use */
		MCX_GUARD(next_elem(sig, e, &e));
	MCX_ENSURE(e == NULL, MCX_ERR_SIGNATURE_INVALID);   /* no ds:Object */
	*si_out = si;
	r = MCX_OK;
out:
	return r;
}

static MCX_RESULT ecdsa_verify(const uint8_t point[65], const uint8_t digest[32],
			       const uint8_t rs[64])
{
	int r = MCX_ERR_INTERNAL, der_len;
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	ECDSA_SIG *sig = NULL;
	BIGNUM *br = NULL, *bs = NULL;
	unsigned char *der = NULL;

	MCX_ENSURE(p256_public_key(point, &pkey) == 0, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE_ALLOC(sig = ECDSA_SIG_new());
	MCX_ENSURE_ALLOC(br = BN_bin2bn(rs, 32, NULL));
	MCX_ENSURE_ALLOC(bs = BN_bin2bn(rs + 32, 32, NULL));
	MCX_ENSURE(ECDSA_SIG_set0(sig, br, bs) == 1, MCX_ERR_CRYPTO);
	br = bs = NULL;
	MCX_ENSURE((der_len = i2d_ECDSA_SIG(sig, &der)) > 0, MCX_ERR_CRYPTO);
	MCX_ENSURE((ctx = EVP_PKEY_CTX_new(pkey, NULL)) != NULL, MCX_ERR_CRYPTO);
	MCX_ENSURE(EVP_PKEY_verify_init(ctx) == 1, MCX_ERR_CRYPTO);
	MCX_ENSURE(EVP_PKEY_verify(ctx, der, (size_t)der_len, digest, 32) == 1,
		   MCX_ERR_SIGNATURE_INVALID);
	r = MCX_OK;
out:
	OPENSSL_free(der);
	BN_free(br);
	BN_free(bs);
	ECDSA_SIG_free(sig);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return r;
}

MCX_RESULT kms_cert_from_xml(const char *xml, size_t len, const uint8_t signer_point[65],
			     struct kms_cert *out)
{
	int r = MCX_ERR_INTERNAL;
	xmlParserCtxtPtr ctxt = NULL;
	xmlDocPtr doc = NULL;
	xmlNodePtr root, kc = NULL, sig = NULL, si = NULL, e = NULL;
	struct parse_guard guard = { 0 };
	struct kms_cert c;
	uint8_t want[32], got[32], sigval[64];

	memset(&c, 0, sizeof(c));
	MCX_ENSURE(xml != NULL && out != NULL, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(len <= KMS_CERT_XML_MAX, MCX_ERR_REQUEST_TOO_LARGE);
	MCX_ENSURE(len > 0 && mcx_utf8_valid(xml, len), MCX_ERR_PARSE);   /* also: no NUL */
	xmlInitParser();

	MCX_ENSURE_ALLOC(ctxt = xmlNewParserCtxt());
	MCX_ENSURE(ctxt->sax != NULL, MCX_ERR_INTERNAL);
	ctxt->sax->internalSubset = sax_internal_subset;
	ctxt->sax->entityDecl = sax_entity_decl;
	ctxt->sax->externalSubset = NULL;
	ctxt->sax->resolveEntity = NULL;
	ctxt->_private = &guard;
	/* no XML_PARSE_NOENT / DTDLOAD / DTDATTR / XINCLUDE; NOBLANKS would break C14N */
	doc = xmlCtxtReadMemory(ctxt, xml, (int)len, NULL, "UTF-8",
				XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	MCX_ENSURE(!guard.saw_dtd, MCX_ERR_PARSE);
	MCX_ENSURE(doc != NULL && ctxt->wellFormed && ctxt->errNo == 0, MCX_ERR_PARSE);
	MCX_ENSURE(doc->intSubset == NULL && doc->extSubset == NULL, MCX_ERR_PARSE);

	/* the document is exactly one root element: no comments or PIs around it */
	root = xmlDocGetRootElement(doc);
	MCX_ENSURE(root != NULL && doc->children == root && root->next == NULL, MCX_ERR_PARSE);
	MCX_ENSURE(name_is(root, KMS_CERT_NS, "SignedKmsCertificate") && root->properties == NULL,
		   MCX_ERR_PARSE);
	MCX_GUARD(next_elem(root, NULL, &kc));
	MCX_ENSURE(name_is(kc, KMS_CERT_NS, "KmsCertificate"), MCX_ERR_PARSE);
	MCX_GUARD(next_elem(root, kc, &sig));
	MCX_ENSURE(name_is(sig, DSIG_NS, "Signature"), MCX_ERR_PARSE);
	MCX_GUARD(next_elem(root, sig, &e));
	MCX_ENSURE(e == NULL, MCX_ERR_PARSE);   /* one certificate, one signature */

	MCX_GUARD(parse_cert(kc, &c));
	MCX_GUARD(parse_signature(sig, c.id, &si, want, sigval));
	if (signer_point != NULL) {
		MCX_ENSURE(c14n_sha256(doc, kc, got) == 0, MCX_ERR_SIGNATURE_INVALID);
		MCX_ENSURE(mcx_memcmp_consttime(got, want, sizeof(got)) == 0,
			   MCX_ERR_SIGNATURE_INVALID);
		MCX_ENSURE(c14n_sha256(doc, si, got) == 0, MCX_ERR_SIGNATURE_INVALID);
		MCX_GUARD(ecdsa_verify(signer_point, got, sigval));
	}
	*out = c;
	memset(&c, 0, sizeof(c));
	r = MCX_OK;
out:
	kms_cert_clear(&c);
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
	return r;
}

/* ---- JSON, validity, clear ------------------------------------------------ */

MCX_RESULT kms_cert_to_json(const struct kms_cert *cert, json_t **out)
{
	int r = MCX_ERR_INTERNAL;
	char from[21], to[21], *enc_hex = NULL, *auth_hex = NULL;

	MCX_ENSURE(cert != NULL && out != NULL, MCX_ERR_INVALID_ARGUMENT);
	*out = NULL;
	MCX_ENSURE(cert->id != NULL && cert->role != NULL && cert->kms_uri != NULL &&
		   cert->cert_uri != NULL, MCX_ERR_INVALID_ARGUMENT);
	mcx_time_format(cert->valid_from, from);
	mcx_time_format(cert->valid_to, to);
	MCX_GUARD(hex_string(cert->pub_enc_key, sizeof(cert->pub_enc_key), &enc_hex));
	MCX_GUARD(hex_string(cert->pub_auth_key, sizeof(cert->pub_auth_key), &auth_hex));
	*out = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:s, s:b, s:s, s:I, s:I, s:s, s:s, s:i}",
			 "id", cert->id, "role", cert->role, "kms_uri", cert->kms_uri,
			 "cert_uri", cert->cert_uri, "issuer", cert->issuer,
			 "valid_from", from, "valid_to", to, "revoked", cert->revoked,
			 "user_id_format", USER_ID_FORMAT,
			 "user_key_period", (json_int_t)cert->user_key_period,
			 "user_key_offset", (json_int_t)cert->user_key_offset,
			 "pub_enc_key", enc_hex, "pub_auth_key", auth_hex,
			 "parameter_set", cert->parameter_set);
	MCX_ENSURE_ALLOC(*out);
	r = MCX_OK;
out:
	free(enc_hex);
	free(auth_hex);
	return r;
}

MCX_RESULT kms_cert_check_validity(const struct kms_cert *cert, int64_t now)
{
	int r = MCX_ERR_INTERNAL;

	MCX_ENSURE_REF(cert);
	MCX_ENSURE(!cert->revoked, MCX_ERR_REVOKED);
	MCX_ENSURE(now >= cert->valid_from && now <= cert->valid_to, MCX_ERR_EXPIRED);
	r = MCX_OK;
out:
	return r;
}

void kms_cert_clear(struct kms_cert *cert)
{
	if (cert == NULL)
		return;
	free(cert->id);
	free(cert->role);
	free(cert->kms_uri);
	free(cert->cert_uri);
	free(cert->issuer);
	mcx_wipe(cert, sizeof(*cert));
}
