/*
 * vaultd: the mcxvault daemon.
 *
 *   vaultd [-f] [-c FILE]    run (in the foreground with -f, logging to stderr)
 *   vaultd -t [-c FILE]      check the configuration and exit
 *   vaultd --accept-audit-break [-f] [-c FILE]
 *                            start although the audit log contradicts the
 *                            token's anchor (truncated, deleted, replaced or
 *                            rewritten); the break is recorded in the log
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mcx/util.h"
#include "pkcs11/hsm.h"
#include "vault/daemon/log.h"
#include "vault/daemon/notify.h"
#include "vault/daemon/server.h"
#include "vault/daemon/vault.h"
#include "vault/keys/keystore.h"
#include "vault/audit/audit.h"
#include "vault/gms/gms.h"
#include "vault/kms/external.h"
#include "vault/kms/kms.h"
#include "vault/redirect/redirect.h"
#include "vault/store/store.h"
#include "vault/rpc/rpc.h"

#define DEFAULT_CONFIG "/etc/mcxvault/vault.conf"
#define PIN_MAX 256

static void usage(FILE *out)
{
	fprintf(out, "usage: vaultd [-f] [--accept-audit-break] [-c FILE]\n"
	             "       vaultd -t [-c FILE]\n"
	             "  -c FILE  configuration file (default " DEFAULT_CONFIG ")\n"
	             "  -f       stay in the foreground and log to stderr\n"
	             "  -t       check the configuration file and exit\n"
	             "  -V       print the version\n"
	             "  --accept-audit-break\n"
	             "           start even though the audit log no longer matches the anchor in the\n"
	             "           token (it was truncated, deleted, replaced or rewritten); the break\n"
	             "           is recorded in the log as an \"audit-break\" record\n");
}

/* JSON trees hold request parameters (transport keys) and results (user
 * keys) on their way through: every block jansson frees is wiped first. */
static void *json_secure_malloc(size_t size)
{
	return malloc(size);
}

