/*
 * mcxvault crypto — known-answer tests: RFC 6507 Appendix A (ECCSI), RFC 6508
 * Appendix A with RFC 6509 parameter set 1 (SAKKE), TS 33.180 F.2.1 UIDs and
 * the Streamwide interoperability key sets and GMK I_MESSAGE (vectors.h).
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

/* ---- SAKKE, RFC 6508 Appendix A ----------------------------------------------- */

TEST(sakke_param_set_1_g_is_pairing_of_P)
{
	uint8_t P[257], g[128], out[128];
	REQUIRE(hexdec(V6508_P, P, sizeof(P), 257) == 257);
	REQUIRE(hexdec(V6508_g, g, sizeof(g), 128) == 128);
	CHECK_OK(mcx_sakke_pairing(sk, P, P, out));
	CHECK_MEM(out, g, 128);
}

TEST(sakke_rfc6508_kms_public_key)
{
	uint8_t z[128], Z[257], exp[257];
	REQUIRE(hexdec(V6508_z_S, z, sizeof(z), 128) == 128);
	REQUIRE(hexdec(V6508_Z_S, exp, sizeof(exp), 257) == 257);
	CHECK_OK(mcx_sakke_public_from_master(sk, z, Z));
	CHECK_MEM(Z, exp, 257);
}

TEST(sakke_rfc6508_master_generate_through_seam)
{
	const char *seq[] = { V6508_z_S };
	struct fixed_rng f = { seq, 1, 0 };
	uint8_t z[128], Z[257], expz[128], expZ[257];
	REQUIRE(hexdec(V6508_z_S, expz, sizeof(expz), 128) == 128);
	REQUIRE(hexdec(V6508_Z_S, expZ, sizeof(expZ), 257) == 257);
	CHECK_OK(mcx_sakke_master_generate(sk, fixed_rng_fn, &f, z, Z));
	CHECK_MEM(z, expz, 128);
	CHECK_MEM(Z, expZ, 257);
}

TEST(sakke_rfc6508_rsk_issue)
{
	uint8_t z[128], b[64], rsk[257], exp[257];
	size_t bl = hexdec(V6508_b, b, sizeof(b), 0);
	REQUIRE(bl == 26);
	REQUIRE(hexdec(V6508_z_S, z, sizeof(z), 128) == 128);
	REQUIRE(hexdec(V6508_K_bS, exp, sizeof(exp), 257) == 257);
	CHECK_OK(mcx_sakke_rsk_issue(sk, z, b, bl, rsk));
	CHECK_MEM(rsk, exp, 257);
}

TEST(sakke_rfc6508_rsk_validate)
{
	uint8_t Z[257], b[64], rsk[257];
	size_t bl = hexdec(V6508_b, b, sizeof(b), 0);
	REQUIRE(hexdec(V6508_Z_S, Z, sizeof(Z), 257) == 257);
	REQUIRE(hexdec(V6508_K_bS, rsk, sizeof(rsk), 257) == 257);
	CHECK_OK(mcx_sakke_rsk_validate(sk, Z, b, bl, rsk));
}

TEST(sakke_rfc6508_encapsulate)
{
	uint8_t Z[257], b[64], ssv[16], sed[273], out[273];
	size_t bl = hexdec(V6508_b, b, sizeof(b), 0);
	REQUIRE(hexdec(V6508_Z_S, Z, sizeof(Z), 257) == 257);
	REQUIRE(hexdec(V6508_SSV, ssv, sizeof(ssv), 16) == 16);
	REQUIRE(hexdec(V6508_SED, sed, sizeof(sed), 273) == 273);
	CHECK_OK(mcx_sakke_encapsulate(sk, Z, b, bl, ssv, out));
	CHECK_MEM(out, sed, 257);          /* R_(b,S) */
	CHECK_MEM(out + 257, sed + 257, 16);   /* H */
}

