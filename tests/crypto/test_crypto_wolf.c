/*
 * mcxvault crypto — differential tests against Debian's wolfCrypt (5.5.4,
 * SAKKE/ECCSI enabled).  For MCX_DIFF_ITERATIONS random cases (default 200;
 * SAKKE, whose operations cost milliseconds, runs one case in four):
 *
 *   SAKKE: the same random master secret z gives the same Z in both; the same
 *   random identity gives the same RSK in both; each validates the other's
 *   RSK; encapsulation is deterministic in (Z, id, SSV), so both must produce
 *   identical R || H; each decapsulates the other's; each rejects a one-bit
 *   change of the encapsulated data.
 *
 *   ECCSI: the same KSAK gives the same KPAK; SSK/PVT pairs issued by either
 *   (v random, so the pairs differ) validate in the other; signatures by either
 *   verify in both; a one-bit change of signature or message is rejected by both.
 *
 * wolfSSL is linked into this program and the benchmark only.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "tests/crypto/wolf_glue.h"

#include "mcx/eccsi.h"
#include "mcx/sakke.h"
#include "tests/test.h"

static struct mcx_sakke_params *sk;
static struct mcx_eccsi_params *ec;
static WC_RNG wrng;
static long iterations = 200;

static void rnd(void *p, size_t n)
{
	if (RAND_bytes(p, (int)n) != 1)
		abort();
}

static unsigned rnd_below(unsigned n)
{
	uint32_t v;
	rnd(&v, sizeof(v));
	return v % n;
}

TEST(sakke_differential)
{
	long n = (iterations + 3) / 4;
	long failures = 0;
	for (long it = 0; it < n && failures < 5; it++) {
		uint8_t z[128], Z[257], Zw[257], id[MCX_SAKKE_ID_MAX], rsk[257], rskw[257];
		uint8_t ssv[16], enc[273], encw[273], out[16];
		size_t idl = it % 3 == 0 ? 32 : 1 + rnd_below(MCX_SAKKE_ID_MAX);
		SakkeKey kms, cl;
		int valid = 0, bad = 0, bit;

		if (mcx_sakke_master_generate(sk, NULL, NULL, z, Z) != 0) {
			CHECK(!"master generate");
			failures++;
			continue;
		}
		rnd(id, idl);
		rnd(ssv, sizeof(ssv));
		REQUIRE(wolf_sakke_kms_init(&kms, z) == 0);
		REQUIRE(wolf_sakke_client_init(&cl, Z) == 0);
		/* same public key and RSK from the same master secret */
		bad |= wolf_sakke_export_public(&kms, Zw) != 0 || memcmp(Z, Zw, 257) != 0;
		bad |= mcx_sakke_rsk_issue(sk, z, id, idl, rsk) != 0;
		bad |= wolf_sakke_rsk(&kms, id, idl, rskw) != 0 || memcmp(rsk, rskw, 257) != 0;
		/* each validates the other's RSK */
		bad |= mcx_sakke_rsk_validate(sk, Z, id, idl, rskw) != 0;
		bad |= wolf_sakke_validate(&cl, id, idl, rsk, &valid) != 0 || valid != 1;
		/* deterministic encapsulation: identical bytes */
		bad |= mcx_sakke_encapsulate(sk, Z, id, idl, ssv, enc) != 0;
		bad |= wolf_sakke_encap(&cl, id, idl, ssv, encw) != 0 || memcmp(enc, encw, 273) != 0;
		/* each decapsulates the other's */
		bad |= wolf_sakke_set_receiver(&cl, id, idl, rsk) != 0;
		bad |= wolf_sakke_decap(&cl, enc, out) != 0 || memcmp(out, ssv, 16) != 0;
		bad |= mcx_sakke_decapsulate(sk, Z, id, idl, rsk, encw, 273, out) != 0 ||
		       memcmp(out, ssv, 16) != 0;
		/* each rejects a one-bit change (anywhere in R || H) */
		bit = (int)rnd_below(273 * 8);
		enc[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		bad |= mcx_sakke_decapsulate(sk, Z, id, idl, rsk, enc, 273, out) == 0;
		bad |= wolf_sakke_decap(&cl, enc, out) == 0 && memcmp(out, ssv, 16) == 0;
		/* and a one-bit change of the RSK */
		bit = 8 + (int)rnd_below(256 * 8);
		rsk[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		bad |= mcx_sakke_rsk_validate(sk, Z, id, idl, rsk) == 0;
		valid = 0;
		(void)wolf_sakke_validate(&cl, id, idl, rsk, &valid);
		bad |= valid == 1;
		wc_FreeSakkeKey(&kms);
		wc_FreeSakkeKey(&cl);
		OPENSSL_cleanse(z, sizeof(z));
		if (bad) {
			printf("  sakke case %ld (id %zu octets) disagrees\n", it, idl);
			failures++;
		}
	}
	CHECK_EQ_INT(failures, 0);
	printf("  sakke: %ld cases\n", n);
}

