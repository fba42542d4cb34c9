/*
 * mcxvault — MIKEY-SAKKE I_MESSAGE for group keys (GMK): build, strict parse,
 * ECCSI verification and SAKKE decapsulation.
 *
 *   3GPP TS 33.180 clause 5.2.x / Annex E (MIKEY-SAKKE for MC group keys),
 *   Annex F.1.3 (GUK-ID), RFC 6509 (MIKEY-SAKKE), RFC 3830 (MIKEY),
 *   RFC 6043 (GENERIC-ID map, IDR payload).
 *
 * The wire layout is the one of the published Streamwide GMK I_MESSAGE
 * (docs/mikey.md has the octet map):
 *
 *   HDR   version 1, data type 26 (SAKKE), PRF 1, CSB-ID = GUK-ID, #CS 1,
 *         CS ID map type 2 (GENERIC-ID): CS ID 4, prot type 0 (SRTP),
 *         policy 0, no session data, SPI = GMK-ID || GUK-ID (8 octets)
 *   T     NTP-UTC, 64 bits
 *   RAND  16 octets
 *   IDR   the sender's and the member's identities, as chosen per message
 *         (enum mcx_mikey_identities): role 1/2 (IDRi/IDRr, the MC service
 *         IDs, TS 33.180 E.2) and/or role 8/9 (IDRuidi/IDRuidr, their UIDs,
 *         the identity hiding of TS 33.180 E.7); then role 6 (IDRkmsi, the
 *         sender's KMS URI), role 7 (IDRkmsr, the member's KMS URI)
 *   SP    SRTP policy (AES-128-GCM), as in the published example
 *   SAKKE params 1, ID scheme 2, 273 octets of SED (SSV = GMK)
 *   GENERAL-EXT type 7 (TS 33.180 E.6 key parameters, AES-128-GCM under
 *         DPCK = KDF(GMK, FC 0x53, P0 = CSB-ID)), optional
 *   SIGN  type 2 (ECCSI), 129 octets, over every octet before the signature
 *
 * Results: 0, MCX_ERR_INVALID_ARGUMENT (bad caller input; message not
 * addressed to this member or not from this sender), MCX_ERR_MESSAGE_INCOMPLETE
 * (message truncated), MCX_ERR_PARSE (malformed, unknown or out-of-order
 * payload, trailing octets), MCX_ERR_SIGNATURE_INVALID (ECCSI signature,
 * SAKKE integrity check or key-parameter authentication failed),
 * MCX_ERR_NO_BUFFER_SPACE, MCX_ERR_ALLOC, MCX_ERR_CRYPTO.
 *
 * Secrets (GMK, SSK, RSK) are never copied anywhere but the caller's output
 * and locals that are wiped before return.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef MCX_MIKEY_H
#define MCX_MIKEY_H

#include <stddef.h>
#include <stdint.h>

#include "mcx/buf.h"
#include "mcx/eccsi.h"
#include "mcx/safety.h"
#include "mcx/sakke.h"

#define MCX_MIKEY_GMK_LEN   16
#define MCX_MIKEY_RAND_LEN  16
#define MCX_MIKEY_UID_LEN   32
#define MCX_MIKEY_MSG_MAX   8192   /* no I_MESSAGE we build or accept is longer */
#define MCX_MIKEY_ID_MAX    1024   /* longest IDR value accepted */

/* Purpose tag: the 4 most significant bits of a key id (TS 33.180 clause 5). */
#define MCX_MIKEY_PURPOSE(key_id)   ((uint32_t)(key_id) >> 28)
#define MCX_MIKEY_PURPOSE_GMK   0u
#define MCX_MIKEY_PURPOSE_PCK   1u
#define MCX_MIKEY_PURPOSE_CSK   2u
#define MCX_MIKEY_PURPOSE_SPK   3u
#define MCX_MIKEY_PURPOSE_MKFC  4u
#define MCX_MIKEY_PURPOSE_MSCCK 5u

/* IDR roles (RFC 6043, RFC 6509, TS 33.180). */
#define MCX_MIKEY_ROLE_IDRI     1
#define MCX_MIKEY_ROLE_IDRR     2
#define MCX_MIKEY_ROLE_IDRKMSI  6
#define MCX_MIKEY_ROLE_IDRKMSR  7
#define MCX_MIKEY_ROLE_IDRUIDI  8
#define MCX_MIKEY_ROLE_IDRUIDR  9

