/*
 * mcxvault tests — a fault-injecting PKCS#11 module.
 *
 * C_GetFunctionList loads the real module named by MCX_SHIM_TARGET, copies its
 * function list (so every call is forwarded unchanged) and replaces a few
 * entries with wrappers that can fail on request.  Tests steer it through the
 * small control API below, found with dlsym() on the already loaded shim:
 *
 *   p11shim_fail("C_Sign", CKR_SESSION_HANDLE_INVALID, 2)   next 2 C_Sign fail
 *   p11shim_fail("C_Sign", CKR_DEVICE_ERROR, -1)            fail until cleared
 *   p11shim_fail("C_Sign", 0, 0)                            clear
 *   p11shim_lose_session("C_Sign", 1)   next C_Sign really closes its session
 *                                       and returns CKR_SESSION_HANDLE_INVALID
 *   p11shim_token_remove()   closes every real session; the token is absent
 *                            (not listed, CKR_TOKEN_NOT_PRESENT, and every
 *                            session call CKR_DEVICE_REMOVED)
 *   p11shim_token_insert(s)  the token is back, its slot ID shifted by s
 *   p11shim_count("C_FindObjectsFinal")   calls seen so far
 *   p11shim_reset()
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define CRYPTOKI_GNU 1

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

/* the control API (exported; also keeps -Wmissing-prototypes quiet) */
void p11shim_fail(const char *function, ck_rv_t rv, int times);
void p11shim_lose_session(const char *function, int times);
void p11shim_token_remove(void);
void p11shim_token_insert(unsigned long slot_shift);
unsigned long p11shim_count(const char *function);
void p11shim_reset(void);
ck_rv_t C_GetFunctionList(struct ck_function_list **list);

enum {
	F_GetSlotList, F_GetSlotInfo, F_GetTokenInfo, F_OpenSession, F_CloseAllSessions, F_GetSessionInfo,
	F_Login, F_SignInit, F_Sign, F_CreateObject, F_DestroyObject, F_GenerateKeyPair, F_GenerateRandom,
	F_FindObjectsInit, F_FindObjects, F_FindObjectsFinal, F_GetAttributeValue, F_EncryptInit, F_Encrypt,
	F_MAX
};

static const char *const names[F_MAX] = {
	"C_GetSlotList", "C_GetSlotInfo", "C_GetTokenInfo", "C_OpenSession", "C_CloseAllSessions",
	"C_GetSessionInfo", "C_Login", "C_SignInit", "C_Sign", "C_CreateObject", "C_DestroyObject",
	"C_GenerateKeyPair", "C_GenerateRandom", "C_FindObjectsInit", "C_FindObjects", "C_FindObjectsFinal",
	"C_GetAttributeValue", "C_EncryptInit", "C_Encrypt",
};

static struct {
	ck_rv_t rv;
	int times;       /* < 0: until cleared */
	int lose;        /* sessions to really close */
	unsigned long calls;
} rules[F_MAX];

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int removed;
static unsigned long shift;
static struct ck_function_list *real;
static struct ck_function_list shim;

static int index_of(const char *function)
{
	int i;

	for (i = 0; i < F_MAX; i++)
		if (strcmp(names[i], function) == 0)
			return i;
	return -1;
}

void p11shim_fail(const char *function, ck_rv_t rv, int times)
{
	int i = index_of(function);

	if (i < 0)
		abort(); /* a test asked for a function the shim does not wrap */
	pthread_mutex_lock(&lock);
	rules[i].rv = rv;
	rules[i].times = times;
	pthread_mutex_unlock(&lock);
}

void p11shim_lose_session(const char *function, int times)
{
	int i = index_of(function);

	if (i < 0)
		abort();
	pthread_mutex_lock(&lock);
	rules[i].lose = times;
	pthread_mutex_unlock(&lock);
}

unsigned long p11shim_count(const char *function)
{
	int i = index_of(function);
	unsigned long n;

	if (i < 0)
		abort();
	pthread_mutex_lock(&lock);
	n = rules[i].calls;
	pthread_mutex_unlock(&lock);
	return n;
}

void p11shim_reset(void)
{
	pthread_mutex_lock(&lock);
	memset(rules, 0, sizeof(rules));
	removed = 0;
	pthread_mutex_unlock(&lock);
}

void p11shim_token_remove(void)
{
	ck_slot_id_t slots[32];
	unsigned long n = 32, i;

	pthread_mutex_lock(&lock);
	removed = 1;
	pthread_mutex_unlock(&lock);
	/* what a real removal does to the module's state: sessions and login gone */
	if (real != NULL && real->C_GetSlotList(1, slots, &n) == CKR_OK)
		for (i = 0; i < n; i++)
			real->C_CloseAllSessions(slots[i]);
}

