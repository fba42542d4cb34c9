/*
 * mcxvault tests — libp11fault.so, a fault-injecting PKCS#11 module for a
 * running vaultd.
 *
 * vault.conf names it by absolute path (`hsm.module`); it loads the real
 * module ($MCX_FAULT_TARGET, default SoftHSM 2) and forwards every call to
 * it.  The calls vaultd makes go through wrappers that count them and, as a
 * small control file says, fail them.  The file ($MCX_FAULT_CONTROL) is read
 * again whenever it changes (size, mtime or inode: write a new file and
 * rename it over the old one), so a test steers the module while vaultd
 * runs.  One directive per line, '#' starts a comment:
 *
 *   epoch N                   counters start again from 0 when N changes
 *   fail FUNCTION N RV        the Nth call of FUNCTION (since the epoch)
 *                             returns RV without being forwarded
 *   fail FUNCTION N RV after  ... and so does every call of it after that
 *   fail FUNCTION N RV dead   ... and every call of any function after that
 *                             (the device died; C_Initialize included)
 *   fail * N RV [after|dead]  the same, counting every wrapped call
 *   gone                      the token is gone: it is not in the slot list,
 *                             token calls answer CKR_TOKEN_NOT_PRESENT and
 *                             session calls CKR_DEVICE_REMOVED
 *   stale N                   object handles of stale generation N: every
 *                             handle is shifted by N << 24 on the way out,
 *                             and one of another generation is
 *                             CKR_OBJECT_HANDLE_INVALID on the way in
 *
 * FUNCTION is a name like C_Sign; RV a CKR_ name from the table below or a
 * number (0x30).  With $MCX_FAULT_LOG set, every wrapped call appends one
 * line "EPOCH SEQ FUNCTION RV" (RV what the caller got), which is how a test
 * counts the calls a method makes.  The module keeps no state in the token:
 * whatever it injects, SoftHSM underneath stays consistent.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define CRYPTOKI_GNU 1

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <p11-kit/pkcs11.h>

ck_rv_t C_GetFunctionList(struct ck_function_list **list);

enum fn {
	F_Initialize, F_Finalize, F_GetInfo, F_GetSlotList, F_GetSlotInfo, F_GetTokenInfo, F_OpenSession,
	F_CloseSession, F_GetSessionInfo, F_Login, F_FindObjectsInit, F_FindObjects, F_FindObjectsFinal,
	F_GetAttributeValue, F_SetAttributeValue, F_CreateObject, F_DestroyObject, F_GenerateKeyPair,
	F_GenerateKey, F_SignInit, F_Sign, F_EncryptInit, F_Encrypt, F_DecryptInit, F_Decrypt, F_GenerateRandom,
	F_MAX
};

static const char *const fn_names[F_MAX] = {
	"C_Initialize", "C_Finalize", "C_GetInfo", "C_GetSlotList", "C_GetSlotInfo", "C_GetTokenInfo",
	"C_OpenSession", "C_CloseSession", "C_GetSessionInfo", "C_Login", "C_FindObjectsInit", "C_FindObjects",
	"C_FindObjectsFinal", "C_GetAttributeValue", "C_SetAttributeValue", "C_CreateObject", "C_DestroyObject",
	"C_GenerateKeyPair", "C_GenerateKey", "C_SignInit", "C_Sign", "C_EncryptInit", "C_Encrypt",
	"C_DecryptInit", "C_Decrypt", "C_GenerateRandom",
};

/* what "gone" answers: module calls are forwarded, the others fail */
enum kind { K_MODULE, K_TOKEN, K_SESSION };

