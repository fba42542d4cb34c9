/*
 * Unit tests of the configuration loader: every error names file, line and
 * reason; unknown settings and unsafe values are refused.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcx/error.h"
#include "tests/test.h"
#include "vault/daemon/config.h"
#include "vault/daemon/vault.h"

static char config_path[64];

static void write_config(const char *text)
{
	FILE *f = fopen(config_path, "w");
	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

#define BASE_SERVER "server = { socket = \"/tmp/x.sock\"; };\n"
#define BASE_HSM "hsm = { module = \"softhsm2\"; token = \"pkcs11:token=t\"; };\n"
#define BASE_DOMAINS "domains = ( { name = \"a.example\"; kms_uri = \"kms.a.example\"; } );\n"

/* Loads text; returns the error message (malloc'ed) or NULL when it loaded. */
static char *load(const char *text, struct vault_config **out)
{
	struct vault_config *c = NULL;
	char *error = NULL;

	write_config(text);
	if (vault_config_load(config_path, &c, &error) == MCX_OK) {
		if (out != NULL)
			*out = c;
		else
			vault_config_free(c);
		free(error);
		return NULL;
	}
	return error != NULL ? error : strdup("(no message)");
}

static void expect_error(const char *text, int line, const char *reason)
{
	char *error = load(text, NULL), where[96];

	if (error == NULL) {
		printf("  loaded, expected an error \"%s\"\n", reason);
		test_current_failed = 1;
		return;
	}
	snprintf(where, sizeof(where), "%s:%d: ", config_path, line);
	if (strncmp(error, where, strlen(where)) != 0 || strstr(error, reason) == NULL) {
		printf("  got \"%s\", expected \"%s...%s\"\n", error, where, reason);
		test_current_failed = 1;
	}
	free(error);
}

TEST(valid_config_with_defaults)
{
	struct vault_config *c = NULL;
	char *error = load(BASE_SERVER BASE_HSM BASE_DOMAINS
	                   "access = ( { uid = 0; roles = [\"admin\", \"signer\"]; },\n"
	                   "           { gid = 0; roles = [\"auditor\"]; domains = [\"a.example\"]; } );\n",
	                   &c);

	CHECK(error == NULL);
	free(error);
	REQUIRE(c != NULL);
	CHECK_EQ_INT(c->socket_mode, 0660);
	CHECK_EQ_INT(c->max_request_bytes, 1048576);
	CHECK_EQ_INT(c->workers, 2);
	CHECK_EQ_INT(c->idle_timeout, 300);
	CHECK_EQ_INT(c->access_count, 2);
	CHECK_EQ_INT(c->access[0].roles, VAULT_ROLE_ADMIN | VAULT_ROLE_SIGNER);
	CHECK_EQ_INT(c->domain_count, 1);
	CHECK_EQ_INT(c->domains[0].user_key_period, 2592000);
	CHECK(vault_config_domain(c, "a.example") != NULL);
	CHECK(vault_config_domain(c, "b.example") == NULL);
	/* no keys group: today's behaviour, key.retire destroys at once */
	CHECK_EQ_INT(c->keys_destroy_delay, 0);
	CHECK_EQ_INT(c->keys_warn_age, 0);
	CHECK_EQ_INT(c->keys_cert_warn, 0);
	vault_config_free(c);
}

TEST(keys_group)
{
	struct vault_config *c = NULL;
	char *error = load(BASE_SERVER BASE_HSM BASE_DOMAINS
	                   "keys = { destroy_delay = 2592000; warn_age = 31536000; cert_warn = 86400; };\n", &c);

	CHECK(error == NULL);
	free(error);
	REQUIRE(c != NULL);
	CHECK_EQ_INT(c->keys_destroy_delay, 2592000);
	CHECK_EQ_INT(c->keys_warn_age, 31536000);
	CHECK_EQ_INT(c->keys_cert_warn, 86400);
	vault_config_free(c);
	expect_error(BASE_SERVER BASE_HSM BASE_DOMAINS "keys = { destroy_delay = -1; };\n", 4,
	             "'destroy_delay' must be between 0 and");
	expect_error(BASE_SERVER BASE_HSM BASE_DOMAINS "keys = { warn_age = \"1y\"; };\n", 4,
	             "'warn_age' must be an integer");
	expect_error(BASE_SERVER BASE_HSM BASE_DOMAINS "keys = { destroy_after = 5; };\n", 4, "destroy_after");
	expect_error(BASE_SERVER BASE_HSM BASE_DOMAINS "keys = 5;\n", 4, "'keys' must be a group");
}