void p11shim_token_insert(unsigned long slot_shift)
{
	pthread_mutex_lock(&lock);
	removed = 0;
	shift = slot_shift;
	pthread_mutex_unlock(&lock);
}

/* Counts the call; returns a forced CK_RV or CKR_OK to forward.  *lose is set
 * when the session should really be closed first. */
static ck_rv_t inject(int f, int session_call, int *lose)
{
	ck_rv_t rv = CKR_OK;

	pthread_mutex_lock(&lock);
	rules[f].calls++;
	if (lose != NULL)
		*lose = 0;
	if (removed) {
		rv = session_call ? CKR_DEVICE_REMOVED : CKR_TOKEN_NOT_PRESENT;
	} else if (rules[f].lose > 0 && lose != NULL) {
		rules[f].lose--;
		*lose = 1;
		rv = CKR_SESSION_HANDLE_INVALID;
	} else if (rules[f].times != 0) {
		if (rules[f].times > 0)
			rules[f].times--;
		rv = rules[f].rv;
	}
	pthread_mutex_unlock(&lock);
	return rv;
}

static unsigned long cur_shift(void)
{
	unsigned long s;

	pthread_mutex_lock(&lock);
	s = shift;
	pthread_mutex_unlock(&lock);
	return s;
}

static ck_rv_t shim_GetSlotList(unsigned char token_present, ck_slot_id_t *list, unsigned long *count)
{
	unsigned long i, s = cur_shift();
	ck_rv_t rv;
	int gone;

	pthread_mutex_lock(&lock);
	rules[F_GetSlotList].calls++;
	gone = removed;
	pthread_mutex_unlock(&lock);
	if (gone && token_present) {
		*count = 0;
		return CKR_OK;
	}
	rv = real->C_GetSlotList(token_present, list, count);
	if (rv == CKR_OK && list != NULL)
		for (i = 0; i < *count; i++)
			list[i] += s;
	return rv;
}

static ck_rv_t shim_GetSlotInfo(ck_slot_id_t slot, struct ck_slot_info *info)
{
	ck_rv_t rv = real->C_GetSlotInfo(slot - cur_shift(), info);

	if (rv == CKR_OK && inject(F_GetSlotInfo, 0, NULL) != CKR_OK)
		info->flags &= ~(ck_flags_t)CKF_TOKEN_PRESENT;
	return rv;
}

static ck_rv_t shim_GetTokenInfo(ck_slot_id_t slot, struct ck_token_info *info)
{
	ck_rv_t rv = inject(F_GetTokenInfo, 0, NULL);

	return rv != CKR_OK ? rv : real->C_GetTokenInfo(slot - cur_shift(), info);
}

static ck_rv_t shim_OpenSession(ck_slot_id_t slot, ck_flags_t flags, void *app, ck_notify_t notify,
                                ck_session_handle_t *session)
{
	ck_rv_t rv = inject(F_OpenSession, 0, NULL);

	return rv != CKR_OK ? rv : real->C_OpenSession(slot - cur_shift(), flags, app, notify, session);
}

static ck_rv_t shim_CloseAllSessions(ck_slot_id_t slot)
{
	ck_rv_t rv = inject(F_CloseAllSessions, 0, NULL);

	return rv != CKR_OK ? rv : real->C_CloseAllSessions(slot - cur_shift());
}

static ck_rv_t shim_GetSessionInfo(ck_session_handle_t session, struct ck_session_info *info)
{
	ck_rv_t rv = inject(F_GetSessionInfo, 1, NULL);

	if (rv != CKR_OK)
		return rv;
	rv = real->C_GetSessionInfo(session, info);
	if (rv == CKR_OK)
		info->slot_id += cur_shift();
	return rv;
}

/* A session call: forced failure, a really lost session, or forwarded. */
#define SESSION_CALL(f, session, forward)                                     \
	do {                                                                  \
		int lose_;                                                    \
		ck_rv_t rv_ = inject((f), 1, &lose_);                         \
		if (lose_)                                                    \
			real->C_CloseSession(session);                        \
		if (rv_ != CKR_OK)                                            \
			return rv_;                                           \
		return (forward);                                             \
	} while (0)

static ck_rv_t shim_Login(ck_session_handle_t s, ck_user_type_t u, unsigned char *pin, unsigned long len)
{
	SESSION_CALL(F_Login, s, real->C_Login(s, u, pin, len));
}

static ck_rv_t shim_SignInit(ck_session_handle_t s, struct ck_mechanism *m, ck_object_handle_t k)
{
	SESSION_CALL(F_SignInit, s, real->C_SignInit(s, m, k));
}

static ck_rv_t shim_Sign(ck_session_handle_t s, unsigned char *d, unsigned long dl, unsigned char *sig,
                         unsigned long *sl)
{
	SESSION_CALL(F_Sign, s, real->C_Sign(s, d, dl, sig, sl));
}