static const struct {
	const char *name;
	ck_rv_t rv;
} rv_names[] = {
	{ "CKR_OK", CKR_OK },
	{ "CKR_HOST_MEMORY", CKR_HOST_MEMORY },
	{ "CKR_SLOT_ID_INVALID", CKR_SLOT_ID_INVALID },
	{ "CKR_GENERAL_ERROR", CKR_GENERAL_ERROR },
	{ "CKR_FUNCTION_FAILED", CKR_FUNCTION_FAILED },
	{ "CKR_DEVICE_ERROR", CKR_DEVICE_ERROR },
	{ "CKR_DEVICE_MEMORY", CKR_DEVICE_MEMORY },
	{ "CKR_DEVICE_REMOVED", CKR_DEVICE_REMOVED },
	{ "CKR_KEY_HANDLE_INVALID", CKR_KEY_HANDLE_INVALID },
	{ "CKR_OBJECT_HANDLE_INVALID", CKR_OBJECT_HANDLE_INVALID },
	{ "CKR_SESSION_CLOSED", CKR_SESSION_CLOSED },
	{ "CKR_SESSION_HANDLE_INVALID", CKR_SESSION_HANDLE_INVALID },
	{ "CKR_TOKEN_NOT_PRESENT", CKR_TOKEN_NOT_PRESENT },
	{ "CKR_TOKEN_NOT_RECOGNIZED", CKR_TOKEN_NOT_RECOGNIZED },
	{ "CKR_USER_NOT_LOGGED_IN", CKR_USER_NOT_LOGGED_IN },
	{ "CKR_CRYPTOKI_NOT_INITIALIZED", CKR_CRYPTOKI_NOT_INITIALIZED },
};

#define RULES_MAX 16
#define STALE_SHIFT 24

struct rule {
	int fn;              /* -1: any wrapped call */
	unsigned long nth;   /* 1-based */
	ck_rv_t rv;
	int after;           /* and every matching call after the nth */
	int dead;            /* and every call at all after the nth */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct ck_function_list *real;
static struct ck_function_list wrapped;

/* the control file's state, under lock */
static struct stat control_seen;
static int control_loaded;
static long epoch = -1;
static struct rule rules[RULES_MAX];
static size_t rule_count;
static int gone;
static ck_rv_t dead_rv;   /* a "dead" rule fired: every call answers this */
static unsigned long stale;
static unsigned long seq, counts[F_MAX];

static int fn_index(const char *name)
{
	for (int i = 0; i < F_MAX; i++)
		if (strcmp(fn_names[i], name) == 0)
			return i;
	return -2;
}

static int rv_parse(const char *text, ck_rv_t *rv)
{
	char *end;

	for (size_t i = 0; i < sizeof(rv_names) / sizeof(rv_names[0]); i++)
		if (strcmp(rv_names[i].name, text) == 0) {
			*rv = rv_names[i].rv;
			return 0;
		}
	*rv = strtoul(text, &end, 0);
	return *end == '\0' && end != text ? 0 : -1;
}

/* Reads the control file again if it changed; the caller holds lock.  A
 * line that does not parse is ignored with a message on stderr, so a typo
 * in a test shows in vaultd's log. */
static void control_refresh(void)
{
	const char *path = getenv("MCX_FAULT_CONTROL");
	char line[256], a[64], b[64], c[64], d[64], e[64];
	struct stat st;
	long new_epoch = 0;
	FILE *f;

	if (path == NULL || stat(path, &st) != 0) {
		memset(&st, 0, sizeof(st));
		if (control_loaded && control_seen.st_ino == 0)
			return;
	} else if (control_loaded && st.st_ino == control_seen.st_ino && st.st_size == control_seen.st_size &&
	           st.st_mtim.tv_sec == control_seen.st_mtim.tv_sec &&
	           st.st_mtim.tv_nsec == control_seen.st_mtim.tv_nsec) {
		return;
	}
	control_seen = st;
	control_loaded = 1;
	rule_count = 0;
	gone = 0;
	dead_rv = CKR_OK;
	stale = 0;
	f = st.st_ino != 0 ? fopen(path, "re") : NULL;
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		int n;
		char *hash = strchr(line, '#');

		if (hash != NULL)
			*hash = '\0';
		n = sscanf(line, "%63s %63s %63s %63s %63s", a, b, c, d, e);
		if (n <= 0)
			continue;
		if (strcmp(a, "epoch") == 0 && n == 2) {
			new_epoch = strtol(b, NULL, 10);
		} else if (strcmp(a, "gone") == 0 && n == 1) {
			gone = 1;
		} else if (strcmp(a, "stale") == 0 && n == 2) {
			stale = strtoul(b, NULL, 10) & 0xffff;
		} else if (strcmp(a, "fail") == 0 && (n == 4 || n == 5) && rule_count < RULES_MAX) {
			struct rule *r = &rules[rule_count];

			r->fn = strcmp(b, "*") == 0 ? -1 : fn_index(b);
			r->nth = strtoul(c, NULL, 10);
			r->after = n == 5 && strcmp(e, "after") == 0;
			r->dead = n == 5 && strcmp(e, "dead") == 0;
			if (r->fn == -2 || r->nth == 0 || (n == 5 && !r->after && !r->dead) || rv_parse(d, &r->rv) != 0 ||
			    r->rv == CKR_OK) {
				fprintf(stderr, "p11fault: ignored control line: %s", line);
				continue;
			}
			rule_count++;
		} else {
			fprintf(stderr, "p11fault: ignored control line: %s", line);
		}
	}
	if (f != NULL)
		fclose(f);
	if (new_epoch != epoch) {
		epoch = new_epoch;
		seq = 0;
		memset(counts, 0, sizeof(counts));
	}
}