TEST(sakke_rfc6508_encapsulated_parts)
{
	uint8_t R[257], H[16], sed[273];
	REQUIRE(hexdec(V6508_R_bS, R, sizeof(R), 257) == 257);
	REQUIRE(hexdec(V6508_H, H, sizeof(H), 16) == 16);
	REQUIRE(hexdec(V6508_SED, sed, sizeof(sed), 273) == 273);
	CHECK_MEM(sed, R, 257);
	CHECK_MEM(sed + 257, H, 16);
}

TEST(sakke_rfc6508_pairing_w)
{
	uint8_t R[257], K[257], w[128], out[128], gr[128];
	REQUIRE(hexdec(V6508_R_bS, R, sizeof(R), 257) == 257);
	REQUIRE(hexdec(V6508_K_bS, K, sizeof(K), 257) == 257);
	REQUIRE(hexdec(V6508_w, w, sizeof(w), 128) == 128);
	REQUIRE(hexdec(V6508_g_r, gr, sizeof(gr), 128) == 128);
	CHECK_OK(mcx_sakke_pairing(sk, R, K, out));
	CHECK_MEM(out, w, 128);
	CHECK_MEM(w, gr, 128);   /* w = g^r */
}

TEST(sakke_rfc6508_decapsulate)
{
	uint8_t Z[257], b[64], rsk[257], sed[273], ssv[16], exp[16];
	size_t bl = hexdec(V6508_b, b, sizeof(b), 0);
	REQUIRE(hexdec(V6508_Z_S, Z, sizeof(Z), 257) == 257);
	REQUIRE(hexdec(V6508_K_bS, rsk, sizeof(rsk), 257) == 257);
	REQUIRE(hexdec(V6508_SED, sed, sizeof(sed), 273) == 273);
	REQUIRE(hexdec(V6508_SSV, exp, sizeof(exp), 16) == 16);
	CHECK_OK(mcx_sakke_decapsulate(sk, Z, b, bl, rsk, sed, sizeof(sed), ssv));
	CHECK_MEM(ssv, exp, 16);
}

/* ---- ECCSI, RFC 6507 Appendix A ----------------------------------------------- */

TEST(eccsi_rfc6507_kpak)
{
	uint8_t ksak[32], kpak[65], exp[65];
	REQUIRE(hexdec(V6507_KSAK, ksak, sizeof(ksak), 32) == 32);
	REQUIRE(hexdec(V6507_KPAK, exp, sizeof(exp), 65) == 65);
	CHECK_OK(mcx_eccsi_kpak_from_ksak(ec, ksak, kpak));
	CHECK_MEM(kpak, exp, 65);
}

TEST(eccsi_rfc6507_kms_generate_through_seam)
{
	const char *seq[] = { V6507_KSAK };
	struct fixed_rng f = { seq, 1, 0 };
	uint8_t ksak[32], kpak[65], expk[32], exp[65];
	REQUIRE(hexdec(V6507_KSAK, expk, sizeof(expk), 32) == 32);
	REQUIRE(hexdec(V6507_KPAK, exp, sizeof(exp), 65) == 65);
	CHECK_OK(mcx_eccsi_kms_generate(ec, fixed_rng_fn, &f, ksak, kpak));
	CHECK_MEM(ksak, expk, 32);
	CHECK_MEM(kpak, exp, 65);
}

TEST(eccsi_rfc6507_issue)
{
	const char *seq[] = { V6507_v };
	struct fixed_rng f = { seq, 1, 0 };
	uint8_t ksak[32], kpak[65], id[64], ssk[32], pvt[65], expssk[32], exppvt[65];
	size_t il = hexdec(V6507_ID, id, sizeof(id), 0);
	REQUIRE(il == 26);
	REQUIRE(hexdec(V6507_KSAK, ksak, sizeof(ksak), 32) == 32);
	REQUIRE(hexdec(V6507_KPAK, kpak, sizeof(kpak), 65) == 65);
	REQUIRE(hexdec(V6507_SSK, expssk, sizeof(expssk), 32) == 32);
	REQUIRE(hexdec(V6507_PVT, exppvt, sizeof(exppvt), 65) == 65);
	CHECK_OK(mcx_eccsi_issue(ec, ksak, kpak, id, il, fixed_rng_fn, &f, ssk, pvt));
	CHECK_MEM(pvt, exppvt, 65);
	CHECK_MEM(ssk, expssk, 32);
}

