/*
 * Inside the GMS service: one distribution (the members of one request) and
 * the engine that builds their I_MESSAGEs (gms.c), used by gms_methods.c.
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef VAULT_GMS_INTERNAL_H
#define VAULT_GMS_INTERNAL_H

#include <stdint.h>

#include "mcx/eccsi.h"
#include "mcx/sakke.h"
#include "mcx/uid.h"
#include "vault/gms/gms.h"

#define GMS_KMS_URI_MAX 255
#define GMS_KMS_PER_REQUEST_MAX 256   /* distinct member KMSs in one request */

/* One member KMS of a request: the home KMS or a trusted external one. */
struct gms_member_kms {
	char kms_uri[GMS_KMS_URI_MAX + 1];
	int external;
	uint8_t z[MCX_SAKKE_POINT_LEN];
	uint64_t period, offset, period_no;
	int err;                         /* non-zero: every member of this KMS fails */
	char message[192];
	/* gms.c, pool batches only: Z's SAKKE context, built once for a KMS with
	 * several members of the request (NULL: the byte API) */
	struct mcx_sakke_public *pub;
};

struct gms_member {
	const char *uri;                 /* borrowed from the request */
	size_t uri_len;
	const char *kms_uri_param;       /* borrowed; NULL: home */
	int kms;                         /* index into kmss */
	/* results */
	int err;
	const char *message;             /* static text or the KMS's message */
	uint32_t guk_id;
	char *i_message;                 /* base64url, malloc'ed */
};

struct gms_distribution {
	const char *domain;
	unsigned purpose;
	uint32_t key_id;
	const uint8_t *key;                      /* GMS_KEY_LEN, in a secret buffer */
	const char *sender_uri;
	const char *sender_kms_uri;
	uint8_t sender_uid[MCX_UID_LEN];
	uint8_t sender_kpak[MCX_ECCSI_POINT_LEN];
	uint8_t sender_pvt[MCX_ECCSI_POINT_LEN];
	const uint8_t *sender_ssk;               /* in a secret buffer */
	uint64_t ntp_time;
	int identities;                          /* enum mcx_mikey_identities */
	struct gms_member_kms *kmss;
	size_t kms_count;
	struct gms_member *members;
	size_t count;
};

/* The sender's SSK/PVT for (domain, UID) of the home KMS generation version:
 * from the cache, else derived once from KSAK with mcx_eccsi_issue and
 * validated.  ssk must be a secret buffer; it receives 32 octets. */
MCX_RESULT gms_sender_keys(struct gms_service *gms, const char *domain, uint32_t kms_version,
                           const uint8_t kpak[MCX_ECCSI_POINT_LEN], const uint8_t uid[MCX_UID_LEN],
                           struct mcx_buf *ssk, uint8_t pvt[MCX_ECCSI_POINT_LEN]);

/* Builds every member's I_MESSAGE (per-member errors in the members):
 * inline for up to GMS_INLINE_MAX members, else on the GMS thread pool.
 * MCX_ERR_BUSY when every batch slot is taken. */
MCX_RESULT gms_distribute(struct gms_service *gms, struct gms_distribution *d);

#endif