/* TS 33.180 E.6 key parameters (the plaintext of GENERAL-EXT type 7). */
#define MCX_MIKEY_KEY_STATUS_NOT_REVOKED   0x00000001u
#define MCX_MIKEY_KEY_STATUS_GATEWAY       0x00000002u
#define MCX_MIKEY_TEXT_MAX       256
#define MCX_MIKEY_GROUP_IDS_MAX  256
struct mcx_mikey_key_params {
	uint8_t key_type;             /* the purpose tag: MCX_MIKEY_PURPOSE_* */
	uint32_t status;              /* MCX_MIKEY_KEY_STATUS_* bits */
	uint64_t activation_time;     /* 40-bit field (as published); 0 = now */
	uint64_t expiry_time;         /* 40-bit field; 0 = none */
	size_t text_len;              /* <= MCX_MIKEY_TEXT_MAX */
	char text[MCX_MIKEY_TEXT_MAX + 1];             /* NUL-terminated */
	size_t group_ids_len;         /* the MC group IDs field (opaque) */
	uint8_t group_ids[MCX_MIKEY_GROUP_IDS_MAX];    /* empty = one octet 0 */
};

/*
 * Which identities of the sender and the member an I_MESSAGE carries.
 *
 * TS 33.180 E.2 (GMK distribution) has IDRi carry the GMS's and IDRr the
 * member's MC service ID, plus IDRkmsi and IDRkmsr (as TS 33.179 E.2 put it:
 * "The IDRi payload shall contain the MCPTT identifier associated with the
 * group management server. The IDRr payload shall contain the MCPTT ID
 * associated to the group management client. The message shall also include
 * IDRkmsi and IDRkmsr"), and its NOTE allows hiding them by E.7.  E.7 (hiding
 * identities): "The sensitive MC Service user ID in the IDRr or IDRi field is
 * replaced with the UID generated from the MC Service user ID as defined in
 * clause F.2.1 ... the 'role' of the IDRr field is replaced with a role of
 * IDRuidr ... IDRuidi" (roles 8 and 9, RFC 6043 registry).  RFC 6509's
 * I_MESSAGE is HDR, T, RAND, [IDRi], [IDRr], [IDRkmsi], [IDRkmsr], [CERT],
 * {SP}, SAKKE, SIGN: IDRi/IDRr name initiator and responder, the IDRkms pair
 * their KMSs (RFC 6043 s.6.6 roles 1, 2, 6, 7).
 *
 *   MCX_MIKEY_IDS_UID   IDRuidi, IDRuidr (E.7; the published interop message).
 *                       The default (zero): MC service IDs never travel in
 *                       clear through the SIP core, and it is what existing
 *                       members of a vault GMS already receive.
 *   MCX_MIKEY_IDS_URI   IDRi, IDRr with the MC service IDs (the plain E.2 form)
 *   MCX_MIKEY_IDS_BOTH  IDRi, IDRr, IDRuidi, IDRuidr (for members that match
 *                       on either; hides nothing)
 */
enum mcx_mikey_identities {
	MCX_MIKEY_IDS_UID = 0,
	MCX_MIKEY_IDS_URI = 1,
	MCX_MIKEY_IDS_BOTH = 2,
};
/* "uid" / "uri" / "both" <-> the enum; parse: 0 or MCX_ERR_INVALID_ARGUMENT. */
const char *mcx_mikey_identities_name(enum mcx_mikey_identities ids);
MCX_RESULT mcx_mikey_identities_parse(const char *name, enum mcx_mikey_identities *ids);