TEST(eccsi_differential)
{
	long failures = 0;
	for (long it = 0; it < iterations && failures < 5; it++) {
		uint8_t ksak[32], kpak[65], kpakw[65], id[256], ssk[32], pvt[65], sskw[32], pvtw[65];
		uint8_t msg[300], sig[129], sigw[129];
		size_t idl = it % 2 == 0 ? 32 : 1 + rnd_below(sizeof(id));
		size_t ml = rnd_below(sizeof(msg) + 1);
		EccsiKey kms, cl, signer;
		int v = 0, bad = 0, bit;

		if (mcx_eccsi_kms_generate(ec, NULL, NULL, ksak, kpak) != 0) {
			CHECK(!"kms generate");
			failures++;
			continue;
		}
		rnd(id, idl);
		rnd(msg, ml);
		REQUIRE(wolf_eccsi_kms_init(&kms, ksak, kpak) == 0);
		REQUIRE(wolf_eccsi_client_init(&cl, kpak) == 0);
		REQUIRE(wolf_eccsi_client_init(&signer, kpak) == 0);
		/* KPAK = [KSAK]G in both */
		bad |= wolf_eccsi_export_kpak(&kms, kpakw) != 0 || memcmp(kpak, kpakw, 65) != 0;
		/* pairs issued by either validate in the other (and itself) */
		bad |= mcx_eccsi_issue(ec, ksak, kpak, id, idl, NULL, NULL, ssk, pvt) != 0;
		bad |= wolf_eccsi_issue(&kms, &wrng, id, idl, sskw, pvtw) != 0;
		bad |= mcx_eccsi_validate(ec, kpak, id, idl, sskw, pvtw) != 0;
		bad |= wolf_eccsi_validate(&cl, id, idl, ssk, pvt, &v) != 0 || v != 1;
		/* signatures by either verify in both */
		bad |= mcx_eccsi_sign(ec, kpak, id, idl, ssk, pvt, msg, ml, NULL, NULL, sig) != 0;
		bad |= wolf_eccsi_set_signer(&signer, id, idl, sskw, pvtw) != 0;
		bad |= wolf_eccsi_sign(&signer, &wrng, msg, ml, sigw) != 0;
		bad |= wolf_eccsi_verify(&cl, id, idl, msg, ml, sig, &v) != 0 || v != 1;
		bad |= mcx_eccsi_verify(ec, kpak, id, idl, msg, ml, sigw, 129) != 0;
		bad |= mcx_eccsi_verify(ec, kpak, id, idl, msg, ml, sig, 129) != 0;
		/* a one-bit change of the signature is rejected by both */
		bit = (int)rnd_below(129 * 8);
		sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		bad |= mcx_eccsi_verify(ec, kpak, id, idl, msg, ml, sig, 129) == 0;
		v = 0;
		(void)wolf_eccsi_verify(&cl, id, idl, msg, ml, sig, &v);
		bad |= v == 1;
		/* and of the message */
		if (ml > 0) {
			bit = (int)rnd_below((unsigned)ml * 8);
			msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			bad |= mcx_eccsi_verify(ec, kpak, id, idl, msg, ml, sigw, 129) == 0;
			v = 0;
			(void)wolf_eccsi_verify(&cl, id, idl, msg, ml, sigw, &v);
			bad |= v == 1;
		}
		/* and of the SSK */
		bit = (int)rnd_below(32 * 8);
		ssk[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		bad |= mcx_eccsi_validate(ec, kpak, id, idl, ssk, pvt) == 0;
		v = 0;
		(void)wolf_eccsi_validate(&cl, id, idl, ssk, pvt, &v);
		bad |= v == 1;
		wc_FreeEccsiKey(&kms);
		wc_FreeEccsiKey(&cl);
		wc_FreeEccsiKey(&signer);
		OPENSSL_cleanse(ksak, sizeof(ksak));
		if (bad) {
			printf("  eccsi case %ld (id %zu, msg %zu octets) disagrees\n", it, idl, ml);
			failures++;
		}
	}
	CHECK_EQ_INT(failures, 0);
	printf("  eccsi: %ld cases\n", iterations);
}

int main(void)
{
	const char *env = getenv("MCX_DIFF_ITERATIONS");
	int rc;
	if (env != NULL && *env != '\0') {
		char *end = NULL;
		long v = strtol(env, &end, 10);
		if (end != NULL && *end == '\0' && v > 0 && v <= 10000000)
			iterations = v;
	}
	if (mcx_sakke_params_new(&sk) != 0 || mcx_eccsi_params_new(&ec) != 0 ||
	    wolfCrypt_Init() != 0 || wc_InitRng(&wrng) != 0) {
		printf("FAIL - set-up\n");
		return 1;
	}
	RUN(eccsi_differential);
	RUN(sakke_differential);
	wc_FreeRng(&wrng);
	wolfCrypt_Cleanup();
	mcx_sakke_params_free(sk);
	mcx_eccsi_params_free(ec);
	rc = test_summary("crypto-wolf");
	return rc;
}
