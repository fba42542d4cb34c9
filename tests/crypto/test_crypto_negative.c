/*
 * mcxvault crypto — negative and edge cases: one-bit changes of signatures,
 * PVTs, SSKs, encapsulated data and RSKs are refused; malformed points (off
 * the curve, infinity, wrong prefix or length, coordinate >= p) are refused;
 * out-of-range scalars; the identity 0 and b = -z mod q.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <string.h>

#include "mcx/eccsi.h"
#include "mcx/sakke.h"
#include "mcx/uid.h"
#include "tests/crypto/helpers.h"
#include "tests/crypto/vectors.h"
#include "tests/test.h"

static struct mcx_sakke_params *sk;
static struct mcx_eccsi_params *ec;

/* RFC 6507 material */
static uint8_t e_kpak[65], e_id[64], e_ssk[32], e_pvt[65], e_m[8], e_sig[129], e_ksak[32];
static size_t e_idl;
/* RFC 6508 material */
static uint8_t s_z[128], s_Z[257], s_b[64], s_rsk[257], s_sed[273], s_ssv[16];
static size_t s_bl;

static void flip(uint8_t *p, size_t bit)
{
	p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
}

TEST(eccsi_every_one_bit_change_of_signature_rejected)
{
	uint8_t sig[129];
	int accepted = 0;
	CHECK_OK(mcx_eccsi_verify(ec, e_kpak, e_id, e_idl, e_m, sizeof(e_m), e_sig, 129));
	for (size_t bit = 0; bit < 129 * 8; bit++) {
		memcpy(sig, e_sig, sizeof(sig));
		flip(sig, bit);
		if (mcx_eccsi_verify(ec, e_kpak, e_id, e_idl, e_m, sizeof(e_m), sig, 129) == 0)
			accepted++;
	}
	CHECK_EQ_INT(accepted, 0);
}

TEST(eccsi_changed_message_id_kpak_rejected)
{
	uint8_t m[8], id[64], kpak[65];
	for (size_t bit = 0; bit < sizeof(m) * 8; bit++) {
		memcpy(m, e_m, sizeof(m));
		flip(m, bit);
		CHECK(mcx_eccsi_verify(ec, e_kpak, e_id, e_idl, m, sizeof(m), e_sig, 129) != 0);
	}
	memcpy(id, e_id, e_idl);
	flip(id, 3);
	CHECK(mcx_eccsi_verify(ec, e_kpak, id, e_idl, e_m, sizeof(e_m), e_sig, 129) ==
	      MCX_ERR_SIGNATURE_INVALID);
	CHECK(mcx_eccsi_verify(ec, e_kpak, e_id, e_idl - 1, e_m, sizeof(e_m), e_sig, 129) != 0);
	CHECK(mcx_eccsi_verify(ec, e_kpak, e_id, e_idl, e_m, sizeof(e_m) - 1, e_sig, 129) != 0);
	memcpy(kpak, e_kpak, sizeof(kpak));
	flip(kpak, 100);
	CHECK(mcx_eccsi_verify(ec, kpak, e_id, e_idl, e_m, sizeof(e_m), e_sig, 129) != 0);
}

TEST(eccsi_signature_length_and_ranges)
{
	uint8_t sig[130];
	memcpy(sig, e_sig, 129);
	sig[129] = 0;
	CHECK(mcx_eccsi_verify(ec, e_kpak, e_id, e_idl, e_m, sizeof(e_m), sig, 128) ==
	      MCX_ERR_INVALID_ARGUMENT);
	CHECK(mcx_eccsi_verify(ec, e_kpak, e_id, e_idl, e_m, sizeof(e_m), sig, 130) ==
	      MCX_ERR_INVALID_ARGUMENT);
	/* s = 0 and s = q */
	memset(sig + 32, 0, 32);
	CHECK(mcx_eccsi_verify(ec, e_kpak, e_id, e_idl, e_m, sizeof(e_m), sig, 129) ==
	      MCX_ERR_SIGNATURE_INVALID);
	REQUIRE(hexdec(V6507_q, sig + 32, 32, 32) == 32);
	CHECK(mcx_eccsi_verify(ec, e_kpak, e_id, e_idl, e_m, sizeof(e_m), sig, 129) ==
	      MCX_ERR_SIGNATURE_INVALID);
	/* r = 0 */
	memcpy(sig, e_sig, 129);
	memset(sig, 0, 32);
	CHECK(mcx_eccsi_verify(ec, e_kpak, e_id, e_idl, e_m, sizeof(e_m), sig, 129) ==
	      MCX_ERR_SIGNATURE_INVALID);
}

