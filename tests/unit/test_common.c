/*
 * Unit tests: bounded buffer, base64url, hex, UTF-8, time, error table.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdint.h>
#include <string.h>

#include "mcx/buf.h"
#include "mcx/error.h"
#include "mcx/util.h"
#include "tests/test.h"

TEST(buf_cap_is_hard)
{
	struct mcx_buf *b = mcx_buf_new(8);
	uint8_t *p = NULL;

	REQUIRE(b != NULL);
	CHECK_OK(mcx_buf_put(b, "12345678", 8));
	CHECK_EQ_INT(mcx_buf_put_u8(b, 1), MCX_ERR_NO_BUFFER_SPACE);
	CHECK_EQ_INT(mcx_buf_reserve(b, 1, &p), MCX_ERR_NO_BUFFER_SPACE);
	CHECK(p == NULL);
	CHECK_EQ_INT(mcx_buf_len(b), 8);
	/* consuming makes room again, up to the cap */
	CHECK_OK(mcx_buf_consume(b, 3));
	CHECK_OK(mcx_buf_put(b, "abc", 3));
	CHECK_EQ_INT(mcx_buf_len(b), 8);
	CHECK_MEM(mcx_buf_ptr(b), "45678abc", 8);
	CHECK(mcx_buf_new(0) == NULL);
	CHECK(mcx_buf_new(MCX_BUF_SIZE_MAX + 1) == NULL);
	mcx_buf_free(b);
}

TEST(buf_getters_are_checked)
{
	static const uint8_t wire[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07 };
	struct mcx_buf *b = mcx_buf_from(wire, sizeof(wire));
	uint8_t u8 = 0;
	uint16_t u16 = 0;
	uint32_t u32 = 0;
	uint64_t u64 = 0;

	REQUIRE(b != NULL);
	CHECK_OK(mcx_buf_get_u8(b, &u8));
	CHECK_EQ_INT(u8, 1);
	CHECK_OK(mcx_buf_get_u16(b, &u16));
	CHECK_EQ_INT(u16, 0x0203);
	CHECK_OK(mcx_buf_get_u32(b, &u32));
	CHECK_EQ_INT(u32, 0x04050607);
	/* nothing left: every getter fails without consuming */
	CHECK_EQ_INT(mcx_buf_get_u8(b, &u8), MCX_ERR_MESSAGE_INCOMPLETE);
	CHECK_EQ_INT(mcx_buf_get_u64(b, &u64), MCX_ERR_MESSAGE_INCOMPLETE);
	/* a read-only view cannot be written */
	CHECK(mcx_buf_put_u8(b, 1) != MCX_OK);
	CHECK(mcx_buf_mutable_ptr(b) == NULL);
	mcx_buf_free(b);
}

TEST(buf_put_get_roundtrip)
{
	struct mcx_buf *b = mcx_buf_new_secret(64);
	uint64_t v = 0;
	size_t off = 0;

	REQUIRE(b != NULL);
	CHECK_OK(mcx_buf_put_u64(b, 0x0102030405060708ULL));
	CHECK_OK(mcx_buf_putf(b, "x=%d\n", 42));
	CHECK_OK(mcx_buf_find_byte(b, '\n', &off));
	CHECK_EQ_INT(off, 12);
	CHECK_OK(mcx_buf_get_u64(b, &v));
	CHECK(v == 0x0102030405060708ULL);
	CHECK_EQ_INT(mcx_buf_len(b), 5);
	CHECK_MEM(mcx_buf_ptr(b), "x=42\n", 5);
	CHECK_EQ_INT(mcx_buf_find_byte(b, 'Q', &off), MCX_ERR_NOT_FOUND);
	mcx_buf_reset(b);
	CHECK_EQ_INT(mcx_buf_len(b), 0);
	mcx_buf_free(b);
}

