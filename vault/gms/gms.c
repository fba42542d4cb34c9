/*
 * The GMS service: its store, the sender key cache and the distribution
 * engine.
 *
 * Threads.  vaultd answers requests on `server.workers` threads.  Building
 * one member's I_MESSAGE costs a SAKKE encapsulation and an ECCSI signature
 * (milliseconds), so a 10,000-member request would hold one worker for
 * seconds.  Requests with at most GMS_INLINE_MAX members (late entry: one
 * member, TR 33.880's 350 ms) run on the calling worker at once.  Larger ones
 * go to the GMS pool: `workers` threads that take members one at a time
 * from the running batches in turn (a member costs milliseconds, the lock
 * microseconds); the calling worker waits and then assembles the results in
 * member order.  So that a late entry never waits behind a batch:
 *   - while k small requests run inline, min(k, pool - 1) pool threads pause
 *     after their current member: the late entry gets a core of its own
 *     within one member's time, and the batch keeps at least one thread;
 *   - pool threads run at nice GMS_POOL_NICE: until they pause, the
 *     scheduler already favours the vaultd worker (nice 0);
 *   - at most workers - 1 batches wait at a time (the others get
 *     MCX_ERR_BUSY at once), so one vaultd worker is always free.
 *
 * Sender keys.  The GMS is a user of its home domain: its SSK/PVT for a key
 * period are derived from KSAK once and kept in a small mlocked cache keyed
 * by (domain, KMS generation, UID) — the UID already covers the sender URI
 * and the key period.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "mcx/mikey.h"
#include "mcx/util.h"
#include "pkcs11/hsm.h"
#include "vault/daemon/log.h"
#include "vault/store/store.h"
#include "vault/gms/gms_internal.h"
#include "vault/kms/kms.h"

#define GMS_POOL_NICE 10
#define GMS_SENDER_CACHE 16

struct gms_sender_entry {
	int used;
	uint64_t last_use;
	char domain[KEYSTORE_DOMAIN_MAX + 1];
	uint32_t kms_version;
	uint8_t uid[MCX_UID_LEN];
	uint8_t ssk[MCX_ECCSI_SCALAR_LEN];
	uint8_t pvt[MCX_ECCSI_POINT_LEN];
};

/*
 * Per member KMS of a batch (gms_job.pub_state): a KMS with several members
 * gets one SAKKE context (mcx_sakke_public_new: Z decoded once, its 64 KiB
 * comb table), built by the first pool thread that needs it while the others
 * wait for it.  A lone member uses the byte API, which for a Z not seen
 * before needs no table (crypto/sakke.c) — so 10,000 members over 8 KMSs cost
 * what 10,000 in one KMS do, instead of a table per member once more than
 * params' four cached Z take turns.
 */
enum { PUB_NONE, PUB_ONE, PUB_WANTED, PUB_BUILDING, PUB_DONE };

struct gms_job {
	struct gms_job *next;
	struct gms_distribution *d;
	size_t next_index;        /* first member not yet taken */
	size_t done;              /* members finished */
	unsigned char *pub_state; /* per d->kmss entry; NULL: byte API for all */
};

struct gms_service {
	struct hsm *hsm;
	struct kms_service *kms;
	struct mcx_store *store;               /* borrowed from main.c */
	/* pool */
	pthread_mutex_t pool_lock;
	pthread_cond_t work, done, pub_ready;
	pthread_t *threads;
	unsigned thread_count;
	int stopping;
	struct gms_job *jobs;
	unsigned batches, batches_max;
	unsigned priority;                     /* small distributions running inline */
	unsigned next_thread_index;
	/* sender keys */
	pthread_mutex_t sender_lock;
	struct mcx_buf *sender_buf;            /* secret: GMS_SENDER_CACHE entries */
	struct gms_sender_entry *senders;
	uint64_t sender_clock;
};

struct mcx_store *gms_service_store(struct gms_service *gms)
{
	return gms->store;
}

struct hsm *gms_service_hsm(struct gms_service *gms)
{
	return gms->hsm;
}

struct kms_service *gms_service_kms(struct gms_service *gms)
{
	return gms->kms;
}

