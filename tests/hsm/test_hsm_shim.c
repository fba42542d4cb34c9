/*
 * mcxvault tests — the HSM layer's recovery paths, through libp11shim.so (a
 * PKCS#11 module that forwards to SoftHSM and injects faults on request).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tests/hsm/hsm_test_token.h"

#include <dlfcn.h>
#include <limits.h>
#include <time.h>

#include "mcx/buf.h"
#include "mcx/error.h"
#include "pkcs11/hsm.h"
#include "tests/test.h"

static char shim_path[PATH_MAX];

static struct {
	void (*fail)(const char *function, unsigned long rv, int times);
	void (*lose_session)(const char *function, int times);
	void (*token_remove)(void);
	void (*token_insert)(unsigned long slot_shift);
	unsigned long (*count)(const char *function);
	void (*reset)(void);
} shim;

static void *shim_dl;

/* Loads the shim once for the whole run, so that its state (and the control
 * API) survives hsm_close() releasing the module; p11-kit's dlopen() of the
 * same path shares this copy. */
static int shim_bind(void)
{
	void *dl = shim_dl = dlopen(shim_path, RTLD_NOW | RTLD_LOCAL);

	if (dl == NULL)
		return -1;
	*(void **)&shim.fail = dlsym(dl, "p11shim_fail");
	*(void **)&shim.lose_session = dlsym(dl, "p11shim_lose_session");
	*(void **)&shim.token_remove = dlsym(dl, "p11shim_token_remove");
	*(void **)&shim.token_insert = dlsym(dl, "p11shim_token_insert");
	*(void **)&shim.count = dlsym(dl, "p11shim_count");
	*(void **)&shim.reset = dlsym(dl, "p11shim_reset");
	if (!shim.fail || !shim.lose_session || !shim.token_remove || !shim.token_insert || !shim.count ||
	    !shim.reset)
		return -1;
	shim.reset();
	return 0;
}

static struct hsm *open_shim(unsigned sessions)
{
	struct hsm_options o = { shim_path, "pkcs11:token=" TEST_TOKEN_LABEL, TEST_PIN, sessions, NULL, NULL };
	struct hsm *h = NULL;

