/*
 * metrics: what a monitoring system scrapes, in the Prometheus text
 * exposition format (version 0.0.4).  The dispatcher counts every call per
 * method and role, its errors, and its time in a fixed histogram; the rest
 * (connections, HSM, audit) is read when asked.  Counting is a few relaxed
 * atomic additions per request: nothing on the request path locks.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>

#include "mcx/util.h"
#include "pkcs11/hsm.h"
#include "vault/audit/audit.h"
#include "vault/rpc/methods.h"

#define METRICS_METHODS_MAX 64
#define METRICS_ROLES 6        /* admin, kms, gms, signer, auditor, none */

/* Upper bounds of the latency buckets, in microseconds (le="..." in seconds). */
static const uint64_t bucket_us[] = { 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000, 1000000 };
#define BUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]))

struct method_metrics {
	atomic_ullong calls[METRICS_ROLES];
	atomic_ullong errors[METRICS_ROLES];
	atomic_ullong buckets[BUCKETS + 1];   /* the last: +Inf */
	atomic_ullong sum_us;
};

static struct method_metrics metrics[METRICS_METHODS_MAX];
static atomic_ullong unknown_method_calls, malformed_calls;

static const char *role_label(unsigned role_index)
{
	return role_index < METRICS_ROLES - 1 ? vault_role_name(1u << role_index) : "none";
}

void rpc_metrics_record(const struct rpc_method *method, unsigned roles, int err, uint64_t ns)
{
	size_t m;
	unsigned role = METRICS_ROLES - 1;
	uint64_t us = ns / 1000;
	size_t b = 0;

	if (method == NULL) {
		atomic_fetch_add_explicit(err == MCX_ERR_METHOD_NOT_FOUND ? &unknown_method_calls : &malformed_calls, 1,
		                          memory_order_relaxed);
		return;
	}
	m = (size_t)(method - rpc_methods);
	if (m >= METRICS_METHODS_MAX)
		return;
	/* the role the call was made in: the lowest one the caller holds that the method takes */
	for (unsigned bit = 0; bit < METRICS_ROLES - 1; bit++)
		if (roles & method->roles & (1u << bit)) {
			role = bit;
			break;
		}
	atomic_fetch_add_explicit(&metrics[m].calls[role], 1, memory_order_relaxed);
	if (err != MCX_OK)
		atomic_fetch_add_explicit(&metrics[m].errors[role], 1, memory_order_relaxed);
	while (b < BUCKETS && us > bucket_us[b])
		b++;
	atomic_fetch_add_explicit(&metrics[m].buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&metrics[m].sum_us, us, memory_order_relaxed);
}