TEST(eccsi_every_one_bit_change_of_ssk_or_pvt_rejected)
{
	uint8_t ssk[32], pvt[65];
	int accepted = 0;
	CHECK_OK(mcx_eccsi_validate(ec, e_kpak, e_id, e_idl, e_ssk, e_pvt));
	for (size_t bit = 0; bit < 32 * 8; bit++) {
		memcpy(ssk, e_ssk, sizeof(ssk));
		flip(ssk, bit);
		accepted += mcx_eccsi_validate(ec, e_kpak, e_id, e_idl, ssk, e_pvt) == 0;
	}
	for (size_t bit = 0; bit < 65 * 8; bit++) {
		memcpy(pvt, e_pvt, sizeof(pvt));
		flip(pvt, bit);
		accepted += mcx_eccsi_validate(ec, e_kpak, e_id, e_idl, e_ssk, pvt) == 0;
	}
	CHECK_EQ_INT(accepted, 0);
}

TEST(eccsi_invalid_points_and_scalars)
{
	uint8_t pvt[65], ssk[32], kpak[65];
	/* PVT off the curve (y + 1), compressed prefix, all zero (not a point) */
	memcpy(pvt, e_pvt, sizeof(pvt));
	pvt[64] ^= 1;
	CHECK(mcx_eccsi_validate(ec, e_kpak, e_id, e_idl, e_ssk, pvt) == MCX_ERR_INVALID_ARGUMENT);
	memcpy(pvt, e_pvt, sizeof(pvt));
	pvt[0] = 0x02;
	CHECK(mcx_eccsi_validate(ec, e_kpak, e_id, e_idl, e_ssk, pvt) == MCX_ERR_INVALID_ARGUMENT);
	memset(pvt, 0, sizeof(pvt));
	CHECK(mcx_eccsi_validate(ec, e_kpak, e_id, e_idl, e_ssk, pvt) == MCX_ERR_INVALID_ARGUMENT);
	pvt[0] = 0x04;
	CHECK(mcx_eccsi_validate(ec, e_kpak, e_id, e_idl, e_ssk, pvt) == MCX_ERR_INVALID_ARGUMENT);
	/* SSK 0 and q */
	memset(ssk, 0, sizeof(ssk));
	CHECK(mcx_eccsi_validate(ec, e_kpak, e_id, e_idl, ssk, e_pvt) == MCX_ERR_SIGNATURE_INVALID);
	REQUIRE(hexdec(V6507_q, ssk, 32, 32) == 32);
	CHECK(mcx_eccsi_validate(ec, e_kpak, e_id, e_idl, ssk, e_pvt) == MCX_ERR_SIGNATURE_INVALID);
	CHECK(mcx_eccsi_kpak_from_ksak(ec, ssk, kpak) == MCX_ERR_INVALID_ARGUMENT);
	memset(ssk, 0, sizeof(ssk));
	CHECK(mcx_eccsi_kpak_from_ksak(ec, ssk, kpak) == MCX_ERR_INVALID_ARGUMENT);
	/* empty identity, NULL */
	CHECK(mcx_eccsi_validate(ec, e_kpak, e_id, 0, e_ssk, e_pvt) == MCX_ERR_INVALID_ARGUMENT);
	CHECK(mcx_eccsi_validate(ec, NULL, e_id, e_idl, e_ssk, e_pvt) == MCX_ERR_INVALID_ARGUMENT);
}

static int failing_rng(void *ctx, uint8_t *out, size_t len)
{
	(void)ctx;
	(void)out;
	(void)len;
	return -1;
}