TEST(access_roles_and_domain_scope)
{
	struct vault_config *c = NULL;
	struct vault_caller root = { .uid = 0, .gid = 0, .groups = { 0 }, .group_count = 1 };
	struct vault_caller stranger = { .uid = 4242, .gid = 4242, .groups = { 4242 }, .group_count = 1 };
	struct vault_caller member = { .uid = 4243, .gid = 4243, .groups = { 4243, 777 }, .group_count = 2 };
	char *error = load(BASE_SERVER BASE_HSM
	                   "domains = ( { name = \"a.example\"; kms_uri = \"k.a\"; },"
	                   " { name = \"b.example\"; kms_uri = \"k.b\"; } );\n"
	                   "access = ( { uid = 0; roles = [\"admin\"]; },\n"
	                   "           { uid = 0; roles = [\"signer\"]; domains = [\"b.example\"]; },\n"
	                   "           { gid = 777; roles = [\"kms\"]; domains = [\"a.example\"]; } );\n",
	                   &c);

	CHECK(error == NULL);
	free(error);
	REQUIRE(c != NULL);
	CHECK_EQ_INT(vault_access_roles(c, &root, "a.example"), VAULT_ROLE_ADMIN);
	CHECK_EQ_INT(vault_access_roles(c, &root, "b.example"), VAULT_ROLE_ADMIN | VAULT_ROLE_SIGNER);
	CHECK_EQ_INT(vault_access_roles(c, &stranger, NULL), 0);
	CHECK_EQ_INT(vault_access_roles(c, &stranger, "a.example"), 0);
	/* a supplementary group counts */
	CHECK_EQ_INT(vault_access_roles(c, &member, "a.example"), VAULT_ROLE_KMS);
	CHECK_EQ_INT(vault_access_roles(c, &member, "b.example"), 0);
	vault_config_free(c);
}

TEST(errors_name_file_line_and_reason)
{
	expect_error(BASE_SERVER BASE_HSM "domains = ( { name = = \"x\"; } );\n", 3,
	             "syntax error");
	expect_error(BASE_SERVER BASE_HSM "acess = ( );\n", 3, "unknown setting 'acess'");
	expect_error("server = {\n socket = \"/tmp/x\";\n socket_mode = \"0666\";\n};\n" BASE_HSM, 3,
	             "world-writable");
	expect_error("server = {\n socket = \"/tmp/x\";\n socket_mode = \"rw\";\n};\n" BASE_HSM, 3, "octal");
	expect_error("server = {\n socket = \"/tmp/x\";\n workers = 0;\n};\n" BASE_HSM, 3,
	             "'workers' must be between 1 and 64");
	expect_error("server = {\n socket = \"/tmp/x\";\n workers = \"two\";\n};\n" BASE_HSM, 3,
	             "'workers' must be an integer");
	expect_error(BASE_SERVER BASE_HSM BASE_DOMAINS "access = ( { uid = 0; roles = [\"god\"]; } );\n", 4,
	             "unknown role 'god'");
	expect_error(BASE_SERVER BASE_HSM BASE_DOMAINS
	             "access = ( { uid = 0; roles = [\"admin\"]; domains = [\"z.example\"]; } );\n",
	             4, "unknown domain 'z.example'");
	expect_error(BASE_SERVER BASE_HSM BASE_DOMAINS "access = ( { uid = 0; gid = 0; roles = [\"admin\"]; } );\n",
	             4, "exactly one of uid, user, gid, group");
	expect_error(BASE_SERVER BASE_HSM BASE_DOMAINS "access = ( { user = \"no-such-user-xyz\"; roles = [\"admin\"]; } );\n",
	             4, "unknown user");
	expect_error(BASE_SERVER BASE_HSM "domains = ( { name = \"A_B\"; kms_uri = \"k\"; } );\n", 3,
	             "invalid domain name");
	expect_error(BASE_SERVER BASE_HSM
	             "domains = ( { name = \"a.example\"; kms_uri = \"k\"; },\n { name = \"a.example\"; kms_uri = \"k\"; } );\n",
	             4, "defined twice");
	expect_error(BASE_SERVER "hsm = {\n module = \"softhsm2\";\n token = \"mcx-vault\";\n};\n", 4,
	             "RFC 7512");
	{
		char *error = load(BASE_HSM, NULL), want[96];
		snprintf(want, sizeof(want), "%s: missing group 'server'", config_path);
		CHECK(error != NULL && strcmp(error, want) == 0);
		free(error);
	}
}

TEST(missing_file)
{
	struct vault_config *c = NULL;
	char *error = NULL;

	CHECK_EQ_INT(vault_config_load("/nonexistent/vault.conf", &c, &error), MCX_ERR_CONFIG);
	CHECK(c == NULL);
	CHECK(error != NULL && strstr(error, "/nonexistent/vault.conf: cannot read") != NULL);
	free(error);
}

TEST(sample_config_is_valid)
{
	struct vault_config *c = NULL;
	char *error = NULL;

	/* config/vault.conf names user root, which exists everywhere */
	CHECK_OK(vault_config_load("config/vault.conf", &c, &error));
	if (error != NULL)
		printf("  %s\n", error);
	free(error);
	vault_config_free(c);
}

int main(void)
{
	snprintf(config_path, sizeof(config_path), "/tmp/mcxvault-config-%ld.conf", (long)getpid());
	RUN(valid_config_with_defaults);
	RUN(keys_group);
	RUN(access_roles_and_domain_scope);
	RUN(errors_name_file_line_and_reason);
	RUN(missing_file);
	RUN(sample_config_is_valid);
	unlink(config_path);
	return test_summary("unit-config");
}