static void log_call(int f, ck_rv_t rv)
{
	const char *path = getenv("MCX_FAULT_LOG");
	FILE *out;

	if (path == NULL || (out = fopen(path, "ae")) == NULL)
		return;
	fprintf(out, "%ld %lu %s 0x%lx\n", epoch, seq, fn_names[f], rv);
	fclose(out);
}

/* Counts the call; CKR_OK: forward it, else answer this. */
static ck_rv_t enter(int f, enum kind kind)
{
	ck_rv_t rv = CKR_OK;

	pthread_mutex_lock(&lock);
	control_refresh();
	seq++;
	counts[f]++;
	if (dead_rv != CKR_OK)
		rv = dead_rv;
	else if (gone && kind != K_MODULE)
		rv = kind == K_SESSION ? CKR_DEVICE_REMOVED : CKR_TOKEN_NOT_PRESENT;
	for (size_t i = 0; rv == CKR_OK && i < rule_count; i++) {
		const struct rule *r = &rules[i];
		unsigned long n = r->fn < 0 ? seq : r->fn == f ? counts[f] : 0;

		if (n != 0 && (n == r->nth || (r->after && n > r->nth))) {
			rv = r->rv;
			if (r->dead)
				dead_rv = rv;
		}
	}
	if (rv != CKR_OK)
		log_call(f, rv);
	pthread_mutex_unlock(&lock);
	return rv;
}

/* Logs a forwarded call with what the real module answered. */
static ck_rv_t leave(int f, ck_rv_t rv)
{
	pthread_mutex_lock(&lock);
	log_call(f, rv);
	pthread_mutex_unlock(&lock);
	return rv;
}

static unsigned long stale_now(void)
{
	unsigned long s;

	pthread_mutex_lock(&lock);
	s = stale;
	pthread_mutex_unlock(&lock);
	return s;
}

static ck_object_handle_t handle_out(ck_object_handle_t h)
{
	return h == 0 ? 0 : h + (stale_now() << STALE_SHIFT);
}

/* 0 when the handle belongs to another stale generation */
static int handle_in(ck_object_handle_t *h)
{
	unsigned long s = stale_now();

	if ((*h >> STALE_SHIFT) != s)
		return 0;
	*h -= s << STALE_SHIFT;
	return 1;
}

#define ENTER(f, kind)                                                        \
	do {                                                                  \
		ck_rv_t rv_ = enter((f), (kind));                             \
		if (rv_ != CKR_OK)                                            \
			return rv_;                                           \
	} while (0)