static int put_help(struct mcx_buf *out, const char *name, const char *type, const char *help)
{
	return mcx_buf_putf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int method_metrics(struct rpc_call *call, json_t *params, json_t **result)
{
	int r = MCX_ERR_INTERNAL;
	struct mcx_buf *out = NULL;
	struct hsm_stats hs;
	struct hsm_token_info info;
	size_t n = rpc_method_count < METRICS_METHODS_MAX ? rpc_method_count : METRICS_METHODS_MAX;

	(void)params;
	/* per-method counts tell how busy every domain is: unscoped callers only */
	MCX_ENSURE((vault_access_roles_unscoped(call->config, call->caller) & call->method->roles) != 0,
	           rpc_fail(call, MCX_ERR_PERMISSION_DENIED,
	                    "metrics are for auditors and admins whose role covers every domain"));
	MCX_ENSURE_ALLOC(out = mcx_buf_new(1024 * 1024));
	MCX_GUARD(put_help(out, "mcxvault_requests_total", "counter", "Requests answered, by method and caller role."));
	for (size_t m = 0; m < n; m++)
		for (unsigned role = 0; role < METRICS_ROLES; role++) {
			unsigned long long v = atomic_load_explicit(&metrics[m].calls[role], memory_order_relaxed);
			if (v > 0)
				MCX_GUARD(mcx_buf_putf(out, "mcxvault_requests_total{method=\"%s\",role=\"%s\"} %llu\n",
				                       rpc_methods[m].name, role_label(role), v));
		}
	MCX_GUARD(mcx_buf_putf(out, "mcxvault_requests_total{method=\"(unknown)\",role=\"none\"} %llu\n",
	                       (unsigned long long)atomic_load(&unknown_method_calls)));
	MCX_GUARD(mcx_buf_putf(out, "mcxvault_requests_total{method=\"(malformed)\",role=\"none\"} %llu\n",
	                       (unsigned long long)atomic_load(&malformed_calls)));
	MCX_GUARD(put_help(out, "mcxvault_request_errors_total", "counter",
	                   "Requests answered with an error, by method and caller role."));
	for (size_t m = 0; m < n; m++)
		for (unsigned role = 0; role < METRICS_ROLES; role++) {
			unsigned long long v = atomic_load_explicit(&metrics[m].errors[role], memory_order_relaxed);
			if (v > 0)
				MCX_GUARD(mcx_buf_putf(out, "mcxvault_request_errors_total{method=\"%s\",role=\"%s\"} %llu\n",
				                       rpc_methods[m].name, role_label(role), v));
		}
	MCX_GUARD(put_help(out, "mcxvault_request_duration_seconds", "histogram",
	                   "Time from a request line to its answer inside vaultd, by method."));
	for (size_t m = 0; m < n; m++) {
		unsigned long long cumulative = 0, count = 0;
		for (size_t b = 0; b <= BUCKETS; b++)
			count += atomic_load_explicit(&metrics[m].buckets[b], memory_order_relaxed);
		if (count == 0)
			continue;
		for (size_t b = 0; b <= BUCKETS; b++) {
			cumulative += atomic_load_explicit(&metrics[m].buckets[b], memory_order_relaxed);
			if (b < BUCKETS)
				MCX_GUARD(mcx_buf_putf(out, "mcxvault_request_duration_seconds_bucket{method=\"%s\",le=\"%g\"} %llu\n",
				                       rpc_methods[m].name, (double)bucket_us[b] / 1e6, cumulative));
			else
				MCX_GUARD(mcx_buf_putf(out, "mcxvault_request_duration_seconds_bucket{method=\"%s\",le=\"+Inf\"} %llu\n",
				                       rpc_methods[m].name, cumulative));
		}
		MCX_GUARD(mcx_buf_putf(out, "mcxvault_request_duration_seconds_sum{method=\"%s\"} %.6f\n",
		                       rpc_methods[m].name, (double)atomic_load(&metrics[m].sum_us) / 1e6));
		MCX_GUARD(mcx_buf_putf(out, "mcxvault_request_duration_seconds_count{method=\"%s\"} %llu\n",
		                       rpc_methods[m].name, cumulative));
	}
	MCX_GUARD(put_help(out, "mcxvault_connections", "gauge", "Connections open now."));
	MCX_GUARD(mcx_buf_putf(out, "mcxvault_connections %u\n", atomic_load(&call->vault->connections)));

	memset(&info, 0, sizeof(info));
	if (hsm_token_info(call->vault->hsm, &info) != MCX_OK)
		info.reachable = 0;
	hsm_stats_get(call->vault->hsm, &hs);
	MCX_GUARD(put_help(out, "mcxvault_hsm_up", "gauge", "1 when a session of the token answered just now."));
	MCX_GUARD(mcx_buf_putf(out, "mcxvault_hsm_up %d\n", info.reachable ? 1 : 0));
	MCX_GUARD(put_help(out, "mcxvault_hsm_calls_total", "counter", "PKCS#11 calls made."));
	MCX_GUARD(mcx_buf_putf(out, "mcxvault_hsm_calls_total %" PRIu64 "\n", hs.calls));
	MCX_GUARD(put_help(out, "mcxvault_hsm_errors_total", "counter", "PKCS#11 calls that ended in an error."));
	MCX_GUARD(mcx_buf_putf(out, "mcxvault_hsm_errors_total %" PRIu64 "\n", hs.failures));
	MCX_GUARD(put_help(out, "mcxvault_hsm_recoveries_total", "counter",
	                   "Sessions reopened or logins redone after the token was lost."));
	MCX_GUARD(mcx_buf_putf(out, "mcxvault_hsm_recoveries_total %" PRIu64 "\n", hs.recoveries));
	MCX_GUARD(put_help(out, "mcxvault_hsm_retries_total", "counter", "Object-changing calls retried."));
	MCX_GUARD(mcx_buf_putf(out, "mcxvault_hsm_retries_total %" PRIu64 "\n", hs.retries));

	if (call->vault->audit != NULL) {
		struct audit_status st;
		audit_status_get(call->vault->audit, &st);
		MCX_GUARD(put_help(out, "mcxvault_audit_healthy", "gauge",
		                   "1 when the audit log is writable and the HSM seals its checkpoints."));
		MCX_GUARD(mcx_buf_putf(out, "mcxvault_audit_healthy %d\n", st.healthy ? 1 : 0));
		MCX_GUARD(put_help(out, "mcxvault_audit_records_total", "counter", "Records in the audit chain."));
		MCX_GUARD(mcx_buf_putf(out, "mcxvault_audit_records_total %" PRIu64 "\n", st.seq));
		MCX_GUARD(put_help(out, "mcxvault_audit_unsealed_records", "gauge",
		                   "Records written since the last checkpoint (the audit lag)."));
		MCX_GUARD(mcx_buf_putf(out, "mcxvault_audit_unsealed_records %" PRIu64 "\n", st.seq - st.sealed_seq));
		MCX_GUARD(put_help(out, "mcxvault_audit_unanchored_records", "gauge",
		                   "Records written since the checkpoint the HSM anchor names."));
		MCX_GUARD(mcx_buf_putf(out, "mcxvault_audit_unanchored_records %" PRIu64 "\n",
		                       st.seq > st.anchor_seq ? st.seq - st.anchor_seq : 0));
		MCX_GUARD(put_help(out, "mcxvault_audit_write_failures_total", "counter",
		                   "Audit records that could not be written (requests refused)."));
		MCX_GUARD(mcx_buf_putf(out, "mcxvault_audit_write_failures_total %" PRIu64 "\n", st.failures));
		MCX_GUARD(put_help(out, "mcxvault_audit_seal_failures_total", "counter",
		                   "Checkpoints the HSM could not MAC."));
		MCX_GUARD(mcx_buf_putf(out, "mcxvault_audit_seal_failures_total %" PRIu64 "\n", st.seal_failures));
	}
	MCX_GUARD(put_help(out, "mcxvault_uptime_seconds", "gauge", "Seconds since vaultd started."));
	MCX_GUARD(mcx_buf_putf(out, "mcxvault_uptime_seconds %lld\n",
	                       (long long)(mcx_time_now() - call->vault->started)));
	MCX_ENSURE_ALLOC(*result = json_pack("{s:s, s:s%}", "content_type", "text/plain; version=0.0.4", "text",
	                                     (const char *)mcx_buf_ptr(out), mcx_buf_len(out)));
	r = MCX_OK;
out:
	mcx_buf_free(out);
	return r;
}
