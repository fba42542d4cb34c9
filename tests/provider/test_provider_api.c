/*
 * The mcxvault provider through the EVP API, against a running vaultd
 * ($MCXVAULT_SOCKET; domains a.example and b.example initialised), as
 * tests/provider/test_provider.sh runs it:
 *
 *   MCXVAULT_PROVIDER_DIR=build build/tests/provider/test_provider_api
 *
 * It loads the provider into its own library context (OSSL_PROVIDER_load),
 * opens keys with OSSL_STORE_open_ex, signs with EVP_DigestSign and
 * EVP_PKEY_sign and checks each signature three ways: with the vault's
 * public key in the default provider, with the vault's sign.verify, and
 * with the provider's own verification.  Then: fork() (the child signs on
 * its own connection), threads sharing one key, a key rotated after it was
 * loaded, and an unknown domain.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/store.h>

#include "mcxvault.h"
#include "tests/test.h"

#define URI_A "mcxvault:domain=a.example;purpose=sign"
#define URI_B "mcxvault:domain=b.example"

static OSSL_LIB_CTX *libctx;
static OSSL_PROVIDER *prov_vault, *prov_default;
static struct mcxvault *vault;

static const unsigned char msg[] = "MCData file distribution: 1.2 MiB, sha256 ...";

/* The first key an OSSL_STORE URI yields, or NULL (the error stays queued). */
static EVP_PKEY *load_key(const char *uri)
{
	OSSL_STORE_CTX *sc;
	OSSL_STORE_INFO *info;
	EVP_PKEY *pkey = NULL;

	sc = OSSL_STORE_open_ex(uri, libctx, NULL, NULL, NULL, NULL, NULL, NULL);
	if (sc == NULL)
		return NULL;
	while (pkey == NULL && !OSSL_STORE_eof(sc)) {
		info = OSSL_STORE_load(sc);
		if (info == NULL)
			break;
		if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
			pkey = OSSL_STORE_INFO_get1_PKEY(info);
		OSSL_STORE_INFO_free(info);
	}
	OSSL_STORE_close(sc);
	return pkey;
}

/* The vault's public key for a domain as a default-provider EVP_PKEY. */
static EVP_PKEY *vault_pubkey(const char *domain)
{
	char *pem = NULL;
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	struct mcxvault_error e;

	if (mcxvault_public_key(vault, domain, 0, &pem, NULL, NULL, &e) != 0) {
		printf("  sign.public_key %s: %s\n", domain, e.message);
		return NULL;
	}
	if ((bio = BIO_new_mem_buf(pem, -1)) != NULL)
		pkey = PEM_read_bio_PUBKEY_ex(bio, NULL, NULL, NULL, libctx, "provider=default");
	BIO_free(bio);
	mcxvault_free(pem);
	return pkey;
}

static size_t digest_sign(EVP_PKEY *pkey, const char *md, const void *data, size_t len, unsigned char *sig,
			  size_t sigsize)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	size_t siglen = sigsize;

	if (mctx == NULL || EVP_DigestSignInit_ex(mctx, NULL, md, libctx, NULL, pkey, NULL) != 1 ||
	    EVP_DigestSign(mctx, sig, &siglen, data, len) != 1)
		siglen = 0;
	EVP_MD_CTX_free(mctx);
	return siglen;
}

static int digest_verify(EVP_PKEY *pkey, const void *data, size_t len, const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	int ok;

	ok = mctx != NULL && EVP_DigestVerifyInit_ex(mctx, NULL, "SHA256", libctx, NULL, pkey, NULL) == 1 &&
	     EVP_DigestVerify(mctx, sig, siglen, data, len) == 1;
	EVP_MD_CTX_free(mctx);
	return ok;
}

/* DER ECDSA-Sig-Value -> 64-octet r||s, for the vault's sign.verify. */
static int der_to_rs(const unsigned char *der, size_t len, uint8_t rs[64])
{
	const unsigned char *p = der;
	ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)len);
	int ok;

	if (s == NULL)
		return 0;
	ok = BN_bn2binpad(ECDSA_SIG_get0_r(s), rs, 32) == 32 && BN_bn2binpad(ECDSA_SIG_get0_s(s), rs + 32, 32) == 32;
	ECDSA_SIG_free(s);
	return ok;
}