#define HANDLE_IN(f, h)                                                       \
	do {                                                                  \
		if (!handle_in(&(h)))                                         \
			return leave((f), CKR_OBJECT_HANDLE_INVALID);         \
	} while (0)

static ck_rv_t w_Initialize(void *args)
{
	ENTER(F_Initialize, K_MODULE);
	return leave(F_Initialize, real->C_Initialize(args));
}

static ck_rv_t w_Finalize(void *reserved)
{
	ENTER(F_Finalize, K_MODULE);
	return leave(F_Finalize, real->C_Finalize(reserved));
}

static ck_rv_t w_GetInfo(struct ck_info *info)
{
	ENTER(F_GetInfo, K_MODULE);
	return leave(F_GetInfo, real->C_GetInfo(info));
}

static ck_rv_t w_GetSlotList(unsigned char present, ck_slot_id_t *list, unsigned long *count)
{
	int absent;

	ENTER(F_GetSlotList, K_MODULE);
	pthread_mutex_lock(&lock);
	absent = gone;
	pthread_mutex_unlock(&lock);
	if (absent && present) {
		*count = 0;
		return leave(F_GetSlotList, CKR_OK);
	}
	return leave(F_GetSlotList, real->C_GetSlotList(present, list, count));
}

static ck_rv_t w_GetSlotInfo(ck_slot_id_t slot, struct ck_slot_info *info)
{
	ck_rv_t rv;
	int absent;

	ENTER(F_GetSlotInfo, K_MODULE);
	rv = real->C_GetSlotInfo(slot, info);
	pthread_mutex_lock(&lock);
	absent = gone;
	pthread_mutex_unlock(&lock);
	if (rv == CKR_OK && absent)
		info->flags &= ~(ck_flags_t)CKF_TOKEN_PRESENT;
	return leave(F_GetSlotInfo, rv);
}

static ck_rv_t w_GetTokenInfo(ck_slot_id_t slot, struct ck_token_info *info)
{
	ENTER(F_GetTokenInfo, K_TOKEN);
	return leave(F_GetTokenInfo, real->C_GetTokenInfo(slot, info));
}

static ck_rv_t w_OpenSession(ck_slot_id_t slot, ck_flags_t flags, void *app, ck_notify_t notify,
                             ck_session_handle_t *session)
{
	ENTER(F_OpenSession, K_TOKEN);
	return leave(F_OpenSession, real->C_OpenSession(slot, flags, app, notify, session));
}

static ck_rv_t w_CloseSession(ck_session_handle_t s)
{
	ENTER(F_CloseSession, K_SESSION);
	return leave(F_CloseSession, real->C_CloseSession(s));
}

static ck_rv_t w_GetSessionInfo(ck_session_handle_t s, struct ck_session_info *info)
{
	ENTER(F_GetSessionInfo, K_SESSION);
	return leave(F_GetSessionInfo, real->C_GetSessionInfo(s, info));
}

static ck_rv_t w_Login(ck_session_handle_t s, ck_user_type_t u, unsigned char *pin, unsigned long len)
{
	ENTER(F_Login, K_SESSION);
	return leave(F_Login, real->C_Login(s, u, pin, len));
}

static ck_rv_t w_FindObjectsInit(ck_session_handle_t s, struct ck_attribute *t, unsigned long n)
{
	ENTER(F_FindObjectsInit, K_SESSION);
	return leave(F_FindObjectsInit, real->C_FindObjectsInit(s, t, n));
}

static ck_rv_t w_FindObjects(ck_session_handle_t s, ck_object_handle_t *o, unsigned long max, unsigned long *n)
{
	ck_rv_t rv;

	ENTER(F_FindObjects, K_SESSION);
	rv = real->C_FindObjects(s, o, max, n);
	if (rv == CKR_OK)
		for (unsigned long i = 0; i < *n; i++)
			o[i] = handle_out(o[i]);
	return leave(F_FindObjects, rv);
}