static void json_secure_free(void *p)
{
	if (p != NULL)
		explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

/* Keeps key material out of core files and away from ptrace by other users. */
static void harden_process(void)
{
	struct rlimit no_core = { 0, 0 };

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		vault_warning("prctl(PR_SET_DUMPABLE): %s", strerror(errno));
	if (setrlimit(RLIMIT_CORE, &no_core) != 0)
		vault_warning("setrlimit(RLIMIT_CORE): %s", strerror(errno));
	umask(077);
}

/* The PIN from hsm.pin_file, else from MCXVAULT_PIN; never from the config text. */
static int read_pin(const struct vault_config *config, char pin[PIN_MAX])
{
	int r = MCX_ERR_INTERNAL, fd = -1;
	struct stat st;
	ssize_t n;
	size_t len = 0;
	char *env;

	memset(pin, 0, PIN_MAX);
	if (config->hsm_pin_file != NULL) {
		if ((fd = open(config->hsm_pin_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
			vault_error("cannot open hsm.pin_file '%s': %s", config->hsm_pin_file, strerror(errno));
			MCX_BAIL(MCX_ERR_HSM_PIN);
		}
		if (fstat(fd, &st) == 0 && (st.st_mode & 0077) != 0)
			vault_warning("hsm.pin_file '%s' is readable by others (mode %04o): chmod 600 it",
			              config->hsm_pin_file, (unsigned)(st.st_mode & 07777));
		while ((n = read(fd, pin + len, PIN_MAX - 1 - len)) > 0)
			len += (size_t)n;
		MCX_ENSURE(n == 0, MCX_ERR_HSM_PIN);
	} else if ((env = getenv("MCXVAULT_PIN")) != NULL) {
		len = strlen(env);
		MCX_ENSURE(len < PIN_MAX, MCX_ERR_HSM_PIN);
		memcpy(pin, env, len);
		/* gone from the environment once read: wiped in place (what
		 * /proc/<pid>/environ shows, and what a child would inherit), then unset */
		mcx_wipe(env, len);
		unsetenv("MCXVAULT_PIN");
	} else {
		vault_error("no PIN: set hsm.pin_file or MCXVAULT_PIN");
		MCX_BAIL(MCX_ERR_HSM_PIN);
	}
	while (len > 0 && (pin[len - 1] == '\n' || pin[len - 1] == '\r'))
		pin[--len] = '\0';
	MCX_ENSURE(len > 0, MCX_ERR_HSM_PIN);
	r = MCX_OK;
out:
	if (fd >= 0)
		close(fd);
	if (r != MCX_OK)
		mcx_wipe(pin, PIN_MAX);
	return r;
}

/* The start-up form of domain.upgrade, with the same intent and outcome
 * records (as the vault itself: vaultd's uid and pid, no role). */
static int startup_upgrade(struct vault *vault, const char *domain)
{
	struct audit_event ev;
	struct kms_upgrade done;
	uint64_t intent = 0;
	int r;

	if (!kms_domain_needs_upgrade(vault->kms, domain))
		return MCX_OK;
	memset(&ev, 0, sizeof(ev));
	ev.uid = getuid();
	ev.pid = getpid();
	ev.method = "domain.upgrade";
	ev.domain = domain;
	ev.subject = "vaultd start-up";
	if (vault->audit != NULL && (r = audit_intent(vault->audit, &ev, &intent)) != MCX_OK) {
		vault_error("cannot upgrade domain %s: the audit log cannot be written", domain);
		return r;
	}
	r = kms_domain_upgrade(vault->kms, domain, &done);
	if (r != MCX_OK)
		vault_error("cannot upgrade domain %s: %s", domain, mcx_strerror(r));
	ev.error = r;
	ev.intent = intent;
	if (vault->audit != NULL && audit_append(vault->audit, &ev) != MCX_OK)
		vault_error("audit: the outcome of the start-up upgrade of %s could not be recorded", domain);
	return r;
}

/* The HSM layer tells the token's loss and return here (docs/hsm.md). */
static void hsm_event_log(int lost, const char *message)
{
	if (lost)
		vault_error("hsm: %s", message);
	else
		vault_warning("hsm: %s", message);
}

int main(int argc, char **argv)
{
	const char *config_path = DEFAULT_CONFIG;
	int foreground = 0, check_only = 0, accept_audit_break = 0, opt, r = MCX_ERR_INTERNAL, status = 1;
	static const struct option long_options[] = {
		{ "accept-audit-break", no_argument, NULL, 'B' },
		{ NULL, 0, NULL, 0 },
	};
	struct vault vault;
	struct vault_config *config = NULL;
	struct vault_server *server = NULL;
	struct hsm_options options;
	struct keystore_cluster cluster;
	int shared = 0, start_locked = 0;
	char *error = NULL;
	char pin[PIN_MAX];
	sigset_t signals;

	/*
	 * Fixed malloc thresholds (issue 11).  glibc raises its mmap threshold
	 * to the size of each large block freed (the ~9 MiB answer of a
	 * 10,000-member gmk.distribute) and the trim threshold to twice that,
	 * after which the worker and GMS pool arenas keep up to 32 MB of free
	 * top each and large buffers stop being mmapped: vaultd's RSS kept
	 * 50-136 MB after a few large batches against 17 MB idle.  Setting them
	 * turns the adjustment off: blocks from 256 KiB on are mmapped and go
	 * back on free, arenas shrink once 256 KiB are free at their top.
	 */
	(void)mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	(void)mallopt(M_TRIM_THRESHOLD, 256 * 1024);
	memset(&vault, 0, sizeof(vault));
	memset(pin, 0, sizeof(pin));
	mcx_lock_memory(pin, sizeof(pin));
	while ((opt = getopt_long(argc, argv, "c:ftVh", long_options, NULL)) != -1) {
		switch (opt) {
		case 'B': accept_audit_break = 1; break;
		case 'c': config_path = optarg; break;
		case 'f': foreground = 1; break;
		case 't': check_only = 1; break;
		case 'V': printf("vaultd %s\n", MCXVAULT_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	vault_log_init(0, VAULT_LOG_INFO);
	vault_notify_init();
	harden_process();
	json_set_alloc_funcs(json_secure_malloc, json_secure_free);
	if (vault_config_load(config_path, &config, &error) != MCX_OK) {
		fprintf(stderr, "vaultd: %s\n", error ? error : "cannot load the configuration");
		free(error);
		return 1;
	}
	if (check_only) {
		printf("vaultd: %s: configuration OK (%zu domains, %zu access entries)\n", config_path,
		       config->domain_count, config->access_count);
		vault_config_free(config);
		return 0;
	}
	if (!foreground) {
		if (daemon(0, 0) != 0) {
			fprintf(stderr, "vaultd: daemon: %s\n", strerror(errno));
			goto out;
		}
		vault_log_init(1, (enum vault_log_level)config->log_level);
	} else {
		vault_log_init(config->log_syslog, (enum vault_log_level)config->log_level);
	}

	/* signals are taken synchronously by this thread only (sigwait below) */
	sigemptyset(&signals);
	sigaddset(&signals, SIGHUP);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* libxml2 2.9 must be initialised once before threads use it */
	xmlInitParser();
	pthread_mutex_init(&vault.config_lock, NULL);
	vault.config = config;
	vault.config_path = (char *)config_path;
	vault.started = mcx_time_now();

	if (read_pin(config, pin) != MCX_OK)
		goto out;
	memset(&options, 0, sizeof(options));
	options.module = config->hsm_module;
	options.token_uri = config->hsm_token_uri;
	options.pin = pin;
	options.sessions = 2 * config->workers;   /* one per worker and helper (workers - 1), one for housekeeping */
	options.sync_path = config->hsm_sync_path;
	options.event = hsm_event_log;
	r = hsm_open(&options, &vault.hsm);
	mcx_wipe(pin, sizeof(pin));
	if (r != MCX_OK) {
		vault_error("cannot open the HSM (module %s, token %s): %s", config->hsm_module, config->hsm_token_uri,
		            mcx_strerror(r));
		goto out;
	}
	/* the state store: the SQLite file of gms.store on one host, or the
	 * PostgreSQL database of store that several vaults over one HSM share
	 * (the URL is not logged: it may hold a password) */
	if (config->store != NULL && (r = mcx_store_open(config->store, config->node_id, &vault.store)) != MCX_OK) {
		vault_error("cannot open the shared state store (store, PostgreSQL): %s", mcx_strerror(r));
		goto out;
	}
	if (config->gms_store != NULL && (r = mcx_store_open(config->gms_store, config->node_id, &vault.store)) != MCX_OK) {
		vault_error("cannot start the GMS service (gms.store %s): %s", config->gms_store, mcx_strerror(r));
		goto out;
	}
	shared = mcx_store_shared(vault.store);
	if (shared)
		vault_info("shared state in PostgreSQL; this vault is node '%s'", config->node_id);
	/* with several vaults, start-up writes to the token (the audit MAC key
	 * and the KEK when missing, the key store's repairs) under the cluster
	 * lock of key changes: two vaults starting together create one of each,
	 * and a repair never takes another vault's rotation in progress for the
	 * remains of a crash */
	if (shared && (r = mcx_store_keys_lock(vault.store)) != MCX_OK) {
		vault_error("cannot take the key-change lock in the shared store: %s", mcx_strerror(r));
		goto out;
	}
	start_locked = shared;
	if (config->audit_file != NULL) {
		struct audit_options audit = {
			.path = config->audit_file,
			.batch = config->audit_batch,
			.interval_seconds = config->audit_checkpoint_interval,
			.accept_break = accept_audit_break,
			.group = config->audit_group,
			.node_id = config->node_id,
			.node_anchor = shared,   /* each vault on the token anchors its own log */
		};
		/* checks the log against the token's anchor and writes nothing yet:
		 * a start that fails below leaves the log as it was */
		if ((r = audit_open(vault.hsm, &audit, &vault.audit)) != MCX_OK) {
			vault_error("cannot open the audit log %s: %s", config->audit_file, mcx_strerror(r));
			goto out;
		}
	}
	if ((r = keystore_open(vault.hsm, &vault.keystore)) != MCX_OK) {
		vault_error("cannot load keys from the token: %s", mcx_strerror(r));
		goto out;
	}
	if ((r = kms_service_open(vault.hsm, vault.keystore, &vault.kms)) != MCX_OK) {
		vault_error("cannot start the KMS service: %s", mcx_strerror(r));
		goto out;
	}
	if (start_locked) {
		/* announced: the others re-read what a repair may have changed */
		(void)mcx_store_keys_unlock(vault.store, 1);
		start_locked = 0;
		mcx_store_keystore_cluster(vault.store, &cluster);
		keystore_set_cluster(vault.keystore, &cluster);
		kms_external_set_cluster(kms_external_store(vault.kms), &cluster);
	}
	/* services: gms (vault/gms/), redirect (vault/redirect/) */
	if ((r = gms_service_open(vault.store, config->workers, vault.hsm, vault.kms, &vault.gms)) != MCX_OK) {
		vault_error("cannot start the GMS service: %s", mcx_strerror(r));
		goto out;
	}
	if ((r = redirect_service_open(&vault.redirect)) != MCX_OK) {
		vault_error("cannot start the redirect service: %s", mcx_strerror(r));
		goto out;
	}
	redirect_service_set_store(vault.redirect, vault.store);
	if ((r = vault_server_open(&vault, config, &server)) != MCX_OK)
		goto out;
	if (vault.audit != NULL && (r = audit_begin(vault.audit)) != MCX_OK) {
		vault_error("cannot start the audit log %s: %s", config->audit_file, mcx_strerror(r));
		goto out;
	}
	/* a token of the format before key purposes: add cert/token, re-sign (kms.h);
	 * after audit_begin, so the upgrade is written ahead like domain.upgrade */
	for (size_t i = 0; i < config->domain_count && !keystore_legacy_seam(); i++)
		if ((r = startup_upgrade(&vault, config->domains[i].name)) != MCX_OK)
			goto out;
	if ((r = vault_server_start(server)) != MCX_OK) {
		vault_error("cannot start worker threads");
		goto out;
	}
	vault_info("vaultd %s ready on %s (%u workers, %zu domains)", MCXVAULT_VERSION, config->socket_path,
	           config->workers, config->domain_count);
	vault_notify("READY=1\nSTATUS=serving %zu domains with %u workers", config->domain_count, config->workers);

	for (;;) {
		int sig = 0;
		if (sigwait(&signals, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			vault_notify("RELOADING=1\nSTATUS=reloading the configuration, reopening the audit log");
			/* logrotate moved the audit file: seal it, continue the chain in a new one */
			if (vault.audit != NULL && audit_reopen(vault.audit) != MCX_OK)
				vault_error("audit: reopening the log failed; still writing the old file");
			if (vault_reload(&vault) == MCX_OK) {
				struct vault_config *now = vault_config_acquire(&vault);
				vault_server_reconfigure(server, now);
				vault_notify("READY=1\nSTATUS=serving %zu domains with %u workers", now->domain_count,
				             now->workers);
				vault_config_release(&vault, now);
			} else {
				vault_notify("READY=1\nSTATUS=serving; the last reload failed (see the log)");
			}
			continue;
		}
		vault_info("signal %d: stopping", sig);
		vault_notify("STOPPING=1\nSTATUS=stopping on signal %d", sig);
		break;
	}
	status = 0;
out:
	mcx_wipe(pin, sizeof(pin));
	if (start_locked)
		(void)mcx_store_keys_unlock(vault.store, 1);
	vault_server_free(server);
	if (vault.config != NULL)
		rpc_denials_flush(&vault, 1);   /* the last window's counts, before the stop record */
	/* services: free in reverse order */
	redirect_service_free(vault.redirect);
	gms_service_free(vault.gms);
	kms_service_free(vault.kms);
	keystore_free(vault.keystore);
	mcx_store_close(vault.store);
	audit_close(vault.audit);
	hsm_close(vault.hsm);
	if (vault.config != NULL)
		vault_config_release(&vault, vault.config);
	else
		vault_config_free(config);
	xmlCleanupParser();
	return status;
}
