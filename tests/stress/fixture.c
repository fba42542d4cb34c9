/*
 * mcxvault — a throw-away SoftHSM token and a vaultd child; see fixture.h.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tests/stress/fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The one fixture cleaned up at exit or on a signal. */
static struct fixture *fixture_active;

/* Runs argv with stdout/stderr sent to out_path (or /dev/null); exit status or -1. */
static int fixture_run(char *const argv[], const char *out_path)
{
	pid_t pid;
	int status, fd;

	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		fd = open(out_path != NULL ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd >= 0) {
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

/* Async-signal-safe: stop vaultd and remove the directory with rm(1). */
static void fixture_on_signal(int sig)
{
	struct fixture *fx = fixture_active;

	if (fx != NULL) {
		if (fx->vaultd > 0) {
			(void)kill(fx->vaultd, SIGTERM);
			(void)waitpid(fx->vaultd, NULL, 0);
			fx->vaultd = 0;
		}
		if (fx->dir[0] != '\0') {
			char *const argv[] = { "rm", "-rf", "--", fx->dir, NULL };
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

static void fixture_at_exit(void)
{
	if (fixture_active != NULL)
		fixture_cleanup(fixture_active);
}

static int fixture_write_file(const char *path, const char *text, mode_t mode)
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

/* $MCX_VAULTD, else <dir of this program>/../vaultd. */
static int fixture_find_vaultd(struct fixture *fx)
{
	const char *env = getenv("MCX_VAULTD");
	char self[PATH_MAX], *slash;
	ssize_t n;

	if (env != NULL && *env != '\0') {
		snprintf(fx->vaultd_path, sizeof(fx->vaultd_path), "%s", env);
		return 0;
	}
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) <= 0)
		return -1;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		return -1;
	*slash = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		return -1;
	*slash = '\0';
	if ((size_t)snprintf(fx->vaultd_path, sizeof(fx->vaultd_path), "%s/vaultd", self) >= sizeof(fx->vaultd_path))
		return -1;
	return access(fx->vaultd_path, X_OK);
}

int fixture_setup(struct fixture *fx, unsigned workers)
{
	char path[192], text[2048];
	const char *tmp = getenv("TMPDIR");
	struct sigaction sa;
	static int at_exit_registered;

	memset(fx, 0, sizeof(*fx));
	fx->workers = workers;
	if (fixture_find_vaultd(fx) != 0) {
		fprintf(stderr, "fixture: vaultd not found (set MCX_VAULTD)\n");
		return -1;
	}
	/* a short directory: the socket path must fit in sun_path */
	if (tmp == NULL || strlen(tmp) > 24)
		tmp = "/tmp";
	snprintf(fx->dir, sizeof(fx->dir), "%s/mcx-fx.XXXXXX", tmp);
	if (mkdtemp(fx->dir) == NULL) {
		fprintf(stderr, "fixture: mkdtemp %s: %s\n", fx->dir, strerror(errno));
		fx->dir[0] = '\0';
		return -1;
	}
	fixture_active = fx;
	if (!at_exit_registered) {
		atexit(fixture_at_exit);
		at_exit_registered = 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fixture_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	snprintf(fx->socket, sizeof(fx->socket), "%s/vaultd.sock", fx->dir);
	snprintf(fx->config, sizeof(fx->config), "%s/vault.conf", fx->dir);
	snprintf(fx->log, sizeof(fx->log), "%s/vaultd.log", fx->dir);
	snprintf(fx->tokendir, sizeof(fx->tokendir), "%s/tokens", fx->dir);
	if (mkdir(fx->tokendir, 0700) != 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/softhsm2.conf", fx->dir);
	snprintf(text, sizeof(text),
	         "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
	         fx->tokendir);
	if (fixture_write_file(path, text, 0600) != 0)
		goto fail;
	setenv("SOFTHSM2_CONF", path, 1);
	{
		char *const argv[] = { "softhsm2-util", "--init-token", "--free", "--label", FIXTURE_TOKEN_LABEL,
			               "--pin", FIXTURE_PIN, "--so-pin", "5678", NULL };
		if (fixture_run(argv, NULL) != 0) {
			fprintf(stderr, "fixture: softhsm2-util --init-token failed\n");
			goto fail;
		}
	}
	snprintf(path, sizeof(path), "%s/pin", fx->dir);
	if (fixture_write_file(path, FIXTURE_PIN "\n", 0600) != 0)
		goto fail;
	snprintf(text, sizeof(text),
	         "server = {\n"
	         "  socket = \"%s\";\n"
	         "  socket_mode = \"0660\";\n"
	         "  workers = %u;\n"
	         "};\n"
	         "log = { level = \"warning\"; };\n"
	         "hsm = {\n"
	         "  module = \"softhsm2\";\n"
	         "  token = \"pkcs11:token=" FIXTURE_TOKEN_LABEL "\";\n"
	         "  pin_file = \"%s\";\n"
	         "  sync_path = \"%s\";\n"
	         "};\n"
	         "access = ( { uid = %u; roles = [ \"admin\", \"signer\", \"auditor\" ]; } );\n"
	         "domains = (\n"
	         "  { name = \"a.example\"; kms_uri = \"kms.a.example\"; },\n"
	         "  { name = \"b.example\"; kms_uri = \"kms.b.example\"; }\n"
	         ");\n",
	         fx->socket, workers, path, fx->tokendir, (unsigned)getuid());
	if (fixture_write_file(fx->config, text, 0600) != 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "fixture: cannot set up %s: %s\n", fx->dir, strerror(errno));
	fixture_cleanup(fx);
	return -1;
}

static int fixture_socket_ready(const char *path)
{
	struct sockaddr_un sa;
	int fd, ok;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

int fixture_start(struct fixture *fx)
{
	pid_t parent = getpid(), pid;
	struct timespec nap = { 0, 20 * 1000 * 1000 };

	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		int fd = open(fx->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		/* vaultd must not outlive a test that crashed */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
			_exit(126);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(fx->vaultd_path, "vaultd", "-f", "-c", fx->config, (char *)NULL);
		_exit(127);
	}
	fx->vaultd = pid;
	for (int i = 0; i < 500; i++) {   /* 10 s: ASan builds start slowly */
		if (fixture_socket_ready(fx->socket))
			return 0;
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			fx->vaultd = 0;
			break;
		}
		nanosleep(&nap, NULL);
	}
	fprintf(stderr, "fixture: vaultd did not start\n");
	fixture_dump_log(fx);
	return -1;
}

int fixture_stop(struct fixture *fx)
{
	int status;

	if (fx->vaultd <= 0)
		return 0;
	(void)kill(fx->vaultd, SIGTERM);
	while (waitpid(fx->vaultd, &status, 0) < 0)
		if (errno != EINTR) {
			fx->vaultd = 0;
			return -1;
		}
	fx->vaultd = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void fixture_cleanup(struct fixture *fx)
{
	(void)fixture_stop(fx);
	if (fx->dir[0] != '\0') {
		char *const argv[] = { "rm", "-rf", "--", fx->dir, NULL };
		(void)fixture_run(argv, NULL);
		fx->dir[0] = '\0';
	}
	if (fixture_active == fx)
		fixture_active = NULL;
}

void fixture_dump_log(const struct fixture *fx)
{
	char line[1024];
	FILE *f;

	if (fx->log[0] == '\0' || (f = fopen(fx->log, "r")) == NULL)
		return;
	fprintf(stderr, "--- vaultd.log ---\n");
	while (fgets(line, sizeof(line), f) != NULL)
		fputs(line, stderr);
	fprintf(stderr, "--- end of vaultd.log ---\n");
	fclose(f);
}
