/*
 * mcxvault OpenSSL 3 provider — internal interface shared by its parts.
 *
 *   provider.c   OSSL_provider_init, the algorithm tables, configuration,
 *                the vault connection, error reporting
 *   key.c        the key object (a reference to a vault key plus its public
 *                half), key URIs, KEYMGMT "EC"
 *   store.c      STORE for the "mcxvault:" scheme
 *   signature.c  SIGNATURE "ECDSA": every private operation is one sign.sign
 *   mcx_keys.c   KEYMGMT "SAKKE" / "ECCSI": software keys (struct mcxp_ibk)
 *   sakke.c      KEM "SAKKE", eccsi.c SIGNATURE "ECCSI": the crypto module
 *   mcx_codec.c  PEM ENCODER / DECODER for those keys
 *
 * The private half of a key never leaves the vault: a key loaded from the
 * store is a reference (domain, purpose, version) with the public key the
 * vault returned for it; signing sends the 32-octet SHA-256 digest to vaultd,
 * so the vault's roles, domain scoping and audit apply to every signature.
 *
 * SAKKE and ECCSI keys are software keys held by the provider (computed by
 * crypto/, no vault call).  Vault-held ones would be further purposes of the
 * same URI ("purpose=sakke", "purpose=eccsi") and a vault-reference variant
 * of struct mcxp_ibk.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef MCX_PROVIDER_H
#define MCX_PROVIDER_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/evp.h>

#include "mcxvault.h"
#include "mcx/eccsi.h"
#include "mcx/provider.h"
#include "mcx/safety.h"
#include "mcx/sakke.h"

#define MCXP_NAME          "mcxvault"
#define MCXP_URI_SCHEME    "mcxvault"
#define MCXP_PROPS         "provider=mcxvault"
/* The names the EC KEYMGMT answers to (those of the default provider). */
#define MCXP_EC_NAMES      "EC:id-ecPublicKey:1.2.840.10045.2.1"
#define MCXP_EC_GROUP      "prime256v1"
#define MCXP_EC_POINT_LEN  65          /* 04 || X || Y */
#define MCXP_ECDSA_DER_MAX 72          /* SEQUENCE { INTEGER r, INTEGER s } for P-256 */
#define MCXP_DEFAULT_TIMEOUT_MS 10000

/* Reason codes (provider.c has their strings). */
enum mcxp_reason {
	MCXP_R_VAULT_UNREACHABLE = 1, /* cannot connect, connection lost, timeout */
	MCXP_R_PERMISSION_DENIED,     /* the vault refused: role or domain scope */
	MCXP_R_NOT_FOUND,             /* unknown domain or key version */
	MCXP_R_KEY_STATE,             /* retired / verify-only / rotated since loaded */
	MCXP_R_VAULT_ERROR,           /* any other error the vault answered */
	MCXP_R_BAD_URI,               /* malformed mcxvault: URI */
	MCXP_R_UNSUPPORTED,           /* digest, curve, operation we do not do */
	MCXP_R_NO_PRIVATE_KEY,        /* a public-only key asked to sign */
	MCXP_R_BAD_INPUT,             /* wrong length, bad parameter */
	MCXP_R_INTERNAL,              /* allocation, libcrypto failure */
};

/* The provider context: one per loaded provider instance. */
struct mcxp_ctx {
	const OSSL_CORE_HANDLE *handle;
	OSSL_LIB_CTX *libctx;           /* child library context: SHA-256, verification */
	OSSL_FUNC_core_new_error_fn *core_new_error;
	OSSL_FUNC_core_set_error_debug_fn *core_set_error_debug;
	OSSL_FUNC_core_vset_error_fn *core_vset_error;
	char *socket;                   /* config "socket"; NULL: $MCXVAULT_SOCKET or default */
	int timeout_ms;                 /* config "timeout" (seconds) */
	pthread_mutex_t lock;           /* guards conn (creation and teardown) */
	struct mcxvault *conn;          /* opened on first use; reconnects itself after fork() */
	/* SAKKE / ECCSI software keys (mcx_keys.c): the crypto module's
	 * parameters, created on first use under lock, read-only after. */
	struct mcx_sakke_params *sakke;
	struct mcx_eccsi_params *eccsi;
};

/* Properties for the work done by other providers (default) in ctx->libctx. */
#define MCXP_SOFT_PROPQ    "provider!=mcxvault"

/*
 * A key of the EC KEYMGMT.  Either
 *   - a vault key (domain != NULL): a reference to (domain, purpose, version),
 *     soft holding its public key; every private operation is a vault call;
 *   - a software key (domain == NULL): any EC key libcrypto hands this
 *     KEYMGMT (imported, generated, a certificate's public key), held as
 *     soft.  This KEYMGMT answers to "EC" like the default provider's, and
 *     libcrypto may pick either for keys that are not the vault's; software
 *     keys make that choice harmless: they are exported in full, generated
 *     and used through the default provider.
 * soft lives in the provider's child library context (MCXP_SOFT_PROPQ).
 */
struct mcxp_key {
	int refs;                       /* atomic */
	struct mcxp_ctx *ctx;
	char *domain;                   /* vault key: its domain; NULL for a software key */
	int64_t version;                /* asked for; 0 means "the active one at load time" */
	char *kid;                      /* "a.example/sign/1", as the vault named it */
	char *state;                    /* "active", "verify-only", "retired" */
	int has_private;                /* vault reference, or a software private key */
	int has_public;
	EVP_PKEY *soft;                 /* see above; NULL for an empty key */
};

/* A parsed key URI: mcxvault:domain=D;purpose=sign[;version=N] */
struct mcxp_uri {
	char *domain;
	char *purpose;
	int64_t version;                /* 0 when absent */
};

