/*
 * ECCSI signatures by an identity of a home domain (identity_sign.h).
 * SPDX-License-Identifier: Apache-2.0
 */
#include "vault/kms/identity_sign.h"

#include <string.h>

#include "mcx/buf.h"
#include "mcx/uid.h"
#include "mcx/util.h"
#include "pkcs11/hsm.h"

#define IDENTITY_MAX 2048

/* mcx_random_fn over the token's RNG: v (the PVT's scalar) and j come from the HSM. */
static int identity_token_random(void *context, uint8_t *out, size_t len)
{
	return hsm_random(context, out, len) == MCX_OK ? 0 : -1;
}

MCX_RESULT kms_identity_key_period(struct kms_service *kms, const char *domain, int64_t t,
                                   struct kms_generation *g, uint64_t *period_no)
{
	int r = MCX_ERR_INTERNAL;
	int64_t start = 0, end = 0;

	MCX_GUARD(kms_generation_get(kms, domain, 0, g));
	MCX_ENSURE(g->user_key_period > 0 && g->user_key_offset >= 0, MCX_ERR_INTERNAL);
	/* TS 33.180 F.2.1: the key period containing t, counted from UserKeyOffset */
	MCX_ENSURE(mcx_uid_key_period(t, (uint64_t)g->user_key_period, (uint64_t)g->user_key_offset, period_no,
	                              &start, &end) == MCX_OK,
	           MCX_ERR_INVALID_ARGUMENT);
	/* only a certificate valid at t vouches for keys used at t */
	MCX_ENSURE(g->valid_from <= t && t <= g->valid_to, MCX_ERR_EXPIRED);
	r = MCX_OK;
out:
	return r;
}

MCX_RESULT kms_identity_sign(struct kms_service *kms, struct hsm *hsm, const char *domain,
                             const struct kms_generation *g, const char *identity, uint64_t period_no,
                             const uint8_t *msg, size_t msg_len, uint8_t sig[MCX_ECCSI_SIG_LEN])
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_buf *secrets = NULL, *keys = NULL;
	uint8_t uid[MCX_UID_LEN], *ssk = NULL, *pvt = NULL;
	size_t id_len = identity != NULL ? strnlen(identity, IDENTITY_MAX + 1) : 0;

	memset(sig, 0, MCX_ECCSI_SIG_LEN);
	MCX_ENSURE(id_len > 0 && id_len <= IDENTITY_MAX && msg != NULL, MCX_ERR_INVALID_ARGUMENT);
	MCX_GUARD(mcx_uid_compute(identity, id_len, g->kms_uri, strlen(g->kms_uri), (uint64_t)g->user_key_period,
	                          (uint64_t)g->user_key_offset, period_no, uid));
	MCX_ENSURE_ALLOC(keys = mcx_buf_new_secret(MCX_ECCSI_SCALAR_LEN + MCX_ECCSI_POINT_LEN));
	MCX_GUARD(mcx_buf_reserve(keys, MCX_ECCSI_SCALAR_LEN + MCX_ECCSI_POINT_LEN, &ssk));
	pvt = ssk + MCX_ECCSI_SCALAR_LEN;
	MCX_ENSURE_ALLOC(secrets = mcx_buf_new_secret(KMS_SECRETS_LEN + 64));
	MCX_GUARD(kms_secrets_open(kms, domain, g->version, secrets));
	/* RFC 6507 s.5.1.1: (SSK, PVT) for ID = UID, as kms.user_keys issues them */
	MCX_GUARD(mcx_eccsi_issue(kms_eccsi(kms), mcx_buf_ptr(secrets) + MCX_SAKKE_SCALAR_LEN, g->kpak, uid,
	                          sizeof(uid), identity_token_random, hsm, ssk, pvt));
	mcx_buf_free(secrets);   /* wiped: the KSAK is needed no longer */
	secrets = NULL;
	/* RFC 6507 s.5.1.2, then s.5.2.1 */
	MCX_GUARD(mcx_eccsi_validate(kms_eccsi(kms), g->kpak, uid, sizeof(uid), ssk, pvt));
	MCX_GUARD(mcx_eccsi_sign(kms_eccsi(kms), g->kpak, uid, sizeof(uid), ssk, pvt, msg, msg_len,
	                         identity_token_random, hsm, sig));
	/* s.5.2.2 before it leaves: what every verifier will compute */
	MCX_GUARD(mcx_eccsi_verify(kms_eccsi(kms), g->kpak, uid, sizeof(uid), msg, msg_len, sig, MCX_ECCSI_SIG_LEN));
	r = MCX_OK;
out:
	if (r != MCX_OK)
		mcx_wipe(sig, MCX_ECCSI_SIG_LEN);
	mcx_buf_free(secrets);
	mcx_buf_free(keys);   /* wipes SSK and PVT */
	mcx_wipe(uid, sizeof(uid));
	return r;
}
