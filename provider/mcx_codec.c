/*
 * mcxvault OpenSSL 3 provider — ENCODER and DECODER "SAKKE" / "ECCSI": the
 * software keys of mcx_keys.c as PEM blocks (docs/openssl-provider.md,
 * "Key file format"), so PEM_write_bio_PrivateKey, PEM_read_bio_PrivateKey,
 * OSSL_ENCODER / OSSL_DECODER and `openssl pkey` handle them.
 *
 *   -----BEGIN MCX SAKKE PRIVATE KEY-----   (or PUBLIC; or MCX ECCSI ...)
 *   base64 of a sequence of records: tag (1 octet), length (2 octets,
 *   big-endian), value; each tag once, in this order:
 *     0x01  KMS public key  (SAKKE Z, 257 octets; ECCSI KPAK, 65 octets)
 *     0x02  identity        (1..128 octets SAKKE, 1..1024 ECCSI)
 *     0x03  private key     (SAKKE RSK, 257; ECCSI SSK, 32)   PRIVATE only
 *     0x04  PVT             (ECCSI, 65)                       PRIVATE only
 *   -----END ...-----
 *
 * No encryption of the private block (no passphrase support): the file is
 * as sensitive as the RSK/SSK it holds.  There is no DER/SPKI form: no OIDs
 * are standardised for these algorithms.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/pem.h>

#include "provider/provider.h"

enum { TAG_KMS = 1, TAG_ID = 2, TAG_PRIV = 3, TAG_PVT = 4 };

/* The largest body: 4 records of 3 header octets plus the largest values. */
#define BODY_MAX (4 * 3 + MCX_SAKKE_POINT_LEN + MCX_ECCSI_ID_MAX + MCX_SAKKE_POINT_LEN + MCX_ECCSI_POINT_LEN)

/* What an encoder writes: by selection, or only one half (the structures). */
enum codec_half { HALF_ANY = 0, HALF_PRIVATE, HALF_PUBLIC };

struct mcxp_codec {
	struct mcxp_ctx *ctx;
	enum mcxp_ibk_type type;
	enum codec_half half;
};

static const char *pem_label(enum mcxp_ibk_type type, int private)
{
	if (type == MCXP_IBK_SAKKE)
		return private ? MCX_PROV_PEM_SAKKE_PRIVATE : MCX_PROV_PEM_SAKKE_PUBLIC;
	return private ? MCX_PROV_PEM_ECCSI_PRIVATE : MCX_PROV_PEM_ECCSI_PUBLIC;
}

static void *codec_new(void *provctx, enum mcxp_ibk_type type, enum codec_half half)
{
	struct mcxp_codec *c = OPENSSL_zalloc(sizeof(*c));

	if (c != NULL) {
		c->ctx = provctx;
		c->type = type;
		c->half = half;
	}
	return c;
}

static OSSL_FUNC_encoder_freectx_fn codec_free;
static OSSL_FUNC_encoder_does_selection_fn codec_does_selection;
static OSSL_FUNC_encoder_does_selection_fn codec_does_private;
static OSSL_FUNC_encoder_does_selection_fn codec_does_public;
static OSSL_FUNC_encoder_encode_fn ibk_encode;
static OSSL_FUNC_decoder_decode_fn ibk_decode_pem;
static OSSL_FUNC_decoder_export_object_fn ibk_export_object;

#define CODEC_NEW(name, type, half)                      \
	static OSSL_FUNC_encoder_newctx_fn name;         \
	static void *name(void *provctx)                 \
	{                                                \
		return codec_new(provctx, (type), (half)); \
	}
CODEC_NEW(sakke_codec_new, MCXP_IBK_SAKKE, HALF_ANY)
CODEC_NEW(sakke_codec_new_priv, MCXP_IBK_SAKKE, HALF_PRIVATE)
CODEC_NEW(sakke_codec_new_pub, MCXP_IBK_SAKKE, HALF_PUBLIC)
CODEC_NEW(eccsi_codec_new, MCXP_IBK_ECCSI, HALF_ANY)
CODEC_NEW(eccsi_codec_new_priv, MCXP_IBK_ECCSI, HALF_PRIVATE)
CODEC_NEW(eccsi_codec_new_pub, MCXP_IBK_ECCSI, HALF_PUBLIC)

static void codec_free(void *vctx)
{
	OPENSSL_free(vctx);
}