void gms_key_aad(char *out, size_t size, const char *domain, unsigned purpose, uint32_t version, uint32_t key_id,
                 const char *owner)
{
	snprintf(out, size, "mcxvault-gms/%s/%u/%u/%08x/%s", domain, purpose, (unsigned)version, (unsigned)key_id,
	         owner);
}

/* --- sender keys ------------------------------------------------------------ */

static int token_random(void *context, uint8_t *out, size_t len)
{
	return hsm_random(context, out, len) == MCX_OK ? 0 : -1;
}

static struct gms_sender_entry *sender_find(struct gms_service *gms, const char *domain, uint32_t kms_version,
                                            const uint8_t uid[MCX_UID_LEN])
{
	for (size_t i = 0; i < GMS_SENDER_CACHE; i++) {
		struct gms_sender_entry *e = &gms->senders[i];
		if (e->used && e->kms_version == kms_version && strcmp(e->domain, domain) == 0 &&
		    memcmp(e->uid, uid, MCX_UID_LEN) == 0)
			return e;
	}
	return NULL;
}

MCX_RESULT gms_sender_keys(struct gms_service *gms, const char *domain, uint32_t kms_version,
                           const uint8_t kpak[MCX_ECCSI_POINT_LEN], const uint8_t uid[MCX_UID_LEN],
                           struct mcx_buf *ssk, uint8_t pvt[MCX_ECCSI_POINT_LEN])
{
	int r = MCX_ERR_INTERNAL;
	struct gms_sender_entry *e, *victim;
	struct mcx_buf *secrets = NULL, *fresh = NULL;
	uint8_t *new_ssk = NULL, new_pvt[MCX_ECCSI_POINT_LEN];

	pthread_mutex_lock(&gms->sender_lock);
	e = sender_find(gms, domain, kms_version, uid);
	if (e != NULL) {
		e->last_use = ++gms->sender_clock;
		r = mcx_buf_put(ssk, e->ssk, MCX_ECCSI_SCALAR_LEN);
		memcpy(pvt, e->pvt, MCX_ECCSI_POINT_LEN);
	}
	pthread_mutex_unlock(&gms->sender_lock);
	if (e != NULL)
		goto out;

	/* derive outside the lock: one KSAK unseal and an ECCSI issue (RFC 6507 s.5.1.1) */
	MCX_ENSURE_ALLOC(secrets = mcx_buf_new_secret(KMS_SECRETS_LEN + 64));
	MCX_ENSURE_ALLOC(fresh = mcx_buf_new_secret(MCX_ECCSI_SCALAR_LEN));
	MCX_GUARD(mcx_buf_reserve(fresh, MCX_ECCSI_SCALAR_LEN, &new_ssk));
	MCX_GUARD(kms_secrets_open(gms->kms, domain, kms_version, secrets));
	MCX_GUARD(mcx_eccsi_issue(kms_eccsi(gms->kms), mcx_buf_ptr(secrets) + MCX_SAKKE_SCALAR_LEN, kpak, uid,
	                          MCX_UID_LEN, token_random, gms->hsm, new_ssk, new_pvt));
	mcx_buf_free(secrets);
	secrets = NULL;
	MCX_GUARD(mcx_eccsi_validate(kms_eccsi(gms->kms), kpak, uid, MCX_UID_LEN, new_ssk, new_pvt));

	pthread_mutex_lock(&gms->sender_lock);
	/* another thread may have derived it meanwhile: keep one */
	if ((e = sender_find(gms, domain, kms_version, uid)) == NULL) {
		victim = &gms->senders[0];
		for (size_t i = 1; i < GMS_SENDER_CACHE && victim->used; i++)
			if (!gms->senders[i].used || gms->senders[i].last_use < victim->last_use)
				victim = &gms->senders[i];
		mcx_wipe(victim, sizeof(*victim));
		victim->used = 1;
		snprintf(victim->domain, sizeof(victim->domain), "%s", domain);
		victim->kms_version = kms_version;
		memcpy(victim->uid, uid, MCX_UID_LEN);
		memcpy(victim->ssk, new_ssk, MCX_ECCSI_SCALAR_LEN);
		memcpy(victim->pvt, new_pvt, MCX_ECCSI_POINT_LEN);
		e = victim;
	}
	e->last_use = ++gms->sender_clock;
	r = mcx_buf_put(ssk, e->ssk, MCX_ECCSI_SCALAR_LEN);
	memcpy(pvt, e->pvt, MCX_ECCSI_POINT_LEN);
	pthread_mutex_unlock(&gms->sender_lock);
	vault_debug("gms: sender keys of %s (KMS version %u) derived and cached", domain, (unsigned)kms_version);
out:
	mcx_buf_free(secrets);
	mcx_buf_free(fresh);
	return r;
}

