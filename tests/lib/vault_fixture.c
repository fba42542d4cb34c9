/*
 * mcxvault — throw-away vaults on their own SoftHSM tokens, for every test
 * and benchmark that runs a real vaultd from C; see vault_fixture.h.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tests/lib/vault_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct test_vault *test_vault_registry[TEST_VAULT_MAX];

/* Runs argv with output to /dev/null; its exit status or -1. */
static int test_vault_run(char *const argv[])
{
	pid_t pid;
	int status, fd;

	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		if ((fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Async-signal-safe: stop every vaultd, remove every directory with rm(1). */
static void test_vault_on_signal(int sig)
{
	for (size_t i = 0; i < TEST_VAULT_MAX; i++) {
		struct test_vault *v = test_vault_registry[i];
		if (v == NULL)
			continue;
		if (v->pid > 0) {
			(void)kill(v->pid, SIGTERM);
			(void)waitpid(v->pid, NULL, 0);
		}
		if (v->dir[0] != '\0') {
			char *const argv[] = { "rm", "-rf", "--", v->dir, NULL };
			pid_t pid = fork();
			if (pid == 0) {
				execvp(argv[0], argv);
				_exit(127);
			}
			if (pid > 0)
				(void)waitpid(pid, NULL, 0);
		}
	}
	_exit(128 + sig);
}

void test_vault_cleanup_all(void)
{
	for (size_t i = 0; i < TEST_VAULT_MAX; i++)
		if (test_vault_registry[i] != NULL)
			test_vault_cleanup(test_vault_registry[i]);
}

static int test_vault_write(const char *path, const char *text, mode_t mode)
{
	FILE *f;
	int fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)) < 0 || (f = fdopen(fd, "w")) == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -1;
}

static int test_vault_find_vaultd(struct test_vault *v)
{
	const char *env = getenv("MCX_VAULTD");
	char self[PATH_MAX], *slash;
	ssize_t n;

	if (env != NULL && *env != '\0') {
		snprintf(v->vaultd_path, sizeof(v->vaultd_path), "%s", env);
		return access(v->vaultd_path, X_OK);
	}
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) <= 0)
		return -1;
	self[n] = '\0';
	for (int up = 0; up < 2; up++) {
		if ((slash = strrchr(self, '/')) == NULL)
			return -1;
		*slash = '\0';
	}
	if ((size_t)snprintf(v->vaultd_path, sizeof(v->vaultd_path), "%s/vaultd", self) >= sizeof(v->vaultd_path))
		return -1;
	return access(v->vaultd_path, X_OK);
}

static int test_vault_register(struct test_vault *v)
{
	static int installed;
	struct sigaction sa;

	if (!installed) {
		atexit(test_vault_cleanup_all);
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = test_vault_on_signal;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		installed = 1;
	}
	for (size_t i = 0; i < TEST_VAULT_MAX; i++)
		if (test_vault_registry[i] == NULL || test_vault_registry[i] == v) {
			test_vault_registry[i] = v;
			return 0;
		}
	return -1;
}

int test_vault_setup(struct test_vault *v, const char *tag, const char *domains, const char *extra_access,
		 unsigned workers, int with_gms)
{
	return test_vault_setup_audit(v, tag, domains, extra_access, workers, with_gms, TEST_VAULT_AUDIT_DEFAULT);
}