/* Selection 0 means "whatever is there" (the file: store asks that way). */
static int codec_does_selection(void *provctx, int selection)
{
	return selection == 0 || (selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0;
}

static int codec_does_private(void *provctx, int selection)
{
	return (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0;
}

static int codec_does_public(void *provctx, int selection)
{
	return (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0;
}

static size_t put_record(uint8_t *p, uint8_t tag, const uint8_t *v, size_t len)
{
	p[0] = tag;
	p[1] = (uint8_t)(len >> 8);
	p[2] = (uint8_t)len;
	memcpy(p + 3, v, len);
	return 3 + len;
}

static int ibk_encode(void *vctx, OSSL_CORE_BIO *cout, const void *obj_raw, const OSSL_PARAM obj_abstract[],
		      int selection, OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
	struct mcxp_codec *c = vctx;
	const struct mcxp_ibk *key = obj_raw;
	uint8_t body[BODY_MAX];
	size_t n = 0;
	int private, ok = 0;
	BIO *out = NULL;

	if (c == NULL || key == NULL || key->type != c->type || !key->has_public)
		return 0;
	private = c->half == HALF_PRIVATE ||
		  (c->half == HALF_ANY && (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0);
	if (private && !key->has_private) {
		MCXP_RAISE(c->ctx, MCXP_R_NO_PRIVATE_KEY, "no private part to encode");
		return 0;
	}
	n += put_record(body + n, TAG_KMS, key->kms, key->kms_len);
	n += put_record(body + n, TAG_ID, key->id, key->id_len);
	if (private) {
		n += put_record(body + n, TAG_PRIV, key->priv, key->priv_len);
		if (key->type == MCXP_IBK_ECCSI)
			n += put_record(body + n, TAG_PVT, key->pvt, sizeof(key->pvt));
	}
	if ((out = BIO_new_from_core_bio(c->ctx->libctx, cout)) == NULL)
		goto out;
	ok = PEM_write_bio(out, pem_label(key->type, private), "", body, (long)n) > 0;
out:
	BIO_free(out);
	OPENSSL_cleanse(body, sizeof(body));
	return ok;
}

/* Reads the next record, which must carry tag. */
static int get_record(const uint8_t **p, size_t *left, uint8_t tag, const uint8_t **v, size_t *len)
{
	if (*left < 3 || (*p)[0] != tag)
		return 0;
	*len = ((size_t)(*p)[1] << 8) | (*p)[2];
	if (*left - 3 < *len)
		return 0;
	*v = *p + 3;
	*p += 3 + *len;
	*left -= 3 + *len;
	return 1;
}

/*
 * A body (the records above) into a key object handed to libcrypto by
 * reference (KEYMGMT load takes it over).  private: 1 or 0 as the PEM label
 * says, -1 when unknown (then the records present decide, and a body that
 * is not this key type's is left alone: returning 1 without an object lets
 * other decoders try).
 */
static int body_to_object(struct mcxp_codec *c, const uint8_t *body, size_t len, int private,
			  OSSL_CALLBACK *data_cb, void *data_cbarg)
{
	const uint8_t *p = body, *kms = NULL, *id = NULL, *priv = NULL, *pvt = NULL;
	size_t left = len, kms_len = 0, id_len = 0, priv_len = 0, pvt_len = 0, n = 0;
	struct mcxp_ibk *key = NULL;
	OSSL_PARAM kp[5], obj[4];
	int objtype = OSSL_OBJECT_PKEY, ok = 0;

	if (!get_record(&p, &left, TAG_KMS, &kms, &kms_len) || kms_len != (c->type == MCXP_IBK_SAKKE ?
	    MCX_SAKKE_POINT_LEN : MCX_ECCSI_POINT_LEN) || !get_record(&p, &left, TAG_ID, &id, &id_len)) {
		if (private < 0)
			return 1;       /* not ours */
		goto bad;
	}
	if (private < 0)
		private = left != 0;
	if ((private && !get_record(&p, &left, TAG_PRIV, &priv, &priv_len)) ||
	    (private && c->type == MCXP_IBK_ECCSI && !get_record(&p, &left, TAG_PVT, &pvt, &pvt_len)) ||
	    left != 0)
		goto bad;
	kp[n++] = OSSL_PARAM_construct_octet_string(c->type == MCXP_IBK_SAKKE ? MCX_PROV_PARAM_KMS_PUBLIC_KEY :
						    MCX_PROV_PARAM_KPAK, (void *)kms, kms_len);
	kp[n++] = OSSL_PARAM_construct_octet_string(MCX_PROV_PARAM_IDENTITY, (void *)id, id_len);
	if (priv != NULL)
		kp[n++] = OSSL_PARAM_construct_octet_string(c->type == MCXP_IBK_SAKKE ? MCX_PROV_PARAM_RSK :
							    MCX_PROV_PARAM_SSK, (void *)priv, priv_len);
	if (pvt != NULL)
		kp[n++] = OSSL_PARAM_construct_octet_string(MCX_PROV_PARAM_PVT, (void *)pvt, pvt_len);
	kp[n] = OSSL_PARAM_construct_end();
	if ((key = mcxp_ibk_new(c->ctx, c->type)) == NULL ||
	    !mcxp_ibk_import(key, private ? OSSL_KEYMGMT_SELECT_KEYPAIR : OSSL_KEYMGMT_SELECT_PUBLIC_KEY, kp))
		goto out;
	obj[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &objtype);
	obj[1] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
						  c->type == MCXP_IBK_SAKKE ? MCX_PROV_SAKKE_NAME : MCX_PROV_ECCSI_NAME, 0);
	obj[2] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_REFERENCE, &key, sizeof(key));
	obj[3] = OSSL_PARAM_construct_end();
	ok = data_cb(obj, data_cbarg);
	goto out;
bad:
	MCXP_RAISE(c->ctx, MCXP_R_BAD_INPUT, "%s key: malformed body",
		   c->type == MCXP_IBK_SAKKE ? MCX_PROV_SAKKE_NAME : MCX_PROV_ECCSI_NAME);
out:
	mcxp_ibk_free(key);     /* NULL when KEYMGMT load took it over */
	return ok;
}

/* input=pem: a block with one of this key type's labels (others: not ours). */
static int ibk_decode_pem(void *vctx, OSSL_CORE_BIO *cin, int selection, OSSL_CALLBACK *data_cb,
			  void *data_cbarg, OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
	struct mcxp_codec *c = vctx;
	BIO *in = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long len = 0;
	int ok = 1;

	if (c == NULL || (in = BIO_new_from_core_bio(c->ctx->libctx, cin)) == NULL)
		return 0;
	ERR_set_mark();
	if (PEM_read_bio(in, &name, &header, &data, &len) <= 0) {
		ERR_pop_to_mark();      /* not PEM: not ours, and no error */
		goto out;
	}
	ERR_clear_last_mark();
	if (strcmp(name, pem_label(c->type, 1)) == 0)
		ok = body_to_object(c, data, (size_t)len, 1, data_cb, data_cbarg);
	else if (strcmp(name, pem_label(c->type, 0)) == 0)
		ok = body_to_object(c, data, (size_t)len, 0, data_cb, data_cbarg);
out:
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_clear_free(data, len > 0 ? (size_t)len : 0);
	BIO_free(in);
	return ok;
}

/* For a KEYMGMT of another provider: the key's parameters. */
static int ibk_export_object(void *vctx, const void *objref, size_t objref_sz, OSSL_CALLBACK *export_cb,
			     void *export_cbarg)
{
	struct mcxp_codec *c = vctx;
	const struct mcxp_ibk *key = NULL;
	OSSL_PARAM params[5];
	size_t n = 0;

	if (c == NULL || objref == NULL || objref_sz != sizeof(key))
		return 0;
	memcpy(&key, objref, sizeof(key));
	if (key == NULL || !key->has_public)
		return 0;
	params[n++] = OSSL_PARAM_construct_octet_string(key->type == MCXP_IBK_SAKKE ? MCX_PROV_PARAM_KMS_PUBLIC_KEY :
							MCX_PROV_PARAM_KPAK, (void *)key->kms, key->kms_len);
	params[n++] = OSSL_PARAM_construct_octet_string(MCX_PROV_PARAM_IDENTITY, key->id, key->id_len);
	if (key->has_private) {
		params[n++] = OSSL_PARAM_construct_octet_string(key->type == MCXP_IBK_SAKKE ? MCX_PROV_PARAM_RSK :
								MCX_PROV_PARAM_SSK, (void *)key->priv, key->priv_len);
		if (key->type == MCXP_IBK_ECCSI)
			params[n++] = OSSL_PARAM_construct_octet_string(MCX_PROV_PARAM_PVT, (void *)key->pvt,
									sizeof(key->pvt));
	}
	params[n] = OSSL_PARAM_construct_end();
	return export_cb(params, export_cbarg);
}

#define ENCODER_TABLE(name, newctx, does)                                          \
	const OSSL_DISPATCH name[] = {                                             \
		{ OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))newctx },              \
		{ OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))codec_free },         \
		{ OSSL_FUNC_ENCODER_DOES_SELECTION, (void (*)(void))does },        \
		{ OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))ibk_encode },          \
		{ 0, NULL },                                                       \
	}