/* --- provider.c ------------------------------------------------------------- */

/* Raises an OpenSSL error with this provider's reason and a detail text. */
void mcxp_raise_at(struct mcxp_ctx *ctx, const char *file, int line, const char *func,
		   int reason, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
#define MCXP_RAISE(ctx, reason, ...) \
	mcxp_raise_at((ctx), __FILE__, __LINE__, __func__, (reason), __VA_ARGS__)

/*
 * Raises the error for a failed vault call: the reason from the MCX_ERR_*
 * code, the detail from the vault's message (what names the operation).
 */
void mcxp_raise_vault_at(struct mcxp_ctx *ctx, const char *file, int line, const char *func,
			 int err, const struct mcxvault_error *e, const char *what);
#define MCXP_RAISE_VAULT(ctx, err, e, what) \
	mcxp_raise_vault_at((ctx), __FILE__, __LINE__, __func__, (err), (e), (what))

/*
 * The provider's vault connection, opened on first use.  Raises the
 * OpenSSL error itself on failure.  The handle stays owned by ctx; calls on
 * it are serialised by libmcxvault.
 */
MCX_RESULT mcxp_conn(struct mcxp_ctx *ctx, struct mcxvault **out);

/* --- key.c ------------------------------------------------------------------- */

extern const OSSL_DISPATCH mcxp_ec_keymgmt_functions[];

MCX_RESULT mcxp_uri_parse(const char *uri, struct mcxp_uri *out);
void mcxp_uri_clear(struct mcxp_uri *u);

struct mcxp_key *mcxp_key_new(struct mcxp_ctx *ctx);
void mcxp_key_ref(struct mcxp_key *key);
void mcxp_key_unref(struct mcxp_key *key);
/* An EC key of another provider in ctx->libctx from params (EVP_PKEY_fromdata). */
EVP_PKEY *mcxp_soft_fromdata(struct mcxp_ctx *ctx, int selection, OSSL_PARAM params[]);
/* Asks the vault for the public key the URI names; raises the OpenSSL error. */
MCX_RESULT mcxp_key_fetch(struct mcxp_ctx *ctx, const struct mcxp_uri *uri, struct mcxp_key **out);
/* Signs a 32-octet digest in the vault; sig receives r||s.  Raises on failure. */
MCX_RESULT mcxp_key_sign_digest(struct mcxp_key *key, const uint8_t *digest, size_t len,
				uint8_t sig[MCXVAULT_SIGNATURE_LEN]);

/* --- store.c ----------------------------------------------------------------- */

extern const OSSL_DISPATCH mcxp_store_functions[];

/* --- signature.c ------------------------------------------------------------- */

extern const OSSL_DISPATCH mcxp_ecdsa_signature_functions[];

/* --- mcx_keys.c: KEYMGMT "SAKKE" and "ECCSI" (software keys) ----------------- */

enum mcxp_ibk_type { MCXP_IBK_SAKKE = 1, MCXP_IBK_ECCSI = 2 };

/*
 * An identity-based key held by the provider itself (not a vault key).
 *   SAKKE: kms = Z (257), priv = RSK (257)
 *   ECCSI: kms = KPAK (65), priv = SSK (32), pvt = PVT (65)
 * priv is wiped when the key is freed.
 */
struct mcxp_ibk {
	struct mcxp_ctx *ctx;
	enum mcxp_ibk_type type;
	int has_public;                 /* kms and id set */
	int has_private;                /* priv (and for ECCSI pvt) set */
	uint8_t kms[MCX_SAKKE_POINT_LEN];
	size_t kms_len;
	uint8_t *id;
	size_t id_len;
	uint8_t priv[MCX_SAKKE_POINT_LEN];
	size_t priv_len;
	uint8_t pvt[MCX_ECCSI_POINT_LEN];
};

extern const OSSL_DISPATCH mcxp_sakke_keymgmt_functions[];
extern const OSSL_DISPATCH mcxp_eccsi_keymgmt_functions[];

/* The crypto module's parameters of ctx, created on first use; raise on failure. */
MCX_RESULT mcxp_sakke_params(struct mcxp_ctx *ctx, const struct mcx_sakke_params **out);
MCX_RESULT mcxp_eccsi_params(struct mcxp_ctx *ctx, const struct mcx_eccsi_params **out);
/* A random source for the crypto module: RAND_priv_bytes_ex in ctx->libctx. */
int mcxp_rand(void *ctx, uint8_t *out, size_t len);
/* A new empty key of a type, and its release (wipes the private part). */
struct mcxp_ibk *mcxp_ibk_new(struct mcxp_ctx *ctx, enum mcxp_ibk_type type);
void mcxp_ibk_free(struct mcxp_ibk *key);
/* KEYMGMT import: the key's octet strings from params (include/mcx/provider.h). */
int mcxp_ibk_import(void *keydata, int selection, const OSSL_PARAM params[]);

/* --- sakke.c / eccsi.c / mcx_codec.c ------------------------------------------ */

extern const OSSL_DISPATCH mcxp_sakke_kem_functions[];
extern const OSSL_DISPATCH mcxp_eccsi_signature_functions[];
extern const OSSL_DISPATCH mcxp_sakke_encoder_priv_functions[];
extern const OSSL_DISPATCH mcxp_sakke_encoder_pub_functions[];
extern const OSSL_DISPATCH mcxp_eccsi_encoder_priv_functions[];
extern const OSSL_DISPATCH mcxp_eccsi_encoder_pub_functions[];
extern const OSSL_DISPATCH mcxp_sakke_decoder_functions[];
extern const OSSL_DISPATCH mcxp_eccsi_decoder_functions[];

#endif /* MCX_PROVIDER_H */