TEST(eccsi_rfc6507_hs)
{
	uint8_t kpak[65], id[64], pvt[65], hs[32], exp[32];
	size_t il = hexdec(V6507_ID, id, sizeof(id), 0);
	REQUIRE(hexdec(V6507_KPAK, kpak, sizeof(kpak), 65) == 65);
	REQUIRE(hexdec(V6507_PVT, pvt, sizeof(pvt), 65) == 65);
	REQUIRE(hexdec(V6507_HS, exp, sizeof(exp), 32) == 32);
	CHECK_OK(mcx_eccsi_hs(ec, kpak, id, il, pvt, hs));
	CHECK_MEM(hs, exp, 32);
}

TEST(eccsi_rfc6507_validate)
{
	uint8_t kpak[65], id[64], pvt[65], ssk[32];
	size_t il = hexdec(V6507_ID, id, sizeof(id), 0);
	REQUIRE(hexdec(V6507_KPAK, kpak, sizeof(kpak), 65) == 65);
	REQUIRE(hexdec(V6507_PVT, pvt, sizeof(pvt), 65) == 65);
	REQUIRE(hexdec(V6507_SSK, ssk, sizeof(ssk), 32) == 32);
	CHECK_OK(mcx_eccsi_validate(ec, kpak, id, il, ssk, pvt));
}

TEST(eccsi_rfc6507_sign)
{
	const char *seq[] = { V6507_j };
	struct fixed_rng f = { seq, 1, 0 };
	uint8_t kpak[65], id[64], pvt[65], ssk[32], m[16], sig[129], exp[129], r[32], s[32];
	size_t il = hexdec(V6507_ID, id, sizeof(id), 0);
	size_t ml = hexdec(V6507_M, m, sizeof(m), 0);
	REQUIRE(ml == 8);
	REQUIRE(hexdec(V6507_KPAK, kpak, sizeof(kpak), 65) == 65);
	REQUIRE(hexdec(V6507_PVT, pvt, sizeof(pvt), 65) == 65);
	REQUIRE(hexdec(V6507_SSK, ssk, sizeof(ssk), 32) == 32);
	REQUIRE(hexdec(V6507_Sig, exp, sizeof(exp), 129) == 129);
	REQUIRE(hexdec(V6507_r, r, sizeof(r), 32) == 32);
	REQUIRE(hexdec(V6507_s, s, sizeof(s), 32) == 32);
	CHECK_OK(mcx_eccsi_sign(ec, kpak, id, il, ssk, pvt, m, ml, fixed_rng_fn, &f, sig));
	CHECK_MEM(sig, r, 32);
	CHECK_MEM(sig + 32, s, 32);
	CHECK_MEM(sig, exp, 129);
}

TEST(eccsi_rfc6507_verify)
{
	uint8_t kpak[65], id[64], m[16], sig[129];
	size_t il = hexdec(V6507_ID, id, sizeof(id), 0);
	size_t ml = hexdec(V6507_M, m, sizeof(m), 0);
	REQUIRE(hexdec(V6507_KPAK, kpak, sizeof(kpak), 65) == 65);
	REQUIRE(hexdec(V6507_Sig, sig, sizeof(sig), 129) == 129);
	CHECK_OK(mcx_eccsi_verify(ec, kpak, id, il, m, ml, sig, sizeof(sig)));
}

/* ---- TS 33.180 F.2.1 UID -------------------------------------------------------- */

static int parse_u64(const char *s, size_t n, uint64_t *v)
{
	*v = 0;
	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (uint64_t)(s[i] - '0');
	}
	return 0;
}