static int last_error_has(const char *text)
{
	char buf[512] = "";
	const char *data = NULL;
	int flags = 0;
	unsigned long e = ERR_peek_last_error_data(&data, &flags);

	if (e == 0)
		return 0;
	ERR_error_string_n(e, buf, sizeof(buf));
	printf("  error: %s: %s\n", buf, (flags & ERR_TXT_STRING) != 0 && data != NULL ? data : "");
	return strstr(buf, text) != NULL || ((flags & ERR_TXT_STRING) != 0 && data != NULL && strstr(data, text) != NULL);
}

TEST(provider_loads)
{
	const char *dir = getenv("MCXVAULT_PROVIDER_DIR");

	REQUIRE(dir != NULL);
	REQUIRE((libctx = OSSL_LIB_CTX_new()) != NULL);
	REQUIRE(OSSL_PROVIDER_set_default_search_path(libctx, dir) == 1);
	prov_vault = OSSL_PROVIDER_load(libctx, "mcxvault");
	if (prov_vault == NULL)
		ERR_print_errors_fp(stdout);
	REQUIRE(prov_vault != NULL);
	REQUIRE((prov_default = OSSL_PROVIDER_load(libctx, "default")) != NULL);
	CHECK(OSSL_PROVIDER_available(libctx, "mcxvault") == 1);
	REQUIRE(mcxvault_connect(NULL, &vault) == 0);
}

TEST(store_loads_ec_key)
{
	EVP_PKEY *pkey, *pub;
	char group[32] = "";

	REQUIRE(libctx != NULL && vault != NULL);
	pkey = load_key(URI_A);
	if (pkey == NULL)
		ERR_print_errors_fp(stdout);
	REQUIRE(pkey != NULL);
	CHECK(EVP_PKEY_is_a(pkey, "EC"));
	CHECK(strcmp(OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(pkey)), "mcxvault") == 0);
	CHECK(EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) == 1);
	CHECK_EQ_STR(group, "prime256v1");
	CHECK_EQ_INT(EVP_PKEY_get_bits(pkey), 256);
	CHECK_EQ_INT(EVP_PKEY_get_size(pkey), 72);
	pub = vault_pubkey("a.example");
	CHECK(pub != NULL);
	CHECK_EQ_INT(EVP_PKEY_eq(pkey, pub), 1);
	CHECK_EQ_INT(EVP_PKEY_eq(pub, pkey), 1);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(pkey);
}

TEST(digest_sign_verifies_three_ways)
{
	EVP_PKEY *pkey = load_key(URI_A), *pub = vault_pubkey("a.example");
	unsigned char sig[80];
	uint8_t rs[64];
	size_t siglen;
	int valid = 0;
	struct mcxvault_error e;

	REQUIRE(pkey != NULL && pub != NULL);
	siglen = digest_sign(pkey, "SHA256", msg, sizeof(msg), sig, sizeof(sig));
	REQUIRE(siglen > 0 && siglen <= 72);
	CHECK(digest_verify(pub, msg, sizeof(msg), sig, siglen));    /* default provider */
	CHECK(digest_verify(pkey, msg, sizeof(msg), sig, siglen));   /* the vault key itself */
	REQUIRE(der_to_rs(sig, siglen, rs));
	CHECK(mcxvault_verify(vault, "a.example", NULL, msg, sizeof(msg), 0, rs, &valid, NULL, &e) == 0);
	CHECK_EQ_INT(valid, 1);
	sig[siglen - 1] ^= 1;
	CHECK(!digest_verify(pub, msg, sizeof(msg), sig, siglen));
	CHECK(!digest_verify(pkey, msg, sizeof(msg), sig, siglen));
	/* Any other digest is refused. */
	ERR_clear_error();
	CHECK_EQ_INT(digest_sign(pkey, "SHA384", msg, sizeof(msg), sig, sizeof(sig)), 0);
	CHECK(last_error_has("SHA-256 digests only"));
	ERR_clear_error();
	EVP_PKEY_free(pub);
	EVP_PKEY_free(pkey);
}