int test_vault_setup_audit(struct test_vault *v, const char *tag, const char *domains, const char *extra_access,
		       unsigned workers, int with_gms, int audit)
{
	const char *tmp = getenv("TMPDIR"), *env = getenv("MCX_TEST_VAULT_AUDIT");
	char path[192], tokens[128], text[4096], audit_line[256] = "";
	int n;

	memset(v, 0, sizeof(*v));
	if (test_vault_find_vaultd(v) != 0) {
		fprintf(stderr, "test_vault: vaultd not found (set MCX_VAULTD)\n");
		return -1;
	}
	if (tmp == NULL || strlen(tmp) > 24)   /* the socket path must fit in sun_path */
		tmp = "/tmp";
	snprintf(v->dir, sizeof(v->dir), "%s/mcx-vault-%.4s.XXXXXX", tmp, tag);
	if (mkdtemp(v->dir) == NULL) {
		fprintf(stderr, "test_vault: mkdtemp %s: %s\n", v->dir, strerror(errno));
		v->dir[0] = '\0';
		return -1;
	}
	if (test_vault_register(v) != 0 || chmod(v->dir, 0711) != 0)
		goto fail;
	snprintf(v->socket, sizeof(v->socket), "%s/vaultd.sock", v->dir);
	snprintf(v->config, sizeof(v->config), "%s/vault.conf", v->dir);
	snprintf(v->log, sizeof(v->log), "%s/vaultd.log", v->dir);
	snprintf(v->softhsm_conf, sizeof(v->softhsm_conf), "%s/softhsm2.conf", v->dir);
	snprintf(v->store, sizeof(v->store), "%s/gms.sqlite", v->dir);
	if (audit == TEST_VAULT_AUDIT_DEFAULT)
		audit = env == NULL || strcmp(env, "off") != 0;
	if (audit) {
		snprintf(v->audit, sizeof(v->audit), "%s/audit.jsonl", v->dir);
		snprintf(audit_line, sizeof(audit_line),
			 "audit = { file = \"%s\"; batch = 64; checkpoint_interval = 1; };\n", v->audit);
	}
	snprintf(tokens, sizeof(tokens), "%s/tokens", v->dir);
	if (mkdir(tokens, 0700) != 0)
		goto fail;
	snprintf(text, sizeof(text),
		 "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
		 tokens);
	if (test_vault_write(v->softhsm_conf, text, 0600) != 0)
		goto fail;
	{
		char *const argv[] = { "softhsm2-util", "--init-token", "--free", "--label", TEST_VAULT_TOKEN_LABEL,
				       "--pin", TEST_VAULT_PIN, "--so-pin", "5678", NULL };
		char *saved = getenv("SOFTHSM2_CONF") ? strdup(getenv("SOFTHSM2_CONF")) : NULL;
		int rc;

		setenv("SOFTHSM2_CONF", v->softhsm_conf, 1);
		rc = test_vault_run(argv);
		if (saved != NULL)
			setenv("SOFTHSM2_CONF", saved, 1);
		else
			unsetenv("SOFTHSM2_CONF");
		free(saved);
		if (rc != 0) {
			fprintf(stderr, "test_vault: softhsm2-util --init-token failed (%d)\n", rc);
			goto fail;
		}
	}
	snprintf(path, sizeof(path), "%s/pin", v->dir);
	if (test_vault_write(path, TEST_VAULT_PIN "\n", 0600) != 0)
		goto fail;
	n = snprintf(text, sizeof(text),
		     "server = { socket = \"%s\"; socket_mode = \"0660\"; workers = %u;\n"
		     "           max_request_bytes = 8388608; };\n"
		     "log = { level = \"info\"; };\n"
		     "%s%s%s"
		     "hsm = { module = \"softhsm2\"; token = \"pkcs11:token=" TEST_VAULT_TOKEN_LABEL "\";\n"
		     "        pin_file = \"%s\"; sync_path = \"%s\"; };\n"
		     "access = (\n"
		     "  { uid = %u; roles = [ \"admin\", \"kms\", \"gms\", \"signer\", \"auditor\" ]; }%s\n"
		     ");\n"
		     "domains = (\n  %s\n);\n"
		     "%s",
		     v->socket, workers, with_gms ? "gms = { store = \"" : "", with_gms ? v->store : "",
		     with_gms ? "\"; };\n" : "", path, tokens, (unsigned)getuid(), extra_access ? extra_access : "",
		     domains, audit_line);
	if (n < 0 || (size_t)n >= sizeof(text) || test_vault_write(v->config, text, 0600) != 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "test_vault: cannot set up %s: %s\n", v->dir, strerror(errno));
	test_vault_cleanup(v);
	return -1;
}

/* 1 when a vaultd on path answers a vault.status request within about 2 s:
 * a listening socket alone is not enough (the audit log starts after the
 * socket is bound, and a stale socket file of a killed vaultd refuses). */
static int test_vault_answers(const char *path)
{
	static const char request[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"vault.status\"}\n";
	struct sockaddr_un sa;
	struct timeval tv = { 2, 0 };
	char reply[4096];
	size_t got = 0;
	ssize_t n;
	int fd, ok = 0;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    send(fd, request, sizeof(request) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(request) - 1))
		goto out;
	while (got < sizeof(reply) - 1 && (n = recv(fd, reply + got, sizeof(reply) - 1 - got, 0)) > 0) {
		got += (size_t)n;
		reply[got] = '\0';
		if (strchr(reply, '\n') != NULL) {
			ok = strstr(reply, "\"result\"") != NULL;
			break;
		}
	}
out:
	close(fd);
	return ok;
}