/* Everything needed to build one member's I_MESSAGE. */
struct mcx_mikey_gmk_input {
	uint32_t gmk_id;                    /* purpose tag (4 MSB) || 28-bit id */
	uint32_t guk_id;                    /* from mcx_mikey_guk_id() */
	const uint8_t *gmk;                 /* MCX_MIKEY_GMK_LEN */
	const char *sender_uri, *sender_kms_uri;   /* IDRi, IDRkmsi (NUL-terminated) */
	const char *member_uri, *member_kms_uri;   /* IDRr, IDRkmsr */
	const uint8_t *member_uid;          /* 32-octet UID (SAKKE identifier b) */
	const uint8_t *member_kms_z;        /* MCX_SAKKE_POINT_LEN: the member's KMS PubEncKey */
	const uint8_t *sender_uid;          /* 32-octet UID (ECCSI ID) */
	const uint8_t *sender_kpak;         /* MCX_ECCSI_POINT_LEN */
	const uint8_t *sender_ssk;          /* MCX_ECCSI_SCALAR_LEN (secret) */
	const uint8_t *sender_pvt;          /* MCX_ECCSI_POINT_LEN */
	uint64_t ntp_time;                  /* T payload, NTP-UTC 64-bit */
	/*
	 * Optional (zero = the published form):
	 *   identities       which IDR payloads name the sender and the member
	 *                    (above); URI modes need sender_uri and member_uri;
	 *   omit_key_params  no GENERAL-EXT payload (minimal form);
	 *   key_params       the GENERAL-EXT plaintext; NULL = key type from the
	 *                    purpose tag of gmk_id, status NOT_REVOKED, times 0,
	 *                    no text, no group IDs (the published values);
	 *   rand             MCX_MIKEY_RAND_LEN octets of RAND; NULL = drawn from
	 *                    rnd.  A GMS passes mcx_mikey_group_rand(): every
	 *                    member must derive the same SRTP keys for a sender,
	 *                    and TS 33.180 7.4.2 puts the RAND of the member's
	 *                    own I_MESSAGE into that derivation.
	 */
	enum mcx_mikey_identities identities;
	int omit_key_params;
	const struct mcx_mikey_key_params *key_params;
	const uint8_t *rand;
	/*
	 * Optional: a context made by mcx_sakke_public_new() from member_kms_z
	 * (the caller guarantees it is the same Z).  A caller that sends to many
	 * members of one KMS builds it once; NULL = the byte API with params'
	 * small cache.
	 */
	const struct mcx_sakke_public *member_kms_pub;
};

/*
 * Builds the I_MESSAGE for one member and appends it to out.  From rnd (NULL =
 * RAND_priv_bytes), in this order: RAND (16, unless in->rand), the
 * key-parameter IV (16, unless omitted), the ECCSI j.  SAKKE is deterministic in (GMK, UID, Z).
 * Requires gmk_id/guk_id to carry the same purpose tag; when member_uri is
 * given, guk_id must equal mcx_mikey_guk_id(gmk, gmk_id, member_uri) (else
 * MCX_ERR_INVALID_ARGUMENT).  Nothing is appended on failure
 * (MCX_ERR_NO_BUFFER_SPACE if out cannot take the whole message).
 */
MCX_RESULT mcx_mikey_gmk_build(const struct mcx_sakke_params *sakke,
			       const struct mcx_eccsi_params *eccsi,
			       const struct mcx_mikey_gmk_input *in,
			       mcx_random_fn rnd, void *rnd_ctx, struct mcx_buf *out);

/* One IDR payload: data points into the message, NOT NUL-terminated. */
struct mcx_mikey_id {
	int present;
	uint8_t type;            /* ID type: 1 = URI, 2 = byte string */
	const uint8_t *data;
	size_t len;
};