TEST(buf_growth_across_many_puts)
{
	struct mcx_buf *b = mcx_buf_new(1 << 20);
	uint8_t chunk[1000];

	REQUIRE(b != NULL);
	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)i;
	for (int i = 0; i < 1000; i++) {
		CHECK_OK(mcx_buf_put(b, chunk, sizeof(chunk)));
		if (i % 3 == 0)
			CHECK_OK(mcx_buf_consume(b, 500));
	}
	CHECK_EQ_INT(mcx_buf_len(b), 1000 * 1000 - 334 * 500);
	mcx_buf_free(b);
}

/* What vaultd's connection buffers rely on: consumed secret bytes are zeroed in place. */
TEST(secret_buf_wipes_what_it_consumes)
{
	struct mcx_buf *b = mcx_buf_new_secret(4096);
	const uint8_t *p;
	uint8_t zero[16] = { 0 };

	REQUIRE(b != NULL);
	CHECK_OK(mcx_buf_put(b, "transport-key-16", 16));
	CHECK_OK(mcx_buf_put(b, "tail", 4));
	p = mcx_buf_ptr(b);
	CHECK_OK(mcx_buf_consume(b, 16));
	CHECK_MEM(p, zero, 16);                 /* the consumed key is gone */
	CHECK_MEM(mcx_buf_ptr(b), "tail", 4);
	CHECK_OK(mcx_buf_consume_end(b, 2));
	CHECK_MEM(p + 18, zero, 2);             /* so is a dropped end */
	mcx_buf_reset(b);
	CHECK_MEM(p + 16, zero, 2);
	mcx_buf_free(b);
}

/* mcx_buf_release: only an empty buffer above the size kept, which then grows again. */
TEST(buf_release_gives_back_and_regrows)
{
	struct mcx_buf *b = mcx_buf_new_secret(1 << 20);
	uint8_t big[8192] = { 1 };

	REQUIRE(b != NULL);
	CHECK_EQ_INT(mcx_buf_release(b, 0), 0);             /* nothing allocated */
	CHECK_OK(mcx_buf_put(b, big, sizeof(big)));
	CHECK_EQ_INT(mcx_buf_release(b, 0), 0);             /* not empty */
	CHECK_OK(mcx_buf_consume(b, sizeof(big)));
	CHECK_EQ_INT(mcx_buf_release(b, 1 << 16), 0);       /* small enough to keep */
	CHECK_EQ_INT(mcx_buf_release(b, 4096), 1);
	CHECK_EQ_INT((int)mcx_buf_len(b), 0);
	CHECK_OK(mcx_buf_put(b, "again", 5));
	CHECK_MEM(mcx_buf_ptr(b), "again", 5);
	mcx_buf_free(b);
}

/* The invariant mcx_buf_unreserve relies on: past the readable bytes of a
 * secret buffer there is nothing but zeros, from its allocation on and on
 * every path that shrinks or moves it. */
TEST(secret_buf_nothing_past_the_end)
{
	struct mcx_buf *b = mcx_buf_new_secret(1024);
	uint8_t *room = NULL, zero[600] = { 0 };
	REQUIRE(b != NULL);
	/* a reservation partly filled (as by recv), the rest given back unwiped */
	CHECK_OK(mcx_buf_reserve(b, 512, &room));
	memcpy(room, "line-one\n", 9);
	CHECK_OK(mcx_buf_unreserve(b, 512 - 9));
	CHECK_EQ_INT(mcx_buf_len(b), 9);
	CHECK_MEM(room + 9, zero, 512 - 9 < 256 ? 512 - 9 : 256);
	CHECK_EQ_INT(mcx_buf_unreserve(b, 10), MCX_ERR_MESSAGE_INCOMPLETE);
	/* a consumed line leaves zeros; a compaction that moves the rest to the
	 * front wipes where it came from */
	CHECK_OK(mcx_buf_put(b, "secret-transport-key", 20));
	CHECK_OK(mcx_buf_consume(b, 9));
	for (int i = 0; i < 30; i++)
		CHECK_OK(mcx_buf_put(b, "0123456789abcdef0123456789abcdef", 32));   /* forces growth/compaction */
	CHECK_OK(mcx_buf_consume(b, mcx_buf_len(b)));
	CHECK_EQ_INT(mcx_buf_len(b), 0);
	CHECK_OK(mcx_buf_reserve(b, 600, &room));
	CHECK_MEM(room, zero, 600);             /* nothing of the key anywhere in the reused room */
	mcx_buf_free(b);
}

