/*
 * mcxvault tests — the HSM layer against a real SoftHSM 2 token.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tests/hsm/hsm_test_token.h"

#include <pthread.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>

#include "mcx/buf.h"
#include "mcx/error.h"
#include "pkcs11/hsm.h"
#include "tests/test.h"

static struct hsm *open_default(unsigned sessions)
{
	struct hsm_options o = { "softhsm2", "pkcs11:token=" TEST_TOKEN_LABEL, TEST_PIN, sessions, NULL, NULL };
	struct hsm *h = NULL;

	if (hsm_open(&o, &h) != 0)
		return NULL;
	return h;
}

static int try_open(const char *module, const char *uri, const char *pin)
{
	struct hsm_options o = { module, uri, pin, 1, NULL, NULL };
	struct hsm *h = NULL;
	int r = hsm_open(&o, &h);

	hsm_close(h);
	return r;
}

/* OpenSSL check of r || s over digest with the uncompressed point. */
static int verify_p256(const uint8_t point[65], const uint8_t digest[32], const uint8_t sig[64])
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL, *vctx = NULL;
	EVP_PKEY *pkey = NULL;
	ECDSA_SIG *es = NULL;
	BIGNUM *br = NULL, *bs = NULL;
	unsigned char *der = NULL;
	int der_len, ok = 0;

	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 65) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		goto out;
	es = ECDSA_SIG_new();
	br = BN_bin2bn(sig, 32, NULL);
	bs = BN_bin2bn(sig + 32, 32, NULL);
	if (es == NULL || br == NULL || bs == NULL || !ECDSA_SIG_set0(es, br, bs))
		goto out;
	br = bs = NULL;
	if ((der_len = i2d_ECDSA_SIG(es, &der)) <= 0)
		goto out;
	vctx = EVP_PKEY_CTX_new(pkey, NULL);
	if (vctx == NULL || EVP_PKEY_verify_init(vctx) <= 0)
		goto out;
	ok = EVP_PKEY_verify(vctx, der, (size_t)der_len, digest, 32) == 1;
out:
	OPENSSL_free(der);
	BN_free(br);
	BN_free(bs);
	ECDSA_SIG_free(es);
	EVP_PKEY_CTX_free(vctx);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return ok;
}

TEST(open_by_name)
{
	struct hsm *h = open_default(2);
	struct hsm_token_info info;

	REQUIRE(h != NULL);
	CHECK_OK(hsm_token_info(h, &info));
	CHECK_EQ_STR(info.token_label, TEST_TOKEN_LABEL);
	CHECK_EQ_STR(info.token_manufacturer, "SoftHSM project");
	CHECK(strstr(info.module_path, "libsofthsm2.so") != NULL);
	CHECK(info.module_path[0] == '/');
	CHECK(info.token_serial[0] != '\0');
	CHECK_EQ_INT(info.reachable, 1);
	hsm_close(h);
}

TEST(open_by_path_and_serial)
{
	struct hsm_options o = { TEST_SOFTHSM_PATH, "pkcs11:token=" TEST_TOKEN_LABEL, TEST_PIN, 3, NULL, NULL };
	struct hsm_token_info info;
	struct hsm *h = NULL;
	char uri[128];

	REQUIRE(hsm_open(&o, &h) == 0);
	CHECK_OK(hsm_token_info(h, &info));
	CHECK_EQ_STR(info.module_path, TEST_SOFTHSM_PATH);
	hsm_close(h);
	h = NULL;

	snprintf(uri, sizeof(uri), "pkcs11:token=%s;serial=%s", TEST_TOKEN_LABEL, info.token_serial);
	o.token_uri = uri;
	CHECK_OK(hsm_open(&o, &h));
	hsm_close(h);
	CHECK_EQ_INT(try_open("softhsm2", "pkcs11:token=" TEST_TOKEN_LABEL ";serial=0000", TEST_PIN),
	             MCX_ERR_HSM_UNAVAILABLE);
	/* module attributes in the URI are matched too */
	CHECK_OK(try_open("softhsm2", "pkcs11:library-manufacturer=SoftHSM;token=" TEST_TOKEN_LABEL, TEST_PIN));
	CHECK_EQ_INT(try_open("softhsm2", "pkcs11:library-manufacturer=Other;token=" TEST_TOKEN_LABEL, TEST_PIN),
	             MCX_ERR_HSM_UNAVAILABLE);
}