TEST(uid_streamwide_cases)
{
	for (size_t c = 0; c < MCX_ARRAY_SIZE(SW_UID_CASES); c++) {
		const char *f[6], *p = SW_UID_CASES[c];
		size_t l[6];
		uint64_t per, off, no;
		uint8_t uid[32], exp[32];
		for (int i = 0; i < 6; i++) {
			const char *e = strchr(p, '|');
			f[i] = p;
			l[i] = e != NULL ? (size_t)(e - p) : strlen(p);
			p = e != NULL ? e + 1 : p + l[i];
		}
		REQUIRE(parse_u64(f[2], l[2], &per) == 0 && parse_u64(f[3], l[3], &off) == 0 &&
			parse_u64(f[4], l[4], &no) == 0);
		REQUIRE(l[5] == 64);
		{
			char hx[65];
			memcpy(hx, f[5], 64);
			hx[64] = '\0';
			REQUIRE(hexdec(hx, exp, sizeof(exp), 32) == 32);
		}
		CHECK_OK(mcx_uid_compute(f[0], l[0], f[1], l[1], per, off, no, uid));
		CHECK_MEM(uid, exp, 32);
	}
}

TEST(uid_streamwide_key_sets)
{
	const char *uris[3] = { SW_GMS_USERURI, SW_ALICE_USERURI, SW_BOB_USERURI };
	const char *ids[3] = { SW_GMS_USERID, SW_ALICE_USERID, SW_BOB_USERID };
	uint64_t per, off;
	REQUIRE(parse_u64(SW_USERKEYPERIOD, strlen(SW_USERKEYPERIOD), &per) == 0);
	REQUIRE(parse_u64(SW_USERKEYOFFSET, strlen(SW_USERKEYOFFSET), &off) == 0);
	for (int i = 0; i < 3; i++) {
		uint8_t uid[32], exp[32];
		REQUIRE(hexdec(ids[i], exp, sizeof(exp), 32) == 32);
		CHECK_OK(mcx_uid_compute(uris[i], strlen(uris[i]), SW_KMSURI, strlen(SW_KMSURI), per,
					 off, 236, uid));
		CHECK_MEM(uid, exp, 32);
	}
}

TEST(uid_key_period_helper)
{
	uint64_t no = 0;
	int64_t start = 0, end = 0;
	/* period 236 of 16777215 s from NTP 0 starts at NTP 3959422740 = Unix 1750433940 */
	CHECK_OK(mcx_uid_key_period(1750433940, 16777215, 0, &no, &start, &end));
	CHECK_EQ_INT(no, 236);
	CHECK_EQ_INT(start, 1750433940);
	CHECK_EQ_INT(end, 1750433940 + 16777214);
	CHECK_OK(mcx_uid_key_period(1750433939, 16777215, 0, &no, NULL, NULL));
	CHECK_EQ_INT(no, 235);
	CHECK_OK(mcx_uid_key_period(1750433940 + 16777214, 16777215, 0, &no, NULL, NULL));
	CHECK_EQ_INT(no, 236);
	/* with an offset: period 0 starts exactly at the offset */
	CHECK_OK(mcx_uid_key_period(1000 - MCX_UID_NTP_UNIX_OFFSET, 10, 1000, &no, &start, NULL));
	CHECK_EQ_INT(no, 0);
	CHECK_EQ_INT(start, 1000 - MCX_UID_NTP_UNIX_OFFSET);
	CHECK(mcx_uid_key_period(999 - MCX_UID_NTP_UNIX_OFFSET, 10, 1000, &no, NULL, NULL) ==
	      MCX_ERR_INVALID_ARGUMENT);
	CHECK(mcx_uid_key_period(0, 0, 0, &no, NULL, NULL) == MCX_ERR_INVALID_ARGUMENT);
}

/* ---- Streamwide KMS key sets (TS 33.180) ------------------------------------------ */