TEST(sign_of_digest)
{
	EVP_PKEY *pkey = load_key(URI_A), *pub = vault_pubkey("a.example");
	EVP_PKEY_CTX *ctx = NULL, *vctx = NULL;
	unsigned char dgst[32], sig[80];
	size_t siglen = 0;

	REQUIRE(pkey != NULL && pub != NULL);
	REQUIRE(EVP_Digest(msg, sizeof(msg), dgst, NULL, EVP_sha256(), NULL) == 1);
	ctx = EVP_PKEY_CTX_new_from_pkey(libctx, pkey, NULL);
	REQUIRE(ctx != NULL);
	CHECK(EVP_PKEY_sign_init(ctx) == 1);
	CHECK(EVP_PKEY_sign(ctx, NULL, &siglen, dgst, sizeof(dgst)) == 1);
	CHECK_EQ_INT(siglen, 72);
	siglen = sizeof(sig);
	CHECK(EVP_PKEY_sign(ctx, sig, &siglen, dgst, sizeof(dgst)) == 1);
	vctx = EVP_PKEY_CTX_new_from_pkey(libctx, pub, NULL);
	CHECK(vctx != NULL && EVP_PKEY_verify_init(vctx) == 1 &&
	      EVP_PKEY_verify(vctx, sig, siglen, dgst, sizeof(dgst)) == 1);
	/* The same signature also verifies as a digest-signature over msg. */
	CHECK(digest_verify(pub, msg, sizeof(msg), sig, siglen));
	siglen = sizeof(sig);
	ERR_clear_error();
	CHECK(EVP_PKEY_sign(ctx, sig, &siglen, dgst, 20) != 1);
	CHECK(last_error_has("32-octet"));
	ERR_clear_error();
	EVP_PKEY_CTX_free(vctx);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(pkey);
}