TEST(open_errors)
{
	struct hsm_options o = { "softhsm2", "pkcs11:token=" TEST_TOKEN_LABEL, TEST_PIN, 0, NULL, NULL };
	struct hsm *h = (struct hsm *)&o;

	CHECK_EQ_INT(hsm_open(&o, &h), MCX_ERR_INVALID_ARGUMENT); /* sessions == 0 */
	CHECK(h == NULL);
	CHECK_EQ_INT(hsm_open(NULL, &h), MCX_ERR_INVALID_ARGUMENT);
	CHECK_EQ_INT(try_open("softhsm2", "http://example.org/", TEST_PIN), MCX_ERR_CONFIG);
	CHECK_EQ_INT(try_open("softhsm2", "pkcs11:token=%zz", TEST_PIN), MCX_ERR_CONFIG);
	CHECK_EQ_INT(try_open("softhsm2", "pkcs11:tokn=" TEST_TOKEN_LABEL, TEST_PIN), MCX_ERR_CONFIG);
	CHECK_EQ_INT(try_open("softhsm2", "pkcs11:token=no-such-token", TEST_PIN), MCX_ERR_HSM_UNAVAILABLE);
	CHECK_EQ_INT(try_open("no-such-module", "pkcs11:token=" TEST_TOKEN_LABEL, TEST_PIN), MCX_ERR_NOT_FOUND);
	CHECK_EQ_INT(try_open("/nonexistent/libnothing.so", "pkcs11:token=" TEST_TOKEN_LABEL, TEST_PIN),
	             MCX_ERR_NOT_FOUND);
	CHECK_EQ_INT(try_open("softhsm2", "pkcs11:token=" TEST_TOKEN_LABEL, "9999"), MCX_ERR_HSM_PIN);
	/* and the right PIN still works afterwards */
	CHECK_OK(try_open("softhsm2", "pkcs11:token=" TEST_TOKEN_LABEL, TEST_PIN));
}

TEST(open_ambiguous)
{
	REQUIRE(token_init("dup") == 0);
	REQUIRE(token_init("dup") == 0);
	CHECK_EQ_INT(try_open("softhsm2", "pkcs11:token=dup", TEST_PIN), MCX_ERR_CONFIG);
	CHECK_EQ_INT(try_open("softhsm2", "pkcs11:", TEST_PIN), MCX_ERR_CONFIG);
}