static ck_rv_t w_FindObjectsFinal(ck_session_handle_t s)
{
	ENTER(F_FindObjectsFinal, K_SESSION);
	return leave(F_FindObjectsFinal, real->C_FindObjectsFinal(s));
}

static ck_rv_t w_GetAttributeValue(ck_session_handle_t s, ck_object_handle_t o, struct ck_attribute *t,
                                   unsigned long n)
{
	ENTER(F_GetAttributeValue, K_SESSION);
	HANDLE_IN(F_GetAttributeValue, o);
	return leave(F_GetAttributeValue, real->C_GetAttributeValue(s, o, t, n));
}

static ck_rv_t w_SetAttributeValue(ck_session_handle_t s, ck_object_handle_t o, struct ck_attribute *t,
                                   unsigned long n)
{
	ENTER(F_SetAttributeValue, K_SESSION);
	HANDLE_IN(F_SetAttributeValue, o);
	return leave(F_SetAttributeValue, real->C_SetAttributeValue(s, o, t, n));
}

static ck_rv_t w_CreateObject(ck_session_handle_t s, struct ck_attribute *t, unsigned long n,
                              ck_object_handle_t *o)
{
	ck_rv_t rv;

	ENTER(F_CreateObject, K_SESSION);
	rv = real->C_CreateObject(s, t, n, o);
	if (rv == CKR_OK)
		*o = handle_out(*o);
	return leave(F_CreateObject, rv);
}

static ck_rv_t w_DestroyObject(ck_session_handle_t s, ck_object_handle_t o)
{
	ENTER(F_DestroyObject, K_SESSION);
	HANDLE_IN(F_DestroyObject, o);
	return leave(F_DestroyObject, real->C_DestroyObject(s, o));
}

static ck_rv_t w_GenerateKeyPair(ck_session_handle_t s, struct ck_mechanism *m, struct ck_attribute *pt,
                                 unsigned long pn, struct ck_attribute *kt, unsigned long kn,
                                 ck_object_handle_t *pub, ck_object_handle_t *priv)
{
	ck_rv_t rv;

	ENTER(F_GenerateKeyPair, K_SESSION);
	rv = real->C_GenerateKeyPair(s, m, pt, pn, kt, kn, pub, priv);
	if (rv == CKR_OK) {
		*pub = handle_out(*pub);
		*priv = handle_out(*priv);
	}
	return leave(F_GenerateKeyPair, rv);
}

static ck_rv_t w_GenerateKey(ck_session_handle_t s, struct ck_mechanism *m, struct ck_attribute *t,
                             unsigned long n, ck_object_handle_t *key)
{
	ck_rv_t rv;

	ENTER(F_GenerateKey, K_SESSION);
	rv = real->C_GenerateKey(s, m, t, n, key);
	if (rv == CKR_OK)
		*key = handle_out(*key);
	return leave(F_GenerateKey, rv);
}

static ck_rv_t w_SignInit(ck_session_handle_t s, struct ck_mechanism *m, ck_object_handle_t k)
{
	ENTER(F_SignInit, K_SESSION);
	HANDLE_IN(F_SignInit, k);
	return leave(F_SignInit, real->C_SignInit(s, m, k));
}

static ck_rv_t w_Sign(ck_session_handle_t s, unsigned char *d, unsigned long dl, unsigned char *sig,
                      unsigned long *sl)
{
	ENTER(F_Sign, K_SESSION);
	return leave(F_Sign, real->C_Sign(s, d, dl, sig, sl));
}

static ck_rv_t w_EncryptInit(ck_session_handle_t s, struct ck_mechanism *m, ck_object_handle_t k)
{
	ENTER(F_EncryptInit, K_SESSION);
	HANDLE_IN(F_EncryptInit, k);
	return leave(F_EncryptInit, real->C_EncryptInit(s, m, k));
}