/* RFC 4648 section 10 vectors, in the URL-safe alphabet without padding. */
TEST(base64url_vectors)
{
	static const struct { const char *plain, *encoded; } v[] = {
		{ "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" }, { "foob", "Zm9vYg" },
		{ "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" }, { "\xfb\xff", "-_8" },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct mcx_buf *e = mcx_buf_new(64), *d = mcx_buf_new(64);
		REQUIRE(e != NULL && d != NULL);
		CHECK_OK(mcx_base64url_encode(e, v[i].plain, strlen(v[i].plain)));
		CHECK_EQ_INT(mcx_buf_len(e), strlen(v[i].encoded));
		CHECK_MEM(mcx_buf_ptr(e), v[i].encoded, strlen(v[i].encoded));
		CHECK_OK(mcx_base64url_decode(d, v[i].encoded, strlen(v[i].encoded)));
		CHECK_EQ_INT(mcx_buf_len(d), strlen(v[i].plain));
		CHECK_MEM(mcx_buf_ptr(d), v[i].plain, strlen(v[i].plain));
		mcx_buf_free(e);
		mcx_buf_free(d);
	}
}

TEST(base64url_rejects_other_forms)
{
	static const char *const bad[] = { "Zg==", "Zm9v+A", "Zm9v/A", "Z", "Zm 9v", "Zh", "Zm9vYh" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mcx_buf *d = mcx_buf_new(64);
		REQUIRE(d != NULL);
		CHECK_EQ_INT(mcx_base64url_decode(d, bad[i], strlen(bad[i])), MCX_ERR_PARSE);
		mcx_buf_free(d);
	}
}

TEST(hex_roundtrip)
{
	struct mcx_buf *h = mcx_buf_new(64), *d = mcx_buf_new(64);

	REQUIRE(h != NULL && d != NULL);
	CHECK_OK(mcx_hex_encode(h, "\x00\xab\xff", 3));
	CHECK_MEM(mcx_buf_ptr(h), "00abff", 6);
	CHECK_OK(mcx_hex_decode(d, "00ABff", 6));
	CHECK_MEM(mcx_buf_ptr(d), "\x00\xab\xff", 3);
	CHECK_EQ_INT(mcx_hex_decode(d, "0g", 2), MCX_ERR_PARSE);
	CHECK_EQ_INT(mcx_hex_decode(d, "abc", 3), MCX_ERR_PARSE);
	mcx_buf_free(h);
	mcx_buf_free(d);
}

TEST(utf8_validation)
{
	CHECK(mcx_utf8_valid("sip:alice@a.example", 19));
	CHECK(mcx_utf8_valid("\xc3\xa9t\xc3\xa9", 5));
	CHECK(mcx_utf8_valid("\xf0\x9f\x98\x80", 4));
	CHECK(!mcx_utf8_valid("\xc3", 1));            /* truncated */
	CHECK(!mcx_utf8_valid("\xc0\xaf", 2));        /* overlong */
	CHECK(!mcx_utf8_valid("\xed\xa0\x80", 3));    /* surrogate */
	CHECK(!mcx_utf8_valid("\xff", 1));
	CHECK(!mcx_utf8_valid("a\0b", 3));
}