TEST(fork_child_signs_on_its_own_connection)
{
	EVP_PKEY *pkey = load_key(URI_A), *pub = vault_pubkey("a.example");
	unsigned char sig[80];
	size_t siglen;
	int status = -1, round;
	pid_t pid;

	REQUIRE(pkey != NULL && pub != NULL);
	/* The parent's connection is open and in use before the fork. */
	siglen = digest_sign(pkey, "SHA256", msg, sizeof(msg), sig, sizeof(sig));
	REQUIRE(siglen > 0);
	for (round = 0; round < 3; round++) {
		fflush(stdout);
		pid = fork();
		REQUIRE(pid >= 0);
		if (pid == 0) {
			size_t n = digest_sign(pkey, "SHA256", msg, sizeof(msg), sig, sizeof(sig));

			_exit(n > 0 && digest_verify(pub, msg, sizeof(msg), sig, n) ? 0 : 1);
		}
		/* The parent signs while the child does. */
		siglen = digest_sign(pkey, "SHA256", msg, sizeof(msg), sig, sizeof(sig));
		CHECK(siglen > 0 && digest_verify(pub, msg, sizeof(msg), sig, siglen));
		REQUIRE(waitpid(pid, &status, 0) == pid);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	siglen = digest_sign(pkey, "SHA256", msg, sizeof(msg), sig, sizeof(sig));
	CHECK(siglen > 0 && digest_verify(pub, msg, sizeof(msg), sig, siglen));
	EVP_PKEY_free(pub);
	EVP_PKEY_free(pkey);
}

struct thread_arg {
	EVP_PKEY *pkey, *pub;
	int good;
};

static void *signer_thread(void *p)
{
	struct thread_arg *a = p;
	unsigned char sig[80];
	size_t siglen;
	int i;

	for (i = 0; i < 10; i++) {
		siglen = digest_sign(a->pkey, "SHA256", msg, sizeof(msg), sig, sizeof(sig));
		if (siglen > 0 && digest_verify(a->pub, msg, sizeof(msg), sig, siglen))
			a->good++;
	}
	return NULL;
}

TEST(threads_share_one_key)
{
	EVP_PKEY *pkey = load_key(URI_A), *pub = vault_pubkey("a.example");
	pthread_t t[4];
	struct thread_arg a[4];
	int i, started = 0;

	REQUIRE(pkey != NULL && pub != NULL);
	for (i = 0; i < 4; i++) {
		a[i].pkey = pkey;
		a[i].pub = pub;
		a[i].good = 0;
		if (pthread_create(&t[i], NULL, signer_thread, &a[i]) == 0)
			started++;
	}
	CHECK_EQ_INT(started, 4);
	for (i = 0; i < started; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ_INT(a[i].good, 10);
	}
	EVP_PKEY_free(pub);
	EVP_PKEY_free(pkey);
}

TEST(key_rotated_after_loading_refuses_to_sign)
{
	EVP_PKEY *pkey = load_key(URI_B), *fresh = NULL, *pub = NULL;
	unsigned char sig[80];
	size_t siglen;
	struct mcxvault_error e;

	REQUIRE(pkey != NULL);
	REQUIRE(mcxvault_key_rotate(vault, "b.example", NULL, NULL, NULL, &e) == 0);
	ERR_clear_error();
	siglen = digest_sign(pkey, "SHA256", msg, sizeof(msg), sig, sizeof(sig));
	CHECK_EQ_INT(siglen, 0);
	CHECK(last_error_has("rotated since it was loaded"));
	ERR_clear_error();
	/* Loading again gives the new active key, which signs. */
	fresh = load_key(URI_B);
	pub = vault_pubkey("b.example");
	REQUIRE(fresh != NULL && pub != NULL);
	siglen = digest_sign(fresh, "SHA256", msg, sizeof(msg), sig, sizeof(sig));
	CHECK(siglen > 0 && digest_verify(pub, msg, sizeof(msg), sig, siglen));
	CHECK_EQ_INT(EVP_PKEY_eq(pkey, pub), 0);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(fresh);
	EVP_PKEY_free(pkey);
}

TEST(unknown_domain_and_bad_uri)
{
	ERR_clear_error();
	CHECK(load_key("mcxvault:domain=nowhere.example") == NULL);
	CHECK(last_error_has("vault key not found"));
	ERR_clear_error();
	CHECK(load_key("mcxvault:domain=a.example;version=0") == NULL);
	CHECK(last_error_has("invalid mcxvault key URI"));
	ERR_clear_error();
	CHECK(load_key("mcxvault:domain=a.example;domain=b.example") == NULL);
	CHECK(last_error_has("invalid mcxvault key URI"));
	ERR_clear_error();
}

/*
 * mcxvault loaded after default: libcrypto may use mcxvault's EC KEYMGMT for
 * keys that are not the vault's.  Generation, signing, ECDH and PEM must
 * still work (software keys, done by the default provider).
 */
TEST(software_keys_with_mcxvault_loaded_last)
{
	OSSL_LIB_CTX *lc = OSSL_LIB_CTX_new();
	OSSL_PROVIDER *pd = NULL, *pv = NULL;
	EVP_PKEY *k1 = NULL, *k2 = NULL, *back = NULL;
	EVP_PKEY_CTX *dctx = NULL;
	EVP_MD_CTX *mctx = NULL;
	unsigned char sig[160], s1[64], s2[64];
	size_t siglen = sizeof(sig), l1 = sizeof(s1), l2 = sizeof(s2);
	BIO *bio = NULL;

	REQUIRE(lc != NULL);
	REQUIRE(OSSL_PROVIDER_set_default_search_path(lc, getenv("MCXVAULT_PROVIDER_DIR")) == 1);
	pd = OSSL_PROVIDER_load(lc, "default");
	pv = OSSL_PROVIDER_load(lc, "mcxvault");
	REQUIRE(pd != NULL && pv != NULL);
	/* Which KEYMGMT an unqualified fetch picks is up to libcrypto: ask for
	 * mcxvault's explicitly for k1, the default's for k2. */
	k1 = EVP_PKEY_Q_keygen(lc, "provider=mcxvault", "EC", "P-384");
	k2 = EVP_PKEY_Q_keygen(lc, "provider=default", "EC", "P-384");
	REQUIRE(k1 != NULL && k2 != NULL);
	CHECK_EQ_STR(OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(k1)), "mcxvault");
	CHECK_EQ_STR(OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(k2)), "default");
	/* sign / verify with SHA-384 */
	mctx = EVP_MD_CTX_new();
	CHECK(mctx != NULL && EVP_DigestSignInit_ex(mctx, NULL, "SHA384", lc, NULL, k1, NULL) == 1 &&
	      EVP_DigestSign(mctx, sig, &siglen, msg, sizeof(msg)) == 1);
	EVP_MD_CTX_free(mctx);
	mctx = EVP_MD_CTX_new();
	CHECK(mctx != NULL && EVP_DigestVerifyInit_ex(mctx, NULL, "SHA384", lc, NULL, k1, NULL) == 1 &&
	      EVP_DigestVerify(mctx, sig, siglen, msg, sizeof(msg)) == 1);
	EVP_MD_CTX_free(mctx);
	/* ECDH both ways gives the same secret */
	dctx = EVP_PKEY_CTX_new_from_pkey(lc, k1, NULL);
	CHECK(dctx != NULL && EVP_PKEY_derive_init(dctx) == 1 && EVP_PKEY_derive_set_peer(dctx, k2) == 1 &&
	      EVP_PKEY_derive(dctx, s1, &l1) == 1);
	EVP_PKEY_CTX_free(dctx);
	dctx = EVP_PKEY_CTX_new_from_pkey(lc, k2, NULL);
	CHECK(dctx != NULL && EVP_PKEY_derive_init(dctx) == 1 && EVP_PKEY_derive_set_peer(dctx, k1) == 1 &&
	      EVP_PKEY_derive(dctx, s2, &l2) == 1);
	EVP_PKEY_CTX_free(dctx);
	CHECK(l1 == 48 && l2 == 48 && memcmp(s1, s2, l1) == 0);
	/* PEM private key round trip */
	bio = BIO_new(BIO_s_mem());
	CHECK(bio != NULL && PEM_write_bio_PrivateKey_ex(bio, k1, NULL, NULL, 0, NULL, NULL, lc, NULL) == 1);
	back = bio != NULL ? PEM_read_bio_PrivateKey_ex(bio, NULL, NULL, NULL, lc, NULL) : NULL;
	CHECK(back != NULL && EVP_PKEY_eq(back, k1) == 1);
	CHECK(back != NULL && EVP_PKEY_eq(back, k2) == 0);
	BIO_free(bio);
	EVP_PKEY_free(back);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	OSSL_PROVIDER_unload(pv);
	OSSL_PROVIDER_unload(pd);
	OSSL_LIB_CTX_free(lc);
}

int main(void)
{
	if (getenv("MCXVAULT_SOCKET") == NULL || getenv("MCXVAULT_PROVIDER_DIR") == NULL) {
		printf("skipped - provider-api: run by tests/provider/test_provider.sh (needs a vaultd)\n");
		printf("provider-api: 0 passed, 0 failed, 1 skipped\n");
		return 0;
	}
	RUN(provider_loads);
	RUN(store_loads_ec_key);
	RUN(digest_sign_verifies_three_ways);
	RUN(sign_of_digest);
	RUN(fork_child_signs_on_its_own_connection);
	RUN(threads_share_one_key);
	RUN(key_rotated_after_loading_refuses_to_sign);
	RUN(unknown_domain_and_bad_uri);
	RUN(software_keys_with_mcxvault_loaded_last);
	mcxvault_close(vault);
	OSSL_PROVIDER_unload(prov_default);
	OSSL_PROVIDER_unload(prov_vault);
	OSSL_LIB_CTX_free(libctx);
	return test_summary("provider-api");
}