	shim.reset();
	if (hsm_open(&o, &h) != 0)
		return NULL;
	return h;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct keypair {
	hsm_handle_t priv, pub;
	uint8_t point[65];
};

static int make_key(struct hsm *h, const char *label, struct keypair *k)
{
	return hsm_ec_p256_generate(h, label, (const uint8_t *)"k", 1, &k->priv, &k->pub, k->point);
}

/* After a real token loss SoftHSM gives private objects new handles when the
 * user logs in again: the caller's index looks them up again by label. */
static int sign_refind(struct hsm *h, const char *label, struct keypair *k, const uint8_t digest[32],
                       uint8_t sig[64])
{
	int r = hsm_ecdsa_sign(h, k->priv, digest, sig);

	if (r == MCX_ERR_HSM_STALE_HANDLE) {
		if ((r = hsm_find_by_label(h, HSM_CLASS_PRIVATE_KEY, label, &k->priv)) != 0)
			return r;
		if ((r = hsm_find_by_label(h, HSM_CLASS_PUBLIC_KEY, label, &k->pub)) != 0)
			return r;
		r = hsm_ecdsa_sign(h, k->priv, digest, sig);
	}
	return r;
}

/* The layer re-initialises the module in the background after the token was
 * taken for gone: waits (up to 3 s) until it answers again. */
static int wait_back(struct hsm *h)
{
	struct hsm_token_info info;
	double t0 = now();

	while (now() - t0 < 3.0) {
		if (hsm_token_info(h, &info) == 0 && info.reachable)
			return 1;
		usleep(20 * 1000);
	}
	return 0;
}

TEST(lost_session_recovered)
{
	struct hsm *h = open_shim(2);
	struct hsm_stats st0, st1;
	struct keypair k;
	uint8_t digest[32] = { 1 }, sig[64];

	REQUIRE(h != NULL);
	REQUIRE(make_key(h, "shim.lost", &k) == 0);
	hsm_stats_get(h, &st0);
	shim.lose_session("C_Sign", 1);
	CHECK_OK(hsm_ecdsa_sign(h, k.priv, digest, sig));
	hsm_stats_get(h, &st1);
	CHECK_EQ_INT(st1.recoveries, st0.recoveries + 1);
	CHECK_EQ_INT(st1.failures, st0.failures);
	/* lost again and again */
	shim.lose_session("C_Sign", 1);
	CHECK_OK(hsm_ecdsa_sign(h, k.priv, digest, sig));
	shim.lose_session("C_Sign", 1);
	CHECK_OK(hsm_ecdsa_sign(h, k.priv, digest, sig));
	CHECK_OK(hsm_ecdsa_sign(h, k.priv, digest, sig));
	hsm_stats_get(h, &st1);
	CHECK_EQ_INT(st1.recoveries, st0.recoveries + 3);

	/* lost again right after recovery: the token is taken for gone, the
	 * caller told so at once; the module is re-initialised in the
	 * background and the handles of before are stale */
	hsm_stats_get(h, &st0);
	shim.fail("C_Sign", CKR_SESSION_HANDLE_INVALID, 2);
	CHECK_EQ_INT(hsm_ecdsa_sign(h, k.priv, digest, sig), MCX_ERR_HSM_UNAVAILABLE);
	CHECK(wait_back(h));
	hsm_stats_get(h, &st1);
	CHECK_EQ_INT(st1.reinits, st0.reinits + 1);
	CHECK_EQ_INT(st1.generation, st0.generation + 1);
	CHECK_EQ_INT(hsm_ecdsa_sign(h, k.priv, digest, sig), MCX_ERR_HSM_STALE_HANDLE);
	CHECK_OK(sign_refind(h, "shim.lost", &k, digest, sig));

	/* a login that went away is redone (here C_Sign failed without ending
	 * the operation, so the session is also replaced: CKR_OPERATION_ACTIVE) */
	shim.fail("C_Sign", CKR_USER_NOT_LOGGED_IN, 1);
	CHECK_OK(hsm_ecdsa_sign(h, k.priv, digest, sig));
	shim.fail("C_SignInit", CKR_DEVICE_ERROR, 1);
	CHECK_OK(hsm_ecdsa_sign(h, k.priv, digest, sig));
	/* a stale handle is not a lost session: no retry */
	hsm_stats_get(h, &st0);
	shim.fail("C_SignInit", CKR_KEY_HANDLE_INVALID, 1);
	CHECK_EQ_INT(hsm_ecdsa_sign(h, k.priv, digest, sig), MCX_ERR_HSM_STALE_HANDLE);
	hsm_stats_get(h, &st1);
	CHECK_EQ_INT(st1.recoveries, st0.recoveries);
	CHECK_EQ_INT(st1.failures, st0.failures + 1);
	CHECK_OK(hsm_object_destroy(h, k.priv));
	CHECK_OK(hsm_object_destroy(h, k.pub));
	hsm_close(h);
}

TEST(token_removed_and_returned)
{
	struct hsm *h = open_shim(3);
	struct hsm_token_info info;
	struct hsm_stats st0, st1;
	struct keypair k;
	uint8_t digest[32] = { 2 }, sig[64], rnd[16];
	int i;

	REQUIRE(h != NULL);
	REQUIRE(make_key(h, "shim.back", &k) == 0);
	hsm_stats_get(h, &st0);
	shim.token_remove();
	shim.token_insert(7); /* back, in another slot */
	for (i = 0; i < 5; i++) /* every pooled session recovers when it is used */
		CHECK_OK(sign_refind(h, "shim.back", &k, digest, sig));
	CHECK_OK(hsm_random(h, rnd, sizeof(rnd)));
	CHECK_OK(hsm_token_info(h, &info));
	CHECK_EQ_INT(info.reachable, 1);
	hsm_stats_get(h, &st1);
	CHECK(st1.recoveries >= st0.recoveries + 1);
	CHECK(st1.recoveries <= st0.recoveries + 3);
	CHECK(st1.failures <= st0.failures + 1); /* the stale handle, reported once */
	CHECK_OK(hsm_object_destroy(h, k.priv));
	CHECK_OK(hsm_object_destroy(h, k.pub));
	hsm_close(h);
}

TEST(token_stays_gone)
{
	struct hsm *h = open_shim(2);
	struct hsm_token_info info;
	struct mcx_buf *b = mcx_buf_new(64);
	struct keypair k;
	hsm_handle_t d = 0;
	uint8_t digest[32] = { 3 }, sig[64], rnd[16];
	double t0;
	int i;

	REQUIRE(h != NULL && b != NULL);
	REQUIRE(make_key(h, "shim.gone", &k) == 0);
	shim.token_remove();
	t0 = now();
	for (i = 0; i < 20; i++)
		CHECK_EQ_INT(hsm_ecdsa_sign(h, k.priv, digest, sig), MCX_ERR_HSM_UNAVAILABLE);
	CHECK(now() - t0 < 1.0); /* quickly: no waiting for the token */
	CHECK_EQ_INT(hsm_random(h, rnd, sizeof(rnd)), MCX_ERR_HSM_UNAVAILABLE);
	CHECK_EQ_INT(hsm_data_create(h, "shim.d", "x", 1, &d), MCX_ERR_HSM_UNAVAILABLE);
	CHECK_EQ_INT(hsm_aes_gcm_encrypt(h, 1, NULL, 0, "x", 1, b), MCX_ERR_HSM_UNAVAILABLE);
	CHECK_EQ_INT(mcx_buf_len(b), 0);
	CHECK_OK(hsm_token_info(h, &info));
	CHECK_EQ_INT(info.reachable, 0);
	CHECK_EQ_STR(info.token_label, TEST_TOKEN_LABEL);

	shim.token_insert(0);
	CHECK(wait_back(h)); /* the background recovery, within a few tenths of a second */
	CHECK_OK(sign_refind(h, "shim.gone", &k, digest, sig));
	CHECK_OK(hsm_token_info(h, &info));
	CHECK_EQ_INT(info.reachable, 1);
	CHECK_OK(hsm_data_create(h, "shim.d", "x", 1, &d));
	CHECK_OK(hsm_object_destroy(h, d));
	CHECK_OK(hsm_object_destroy(h, k.priv));
	CHECK_OK(hsm_object_destroy(h, k.pub));
	mcx_buf_free(b);
	hsm_close(h);
}

TEST(create_retried_on_general_error)
{
	struct hsm *h = open_shim(1);
	struct hsm_stats st0, st1;
	hsm_handle_t d = 0, found = 0;

	REQUIRE(h != NULL);
	hsm_stats_get(h, &st0);
	shim.fail("C_CreateObject", CKR_GENERAL_ERROR, 1);
	CHECK_OK(hsm_data_create(h, "shim.retry", "v", 1, &d));
	hsm_stats_get(h, &st1);
	CHECK_EQ_INT(st1.retries, st0.retries + 1);
	CHECK_EQ_INT(st1.failures, st0.failures);
	CHECK_OK(hsm_find_by_label(h, HSM_CLASS_DATA, "shim.retry", &found)); /* exactly one */
	CHECK_EQ_INT(found, d);
	/* only once: a CKR_GENERAL_ERROR that persists is a broken module,
	 * which is re-initialised (and the handles of before are stale) */
	shim.fail("C_CreateObject", CKR_GENERAL_ERROR, 2);
	CHECK_EQ_INT(hsm_data_create(h, "shim.retry2", "v", 1, &found), MCX_ERR_HSM_UNAVAILABLE);
	CHECK(wait_back(h));
	CHECK_EQ_INT(hsm_object_destroy(h, d), MCX_ERR_HSM_STALE_HANDLE);
	CHECK_OK(hsm_find_by_label(h, HSM_CLASS_DATA, "shim.retry", &d));
	CHECK_EQ_INT(hsm_find_by_label(h, HSM_CLASS_DATA, "shim.retry2", &found), MCX_ERR_NOT_FOUND);
	shim.fail("C_DestroyObject", CKR_GENERAL_ERROR, 1);
	CHECK_OK(hsm_object_destroy(h, d));
	hsm_stats_get(h, &st1);
	CHECK_EQ_INT(st1.retries, st0.retries + 3);
	/* any other call gets the one retry too */
	shim.fail("C_GenerateRandom", CKR_GENERAL_ERROR, 1);
	CHECK_OK(hsm_random(h, &found, sizeof(found)));
	hsm_close(h);
}

static int count_cb(void *context, const struct hsm_object *o)
{
	(void)o;
	(*(int *)context)++;
	return 0;
}

TEST(find_always_finalised)
{
	struct hsm *h = open_shim(1);
	hsm_handle_t d = 0, found = 0;
	unsigned long finals;
	int n = 0;

	REQUIRE(h != NULL);
	REQUIRE(hsm_data_create(h, "fin.find", "v", 1, &d) == 0);
	finals = shim.count("C_FindObjectsFinal");
	shim.fail("C_FindObjectsInit", CKR_ATTRIBUTE_TYPE_INVALID, 1);
	CHECK_EQ_INT(hsm_objects_walk(h, "fin.", count_cb, &n), MCX_ERR_HSM);
	CHECK_EQ_INT(shim.count("C_FindObjectsFinal"), finals + 1);
	shim.fail("C_FindObjects", CKR_FUNCTION_FAILED, 1);
	CHECK_EQ_INT(hsm_find_by_label(h, HSM_CLASS_DATA, "fin.find", &found), MCX_ERR_HSM);
	CHECK_EQ_INT(shim.count("C_FindObjectsFinal"), finals + 2);
	/* the session is not stuck in a find */
	CHECK_OK(hsm_objects_walk(h, "fin.", count_cb, &n));
	CHECK_EQ_INT(n, 1);
	CHECK_OK(hsm_find_by_label(h, HSM_CLASS_DATA, "fin.find", &found));
	CHECK_EQ_INT(found, d);
	/* a session lost mid-walk: the walk starts over on the new session */
	shim.lose_session("C_GetAttributeValue", 1);
	n = 0;
	CHECK_OK(hsm_objects_walk(h, "fin.", count_cb, &n));
	CHECK_EQ_INT(n, 1);
	/* closing SoftHSM's last session logged the user out: private objects
	 * have new handles now */
	CHECK_OK(hsm_find_by_label(h, HSM_CLASS_DATA, "fin.find", &d));
	CHECK_OK(hsm_object_destroy(h, d));
	hsm_close(h);
}

TEST(open_through_shim_errors)
{
	struct hsm_options o = { shim_path, "pkcs11:token=" TEST_TOKEN_LABEL, TEST_PIN, 2, NULL, NULL };
	struct hsm *h = open_shim(1);

	REQUIRE(h != NULL);
	hsm_close(h);
	h = NULL;
	/* the shim keeps its state across loads: a token that is absent at start */
	shim.token_remove();
	CHECK_EQ_INT(hsm_open(&o, &h), MCX_ERR_HSM_UNAVAILABLE);
	CHECK(h == NULL);
	shim.token_insert(0);
	shim.fail("C_Login", CKR_PIN_LOCKED, 1);
	CHECK_EQ_INT(hsm_open(&o, &h), MCX_ERR_HSM_PIN);
	shim.reset();
	CHECK_OK(hsm_open(&o, &h));
	hsm_close(h);
}

int main(int argc, char **argv)
{
	char exe[PATH_MAX];
	ssize_t n;
	char *slash;

	(void)argc;
	(void)argv;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		printf("hsm-shim: 0 passed, 1 failed\n");
		return 1;
	}
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	*slash = '\0';
	if ((size_t)snprintf(shim_path, sizeof(shim_path), "%.*s/libp11shim.so", PATH_MAX - 32, exe) >=
	    sizeof(shim_path))
		return 1;
	setenv("MCX_SHIM_TARGET", TEST_SOFTHSM_PATH, 1);
	if (shim_bind() != 0 || token_setup() != 0) {
		printf("cannot load %s or create a SoftHSM token\n", shim_path);
		token_teardown();
		printf("hsm-shim: 0 passed, 1 failed\n");
		return 1;
	}
	RUN(lost_session_recovered);
	RUN(token_removed_and_returned);
	RUN(token_stays_gone);
	RUN(create_retried_on_general_error);
	RUN(find_always_finalised);
	RUN(open_through_shim_errors);
	token_teardown();
	dlclose(shim_dl);
	return test_summary("hsm-shim");
}
