/*
 * P-256 public-key operations in software (OpenSSL 3 EVP).
 * SPDX-License-Identifier: Apache-2.0
 */
#include "vault/keys/ec_public.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <string.h>

#include "mcx/util.h"

static int ec_public_key(const uint8_t point[65], EVP_PKEY **out)
{
	int r = MCX_ERR_INTERNAL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;

	*out = NULL;
	MCX_ENSURE(point[0] == 0x04, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE_ALLOC(bld = OSSL_PARAM_BLD_new());
	MCX_ENSURE(OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) == 1 &&
	           OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 65) == 1,
	           MCX_ERR_CRYPTO);
	MCX_ENSURE((params = OSSL_PARAM_BLD_to_param(bld)) != NULL, MCX_ERR_CRYPTO);
	MCX_ENSURE((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) != NULL, MCX_ERR_CRYPTO);
	MCX_ENSURE(EVP_PKEY_fromdata_init(ctx) == 1, MCX_ERR_CRYPTO);
	/* fromdata checks the point is on the curve */
	MCX_ENSURE(EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) == 1, MCX_ERR_INVALID_ARGUMENT);
	r = MCX_OK;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return r;
}

MCX_RESULT vault_ec_point_check(const uint8_t point[65])
{
	EVP_PKEY *pkey = NULL;
	int r = ec_public_key(point, &pkey);

	EVP_PKEY_free(pkey);
	return r;
}

MCX_RESULT vault_ec_verify(const uint8_t point[65], const uint8_t digest[32], const uint8_t signature[64])
{
	int r = MCX_ERR_INTERNAL, len, rc;
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	ECDSA_SIG *sig = NULL;
	BIGNUM *br = NULL, *bs = NULL;
	unsigned char *der = NULL;

	MCX_GUARD(ec_public_key(point, &pkey));
	MCX_ENSURE_ALLOC(sig = ECDSA_SIG_new());
	MCX_ENSURE_ALLOC(br = BN_bin2bn(signature, 32, NULL));
	MCX_ENSURE_ALLOC(bs = BN_bin2bn(signature + 32, 32, NULL));
	MCX_ENSURE(ECDSA_SIG_set0(sig, br, bs) == 1, MCX_ERR_CRYPTO);
	br = bs = NULL;
	MCX_ENSURE((len = i2d_ECDSA_SIG(sig, &der)) > 0, MCX_ERR_CRYPTO);
	MCX_ENSURE((ctx = EVP_PKEY_CTX_new(pkey, NULL)) != NULL, MCX_ERR_CRYPTO);
	MCX_ENSURE(EVP_PKEY_verify_init(ctx) == 1, MCX_ERR_CRYPTO);
	rc = EVP_PKEY_verify(ctx, der, (size_t)len, digest, 32);
	r = rc == 1 ? MCX_OK : MCX_ERR_SIGNATURE_INVALID;
out:
	OPENSSL_free(der);
	BN_free(br);
	BN_free(bs);
	ECDSA_SIG_free(sig);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return r;
}

MCX_RESULT vault_ec_public_pem(const uint8_t point[65], struct mcx_buf *out)
{
	int r = MCX_ERR_INTERNAL;
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	char *data = NULL;
	long len;

	MCX_GUARD(ec_public_key(point, &pkey));
	MCX_ENSURE_ALLOC(bio = BIO_new(BIO_s_mem()));
	MCX_ENSURE(PEM_write_bio_PUBKEY(bio, pkey) == 1, MCX_ERR_CRYPTO);
	MCX_ENSURE((len = BIO_get_mem_data(bio, &data)) > 0, MCX_ERR_CRYPTO);
	MCX_GUARD(mcx_buf_put(out, data, (size_t)len));
	r = MCX_OK;
out:
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	return r;
}

MCX_RESULT vault_ec_point_from_pem(const char *pem, size_t len, uint8_t point[65])
{
	int r = MCX_ERR_INTERNAL;
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	char group[32];
	size_t glen = 0, plen = 0;

	MCX_ENSURE(pem != NULL && len > 0 && len <= 8192, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE_ALLOC(bio = BIO_new_mem_buf(pem, (int)len));
	MCX_ENSURE((pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) != NULL, MCX_ERR_PARSE);
	MCX_ENSURE(EVP_PKEY_is_a(pkey, "EC") &&
	           EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen) == 1 &&
	           strcmp(group, "prime256v1") == 0,
	           MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE(EVP_PKEY_set_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "uncompressed") == 1,
	           MCX_ERR_CRYPTO);
	MCX_ENSURE(EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, 65, &plen) == 1 &&
	           plen == 65,
	           MCX_ERR_INVALID_ARGUMENT);
	r = MCX_OK;
out:
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	return r;
}

MCX_RESULT vault_ec_point_from_jwk_xy(const char *x, const char *y, uint8_t point[65])
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_buf *bx = NULL, *by = NULL;

	MCX_ENSURE(x != NULL && y != NULL, MCX_ERR_INVALID_ARGUMENT);
	MCX_ENSURE_ALLOC(bx = mcx_buf_new(64));
	MCX_ENSURE_ALLOC(by = mcx_buf_new(64));
	MCX_GUARD(mcx_base64url_decode(bx, x, strlen(x)));
	MCX_GUARD(mcx_base64url_decode(by, y, strlen(y)));
	MCX_ENSURE(mcx_buf_len(bx) == 32 && mcx_buf_len(by) == 32, MCX_ERR_INVALID_ARGUMENT);
	point[0] = 0x04;
	memcpy(point + 1, mcx_buf_ptr(bx), 32);
	memcpy(point + 33, mcx_buf_ptr(by), 32);
	MCX_GUARD(vault_ec_point_check(point));
	r = MCX_OK;
out:
	mcx_buf_free(bx);
	mcx_buf_free(by);
	return r;
}
