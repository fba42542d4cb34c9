/*
 * mcxvault tests — a throw-away SoftHSM token per test run.
 *
 * token_setup() makes a temporary directory with a softhsm2.conf and a token
 * directory, points SOFTHSM2_CONF at it and initialises a token labelled
 * "mcx-vault" (user PIN 1234, SO PIN 5678) with softhsm2-util;
 * token_teardown() removes the directory.  Also: a raw PKCS#11 session on the
 * same module for checks the HSM layer deliberately cannot make (reading
 * attributes, importing a known key).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef MCX_TESTS_HSM_TEST_TOKEN_H
#define MCX_TESTS_HSM_TEST_TOKEN_H

#define CRYPTOKI_GNU 1

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pkcs11/hsm.h"

#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>

#define TEST_SOFTHSM_PATH "/usr/lib/softhsm/libsofthsm2.so"
#define TEST_TOKEN_LABEL "mcx-vault"
#define TEST_PIN "1234"

static char test_tmpdir[256];
static char test_tokendir[300];

/* softhsm2-util --init-token --free --label <label> ... with its output muted */
static int token_init(const char *label)
{
	pid_t pid;
	int status, fd;

	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		fd = open("/dev/null", O_WRONLY);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execlp("softhsm2-util", "softhsm2-util", "--init-token", "--free", "--label", label, "--pin",
		       TEST_PIN, "--so-pin", "5678", (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int token_setup(void)
{
	char conf[320];
	FILE *f;

	snprintf(test_tmpdir, sizeof(test_tmpdir), "%s/mcx-hsm-test-XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(test_tmpdir) == NULL)
		return -1;
	snprintf(test_tokendir, sizeof(test_tokendir), "%s/tokens", test_tmpdir);
	if (mkdir(test_tokendir, 0700) != 0)
		return -1;
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", test_tmpdir);
	if ((f = fopen(conf, "w")) == NULL)
		return -1;
	fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", test_tokendir);
	if (fclose(f) != 0)
		return -1;
	setenv("SOFTHSM2_CONF", conf, 1);
	return token_init(TEST_TOKEN_LABEL);
}

static int token_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void token_teardown(void)
{
	if (test_tmpdir[0] != '\0')
		nftw(test_tmpdir, token_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* A raw session on the token labelled TEST_TOKEN_LABEL of an already
 * initialised module (the HSM layer initialised it). */
struct raw_p11 {
	struct ck_function_list *fl;
	ck_session_handle_t session;
};

__attribute__((unused)) static int raw_open(struct raw_p11 *raw, const char *module_path)
{
	ck_slot_id_t slots[16];
	unsigned long n = 16, i;
	struct ck_token_info ti;

	memset(raw, 0, sizeof(*raw));
	raw->fl = p11_kit_module_load(module_path, P11_KIT_MODULE_UNMANAGED);
	if (raw->fl == NULL)
		return -1;
	if (raw->fl->C_GetSlotList(1, slots, &n) != CKR_OK)
		return -1;
	for (i = 0; i < n; i++) {
		if (raw->fl->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if (p11_kit_space_strlen(ti.label, 32) == strlen(TEST_TOKEN_LABEL) &&
		    memcmp(ti.label, TEST_TOKEN_LABEL, strlen(TEST_TOKEN_LABEL)) == 0)
			return raw->fl->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
			                              &raw->session) == CKR_OK ? 0 : -1;
	}
	return -1;
}

__attribute__((unused)) static void raw_close(struct raw_p11 *raw)
{
	if (raw->fl != NULL) {
		if (raw->session != 0)
			raw->fl->C_CloseSession(raw->session);
		p11_kit_module_release(raw->fl);
	}
	memset(raw, 0, sizeof(*raw));
}

/* The module's own handle inside an hsm_handle_t (which carries its
 * generation), for the raw session. */
#define TEST_RAW_HANDLE(handle) hsm_handle_raw(handle)

/* A CK_BBOOL attribute: 1, 0, or -1 when it cannot be read. */
__attribute__((unused)) static int raw_bool(struct raw_p11 *raw, unsigned long object, unsigned long type)
{
	unsigned char b = 0xff;
	struct ck_attribute a = { type, &b, 1 };

	if (raw->fl->C_GetAttributeValue(raw->session, TEST_RAW_HANDLE(object), &a, 1) != CKR_OK)
		return -1;
	return b ? 1 : 0;
}

#endif /* MCX_TESTS_HSM_TEST_TOKEN_H */