static ck_rv_t w_Encrypt(ck_session_handle_t s, unsigned char *d, unsigned long dl, unsigned char *e,
                         unsigned long *el)
{
	ENTER(F_Encrypt, K_SESSION);
	return leave(F_Encrypt, real->C_Encrypt(s, d, dl, e, el));
}

static ck_rv_t w_DecryptInit(ck_session_handle_t s, struct ck_mechanism *m, ck_object_handle_t k)
{
	ENTER(F_DecryptInit, K_SESSION);
	HANDLE_IN(F_DecryptInit, k);
	return leave(F_DecryptInit, real->C_DecryptInit(s, m, k));
}

static ck_rv_t w_Decrypt(ck_session_handle_t s, unsigned char *e, unsigned long el, unsigned char *d,
                         unsigned long *dl)
{
	ENTER(F_Decrypt, K_SESSION);
	return leave(F_Decrypt, real->C_Decrypt(s, e, el, d, dl));
}

static ck_rv_t w_GenerateRandom(ck_session_handle_t s, unsigned char *p, unsigned long n)
{
	ENTER(F_GenerateRandom, K_SESSION);
	return leave(F_GenerateRandom, real->C_GenerateRandom(s, p, n));
}

ck_rv_t C_GetFunctionList(struct ck_function_list **list)
{
	ck_rv_t (*get)(struct ck_function_list **);
	const char *target = getenv("MCX_FAULT_TARGET");
	void *dl;
	ck_rv_t rv = CKR_OK;

	if (list == NULL)
		return CKR_ARGUMENTS_BAD;
	if (target == NULL || target[0] == '\0')
		target = "/usr/lib/softhsm/libsofthsm2.so";
	pthread_mutex_lock(&lock);
	if (real == NULL) {
		if ((dl = dlopen(target, RTLD_NOW | RTLD_LOCAL)) == NULL) {
			fprintf(stderr, "p11fault: cannot load %s: %s\n", target, dlerror());
			rv = CKR_GENERAL_ERROR;
			goto out;
		}
		*(void **)&get = dlsym(dl, "C_GetFunctionList");
		if (get == NULL || get(&real) != CKR_OK || real == NULL) {
			real = NULL;
			rv = CKR_GENERAL_ERROR;
			goto out;
		}
		wrapped = *real; /* everything else is forwarded as it is */
		wrapped.C_Initialize = w_Initialize;
		wrapped.C_Finalize = w_Finalize;
		wrapped.C_GetInfo = w_GetInfo;
		wrapped.C_GetSlotList = w_GetSlotList;
		wrapped.C_GetSlotInfo = w_GetSlotInfo;
		wrapped.C_GetTokenInfo = w_GetTokenInfo;
		wrapped.C_OpenSession = w_OpenSession;
		wrapped.C_CloseSession = w_CloseSession;
		wrapped.C_GetSessionInfo = w_GetSessionInfo;
		wrapped.C_Login = w_Login;
		wrapped.C_FindObjectsInit = w_FindObjectsInit;
		wrapped.C_FindObjects = w_FindObjects;
		wrapped.C_FindObjectsFinal = w_FindObjectsFinal;
		wrapped.C_GetAttributeValue = w_GetAttributeValue;
		wrapped.C_SetAttributeValue = w_SetAttributeValue;
		wrapped.C_CreateObject = w_CreateObject;
		wrapped.C_DestroyObject = w_DestroyObject;
		wrapped.C_GenerateKeyPair = w_GenerateKeyPair;
		wrapped.C_GenerateKey = w_GenerateKey;
		wrapped.C_SignInit = w_SignInit;
		wrapped.C_Sign = w_Sign;
		wrapped.C_EncryptInit = w_EncryptInit;
		wrapped.C_Encrypt = w_Encrypt;
		wrapped.C_DecryptInit = w_DecryptInit;
		wrapped.C_Decrypt = w_Decrypt;
		wrapped.C_GenerateRandom = w_GenerateRandom;
	}
	*list = &wrapped;
out:
	pthread_mutex_unlock(&lock);
	return rv;
}