/* A parsed I_MESSAGE; every pointer points into the parsed octets. */
struct mcx_mikey_i_message {
	const uint8_t *msg;      /* the whole message */
	size_t msg_len;
	/* HDR */
	uint8_t version;         /* 1 */
	uint8_t data_type;       /* 26: SAKKE message */
	uint8_t v_bit;           /* 0 */
	uint8_t prf_func;        /* 0 (MIKEY-1) or 1 (PRF-HMAC-SHA-256) */
	uint32_t csb_id;         /* = GUK-ID */
	uint8_t cs_count;        /* #CS, >= 1 */
	uint8_t cs_id_map_type;  /* 2: GENERIC-ID */
	uint8_t cs_id;           /* first CS */
	uint8_t cs_prot_type;    /* 0: SRTP */
	const uint8_t *spi;      /* first CS's SPI/MKI */
	size_t spi_len;          /* 4 (key id) or 8 (GMK-ID || GUK-ID) */
	uint32_t gmk_id;         /* SPI[0..4) */
	uint32_t guk_id;         /* SPI[4..8), or csb_id when spi_len == 4 */
	/* T */
	uint8_t ts_type;         /* 0 NTP-UTC, 1 NTP, 2 COUNTER */
	uint64_t ts;
	/* RAND */
	const uint8_t *rand;
	size_t rand_len;         /* >= 16 */
	/* IDR */
	struct mcx_mikey_id idri, idrr, idrkmsi, idrkmsr, idruidi, idruidr;
	/* SP (optional) */
	int sp_present;
	uint8_t sp_policy_no, sp_prot_type;
	const uint8_t *sp_params;
	size_t sp_params_len;
	/* SAKKE */
	uint8_t sakke_params;    /* 1 */
	uint8_t sakke_id_scheme; /* 2 */
	const uint8_t *sed;
	size_t sed_len;          /* MCX_SAKKE_ENCAP_LEN */
	/* GENERAL-EXT type 7 (optional): TS 33.180 E.6 protected key parameters */
	int kp_present;
	uint8_t kp_msg_type;     /* 0x43 in the published example */
	uint64_t kp_date_time;   /* 40 bits */
	uint32_t kp_payload_id;
	uint8_t kp_seq;
	uint8_t kp_alg;          /* 1: AEAD_AES_128_GCM */
	const uint8_t *kp_iv;    /* 16 octets */
	uint32_t kp_dppk_id;     /* = CSB-ID */
	const uint8_t *kp_ad;    /* start of the GENERAL-EXT data */
	const uint8_t *kp_ct;    /* ciphertext || 16-octet tag */
	size_t kp_ct_len;
	/* SIGN */
	uint8_t sig_type;        /* 2: ECCSI */
	const uint8_t *sig;
	size_t sig_len;          /* MCX_ECCSI_SIG_LEN */
	size_t signed_len;       /* octets 0..signed_len-1 are signed */
};

/*
 * Strict parse: every length checked against the rest of the message, payloads
 * in the RFC 6509 order (HDR, T, RAND, IDR*, [SP], SAKKE, [GENERAL-EXT 7],
 * SIGN), each IDR role at most once, unknown payload/ID/extension types,
 * inconsistent CSB-ID/SPI and trailing octets rejected.  Nothing is copied.
 */
MCX_RESULT mcx_mikey_parse(const uint8_t *msg, size_t len,
			   struct mcx_mikey_i_message *out);

/*
 * ECCSI verification of the SIGN payload over octets 0..signed_len-1 with the
 * sender's KPAK and UID.  If the message carries IDRuidi it must equal
 * sender_uid (else MCX_ERR_SIGNATURE_INVALID).  IDRi is not compared: use
 * mcx_mikey_verify_sender() when the message may name the sender by URI.
 */
MCX_RESULT mcx_mikey_verify(const struct mcx_eccsi_params *eccsi,
			    const struct mcx_mikey_i_message *m,
			    const uint8_t *sender_kpak, const uint8_t *sender_uid);

/*
 * SAKKE decapsulation of the SED with the member's KMS key Z, UID and RSK:
 * the GMK (= SSV).  If the message carries IDRuidr it must equal member_uid
 * (else MCX_ERR_INVALID_ARGUMENT).  If GENERAL-EXT type 7 is present its
 * AES-GCM tag is checked too.  gmk is zeroed on failure.  Call
 * mcx_mikey_verify() first: an unverified message is attacker-controlled.
 */
MCX_RESULT mcx_mikey_decapsulate(const struct mcx_sakke_params *sakke,
				 const struct mcx_mikey_i_message *m,
				 const uint8_t *member_kms_z, const uint8_t *member_uid,
				 const uint8_t *member_rsk,
				 uint8_t gmk[MCX_MIKEY_GMK_LEN]);

/*
 * The same two checks for a member whatever identities the message carries
 * (MCX_MIKEY_IDS_UID, _URI or _BOTH): uid is the ECCSI/SAKKE identifier and
 * always required; uri (NUL-terminated MC service ID) is required when the
 * message carries IDRi (verify) or IDRr (decapsulate).  Every identity the
 * message carries must match: IDRi = sender_uri and IDRuidi = sender_uid
 * (else MCX_ERR_SIGNATURE_INVALID), IDRr = member_uri and IDRuidr =
 * member_uid (else MCX_ERR_INVALID_ARGUMENT: not addressed to this member).
 * TS 33.180 5.2.6: "the receiving entity should recognise the receiver UID in
 * the packet. If not, the I_MESSAGE shall be rejected."
 */