/* --- one member ----------------------------------------------------------- */

static void member_build(struct gms_service *gms, struct gms_distribution *d, size_t index, struct mcx_buf *msg)
{
	struct gms_member *m = &d->members[index];
	const struct gms_member_kms *k = &d->kmss[m->kms];
	struct mcx_mikey_gmk_input in;
	uint8_t uid[MCX_UID_LEN], rand[MCX_MIKEY_RAND_LEN];
	int r;

	if (k->err != 0) {
		m->err = k->err;
		m->message = k->message;
		return;
	}
	memset(&in, 0, sizeof(in));
	mcx_buf_reset(msg);
	/* TS 33.180 F.2.1: the member's UID under its own KMS's period and offset */
	r = mcx_uid_compute(m->uri, m->uri_len, k->kms_uri, strlen(k->kms_uri), k->period, k->offset, k->period_no,
	                    uid);
	if (r == MCX_OK) {
		/* CSB-ID = GUK-ID (TS 33.180 F.1.3): the key id salted per member;
		 * server keys the same way, the member recovers the id with
		 * mcx_mikey_gmk_id_from_guk_id() */
		r = mcx_mikey_guk_id(d->key, d->key_id, m->uri, &m->guk_id);
	}
	/* one RAND per key for every member: TS 33.180 7.4.2 media keys (mcx/mikey.h) */
	if (r == MCX_OK)
		r = mcx_mikey_group_rand(d->key, d->key_id, rand);
	if (r == MCX_OK) {
		in.gmk_id = d->key_id;
		in.guk_id = m->guk_id;
		in.gmk = d->key;
		in.sender_uri = d->sender_uri;
		in.sender_kms_uri = d->sender_kms_uri;
		in.member_uri = m->uri;
		in.member_kms_uri = k->kms_uri;
		in.member_uid = uid;
		in.member_kms_z = k->z;
		in.sender_uid = d->sender_uid;
		in.sender_kpak = d->sender_kpak;
		in.sender_ssk = d->sender_ssk;
		in.sender_pvt = d->sender_pvt;
		in.ntp_time = d->ntp_time;
		in.identities = (enum mcx_mikey_identities)d->identities;
		in.rand = rand;
		in.member_kms_pub = k->pub;
		r = mcx_mikey_gmk_build(kms_sakke(gms->kms), kms_eccsi(gms->kms), &in, NULL, NULL, msg);
	}
	if (r == MCX_OK && (m->i_message = mcx_base64url_string(mcx_buf_ptr(msg), mcx_buf_len(msg))) == NULL)
		r = MCX_ERR_ALLOC;
	if (r != MCX_OK) {
		m->err = r == MCX_ERR_INVALID_ARGUMENT ? MCX_ERR_INVALID_PARAMS : r;
		m->message = r == MCX_ERR_INVALID_ARGUMENT ? "member URI or key not usable for MIKEY-SAKKE"
		                                           : "I_MESSAGE could not be built (see the vaultd log)";
		if (r != MCX_ERR_INVALID_ARGUMENT)
			vault_error("gms: I_MESSAGE for a member of %s failed: %s", d->domain, mcx_strerror(r));
	}
	mcx_wipe(uid, sizeof(uid));
	mcx_buf_reset(msg);
}

/* --- the pool ------------------------------------------------------------- */

static struct gms_job *pool_next_job(struct gms_service *gms)
{
	struct gms_job *job = gms->jobs;

	/* take from the job with the fewest taken members: batches share the pool */
	for (struct gms_job *j = gms->jobs; j != NULL; j = j->next)
		if (j->next_index < j->d->count && (job->next_index >= job->d->count || j->next_index < job->next_index))
			job = j;
	return job != NULL && job->next_index < job->d->count ? job : NULL;
}

