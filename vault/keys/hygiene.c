/*
 * Key hygiene: the scheduled destructions of key.retire (keys.destroy_delay)
 * and the age warnings (keys.warn_age, keys.cert_warn).
 *
 * A due destruction is carried out by vaultd itself, from the reaper thread,
 * through the same crash-safe path as key.retire (keystore_retire_due: meta
 * "retired" first, then the private key and sealed blobs), and written ahead
 * like every state change: an intent record flushed to disk, then the change,
 * then the outcome record, both as the vault itself (vaultd's uid and pid, no
 * role), as start-up's domain.upgrade does.  When the intent cannot be
 * written, nothing is destroyed.  After any failure the next try is a minute
 * later (HYGIENE_RETRY_INTERVAL_NS): each try costs two audit records.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "vault/keys/hygiene.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcx/util.h"
#include "vault/audit/audit.h"
#include "vault/daemon/log.h"
#include "vault/daemon/vault.h"
#include "vault/keys/keystore.h"
#include "vault/kms/kms.h"

/* One due destruction, written ahead.  The audit record keeps pointers to
 * key's strings only until audit_append returns.  MCX_OK also when it was
 * cancelled meanwhile; otherwise the error that should delay a retry. */
static int hygiene_destroy(struct vault *vault, const struct keystore_key *key, int64_t now)
{
	/* retried while the log or the token fails: rate-limited, so a long
	 * outage does not flood the log */
	static struct vault_log_limit audit_limit = VAULT_LOG_LIMIT_INIT, fail_limit = VAULT_LOG_LIMIT_INIT;
	struct audit_event ev;
	uint64_t intent = 0;
	int r;

	memset(&ev, 0, sizeof(ev));
	ev.uid = getuid();
	ev.pid = getpid();
	ev.method = "key.retire";
	ev.domain = key->domain;
	ev.key_purpose = key->purpose;
	ev.key_version = key->version;
	ev.subject = "vaultd: scheduled destruction (keys.destroy_delay)";
	/* the intent names what key.retire's would: purpose, version; and the date */
	ev.param_names[0] = "purpose";
	ev.param_strings[0] = key->purpose;
	ev.param_names[1] = "version";
	ev.param_ints[1] = (long long)key->version;
	ev.param_names[2] = "destroy_at";
	ev.param_ints[2] = (long long)key->destroy_at;
	ev.param_count = 3;
	if (vault->audit != NULL && (r = audit_intent(vault->audit, &ev, &intent)) != MCX_OK) {
		vault_log_limited(&audit_limit, VAULT_LOG_ERROR,
		                  "cannot destroy %s as scheduled: the audit log cannot be written; trying again later",
		                  key->kid);
		return r;
	}
	r = keystore_retire_due(vault->keystore, key->domain, key->purpose, key->version, now);
	if (r == MCX_ERR_KEY_STATE)
		vault_info("%s: the scheduled destruction was cancelled meanwhile", key->kid);
	else if (r != MCX_OK)
		vault_log_limited(&fail_limit, VAULT_LOG_ERROR, "scheduled destruction of %s failed: %s; trying again later",
		                  key->kid, mcx_strerror(r));
	else
		vault_info("%s destroyed as scheduled", key->kid);
	memset(ev.param_names, 0, sizeof(ev.param_names));
	memset(ev.param_strings, 0, sizeof(ev.param_strings));
	ev.param_count = 0;
	ev.error = r;
	ev.intent = intent;
	if (vault->audit != NULL && audit_append(vault->audit, &ev) != MCX_OK)
		vault_error("audit: the outcome of the scheduled destruction of %s could not be recorded", key->kid);
	return r == MCX_ERR_KEY_STATE ? MCX_OK : r;
}

/* MCX_OK, or the first failure (the caller then waits longer: every try
 * writes an intent and an outcome record, and a token that is gone for an
 * hour must not add thousands of them to the audit log). */
static int hygiene_destroy_due(struct vault *vault)
{
	struct keystore_key *keys = NULL;
	size_t count = 0;
	int64_t now = mcx_time_now();
	int r = MCX_OK;

	if ((r = keystore_due(vault->keystore, now, &keys, &count)) != MCX_OK)
		return r;
	for (size_t i = 0; i < count && r == MCX_OK; i++)
		r = hygiene_destroy(vault, &keys[i], now);
	free(keys);
	return r;
}

static void hygiene_warn(struct vault *vault, const struct vault_config *config)
{
	struct keystore_key *keys = NULL;
	size_t count = 0;
	int64_t now = mcx_time_now();
	char when[21];

	if (config->keys_warn_age > 0 && keystore_all(vault->keystore, &keys, &count) == MCX_OK) {
		for (size_t i = 0; i < count; i++) {
			if (keys[i].state != KEYSTORE_STATE_ACTIVE || now - keys[i].created <= config->keys_warn_age)
				continue;
			mcx_time_format(keys[i].created, when);
			vault_warning("key %s is active since %s, older than keys.warn_age (%lld days): rotate it "
			              "(vaultctl key rotate %s %s)",
			              keys[i].kid, when, config->keys_warn_age / 86400, keys[i].domain, keys[i].purpose);
		}
	}
	free(keys);
	if (config->keys_cert_warn <= 0 || vault->kms == NULL)
		return;
	for (size_t i = 0; i < config->domain_count; i++) {
		struct kms_generation gen;
		const char *domain = config->domains[i].name;

		if (kms_generation_get(vault->kms, domain, 0, &gen) != MCX_OK)
			continue;   /* not initialised */
		if (gen.valid_to - now > config->keys_cert_warn)
			continue;
		mcx_time_format(gen.valid_to, when);
		vault_warning("the KMS certificate of %s (generation %" PRIu32 ") %s %s, within keys.cert_warn: rotate "
		              "it (vaultctl key rotate %s kms)",
		              domain, gen.version, gen.valid_to <= now ? "expired" : "expires", when, domain);
	}
}

void vault_hygiene_tick(struct vault *vault)
{
	struct vault_hygiene *h = &vault->hygiene;
	uint64_t now = mcx_monotonic_ns();
	struct vault_config *config;

	if (vault->keystore == NULL)
		return;
	if (h->due_checked_ns == 0 || now - h->due_checked_ns >= h->due_interval_ns) {
		h->due_checked_ns = now;
		/* whatever keys.destroy_delay says now: a schedule made under an
		 * earlier configuration is still carried out */
		h->due_interval_ns = hygiene_destroy_due(vault) == MCX_OK ? HYGIENE_DUE_INTERVAL_NS
		                                                          : HYGIENE_RETRY_INTERVAL_NS;
	}
	if (h->warned_ns == 0 || now - h->warned_ns >= HYGIENE_WARN_INTERVAL_NS) {
		h->warned_ns = now;
		config = vault_config_acquire(vault);
		hygiene_warn(vault, config);
		vault_config_release(vault, config);
	}
}