MCX_RESULT mcx_mikey_verify_sender(const struct mcx_eccsi_params *eccsi,
				   const struct mcx_mikey_i_message *m,
				   const uint8_t *sender_kpak, const uint8_t *sender_uid,
				   const char *sender_uri);
MCX_RESULT mcx_mikey_decapsulate_member(const struct mcx_sakke_params *sakke,
					const struct mcx_mikey_i_message *m,
					const uint8_t *member_kms_z, const uint8_t *member_uid,
					const char *member_uri, const uint8_t *member_rsk,
					uint8_t gmk[MCX_MIKEY_GMK_LEN]);

/* Which identities a parsed message carries (for logs and policy). */
enum mcx_mikey_identities mcx_mikey_identities_of(const struct mcx_mikey_i_message *m);

/* Decrypts and parses the GENERAL-EXT type 7 key parameters with the GMK. */
MCX_RESULT mcx_mikey_key_params_open(const struct mcx_mikey_i_message *m,
				     const uint8_t gmk[MCX_MIKEY_GMK_LEN],
				     struct mcx_mikey_key_params *out);

/*
 * TS 33.180 F.1.3: User Salt = 28 LSB of KDF(GMK, FC = 0x50, P0 = the
 * member's MC service ID (URI)) (TS 33.220 Annex B KDF: HMAC-SHA-256(key,
 * FC || P0 || L0), 28 least significant bits of the output);
 * GUK-ID = (GMK-ID purpose tag, 4 MSB) || ((GMK-ID XOR User Salt) 28 LSB).
 */
MCX_RESULT mcx_mikey_guk_id(const uint8_t gmk[MCX_MIKEY_GMK_LEN], uint32_t gmk_id,
			    const char *member_uri, uint32_t *guk_id);
/* The inverse, used by a client: GMK-ID from GUK-ID (same salt). */
MCX_RESULT mcx_mikey_gmk_id_from_guk_id(const uint8_t gmk[MCX_MIKEY_GMK_LEN],
					uint32_t guk_id, const char *member_uri,
					uint32_t *gmk_id);

/*
 * The RAND a GMS puts into every member's I_MESSAGE of one key: the first 16
 * octets of HMAC-SHA-256(key, "mcxvault group RAND v1" || key id).  One value
 * per key (not per member) because TS 33.180 7.4.2 derives the SRTP master
 * key from "the MIKEY RAND value transmitted in the MIKEY message used to
 * distribute the GMK", and a receiver derives a sender's key with its own
 * message's RAND; deterministic so that a late joiner, sent its message in
 * another request, gets the same RAND without the vault storing it.  RAND is
 * public (RFC 3830 s.4.1.3 needs only that it be fresh per TGK): a PRF output
 * under the 128-bit key reveals nothing of the key.
 */
MCX_RESULT mcx_mikey_group_rand(const uint8_t key[MCX_MIKEY_GMK_LEN], uint32_t key_id,
				uint8_t rand[MCX_MIKEY_RAND_LEN]);

/* ---- per-sender SRTP master keys (TS 33.180 7.4.2, RFC 3830 s.4.1.3) ----- */

/*
 * RFC 3830 s.4.1.2 PRF(inkey, label) with the P function of HMAC-SHA-1
 * (prf_func 0, MIKEY-1) or of HMAC-SHA-256 (prf_func 1, PRF-HMAC-SHA-256 of
 * RFC 6043 s.6.1): inkey cut into 256-bit pieces s_1..s_n, PRF = P(s_1,
 * label, m) XOR .. XOR P(s_n, label, m), P(s, label, m) = HMAC(s, A_1 ||
 * label) || .. || HMAC(s, A_m || label), A_0 = label, A_i = HMAC(s, A_i-1),
 * truncated to out_len octets.  out_len <= 64, label_len <= 512.
 */
MCX_RESULT mcx_mikey_prf(unsigned prf_func, const uint8_t *inkey, size_t inkey_len,
			 const uint8_t *label, size_t label_len, uint8_t *out, size_t out_len);

/* Table E.1.3-1 crypto session IDs of group media. */
#define MCX_MIKEY_CS_MCPTT_GROUP   4
#define MCX_MIKEY_CS_MCVIDEO_GROUP 5