TEST(random_source_failure_is_reported)
{
	uint8_t ssk[32], pvt[65], sig[129], z[128], Z[257];
	CHECK(mcx_eccsi_issue(ec, e_ksak, e_kpak, e_id, e_idl, failing_rng, NULL, ssk, pvt) ==
	      MCX_ERR_CRYPTO);
	CHECK(mcx_eccsi_sign(ec, e_kpak, e_id, e_idl, e_ssk, e_pvt, e_m, sizeof(e_m), failing_rng,
			     NULL, sig) == MCX_ERR_CRYPTO);
	CHECK(mcx_sakke_master_generate(sk, failing_rng, NULL, z, Z) == MCX_ERR_CRYPTO);
}

TEST(rejection_sampling_skips_out_of_range_candidates)
{
	/* first candidate is q (out of range) -> the second, the RFC's v, is used */
	const char *seq[] = { V6507_q, V6507_v };
	struct fixed_rng f = { seq, 2, 0 };
	uint8_t ssk[32], pvt[65], exp[65];
	REQUIRE(hexdec(V6507_PVT, exp, sizeof(exp), 65) == 65);
	CHECK_OK(mcx_eccsi_issue(ec, e_ksak, e_kpak, e_id, e_idl, fixed_rng_fn, &f, ssk, pvt));
	CHECK_MEM(pvt, exp, 65);
	CHECK_EQ_INT(f.next, 2);
}

/* ---- SAKKE ----------------------------------------------------------------------- */

TEST(sakke_one_bit_changes_of_encapsulated_data_rejected)
{
	/* 24 positions spread over R (x, y) and every 8th bit of H: decapsulation
	 * costs milliseconds, so not all 2184 bits. */
	uint8_t sed[273], ssv[16];
	size_t bits[40];
	size_t nb = 0;
	int accepted = 0;
	for (size_t i = 0; i < 24; i++)
		bits[nb++] = 8 + i * (256 * 8 / 24) + i % 8;
	for (size_t i = 0; i < 16; i++)
		bits[nb++] = 257 * 8 + i * 8 + i % 8;
	for (size_t i = 0; i < nb; i++) {
		memcpy(sed, s_sed, sizeof(sed));
		flip(sed, bits[i]);
		if (mcx_sakke_decapsulate(sk, s_Z, s_b, s_bl, s_rsk, sed, sizeof(sed), ssv) == 0)
			accepted++;
		CHECK(ssv[0] == 0 && memcmp(ssv, ssv + 1, 15) == 0);   /* zeroed on failure */
	}
	CHECK_EQ_INT(accepted, 0);
	/* wrong prefix, wrong length, wrong identity, wrong RSK */
	memcpy(sed, s_sed, sizeof(sed));
	sed[0] = 0x02;
	CHECK(mcx_sakke_decapsulate(sk, s_Z, s_b, s_bl, s_rsk, sed, 273, ssv) != 0);
	CHECK(mcx_sakke_decapsulate(sk, s_Z, s_b, s_bl, s_rsk, s_sed, 272, ssv) ==
	      MCX_ERR_INVALID_ARGUMENT);
	CHECK(mcx_sakke_decapsulate(sk, s_Z, s_b, s_bl - 1, s_rsk, s_sed, 273, ssv) ==
	      MCX_ERR_SIGNATURE_INVALID);
}

TEST(sakke_one_bit_changes_of_rsk_rejected)
{
	uint8_t rsk[257], ssv[16];
	int accepted = 0;
	for (size_t i = 0; i < 16; i++) {
		memcpy(rsk, s_rsk, sizeof(rsk));
		flip(rsk, 8 + i * (256 * 8 / 16) + i % 8);
		accepted += mcx_sakke_rsk_validate(sk, s_Z, s_b, s_bl, rsk) == 0;
		accepted += mcx_sakke_decapsulate(sk, s_Z, s_b, s_bl, rsk, s_sed, 273, ssv) == 0;
	}
	CHECK_EQ_INT(accepted, 0);
}