/* Pool threads with the highest indexes give way to inline requests. */
static int pool_paused(const struct gms_service *gms, unsigned index)
{
	unsigned paused = gms->priority < gms->thread_count - 1 ? gms->priority : gms->thread_count - 1;

	return index >= gms->thread_count - paused;
}

/*
 * Makes sure the SAKKE context of member index's KMS exists when the KMS
 * should have one (see PUB_*).  Called and returns with pool_lock held; drops
 * it while building, so other members go on meanwhile.
 */
static void pool_kms_context(struct gms_service *gms, struct gms_job *job, size_t index)
{
	int kms = job->d->members[index].kms;
	struct mcx_sakke_public *pub = NULL;

	if (job->pub_state == NULL)
		return;
	while (job->pub_state[kms] == PUB_BUILDING)
		pthread_cond_wait(&gms->pub_ready, &gms->pool_lock);
	if (job->pub_state[kms] != PUB_WANTED)
		return;
	job->pub_state[kms] = PUB_BUILDING;
	pthread_mutex_unlock(&gms->pool_lock);
	/* on failure the members use the byte API, which reports the error */
	if (mcx_sakke_public_new(kms_sakke(gms->kms), job->d->kmss[kms].z, &pub) != MCX_OK)
		pub = NULL;
	pthread_mutex_lock(&gms->pool_lock);
	job->d->kmss[kms].pub = pub;   /* read by member_build after this lock */
	job->pub_state[kms] = PUB_DONE;
	pthread_cond_broadcast(&gms->pub_ready);
}

static void *pool_thread(void *arg)
{
	struct gms_service *gms = arg;
	struct mcx_buf *msg = mcx_buf_new(MCX_MIKEY_MSG_MAX);
	struct gms_job *job = NULL;
	size_t start;
	unsigned index;

	/* below vaultd's workers: a late entry on a worker runs first */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), GMS_POOL_NICE) != 0)
		vault_warning("gms: cannot lower the pool thread priority");
	pthread_mutex_lock(&gms->pool_lock);
	index = gms->next_thread_index++;
	for (;;) {
		while (!gms->stopping && (pool_paused(gms, index) || (job = pool_next_job(gms)) == NULL))
			pthread_cond_wait(&gms->work, &gms->pool_lock);
		if (gms->stopping)
			break;
		start = job->next_index++;
		pool_kms_context(gms, job, start);
		pthread_mutex_unlock(&gms->pool_lock);
		if (msg != NULL) {
			member_build(gms, job->d, start, msg);
		} else {
			job->d->members[start].err = MCX_ERR_ALLOC;
			job->d->members[start].message = "out of memory";
		}
		pthread_mutex_lock(&gms->pool_lock);
		if (++job->done == job->d->count)
			pthread_cond_broadcast(&gms->done);
	}
	pthread_mutex_unlock(&gms->pool_lock);
	mcx_buf_free(msg);
	return NULL;
}

MCX_RESULT gms_distribute(struct gms_service *gms, struct gms_distribution *d)
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_buf *msg = NULL;
	struct gms_job job, **link;

	memset(&job, 0, sizeof(job));
	if (d->count <= GMS_INLINE_MAX || gms->thread_count == 0) {
		MCX_ENSURE_ALLOC(msg = mcx_buf_new(MCX_MIKEY_MSG_MAX));
		pthread_mutex_lock(&gms->pool_lock);
		gms->priority++;
		pthread_mutex_unlock(&gms->pool_lock);
		for (size_t i = 0; i < d->count; i++)
			member_build(gms, d, i, msg);
		pthread_mutex_lock(&gms->pool_lock);
		gms->priority--;
		pthread_cond_broadcast(&gms->work);   /* paused pool threads resume */
		pthread_mutex_unlock(&gms->pool_lock);
		r = MCX_OK;
		goto out;
	}
	job.d = d;
	/* out of memory here only costs speed: every member uses the byte API */
	if ((job.pub_state = calloc(d->kms_count, 1)) != NULL)
		for (size_t i = 0; i < d->count; i++) {
			unsigned char *st = &job.pub_state[d->members[i].kms];
			if (d->kmss[d->members[i].kms].err == 0)
				*st = *st == PUB_NONE ? PUB_ONE : PUB_WANTED;
		}
	pthread_mutex_lock(&gms->pool_lock);
	if (gms->batches >= gms->batches_max) {
		pthread_mutex_unlock(&gms->pool_lock);
		MCX_BAIL(MCX_ERR_BUSY);
	}
	gms->batches++;
	for (link = &gms->jobs; *link != NULL; link = &(*link)->next)
		;
	*link = &job;
	pthread_cond_broadcast(&gms->work);
	while (job.done < d->count)
		pthread_cond_wait(&gms->done, &gms->pool_lock);
	for (link = &gms->jobs; *link != &job; link = &(*link)->next)
		;
	*link = job.next;
	gms->batches--;
	pthread_mutex_unlock(&gms->pool_lock);
	r = MCX_OK;