TEST(streamwide_rsk_validate)
{
	const char *ids[3] = { SW_GMS_USERID, SW_ALICE_USERID, SW_BOB_USERID };
	const char *rsks[3] = { SW_GMS_USERDECRYPTKEY, SW_ALICE_USERDECRYPTKEY,
				SW_BOB_USERDECRYPTKEY };
	uint8_t Z[257];
	REQUIRE(hexdec(SW_PUBENCKEY, Z, sizeof(Z), 257) == 257);
	for (int i = 0; i < 3; i++) {
		uint8_t uid[32], other[32], rsk[257];
		REQUIRE(hexdec(ids[i], uid, sizeof(uid), 32) == 32);
		REQUIRE(hexdec(ids[(i + 1) % 3], other, sizeof(other), 32) == 32);
		REQUIRE(hexdec(rsks[i], rsk, sizeof(rsk), 257) == 257);
		CHECK_OK(mcx_sakke_rsk_validate(sk, Z, uid, 32, rsk));
		/* the same RSK for another user's UID is refused */
		CHECK(mcx_sakke_rsk_validate(sk, Z, other, 32, rsk) ==
		      MCX_ERR_SIGNATURE_INVALID);
	}
}

TEST(streamwide_ssk_pvt_validate)
{
	const char *ids[3] = { SW_GMS_USERID, SW_ALICE_USERID, SW_BOB_USERID };
	const char *ssks[3] = { SW_GMS_USERSIGNINGKEYSSK, SW_ALICE_USERSIGNINGKEYSSK,
				SW_BOB_USERSIGNINGKEYSSK };
	const char *pvts[3] = { SW_GMS_USERPUBTOKENPVT, SW_ALICE_USERPUBTOKENPVT,
				SW_BOB_USERPUBTOKENPVT };
	uint8_t kpak[65];
	REQUIRE(hexdec(SW_PUBAUTHKEY, kpak, sizeof(kpak), 65) == 65);
	for (int i = 0; i < 3; i++) {
		uint8_t uid[32], ssk[32], pvt[65];
		REQUIRE(hexdec(ids[i], uid, sizeof(uid), 32) == 32);
		REQUIRE(hexdec(ssks[i], ssk, sizeof(ssk), 32) == 32);
		REQUIRE(hexdec(pvts[i], pvt, sizeof(pvt), 65) == 65);
		CHECK_OK(mcx_eccsi_validate(ec, kpak, uid, 32, ssk, pvt));
	}
}

TEST(streamwide_i_message_sign_and_sakke)
{
	static uint8_t msg[701];
	uint8_t kpak[65], Z[257], gms[32], alice[32], rsk[257], gmk[16], ssv[16];
	REQUIRE(hexdec(SW_I_MESSAGE, msg, sizeof(msg), 0) == 701);
	REQUIRE(hexdec(SW_PUBAUTHKEY, kpak, sizeof(kpak), 65) == 65);
	REQUIRE(hexdec(SW_PUBENCKEY, Z, sizeof(Z), 257) == 257);
	REQUIRE(hexdec(SW_GMS_USERID, gms, sizeof(gms), 32) == 32);
	REQUIRE(hexdec(SW_ALICE_USERID, alice, sizeof(alice), 32) == 32);
	REQUIRE(hexdec(SW_ALICE_USERDECRYPTKEY, rsk, sizeof(rsk), 257) == 257);
	REQUIRE(hexdec(SW_GMK, gmk, sizeof(gmk), 16) == 16);
	/* ECCSI signature by the GMS over octets 0..571, signature at 572..700 */
	CHECK_OK(mcx_eccsi_verify(ec, kpak, gms, 32, msg, 572, msg + 572, 129));
	/* SAKKE payload: SED (273 octets) at 222, for Alice */
	CHECK_OK(mcx_sakke_decapsulate(sk, Z, alice, 32, rsk, msg + 222, 273, ssv));
	CHECK_MEM(ssv, gmk, 16);
	/* one changed signed octet breaks the signature */
	msg[100] ^= 0x01;
	CHECK(mcx_eccsi_verify(ec, kpak, gms, 32, msg, 572, msg + 572, 129) ==
	      MCX_ERR_SIGNATURE_INVALID);
	msg[100] ^= 0x01;
}