#define MCX_MIKEY_SRTP_KEY_LEN   16   /* AEAD_AES_128_GCM master key (TS 33.180 7.5) */
#define MCX_MIKEY_SRTP_SALT_LEN  12   /* and master salt (RFC 7714 s.12) */
#define MCX_MIKEY_MKI_LEN         8   /* GMK-ID || GUK-ID */

/* One sender's SRTP crypto context material (key and salt are secret). */
struct mcx_mikey_srtp_keys {
	uint32_t gmk_id;
	uint32_t guk_id;                              /* the sender's */
	uint8_t master_key[MCX_MIKEY_SRTP_KEY_LEN];
	uint8_t master_salt[MCX_MIKEY_SRTP_SALT_LEN];
	uint8_t mki[MCX_MIKEY_MKI_LEN];               /* GMK-ID || GUK-ID, big-endian */
};

/*
 * TS 33.180 7.4.2: "the GMK for the group shall be used as the MIKEY Traffic
 * Generating Key (TGK) and the (derived) GUK-ID shall be used as the MIKEY
 * CSB ID. The MIKEY RAND shall be the MIKEY RAND value transmitted in the
 * MIKEY message used to distribute the GMK. The CS-ID value is defined in
 * Table E.1.3-1."  RFC 3830 s.4.1.3: label = constant || cs_id (8 bits) ||
 * csb_id (32 bits) || RAND, constant 0x2AD01C64 for the TEK (the SRTP master
 * key) and 0x39A2C14B for the salting key (the SRTP master salt).  MKI =
 * GMK-ID || GUK-ID (64 bits), so a receiver finds the sender's context from
 * the MKI of each SRTP packet.
 *
 * Every member sends under its own GUK-ID, so two senders' key streams stay
 * apart even when their random SSRCs collide (TR 33.880 key issue 3.2) --
 * unless their 28-bit GUK-IDs collide too: two of n members share one with
 * probability about n^2 / 2^29 (docs/mikey.md, "The limit").
 *
 * mcx_mikey_media_keys: the context of the sender whose GUK-ID is guk_id
 * (from the MKI of a received packet, or mcx_mikey_guk_id() of a URI).
 * guk_id must carry gmk_id's purpose tag.  rand_len >= 16.
 */
MCX_RESULT mcx_mikey_media_keys(unsigned prf_func, const uint8_t gmk[MCX_MIKEY_GMK_LEN],
				uint32_t gmk_id, uint32_t guk_id, uint8_t cs_id,
				const uint8_t *rand, size_t rand_len,
				struct mcx_mikey_srtp_keys *out);
/*
 * The same from a member's own I_MESSAGE (verified and decapsulated: gmk is
 * what it carried): GMK-ID, RAND, CS ID and PRF come from the message, and its
 * CSB-ID must be own_uri's GUK-ID for that GMK (else MCX_ERR_INVALID_ARGUMENT:
 * the message was not made for this MC service ID, or gmk is not its key).
 *
 * _own:  the member's own sending context (its own GUK-ID).
 * _peer: the context of the sender of a received SRTP packet, from the
 *        packet's MKI (GMK-ID || GUK-ID); the GMK-ID must be the message's
 *        (else MCX_ERR_NOT_FOUND: another key).  Every member of the group
 *        derives the same context for one sender, because the GMS sends all
 *        of them the same RAND (mcx_mikey_group_rand).
 * out is zeroed on failure.
 */
MCX_RESULT mcx_mikey_media_keys_own(const struct mcx_mikey_i_message *m,
				    const uint8_t gmk[MCX_MIKEY_GMK_LEN], const char *own_uri,
				    struct mcx_mikey_srtp_keys *out);
MCX_RESULT mcx_mikey_media_keys_peer(const struct mcx_mikey_i_message *m,
				     const uint8_t gmk[MCX_MIKEY_GMK_LEN], const char *own_uri,
				     const uint8_t *mki, size_t mki_len,
				     struct mcx_mikey_srtp_keys *out);
/* Splits an SRTP MKI (8 octets) into GMK-ID and GUK-ID; MCX_ERR_PARSE if the
 * length is not 8 or the purpose tags differ. */
MCX_RESULT mcx_mikey_mki_parse(const uint8_t *mki, size_t mki_len, uint32_t *gmk_id,
			       uint32_t *guk_id);

#endif /* MCX_MIKEY_H */
