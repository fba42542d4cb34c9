/*
 * mcxvault — the TS 33.180 Annex D KMS certificate: build, sign (XML-DSig,
 * the signature computed by a callback so the key stays in the HSM), parse
 * strictly and verify.
 *
 * The document is a SignedKmsCertificate in the namespace
 * urn:3gpp:ns:mcsecKMSInterface:1.0 holding one KmsCertificate (Id, Version
 * "1.1.0", Role "Root" | "External") and, as its sibling, one ds:Signature:
 * exclusive C14N, ecdsa-sha256 (raw r||s, base64), one Reference "#<Id>" with
 * an exclusive C14N transform and a SHA-256 digest.  The stock xmlsec1
 * verifies what kms_cert_to_xml() writes (tests/kms_cert).
 *
 * Parsing goes through libxml2 only, without network, DTD or entities; a
 * document carrying a DOCTYPE, an unknown element, a missing required element
 * (all but Issuer), a second signature or more than KMS_CERT_XML_MAX bytes is
 * rejected.  UserIdFormat must be "2" (the TS 33.180 UID format), Version
 * "1.1.0", ParameterSet 1.
 *
 * Threads: both XML functions call xmlInitParser(); with libxml2 2.9 the
 * process should call it once before starting threads (vaultd's main).
 *
 * Verify a written certificate with the stock tool:
 *   xmlsec1 --verify --pubkey-pem signer.pem \
 *     --id-attr:Id urn:3gpp:ns:mcsecKMSInterface:1.0:KmsCertificate cert.xml
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef MCX_KMS_CERT_H
#define MCX_KMS_CERT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mcx/buf.h"
#include "mcx/safety.h"

#define KMS_CERT_NS          "urn:3gpp:ns:mcsecKMSInterface:1.0"
#define KMS_CERT_XML_MAX     (64u * 1024u)   /* largest document accepted */
#define KMS_CERT_STRING_MAX  1024u           /* longest Id, URI or Issuer */
#define KMS_CERT_ENC_KEY_LEN 257u            /* SAKKE Z: 0x04 || x || y, 128-octet coordinates */
#define KMS_CERT_AUTH_KEY_LEN 65u            /* ECCSI KPAK: 0x04 || x || y on P-256 */

struct kms_cert {
	char *id;             /* the Id attribute (XML ID used by the signature Reference) */
	char *role;           /* "Root" | "External" */
	char *kms_uri, *cert_uri, *issuer;   /* issuer may be NULL (optional) */
	int64_t valid_from, valid_to;   /* Unix seconds */
	int revoked;
	int64_t user_key_period, user_key_offset;
	uint8_t pub_enc_key[257];       /* SAKKE Z */
	uint8_t pub_auth_key[65];       /* ECCSI KPAK */
	int parameter_set;              /* 1 */
};

/* Signs a SHA-256 digest with ECDSA P-256; writes r || s (32 octets each,
 * big-endian).  Returns 0 or a negative MCX_ERR_*. */
typedef int (*kms_cert_sign_fn)(void *ctx, const uint8_t digest[32], uint8_t signature[64]);

/* Writes the signed SignedKmsCertificate document (UTF-8, with an XML
 * declaration) to out; the fields are checked as kms_cert_from_xml() would. */
MCX_RESULT kms_cert_to_xml(const struct kms_cert *cert, kms_cert_sign_fn sign, void *sign_ctx,
			   struct mcx_buf *out);
/* Parses strictly and verifies the signature with signer_point (uncompressed
 * P-256 point, 0x04 || x || y); signer_point NULL parses without verifying
 * (tests and inspection only).  out is filled only on success; release it with
 * kms_cert_clear().  MCX_ERR_PARSE for a malformed document,
 * MCX_ERR_REQUEST_TOO_LARGE above KMS_CERT_XML_MAX, MCX_ERR_SIGNATURE_INVALID
 * for any signature problem. */
MCX_RESULT kms_cert_from_xml(const char *xml, size_t len, const uint8_t signer_point[65],
			     struct kms_cert *out);
/* A JSON object with every field: keys in lower-case hex, times RFC 3339. */
MCX_RESULT kms_cert_to_json(const struct kms_cert *cert, json_t **out);
/* MCX_ERR_REVOKED if revoked, MCX_ERR_EXPIRED if now is outside
 * [valid_from, valid_to], else 0. */
MCX_RESULT kms_cert_check_validity(const struct kms_cert *cert, int64_t now);
/* Frees the strings and zeroes the structure; NULL is fine. */
void kms_cert_clear(struct kms_cert *cert);

#endif /* MCX_KMS_CERT_H */