TEST(ec_sign_verify)
{
	struct hsm *h = open_default(2);
	static const uint8_t id[] = { 0x6d, 0x63, 0x78, 0x01 };
	hsm_handle_t priv = 0, pub = 0, found = 0;
	uint8_t point[65], point2[65], digest[32], sig[64], sig2[64], idbuf[8];
	struct raw_p11 raw;
	struct ck_attribute a = { CKA_ID, idbuf, sizeof(idbuf) };
	int i;

	REQUIRE(h != NULL);
	CHECK_OK(hsm_ec_p256_generate(h, "test.ec.1", id, sizeof(id), &priv, &pub, point));
	REQUIRE(priv != HSM_HANDLE_INVALID && pub != HSM_HANDLE_INVALID);
	CHECK_EQ_INT(point[0], 0x04);
	CHECK_OK(hsm_ec_public_point(h, pub, point2));
	CHECK_MEM(point, point2, 65);
	for (i = 0; i < 32; i++)
		digest[i] = (uint8_t)(i * 7 + 1);
	CHECK_OK(hsm_ecdsa_sign(h, priv, digest, sig));
	CHECK(verify_p256(point, digest, sig));
	CHECK_OK(hsm_ecdsa_sign(h, priv, digest, sig2));
	CHECK(verify_p256(point, digest, sig2));
	CHECK(memcmp(sig, sig2, 64) != 0); /* randomised k */
	digest[0] ^= 1;
	CHECK(!verify_p256(point, digest, sig));
	/* the public half cannot sign; a point of a private key is refused */
	CHECK(hsm_ecdsa_sign(h, pub, digest, sig) != 0);
	CHECK(hsm_ec_public_point(h, priv, point2) != 0);

	CHECK_OK(hsm_find_by_label(h, HSM_CLASS_PRIVATE_KEY, "test.ec.1", &found));
	CHECK_EQ_INT(found, priv);
	CHECK_OK(hsm_find_by_label(h, HSM_CLASS_PUBLIC_KEY, "test.ec.1", &found));
	CHECK_EQ_INT(found, pub);
	CHECK_EQ_INT(hsm_find_by_label(h, HSM_CLASS_SECRET_KEY, "test.ec.1", &found), MCX_ERR_NOT_FOUND);

	/* the private half really is locked in */
	REQUIRE(raw_open(&raw, TEST_SOFTHSM_PATH) == 0);
	CHECK_EQ_INT(raw_bool(&raw, priv, CKA_TOKEN), 1);
	CHECK_EQ_INT(raw_bool(&raw, priv, CKA_PRIVATE), 1);
	CHECK_EQ_INT(raw_bool(&raw, priv, CKA_SENSITIVE), 1);
	CHECK_EQ_INT(raw_bool(&raw, priv, CKA_ALWAYS_SENSITIVE), 1);
	CHECK_EQ_INT(raw_bool(&raw, priv, CKA_EXTRACTABLE), 0);
	CHECK_EQ_INT(raw_bool(&raw, priv, CKA_NEVER_EXTRACTABLE), 1);
	CHECK_EQ_INT(raw_bool(&raw, priv, CKA_SIGN), 1);
	CHECK_EQ_INT(raw_bool(&raw, priv, CKA_DECRYPT), 0);
	CHECK_EQ_INT(raw_bool(&raw, priv, CKA_UNWRAP), 0);
	CHECK_EQ_INT(raw_bool(&raw, priv, CKA_DERIVE), 0);
	CHECK_EQ_INT(raw_bool(&raw, pub, CKA_VERIFY), 1);
	CHECK_EQ_INT(raw_bool(&raw, pub, CKA_ENCRYPT), 0);
	CHECK_EQ_INT(raw_bool(&raw, pub, CKA_WRAP), 0);
	{
		unsigned char v[64];
		struct ck_attribute va = { CKA_VALUE, v, sizeof(v) };

		CHECK_EQ_INT(raw.fl->C_GetAttributeValue(raw.session, TEST_RAW_HANDLE(priv), &va, 1), CKR_ATTRIBUTE_SENSITIVE);
	}
	CHECK_EQ_INT(raw.fl->C_GetAttributeValue(raw.session, TEST_RAW_HANDLE(priv), &a, 1), CKR_OK);
	CHECK_EQ_INT(a.value_len, sizeof(id));
	CHECK_MEM(idbuf, id, sizeof(id));
	a.value_len = sizeof(idbuf);
	CHECK_EQ_INT(raw.fl->C_GetAttributeValue(raw.session, TEST_RAW_HANDLE(pub), &a, 1), CKR_OK);
	CHECK_EQ_INT(a.value_len, sizeof(id));
	raw_close(&raw);

	CHECK_OK(hsm_object_destroy(h, priv));
	CHECK_OK(hsm_object_destroy(h, pub));
	CHECK_EQ_INT(hsm_ecdsa_sign(h, priv, digest, sig), MCX_ERR_HSM_STALE_HANDLE);
	CHECK_EQ_INT(hsm_ec_public_point(h, pub, point2), MCX_ERR_HSM_STALE_HANDLE);
	CHECK_EQ_INT(hsm_object_destroy(h, priv), MCX_ERR_HSM_STALE_HANDLE);
	hsm_close(h);
}