static ck_rv_t shim_CreateObject(ck_session_handle_t s, struct ck_attribute *t, unsigned long n,
                                 ck_object_handle_t *o)
{
	SESSION_CALL(F_CreateObject, s, real->C_CreateObject(s, t, n, o));
}

static ck_rv_t shim_DestroyObject(ck_session_handle_t s, ck_object_handle_t o)
{
	SESSION_CALL(F_DestroyObject, s, real->C_DestroyObject(s, o));
}

static ck_rv_t shim_GenerateKeyPair(ck_session_handle_t s, struct ck_mechanism *m, struct ck_attribute *pt,
                                    unsigned long pn, struct ck_attribute *kt, unsigned long kn,
                                    ck_object_handle_t *pub, ck_object_handle_t *priv)
{
	SESSION_CALL(F_GenerateKeyPair, s, real->C_GenerateKeyPair(s, m, pt, pn, kt, kn, pub, priv));
}

static ck_rv_t shim_GenerateRandom(ck_session_handle_t s, unsigned char *p, unsigned long n)
{
	SESSION_CALL(F_GenerateRandom, s, real->C_GenerateRandom(s, p, n));
}

static ck_rv_t shim_FindObjectsInit(ck_session_handle_t s, struct ck_attribute *t, unsigned long n)
{
	SESSION_CALL(F_FindObjectsInit, s, real->C_FindObjectsInit(s, t, n));
}

static ck_rv_t shim_FindObjects(ck_session_handle_t s, ck_object_handle_t *o, unsigned long max,
                                unsigned long *n)
{
	SESSION_CALL(F_FindObjects, s, real->C_FindObjects(s, o, max, n));
}

static ck_rv_t shim_FindObjectsFinal(ck_session_handle_t s)
{
	SESSION_CALL(F_FindObjectsFinal, s, real->C_FindObjectsFinal(s));
}

static ck_rv_t shim_GetAttributeValue(ck_session_handle_t s, ck_object_handle_t o, struct ck_attribute *t,
                                      unsigned long n)
{
	SESSION_CALL(F_GetAttributeValue, s, real->C_GetAttributeValue(s, o, t, n));
}

static ck_rv_t shim_EncryptInit(ck_session_handle_t s, struct ck_mechanism *m, ck_object_handle_t k)
{
	SESSION_CALL(F_EncryptInit, s, real->C_EncryptInit(s, m, k));
}

static ck_rv_t shim_Encrypt(ck_session_handle_t s, unsigned char *d, unsigned long dl, unsigned char *e,
                            unsigned long *el)
{
	SESSION_CALL(F_Encrypt, s, real->C_Encrypt(s, d, dl, e, el));
}

ck_rv_t C_GetFunctionList(struct ck_function_list **list)
{
	ck_rv_t (*get)(struct ck_function_list **);
	const char *target = getenv("MCX_SHIM_TARGET");
	void *dl;
	ck_rv_t rv = CKR_OK;

	if (list == NULL)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&lock);
	if (real == NULL) {
		if (target == NULL || (dl = dlopen(target, RTLD_NOW | RTLD_LOCAL)) == NULL) {
			rv = CKR_GENERAL_ERROR;
			goto out;
		}
		*(void **)&get = dlsym(dl, "C_GetFunctionList");
		if (get == NULL || get(&real) != CKR_OK || real == NULL) {
			real = NULL;
			rv = CKR_GENERAL_ERROR;
			goto out;
		}
		shim = *real; /* everything else is forwarded as is */
		shim.C_GetSlotList = shim_GetSlotList;
		shim.C_GetSlotInfo = shim_GetSlotInfo;
		shim.C_GetTokenInfo = shim_GetTokenInfo;
		shim.C_OpenSession = shim_OpenSession;
		shim.C_CloseAllSessions = shim_CloseAllSessions;
		shim.C_GetSessionInfo = shim_GetSessionInfo;
		shim.C_Login = shim_Login;
		shim.C_SignInit = shim_SignInit;
		shim.C_Sign = shim_Sign;
		shim.C_CreateObject = shim_CreateObject;
		shim.C_DestroyObject = shim_DestroyObject;
		shim.C_GenerateKeyPair = shim_GenerateKeyPair;
		shim.C_GenerateRandom = shim_GenerateRandom;
		shim.C_FindObjectsInit = shim_FindObjectsInit;
		shim.C_FindObjects = shim_FindObjects;
		shim.C_FindObjectsFinal = shim_FindObjectsFinal;
		shim.C_GetAttributeValue = shim_GetAttributeValue;
		shim.C_EncryptInit = shim_EncryptInit;
		shim.C_Encrypt = shim_Encrypt;
	}
	*list = &shim;
out:
	pthread_mutex_unlock(&lock);
	return rv;
}