/* mcx_utf8_repair: what goes into JSON text is valid UTF-8, valid input is kept */
TEST(utf8_repair)
{
	char ok[] = "sip:\xc3\xa9t\xc3\xa9@a.example \xf0\x9f\x98\x80";
	char cut[] = "caller may not sign as 'sip:\xc3\xa9\xc3";      /* cut inside a character */
	char raw[] = "invalid escape near '\"js\\\xce\x92\xff\xc0\xaf'";
	char copy[sizeof(ok)];

	memcpy(copy, ok, sizeof(ok));
	mcx_utf8_repair(ok);
	CHECK_EQ_STR(ok, copy);
	mcx_utf8_repair(cut);
	CHECK_EQ_STR(cut, "caller may not sign as 'sip:\xc3\xa9?");
	mcx_utf8_repair(raw);
	CHECK(mcx_utf8_valid(raw, strlen(raw)));
	CHECK_EQ_STR(raw, "invalid escape near '\"js\\\xce\x92?\?\?'");   /* \? : no trigraph */
	mcx_utf8_repair(NULL);
}

TEST(time_format_and_parse)
{
	char text[21];
	int64_t t = 0;

	mcx_time_format(1763919840, text);
	CHECK_EQ_STR(text, "2025-11-23T17:44:00Z");
	CHECK_OK(mcx_time_parse("2025-11-23T17:44:00Z", &t));
	CHECK_EQ_INT(t, 1763919840);
	CHECK_OK(mcx_time_parse("2025-11-23T17:44:00.250Z", &t));
	CHECK_EQ_INT(mcx_time_parse("2025-11-23T17:44:00+01:00", &t), MCX_ERR_PARSE);
	CHECK_EQ_INT(mcx_time_parse("yesterday", &t), MCX_ERR_PARSE);
}

TEST(error_table_is_complete)
{
	for (int e = MCX_ERR_MAX; e <= 0; e++) {
		CHECK(strcmp(mcx_strerror(e), "unknown error") != 0);
		CHECK(strcmp(mcx_error_name(e), "MCX_ERR_UNKNOWN") != 0);
	}
	CHECK_EQ_INT(mcx_error_rpc_code(MCX_ERR_PERMISSION_DENIED), -32001);
	CHECK_EQ_INT(mcx_error_rpc_code(MCX_ERR_NOT_FOUND), -32002);
	CHECK_EQ_INT(mcx_error_rpc_code(MCX_ERR_EXISTS), -32003);
	CHECK_EQ_INT(mcx_error_rpc_code(MCX_ERR_HSM_UNAVAILABLE), -32004);
	CHECK_EQ_INT(mcx_error_rpc_code(MCX_ERR_POLICY_DENIED), -32005);
	CHECK_EQ_INT(mcx_error_rpc_code(MCX_ERR_KEY_STATE), -32006);
	CHECK_EQ_INT(mcx_error_rpc_code(MCX_ERR_PARSE), -32700);
	CHECK_EQ_INT(mcx_error_rpc_code(MCX_ERR_METHOD_NOT_FOUND), -32601);
	CHECK_EQ_INT(mcx_error_rpc_code(-999), -32603);
}

TEST(consttime_compare)
{
	CHECK_EQ_INT(mcx_memcmp_consttime("abcd", "abcd", 4), 0);
	CHECK(mcx_memcmp_consttime("abcd", "abce", 4) != 0);
}

int main(void)
{
	RUN(buf_cap_is_hard);
	RUN(buf_getters_are_checked);
	RUN(buf_put_get_roundtrip);
	RUN(buf_growth_across_many_puts);
	RUN(secret_buf_wipes_what_it_consumes);
	RUN(buf_release_gives_back_and_regrows);
	RUN(secret_buf_nothing_past_the_end);
	RUN(base64url_vectors);
	RUN(base64url_rejects_other_forms);
	RUN(hex_roundtrip);
	RUN(utf8_validation);
	RUN(utf8_repair);
	RUN(time_format_and_parse);
	RUN(error_table_is_complete);
	RUN(consttime_compare);
	return test_summary("unit-common");
}
