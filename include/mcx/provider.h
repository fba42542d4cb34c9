/*
 * mcxvault OpenSSL 3 provider — public names for the SAKKE and ECCSI key
 * objects (docs/openssl-provider.md, "SAKKE and ECCSI software keys").
 *
 * Both are software keys held by the provider itself (never vault keys),
 * built with EVP_PKEY_fromdata() from octet-string OSSL_PARAMs:
 *
 *   SAKKE (RFC 6508, RFC 6509 parameter set 1), key type "SAKKE", KEM "SAKKE"
 *     public:  kms-public-key  Z, 257 octets (04 || x || y)
 *              identity        b, 1..128 octets (MIKEY-SAKKE: the 32-octet UID)
 *     private: rsk             K_(b,S), 257 octets (04 || x || y)
 *
 *   ECCSI (RFC 6507, P-256 / SHA-256), key type "ECCSI", signature "ECCSI"
 *     public:  kpak            KPAK, 65 octets (04 || x || y)
 *              identity        ID, 1..1024 octets
 *     private: ssk             SSK, 32 octets
 *              pvt             PVT, 65 octets (04 || x || y), with the SSK
 *
 * No OIDs are standardised for these algorithms; the provider registers the
 * names only.  The algorithms carry the property "provider=mcxvault".
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef MCX_PROVIDER_PUBLIC_H
#define MCX_PROVIDER_PUBLIC_H

#define MCX_PROV_NAME             "mcxvault"
#define MCX_PROV_PROPQ            "provider=mcxvault"

#define MCX_PROV_SAKKE_NAME       "SAKKE"
#define MCX_PROV_ECCSI_NAME       "ECCSI"

/* Key parameters (OSSL_PARAM_OCTET_STRING). */
#define MCX_PROV_PARAM_KMS_PUBLIC_KEY "kms-public-key"
#define MCX_PROV_PARAM_IDENTITY       "identity"
#define MCX_PROV_PARAM_RSK            "rsk"
#define MCX_PROV_PARAM_KPAK           "kpak"
#define MCX_PROV_PARAM_SSK            "ssk"
#define MCX_PROV_PARAM_PVT            "pvt"

/* Sizes (the same as MCX_SAKKE_* / MCX_ECCSI_* of the crypto module). */
#define MCX_PROV_SAKKE_SECRET_LEN 16    /* the SSV, the KEM's shared secret */
#define MCX_PROV_SAKKE_ENCAP_LEN  273   /* R_(b,S) || H */
#define MCX_PROV_ECCSI_SIG_LEN    129   /* r || s || PVT */

/* PEM labels of the encoder/decoder. */
#define MCX_PROV_PEM_SAKKE_PRIVATE "MCX SAKKE PRIVATE KEY"
#define MCX_PROV_PEM_SAKKE_PUBLIC  "MCX SAKKE PUBLIC KEY"
#define MCX_PROV_PEM_ECCSI_PRIVATE "MCX ECCSI PRIVATE KEY"
#define MCX_PROV_PEM_ECCSI_PUBLIC  "MCX ECCSI PUBLIC KEY"

#endif /* MCX_PROVIDER_PUBLIC_H */