TEST(sakke_invalid_points_rejected)
{
	uint8_t pt[257], enc[273], out[128];
	/* off the curve */
	memcpy(pt, s_Z, sizeof(pt));
	pt[256] ^= 1;
	CHECK(mcx_sakke_encapsulate(sk, pt, s_b, s_bl, s_ssv, enc) == MCX_ERR_INVALID_ARGUMENT);
	CHECK(mcx_sakke_rsk_validate(sk, pt, s_b, s_bl, s_rsk) == MCX_ERR_INVALID_ARGUMENT);
	CHECK(mcx_sakke_rsk_validate(sk, s_Z, s_b, s_bl, pt) == MCX_ERR_INVALID_ARGUMENT);
	/* "infinity": all zero, or 0x04 with zero coordinates ((0,0) has order 2) */
	memset(pt, 0, sizeof(pt));
	CHECK(mcx_sakke_encapsulate(sk, pt, s_b, s_bl, s_ssv, enc) == MCX_ERR_INVALID_ARGUMENT);
	pt[0] = 0x04;
	CHECK(mcx_sakke_encapsulate(sk, pt, s_b, s_bl, s_ssv, enc) == MCX_ERR_INVALID_ARGUMENT);
	CHECK(mcx_sakke_pairing(sk, pt, s_rsk, out) == MCX_ERR_INVALID_ARGUMENT);
	/* a coordinate >= p: x + p is the same residue but not a canonical encoding */
	memcpy(pt, s_Z, sizeof(pt));
	memset(pt + 1, 0xff, 128);
	CHECK(mcx_sakke_rsk_validate(sk, pt, s_b, s_bl, s_rsk) == MCX_ERR_INVALID_ARGUMENT);
	/* compressed prefix */
	memcpy(pt, s_Z, sizeof(pt));
	pt[0] = 0x03;
	CHECK(mcx_sakke_rsk_validate(sk, pt, s_b, s_bl, s_rsk) == MCX_ERR_INVALID_ARGUMENT);
	/* identity length limits */
	CHECK(mcx_sakke_encapsulate(sk, s_Z, s_b, 0, s_ssv, enc) == MCX_ERR_INVALID_ARGUMENT);
	CHECK(mcx_sakke_encapsulate(sk, s_Z, s_b, MCX_SAKKE_ID_MAX + 1, s_ssv, enc) ==
	      MCX_ERR_INVALID_ARGUMENT);
}

TEST(sakke_master_secret_range)
{
	uint8_t z[128], Z[257], rsk[257];
	memset(z, 0, sizeof(z));
	CHECK(mcx_sakke_public_from_master(sk, z, Z) == MCX_ERR_INVALID_ARGUMENT);
	CHECK(mcx_sakke_rsk_issue(sk, z, s_b, s_bl, rsk) == MCX_ERR_INVALID_ARGUMENT);
	REQUIRE(hexdec(V6508_q, z, sizeof(z), 128) == 128);
	CHECK(mcx_sakke_public_from_master(sk, z, Z) == MCX_ERR_INVALID_ARGUMENT);
	/* q - 1 is fine */
	z[127] -= 1;
	CHECK_OK(mcx_sakke_public_from_master(sk, z, Z));
}

TEST(sakke_identity_zero_round_trip)
{
	uint8_t id[32], rsk[257], enc[273], ssv[16];
	memset(id, 0, sizeof(id));   /* b = 0: [b]P + Z = Z */
	CHECK_OK(mcx_sakke_rsk_issue(sk, s_z, id, sizeof(id), rsk));
	CHECK_OK(mcx_sakke_rsk_validate(sk, s_Z, id, sizeof(id), rsk));
	CHECK_OK(mcx_sakke_encapsulate(sk, s_Z, id, sizeof(id), s_ssv, enc));
	CHECK_OK(mcx_sakke_decapsulate(sk, s_Z, id, sizeof(id), rsk, enc, sizeof(enc), ssv));
	CHECK_MEM(ssv, s_ssv, 16);
	/* the RFC's identity's RSK is not the zero identity's */
	CHECK(mcx_sakke_rsk_validate(sk, s_Z, id, sizeof(id), s_rsk) == MCX_ERR_SIGNATURE_INVALID);
}