int test_vault_start(struct test_vault *v)
{
	pid_t parent = getpid(), pid;
	struct timespec nap = { 0, 20 * 1000 * 1000 };

	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		int fd = open(v->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
			_exit(126);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		setenv("SOFTHSM2_CONF", v->softhsm_conf, 1);
		execl(v->vaultd_path, "vaultd", "-f", "-c", v->config, (char *)NULL);
		_exit(127);
	}
	v->pid = pid;
	for (int i = 0; i < 1000; i++) {   /* 20 s: ASan builds start slowly */
		if (test_vault_answers(v->socket))
			return 0;
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			v->pid = 0;
			break;
		}
		nanosleep(&nap, NULL);
	}
	fprintf(stderr, "test_vault: vaultd did not start\n");
	test_vault_dump_log(v);
	return -1;
}

int test_vault_stop(struct test_vault *v)
{
	int status;

	if (v->pid <= 0)
		return 0;
	(void)kill(v->pid, SIGTERM);
	while (waitpid(v->pid, &status, 0) < 0)
		if (errno != EINTR) {
			v->pid = 0;
			return -1;
		}
	v->pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int test_vault_restart(struct test_vault *v, int sig)
{
	int status = 0, clean = 1;

	if (v->dir[0] == '\0')
		return -1;
	if (v->pid > 0) {
		(void)kill(v->pid, sig);
		while (waitpid(v->pid, &status, 0) < 0)
			if (errno != EINTR)
				break;
		v->pid = 0;
		if (sig == SIGTERM && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
			fprintf(stderr, "test_vault: vaultd did not exit cleanly on SIGTERM (status 0x%x)\n", status);
			test_vault_dump_log(v);
			clean = 0;
		}
	}
	if (test_vault_start(v) != 0)
		return -1;
	return clean ? 0 : -1;
}

int test_vault_audit_verify(const struct test_vault *v)
{
	char vaultctl[PATH_MAX], out[192], *slash;
	FILE *f;
	pid_t pid;
	int status, fd, rc;

	if (v->audit[0] == '\0')
		return 0;
	/* the vaultctl next to vaultd */
	if (strchr(v->vaultd_path, '/') == NULL)
		snprintf(vaultctl, sizeof(vaultctl), "./vaultctl");
	else
		snprintf(vaultctl, sizeof(vaultctl), "%s", v->vaultd_path);
	slash = strrchr(vaultctl, '/');
	if ((size_t)snprintf(slash + 1, sizeof(vaultctl) - (size_t)(slash + 1 - vaultctl), "vaultctl") >=
	    sizeof(vaultctl) - (size_t)(slash + 1 - vaultctl))
		return -1;
	snprintf(out, sizeof(out), "%s/audit-verify.out", v->dir);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		if ((fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(vaultctl, "vaultctl", "-s", v->socket, "audit", "verify", (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	if (rc != 0 && (f = fopen(out, "r")) != NULL) {
		char line[1024];
		fprintf(stderr, "test_vault: vaultctl audit verify exited %d:\n", rc);
		while (fgets(line, sizeof(line), f) != NULL)
			fputs(line, stderr);
		fclose(f);
	}
	return rc;
}

void test_vault_cleanup(struct test_vault *v)
{
	(void)test_vault_stop(v);
	if (v->dir[0] != '\0') {
		char *const argv[] = { "rm", "-rf", "--", v->dir, NULL };
		(void)test_vault_run(argv);
		v->dir[0] = '\0';
	}
	for (size_t i = 0; i < TEST_VAULT_MAX; i++)
		if (test_vault_registry[i] == v)
			test_vault_registry[i] = NULL;
}

void test_vault_dump_log(const struct test_vault *v)
{
	char line[1024];
	FILE *f;

	if (v->log[0] == '\0' || (f = fopen(v->log, "r")) == NULL)
		return;
	fprintf(stderr, "--- %s ---\n", v->log);
	while (fgets(line, sizeof(line), f) != NULL)
		fputs(line, stderr);
	fprintf(stderr, "--- end ---\n");
	fclose(f);
}