out:
	for (size_t i = 0; job.pub_state != NULL && i < d->kms_count; i++) {
		mcx_sakke_public_free(d->kmss[i].pub);
		d->kmss[i].pub = NULL;
	}
	free(job.pub_state);
	mcx_buf_free(msg);
	return r;
}

/* --- open / free ---------------------------------------------------------- */

MCX_RESULT gms_service_open(struct mcx_store *store, unsigned workers, struct hsm *hsm, struct kms_service *kms,
                            struct gms_service **out)
{
	int r = MCX_ERR_INTERNAL;
	struct gms_service *gms = NULL;
	uint8_t *p = NULL;

	MCX_ENSURE_ALLOC(gms = calloc(1, sizeof(*gms)));
	gms->hsm = hsm;
	gms->kms = kms;
	pthread_mutex_init(&gms->pool_lock, NULL);
	pthread_cond_init(&gms->work, NULL);
	pthread_cond_init(&gms->done, NULL);
	pthread_cond_init(&gms->pub_ready, NULL);
	pthread_mutex_init(&gms->sender_lock, NULL);
	MCX_ENSURE_ALLOC(gms->sender_buf = mcx_buf_new_secret(GMS_SENDER_CACHE * sizeof(struct gms_sender_entry)));
	MCX_GUARD(mcx_buf_reserve(gms->sender_buf, GMS_SENDER_CACHE * sizeof(struct gms_sender_entry), &p));
	memset(p, 0, GMS_SENDER_CACHE * sizeof(struct gms_sender_entry));
	gms->senders = (struct gms_sender_entry *)(void *)p;
	if (store == NULL) {
		vault_warning("neither gms.store nor store is configured: gmk.* and server_key.* are refused");
		*out = gms;
		gms = NULL;
		r = MCX_OK;
		goto out;
	}
	gms->store = store;
	gms->batches_max = workers > 1 ? workers - 1 : 1;
	MCX_ENSURE_ALLOC(gms->threads = calloc(workers > 0 ? workers : 1, sizeof(pthread_t)));
	for (unsigned i = 0; i < (workers > 0 ? workers : 1); i++) {
		MCX_ENSURE(pthread_create(&gms->threads[i], NULL, pool_thread, gms) == 0, MCX_ERR_SYSTEM);
		gms->thread_count++;
	}
	vault_info("gms: %s store, %u pool threads", mcx_store_kind(store), gms->thread_count);
	*out = gms;
	gms = NULL;
	r = MCX_OK;
out:
	gms_service_free(gms);
	return r;
}

void gms_service_free(struct gms_service *gms)
{
	if (gms == NULL)
		return;
	pthread_mutex_lock(&gms->pool_lock);
	gms->stopping = 1;
	pthread_cond_broadcast(&gms->work);
	pthread_mutex_unlock(&gms->pool_lock);
	for (unsigned i = 0; i < gms->thread_count; i++)
		pthread_join(gms->threads[i], NULL);
	free(gms->threads);
	mcx_buf_free(gms->sender_buf);   /* wipes the cached SSKs */
	pthread_mutex_destroy(&gms->sender_lock);
	pthread_cond_destroy(&gms->work);
	pthread_cond_destroy(&gms->done);
	pthread_cond_destroy(&gms->pub_ready);
	pthread_mutex_destroy(&gms->pool_lock);
	free(gms);
}