ENCODER_TABLE(mcxp_sakke_encoder_priv_functions, sakke_codec_new_priv, codec_does_private);
ENCODER_TABLE(mcxp_sakke_encoder_pub_functions, sakke_codec_new_pub, codec_does_public);
ENCODER_TABLE(mcxp_eccsi_encoder_priv_functions, eccsi_codec_new_priv, codec_does_private);
ENCODER_TABLE(mcxp_eccsi_encoder_pub_functions, eccsi_codec_new_pub, codec_does_public);

#define DECODER_TABLE(name, newctx, decode)                                         \
	const OSSL_DISPATCH name[] = {                                             \
		{ OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))newctx },              \
		{ OSSL_FUNC_DECODER_FREECTX, (void (*)(void))codec_free },         \
		{ OSSL_FUNC_DECODER_DOES_SELECTION, (void (*)(void))codec_does_selection }, \
		{ OSSL_FUNC_DECODER_DECODE, (void (*)(void))decode },              \
		{ OSSL_FUNC_DECODER_EXPORT_OBJECT, (void (*)(void))ibk_export_object }, \
		{ 0, NULL },                                                       \
	}
DECODER_TABLE(mcxp_sakke_decoder_functions, sakke_codec_new, ibk_decode_pem);
DECODER_TABLE(mcxp_eccsi_decoder_functions, eccsi_codec_new, ibk_decode_pem);