TEST(data_objects)
{
	struct hsm *h = open_default(1);
	struct mcx_buf *b = mcx_buf_new(HSM_DATA_VALUE_MAX);
	static uint8_t big[HSM_DATA_VALUE_MAX + 1];
	hsm_handle_t d = 0, found = 0;
	struct raw_p11 raw;
	char app[16];
	struct ck_attribute a = { CKA_APPLICATION, app, sizeof(app) };

	REQUIRE(h != NULL && b != NULL);
	CHECK_OK(hsm_data_create(h, "test.data.1", "hello", 5, &d));
	REQUIRE(d != HSM_HANDLE_INVALID);
	CHECK_OK(hsm_data_get_value(h, d, b));
	CHECK_EQ_INT(mcx_buf_len(b), 5);
	CHECK_MEM(mcx_buf_ptr(b), "hello", 5);
	mcx_buf_reset(b);
	memset(big, 0xa5, sizeof(big));
	CHECK_OK(hsm_data_set_value(h, d, big, HSM_DATA_VALUE_MAX, &found));
	CHECK(found != HSM_HANDLE_INVALID);
	/* SoftHSM cannot change CKA_VALUE in place: the object was replaced */
	if (hsm_data_get_value(h, d, b) == MCX_ERR_HSM_STALE_HANDLE)
		CHECK_OK(hsm_find_by_label(h, HSM_CLASS_DATA, "test.data.1", &d));
	CHECK_OK(hsm_data_get_value(h, d, b));
	CHECK_EQ_INT(mcx_buf_len(b), HSM_DATA_VALUE_MAX);
	CHECK_MEM(mcx_buf_ptr(b), big, HSM_DATA_VALUE_MAX);
	/* the buffer is full: nothing is written, nothing is lost */
	CHECK(hsm_data_get_value(h, d, b) == MCX_ERR_NO_BUFFER_SPACE);
	CHECK_EQ_INT(mcx_buf_len(b), HSM_DATA_VALUE_MAX);
	mcx_buf_reset(b);
	CHECK_EQ_INT(hsm_data_set_value(h, d, big, sizeof(big), NULL), MCX_ERR_INVALID_ARGUMENT);
	CHECK_OK(hsm_data_set_value(h, d, NULL, 0, &found));
	CHECK_OK(hsm_find_by_label(h, HSM_CLASS_DATA, "test.data.1", &d));
	CHECK_EQ_INT(found, d);   /* the handle set_value returned is the one that holds the value */
	CHECK_OK(hsm_data_get_value(h, d, b));
	CHECK_EQ_INT(mcx_buf_len(b), 0);

	CHECK_OK(hsm_find_by_label(h, HSM_CLASS_DATA, "test.data.1", &found));
	CHECK_EQ_INT(found, d);
	CHECK_EQ_INT(hsm_find_by_label(h, HSM_CLASS_DATA, "test.data.", &found), MCX_ERR_NOT_FOUND);
	CHECK_EQ_INT(hsm_find_by_label(h, HSM_CLASS_OTHER, "test.data.1", &found), MCX_ERR_INVALID_ARGUMENT);

	REQUIRE(raw_open(&raw, TEST_SOFTHSM_PATH) == 0);
	CHECK_EQ_INT(raw_bool(&raw, d, CKA_TOKEN), 1);
	CHECK_EQ_INT(raw_bool(&raw, d, CKA_PRIVATE), 1);
	CHECK_EQ_INT(raw_bool(&raw, d, CKA_MODIFIABLE), 1);
	CHECK_EQ_INT(raw.fl->C_GetAttributeValue(raw.session, TEST_RAW_HANDLE(d), &a, 1), CKR_OK);
	CHECK_EQ_INT(a.value_len, 8);
	CHECK_MEM(app, "mcxvault", 8);
	raw_close(&raw);

	{
		hsm_handle_t d2 = 0;

		CHECK_OK(hsm_data_create(h, "test.data.1", "x", 1, &d2));
		CHECK_EQ_INT(hsm_find_by_label(h, HSM_CLASS_DATA, "test.data.1", &found), MCX_ERR_EXISTS);
		CHECK_OK(hsm_object_destroy(h, d2));
	}
	CHECK_OK(hsm_object_destroy(h, d));
	mcx_buf_reset(b);
	CHECK_EQ_INT(hsm_data_get_value(h, d, b), MCX_ERR_HSM_STALE_HANDLE);
	CHECK_EQ_INT(mcx_buf_len(b), 0);
	CHECK_EQ_INT(hsm_data_set_value(h, d, "x", 1, NULL), MCX_ERR_HSM_STALE_HANDLE);
	CHECK_EQ_INT(hsm_find_by_label(h, HSM_CLASS_DATA, "test.data.1", &found), MCX_ERR_NOT_FOUND);
	mcx_buf_free(b);
	hsm_close(h);
}

struct walk_seen {
	int data, pub, priv, other, stop_after;
	int value_ok;
	struct hsm *h;
};