TEST(sakke_identity_minus_z_refused)
{
	/* b = q - z: z + b = 0 mod q has no inverse; encapsulation to it gives
	 * [b]P + Z = infinity, which cannot be encoded either. */
	uint8_t q[128], b[128], rsk[257], enc[273];
	unsigned borrow = 0;
	REQUIRE(hexdec(V6508_q, q, sizeof(q), 128) == 128);
	for (int i = 127; i >= 0; i--) {
		unsigned d = (unsigned)q[i] - s_z[i] - borrow;
		b[i] = (uint8_t)d;
		borrow = (d >> 8) & 1;
	}
	REQUIRE(borrow == 0);
	CHECK(mcx_sakke_rsk_issue(sk, s_z, b, sizeof(b), rsk) == MCX_ERR_INVALID_ARGUMENT);
	CHECK(mcx_sakke_encapsulate(sk, s_Z, b, sizeof(b), s_ssv, enc) != 0);
	CHECK(mcx_sakke_rsk_validate(sk, s_Z, b, sizeof(b), s_rsk) != 0);
}

TEST(uid_invalid_arguments)
{
	uint8_t uid[32];
	CHECK(mcx_uid_compute("", 0, "k", 1, 1, 0, 0, uid) == MCX_ERR_INVALID_ARGUMENT);
	CHECK(mcx_uid_compute("u", 1, NULL, 1, 1, 0, 0, uid) == MCX_ERR_INVALID_ARGUMENT);
	CHECK(mcx_uid_compute("u", 70000, "k", 1, 1, 0, 0, uid) == MCX_ERR_INVALID_ARGUMENT);
	CHECK_OK(mcx_uid_compute("u", 1, "k", 1, 0, 0, 0, uid));   /* zeros encode as 0x00 */
}

int main(void)
{
	if (mcx_sakke_params_new(&sk) != 0 || mcx_eccsi_params_new(&ec) != 0) {
		printf("FAIL - parameter set-up\n");
		return 1;
	}
	e_idl = hexdec(V6507_ID, e_id, sizeof(e_id), 0);
	s_bl = hexdec(V6508_b, s_b, sizeof(s_b), 0);
	if (e_idl == 0 || s_bl == 0 || hexdec(V6507_KPAK, e_kpak, 65, 65) != 65 ||
	    hexdec(V6507_SSK, e_ssk, 32, 32) != 32 || hexdec(V6507_PVT, e_pvt, 65, 65) != 65 ||
	    hexdec(V6507_M, e_m, 8, 8) != 8 || hexdec(V6507_Sig, e_sig, 129, 129) != 129 ||
	    hexdec(V6507_KSAK, e_ksak, 32, 32) != 32 || hexdec(V6508_z_S, s_z, 128, 128) != 128 ||
	    hexdec(V6508_Z_S, s_Z, 257, 257) != 257 || hexdec(V6508_K_bS, s_rsk, 257, 257) != 257 ||
	    hexdec(V6508_SED, s_sed, 273, 273) != 273 || hexdec(V6508_SSV, s_ssv, 16, 16) != 16) {
		printf("FAIL - vectors\n");
		return 1;
	}
	RUN(eccsi_every_one_bit_change_of_signature_rejected);
	RUN(eccsi_changed_message_id_kpak_rejected);
	RUN(eccsi_signature_length_and_ranges);
	RUN(eccsi_every_one_bit_change_of_ssk_or_pvt_rejected);
	RUN(eccsi_invalid_points_and_scalars);
	RUN(random_source_failure_is_reported);
	RUN(rejection_sampling_skips_out_of_range_candidates);
	RUN(sakke_one_bit_changes_of_encapsulated_data_rejected);
	RUN(sakke_one_bit_changes_of_rsk_rejected);
	RUN(sakke_invalid_points_rejected);
	RUN(sakke_master_secret_range);
	RUN(sakke_identity_zero_round_trip);
	RUN(sakke_identity_minus_z_refused);
	RUN(uid_invalid_arguments);
	mcx_sakke_params_free(sk);
	mcx_eccsi_params_free(ec);
	return test_summary("crypto-negative");
}