/* The kms-agent XML fixture: RFC KMS keys, identifier = lower-case hex text of the UID. */
TEST(streamwide_xml_fixture_hex_text_identifier)
{
	const char *hex = SW_XML_USERID;   /* already lower-case hex */
	uint8_t z[128], Z[257], rsk[257], exp[257], kpak[65], ssk[32], pvt[65], uid[32];
	REQUIRE(strlen(hex) == 64);
	REQUIRE(hexdec(V6508_z_S, z, sizeof(z), 128) == 128);
	REQUIRE(hexdec(V6508_Z_S, Z, sizeof(Z), 257) == 257);
	REQUIRE(hexdec(SW_XML_USERDECRYPTKEY, exp, sizeof(exp), 257) == 257);
	REQUIRE(hexdec(V6507_KPAK, kpak, sizeof(kpak), 65) == 65);
	REQUIRE(hexdec(SW_XML_USERSIGNINGKEYSSK, ssk, sizeof(ssk), 32) == 32);
	REQUIRE(hexdec(SW_XML_USERPUBTOKENPVT, pvt, sizeof(pvt), 65) == 65);
	REQUIRE(hexdec(hex, uid, sizeof(uid), 32) == 32);
	/* derived from the RFC 6508 master secret, the RSK matches the fixture */
	CHECK_OK(mcx_sakke_rsk_issue(sk, z, (const uint8_t *)hex, 64, rsk));
	CHECK_MEM(rsk, exp, 257);
	CHECK_OK(mcx_sakke_rsk_validate(sk, Z, (const uint8_t *)hex, 64, exp));
	CHECK_OK(mcx_eccsi_validate(ec, kpak, (const uint8_t *)hex, 64, ssk, pvt));
	/* and NOT with the 32 UID octets (the interop pitfall) */
	CHECK(mcx_sakke_rsk_validate(sk, Z, uid, 32, exp) == MCX_ERR_SIGNATURE_INVALID);
	CHECK(mcx_eccsi_validate(ec, kpak, uid, 32, ssk, pvt) == MCX_ERR_SIGNATURE_INVALID);
}

int main(void)
{
	if (mcx_sakke_params_new(&sk) != 0 || mcx_eccsi_params_new(&ec) != 0) {
		printf("FAIL - parameter set-up\n");
		return 1;
	}
	RUN(sakke_param_set_1_g_is_pairing_of_P);
	RUN(sakke_rfc6508_kms_public_key);
	RUN(sakke_rfc6508_master_generate_through_seam);
	RUN(sakke_rfc6508_rsk_issue);
	RUN(sakke_rfc6508_rsk_validate);
	RUN(sakke_rfc6508_encapsulate);
	RUN(sakke_rfc6508_encapsulated_parts);
	RUN(sakke_rfc6508_pairing_w);
	RUN(sakke_rfc6508_decapsulate);
	RUN(eccsi_rfc6507_kpak);
	RUN(eccsi_rfc6507_kms_generate_through_seam);
	RUN(eccsi_rfc6507_issue);
	RUN(eccsi_rfc6507_hs);
	RUN(eccsi_rfc6507_validate);
	RUN(eccsi_rfc6507_sign);
	RUN(eccsi_rfc6507_verify);
	RUN(uid_streamwide_cases);
	RUN(uid_streamwide_key_sets);
	RUN(uid_key_period_helper);
	RUN(streamwide_rsk_validate);
	RUN(streamwide_ssk_pvt_validate);
	RUN(streamwide_i_message_sign_and_sakke);
	RUN(streamwide_xml_fixture_hex_text_identifier);
	mcx_sakke_params_free(sk);
	mcx_eccsi_params_free(ec);
	return test_summary("crypto-vectors");
}