static int walk_cb(void *context, const struct hsm_object *o)
{
	struct walk_seen *s = context;
	struct mcx_buf *b;

	if (strncmp(o->label, "walk.", 5) != 0)
		return 99;
	switch (o->object_class) {
	case HSM_CLASS_DATA:
		s->data++;
		if (strcmp(o->label, "walk.a") == 0)
			s->value_ok += o->value_len == 3 && memcmp(o->value, "AAA", 3) == 0;
		else
			s->value_ok += o->value_len == 0;
		/* the walk's session is back in the pool: calling in again is fine */
		b = mcx_buf_new(16);
		if (b != NULL && hsm_data_get_value(s->h, o->handle, b) == 0 && mcx_buf_len(b) == o->value_len)
			s->value_ok += 10;
		mcx_buf_free(b);
		break;
	case HSM_CLASS_PUBLIC_KEY: s->pub++; if (o->value != NULL) return 98; break;
	case HSM_CLASS_PRIVATE_KEY: s->priv++; if (o->value != NULL) return 98; break;
	default: s->other++; break;
	}
	if (s->stop_after && s->data + s->pub + s->priv + s->other == s->stop_after)
		return 7;
	return 0;
}

TEST(walk)
{
	struct hsm *h = open_default(1); /* one session: the callback re-enters */
	hsm_handle_t a = 0, b = 0, c = 0, priv = 0, pub = 0;
	uint8_t point[65];
	struct walk_seen s;

	REQUIRE(h != NULL);
	CHECK_OK(hsm_data_create(h, "walk.a", "AAA", 3, &a));
	CHECK_OK(hsm_data_create(h, "walk.b", NULL, 0, &b));
	CHECK_OK(hsm_data_create(h, "other.c", "C", 1, &c));
	CHECK_OK(hsm_ec_p256_generate(h, "walk.k", (const uint8_t *)"k", 1, &priv, &pub, point));

	memset(&s, 0, sizeof(s));
	s.h = h;
	CHECK_OK(hsm_objects_walk(h, "walk.", walk_cb, &s));
	CHECK_EQ_INT(s.data, 2);
	CHECK_EQ_INT(s.pub, 1);
	CHECK_EQ_INT(s.priv, 1);
	CHECK_EQ_INT(s.other, 0);
	CHECK_EQ_INT(s.value_ok, 22);

	memset(&s, 0, sizeof(s));
	s.h = h;
	s.stop_after = 2;
	CHECK_EQ_INT(hsm_objects_walk(h, "walk.", walk_cb, &s), 7);
	CHECK_EQ_INT(s.data + s.pub + s.priv, 2);

	/* empty prefix: everything, including other.c */
	memset(&s, 0, sizeof(s));
	s.h = h;
	CHECK_EQ_INT(hsm_objects_walk(h, "", walk_cb, &s), 99);
	memset(&s, 0, sizeof(s));
	s.h = h;
	CHECK_OK(hsm_objects_walk(h, "nothing-has-this-prefix", walk_cb, &s));
	CHECK_EQ_INT(s.data + s.pub + s.priv + s.other, 0);

	CHECK_OK(hsm_object_destroy(h, a));
	CHECK_OK(hsm_object_destroy(h, b));
	CHECK_OK(hsm_object_destroy(h, c));
	CHECK_OK(hsm_object_destroy(h, priv));
	CHECK_OK(hsm_object_destroy(h, pub));
	memset(&s, 0, sizeof(s));
	s.h = h;
	CHECK_OK(hsm_objects_walk(h, "walk.", walk_cb, &s));
	CHECK_EQ_INT(s.data + s.pub + s.priv + s.other, 0);
	hsm_close(h);
}

TEST(aes_gcm)
{
	struct hsm *h = open_default(2);
	struct mcx_buf *sealed = mcx_buf_new(4096), *sealed2 = mcx_buf_new(4096);
	struct mcx_buf *plain = mcx_buf_new_secret(4096);
	static const char msg[] = "group master key material";
	hsm_handle_t k = 0, k2 = 0;
	struct raw_p11 raw;
	uint8_t *p;
	size_t n, i;

	REQUIRE(h != NULL && sealed != NULL && sealed2 != NULL && plain != NULL);
	CHECK_OK(hsm_aes_generate(h, "test.kek", &k));
	CHECK_OK(hsm_aes_generate(h, "test.kek2", &k2));
	CHECK_OK(hsm_aes_gcm_encrypt(h, k, "dom|grp|1", 9, msg, sizeof(msg), sealed));
	n = mcx_buf_len(sealed);
	CHECK_EQ_INT(n, 12 + sizeof(msg) + 16);
	CHECK_OK(hsm_aes_gcm_encrypt(h, k, "dom|grp|1", 9, msg, sizeof(msg), sealed2));
	CHECK(memcmp(mcx_buf_ptr(sealed), mcx_buf_ptr(sealed2), 12) != 0); /* fresh IV */
	CHECK(memmem(mcx_buf_ptr(sealed), n, "master", 6) == NULL);

	CHECK_OK(hsm_aes_gcm_decrypt(h, k, "dom|grp|1", 9, mcx_buf_ptr(sealed), n, plain));
	CHECK_EQ_INT(mcx_buf_len(plain), sizeof(msg));
	CHECK_MEM(mcx_buf_ptr(plain), msg, sizeof(msg));
	mcx_buf_reset(plain);

	CHECK_EQ_INT(hsm_aes_gcm_decrypt(h, k, "dom|grp|2", 9, mcx_buf_ptr(sealed), n, plain),
	             MCX_ERR_SIGNATURE_INVALID);
	CHECK_EQ_INT(hsm_aes_gcm_decrypt(h, k, NULL, 0, mcx_buf_ptr(sealed), n, plain), MCX_ERR_SIGNATURE_INVALID);
	CHECK_EQ_INT(hsm_aes_gcm_decrypt(h, k2, "dom|grp|1", 9, mcx_buf_ptr(sealed), n, plain),
	             MCX_ERR_SIGNATURE_INVALID);
	CHECK_EQ_INT(hsm_aes_gcm_decrypt(h, k, "dom|grp|1", 9, mcx_buf_ptr(sealed), n - 1, plain),
	             MCX_ERR_SIGNATURE_INVALID);
	CHECK_EQ_INT(hsm_aes_gcm_decrypt(h, k, "dom|grp|1", 9, mcx_buf_ptr(sealed), 27, plain),
	             MCX_ERR_SIGNATURE_INVALID);
	p = mcx_buf_mutable_ptr(sealed);
	for (i = 0; i < n; i += 7) { /* IV, ciphertext and tag */
		p[i] ^= 0x20;
		CHECK_EQ_INT(hsm_aes_gcm_decrypt(h, k, "dom|grp|1", 9, p, n, plain), MCX_ERR_SIGNATURE_INVALID);
		p[i] ^= 0x20;
	}
	CHECK_EQ_INT(mcx_buf_len(plain), 0); /* nothing written by any failure */
	CHECK_OK(hsm_aes_gcm_decrypt(h, k, "dom|grp|1", 9, p, n, plain));
	mcx_buf_reset(plain);

	/* empty plaintext, no aad */
	mcx_buf_reset(sealed);
	CHECK_OK(hsm_aes_gcm_encrypt(h, k, NULL, 0, NULL, 0, sealed));
	CHECK_EQ_INT(mcx_buf_len(sealed), 28);
	CHECK_OK(hsm_aes_gcm_decrypt(h, k, NULL, 0, mcx_buf_ptr(sealed), 28, plain));
	CHECK_EQ_INT(mcx_buf_len(plain), 0);

	REQUIRE(raw_open(&raw, TEST_SOFTHSM_PATH) == 0);
	CHECK_EQ_INT(raw_bool(&raw, k, CKA_SENSITIVE), 1);
	CHECK_EQ_INT(raw_bool(&raw, k, CKA_EXTRACTABLE), 0);
	CHECK_EQ_INT(raw_bool(&raw, k, CKA_ENCRYPT), 1);
	CHECK_EQ_INT(raw_bool(&raw, k, CKA_DECRYPT), 1);
	CHECK_EQ_INT(raw_bool(&raw, k, CKA_WRAP), 1);
	CHECK_EQ_INT(raw_bool(&raw, k, CKA_UNWRAP), 1);
	CHECK_EQ_INT(raw_bool(&raw, k, CKA_TOKEN), 1);
	raw_close(&raw);

	CHECK_OK(hsm_object_destroy(h, k));
	CHECK_OK(hsm_object_destroy(h, k2));
	mcx_buf_reset(sealed);
	CHECK_EQ_INT(hsm_aes_gcm_encrypt(h, k, NULL, 0, "x", 1, sealed), MCX_ERR_HSM_STALE_HANDLE);
	CHECK_EQ_INT(mcx_buf_len(sealed), 0);
	mcx_buf_free(sealed);
	mcx_buf_free(sealed2);
	mcx_buf_free(plain);
	hsm_close(h);
}

TEST(hmac)
{
	struct hsm *h = open_default(2);
	static const uint8_t known_key[32] = "0123456789abcdef0123456789abcde";
	static const char data[] = "audit record 1";
	uint8_t m1[32], m2[32], m3[32], ref[32];
	unsigned ref_len = 0;
	hsm_handle_t k = 0, imported = 0;
	struct raw_p11 raw;

	REQUIRE(h != NULL);
	CHECK_OK(hsm_hmac_generate(h, "test.mac", &k));
	CHECK_OK(hsm_hmac_sha256(h, k, data, sizeof(data), m1));
	CHECK_OK(hsm_hmac_sha256(h, k, data, sizeof(data), m2));
	CHECK_MEM(m1, m2, 32);
	CHECK_OK(hsm_hmac_sha256(h, k, data, sizeof(data) - 1, m3));
	CHECK(memcmp(m1, m3, 32) != 0);
	CHECK_OK(hsm_hmac_sha256(h, k, NULL, 0, m3));

	REQUIRE(raw_open(&raw, TEST_SOFTHSM_PATH) == 0);
	CHECK_EQ_INT(raw_bool(&raw, k, CKA_SENSITIVE), 1);
	CHECK_EQ_INT(raw_bool(&raw, k, CKA_EXTRACTABLE), 0);
	CHECK_EQ_INT(raw_bool(&raw, k, CKA_SIGN), 1);
	CHECK_EQ_INT(raw_bool(&raw, k, CKA_VERIFY), 1);
	CHECK_EQ_INT(raw_bool(&raw, k, CKA_ENCRYPT), 0);
	{
		/* known answer: a session key with a known value, imported test-only */
		unsigned long cls = CKO_SECRET_KEY, type = CKK_GENERIC_SECRET;
		unsigned char yes = 1, no = 0;
		struct ck_attribute t[] = {
			{ CKA_CLASS, &cls, sizeof(cls) },
			{ CKA_KEY_TYPE, &type, sizeof(type) },
			{ CKA_TOKEN, &no, 1 },
			{ CKA_SIGN, &yes, 1 },
			{ CKA_VALUE, (void *)known_key, sizeof(known_key) },
		};

		CHECK_EQ_INT(raw.fl->C_CreateObject(raw.session, t, 5, &imported), CKR_OK);
		CHECK_OK(hsm_hmac_sha256(h, imported, data, sizeof(data), m2));
		CHECK(HMAC(EVP_sha256(), known_key, sizeof(known_key), (const unsigned char *)data, sizeof(data), ref,
		           &ref_len) != NULL);
		CHECK_EQ_INT(ref_len, 32);
		CHECK_MEM(m2, ref, 32);
		CHECK(memcmp(m1, m2, 32) != 0);
	}
	raw_close(&raw);
	CHECK_OK(hsm_object_destroy(h, k));
	CHECK_EQ_INT(hsm_hmac_sha256(h, k, data, sizeof(data), m1), MCX_ERR_HSM_STALE_HANDLE);
	hsm_close(h);
}

TEST(random_and_sync)
{
	struct hsm *h = open_default(1);
	struct hsm_options o = { "softhsm2", "pkcs11:token=" TEST_TOKEN_LABEL, TEST_PIN, 1, "/nonexistent/dir", NULL };
	uint8_t a[32], b[32], zero[32] = { 0 };
	struct hsm *h2 = NULL;

	REQUIRE(h != NULL);
	CHECK_OK(hsm_random(h, a, sizeof(a)));
	CHECK_OK(hsm_random(h, b, sizeof(b)));
	CHECK(memcmp(a, b, 32) != 0);
	CHECK(memcmp(a, zero, 32) != 0);
	CHECK_OK(hsm_random(h, NULL, 0));
	CHECK_OK(hsm_sync(h)); /* the tokendir from SOFTHSM2_CONF */
	hsm_close(h);

	REQUIRE(hsm_open(&o, &h2) == 0);
	CHECK_EQ_INT(hsm_sync(h2), MCX_ERR_SYSTEM);
	hsm_close(h2);
	o.sync_path = test_tokendir;
	REQUIRE(hsm_open(&o, &h2) == 0);
	CHECK_OK(hsm_sync(h2));
	hsm_close(h2);
}

/* --- concurrency ----------------------------------------------------------- */

struct conc {
	struct hsm *h;
	hsm_handle_t key;
	uint8_t point[65];
	int errors, verified;
	pthread_mutex_t lock;
};

#define CONC_SIGNS 300
#define CONC_OBJECTS 25

static void *conc_signer(void *arg)
{
	struct conc *c = arg;
	uint8_t digest[32], sig[64];
	int i, errors = 0, verified = 0;

	for (i = 0; i < CONC_SIGNS; i++) {
		memset(digest, i & 0xff, sizeof(digest));
		digest[0] = (uint8_t)(uintptr_t)pthread_self();
		if (hsm_ecdsa_sign(c->h, c->key, digest, sig) != 0)
			errors++;
		else if (i % 50 == 0)
			verified += verify_p256(c->point, digest, sig);
	}
	pthread_mutex_lock(&c->lock);
	c->errors += errors;
	c->verified += verified;
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

static void *conc_creator(void *arg)
{
	struct conc *c = arg;
	hsm_handle_t d[CONC_OBJECTS], priv = 0, pub = 0;
	uint8_t point[65];
	char label[32];
	int i, errors = 0;

	for (i = 0; i < CONC_OBJECTS; i++) {
		snprintf(label, sizeof(label), "conc.%d", i);
		if (hsm_data_create(c->h, label, label, strlen(label), &d[i]) != 0)
			errors++;
	}
	if (hsm_ec_p256_generate(c->h, "conc.k", (const uint8_t *)"c", 1, &priv, &pub, point) != 0)
		errors++;
	for (i = 0; i < CONC_OBJECTS; i++)
		if (hsm_object_destroy(c->h, d[i]) != 0)
			errors++;
	if (hsm_object_destroy(c->h, priv) != 0 || hsm_object_destroy(c->h, pub) != 0)
		errors++;
	pthread_mutex_lock(&c->lock);
	c->errors += errors;
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

TEST(concurrency)
{
	struct conc c;
	hsm_handle_t pub = 0;
	pthread_t t[4];
	struct hsm_stats st;
	int i;

	memset(&c, 0, sizeof(c));
	pthread_mutex_init(&c.lock, NULL);
	c.h = open_default(3);
	REQUIRE(c.h != NULL);
	REQUIRE(hsm_ec_p256_generate(c.h, "conc.sign", (const uint8_t *)"s", 1, &c.key, &pub, c.point) == 0);
	for (i = 0; i < 3; i++)
		REQUIRE(pthread_create(&t[i], NULL, conc_signer, &c) == 0);
	REQUIRE(pthread_create(&t[3], NULL, conc_creator, &c) == 0);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ_INT(c.errors, 0);
	CHECK_EQ_INT(c.verified, 3 * (CONC_SIGNS / 50));
	hsm_stats_get(c.h, &st);
	CHECK_EQ_INT(st.failures, 0);
	CHECK(st.calls >= 3 * CONC_SIGNS + 2 * CONC_OBJECTS);
	CHECK_EQ_INT(st.recoveries, 0);
	CHECK_OK(hsm_object_destroy(c.h, c.key));
	CHECK_OK(hsm_object_destroy(c.h, pub));
	hsm_close(c.h);
	pthread_mutex_destroy(&c.lock);
}

TEST(null_is_fine)
{
	struct hsm_stats st;

	hsm_close(NULL);
	hsm_stats_get(NULL, &st);
	CHECK_EQ_INT(st.calls, 0);
	CHECK_EQ_INT(hsm_sync(NULL), MCX_ERR_INVALID_ARGUMENT);
}

int main(void)
{
	if (token_setup() != 0) {
		printf("cannot create a SoftHSM token (softhsm2-util missing?)\n");
		token_teardown();
		printf("hsm: 0 passed, 1 failed\n");
		return 1;
	}
	RUN(open_by_name);
	RUN(open_by_path_and_serial);
	RUN(open_errors);
	RUN(ec_sign_verify);
	RUN(data_objects);
	RUN(walk);
	RUN(aes_gcm);
	RUN(hmac);
	RUN(random_and_sync);
	RUN(concurrency);
	RUN(null_is_fine);
	RUN(open_ambiguous); /* last: leaves extra tokens behind */
	token_teardown();
	return test_summary("hsm");
}
