/*
 * Who may call: SO_PEERCRED identity matched against the config's access list.
 *
 * Default deny: a caller that matches no entry holds no role.  An entry
 * limited to some domains grants its roles only for those domains.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "vault/daemon/vault.h"

#include <grp.h>
#include <pwd.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

MCX_RESULT vault_caller_from_socket(int fd, struct vault_caller *caller)
{
	int r = MCX_ERR_INTERNAL;
	struct ucred cred;
	socklen_t len = sizeof(cred), glen;
	struct passwd pw, *found = NULL;
	char buf[4096];
	int n;

	memset(caller, 0, sizeof(*caller));
	MCX_ENSURE(getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && len == sizeof(cred),
	           MCX_ERR_SYSTEM);
	caller->uid = cred.uid;
	caller->gid = cred.gid;
	caller->pid = cred.pid;
	caller->groups[0] = cred.gid;
	caller->group_count = 1;
	/* SO_PEERCRED carries the primary gid only.  The groups the peer really
	 * had when it connected come from SO_PEERGROUPS (Linux 4.13): not the
	 * ones /etc/group lists for its name, which a process that dropped a
	 * group (setgroups) would otherwise still be credited with. */
	glen = (socklen_t)(sizeof(caller->groups) - sizeof(caller->groups[0]));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, &caller->groups[1], &glen) == 0) {
		caller->group_count = 1 + (int)(glen / sizeof(gid_t));
		r = MCX_OK;
		goto out;
	}
	if (errno == ERANGE) {
		/* more supplementary groups than we keep: the first ones only, said once per connection */
		gid_t *all = NULL;
		if ((all = malloc(glen)) != NULL && getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, all, &glen) == 0) {
			size_t keep = MCX_ARRAY_SIZE(caller->groups) - 1;
			memcpy(&caller->groups[1], all, keep * sizeof(gid_t));
			caller->group_count = (int)MCX_ARRAY_SIZE(caller->groups);
			free(all);
			r = MCX_OK;
			goto out;
		}
		free(all);
	}
	/* kernels without SO_PEERGROUPS: the account's groups from the group database */
	if (getpwuid_r(cred.uid, &pw, buf, sizeof(buf), &found) == 0 && found != NULL) {
		n = (int)MCX_ARRAY_SIZE(caller->groups);
		if (getgrouplist(found->pw_name, cred.gid, caller->groups, &n) >= 0)
			caller->group_count = n;
		else
			caller->group_count = (int)MCX_ARRAY_SIZE(caller->groups);
	}
	r = MCX_OK;
out:
	return r;
}

static int access_entry_matches(const struct vault_access_entry *e, const struct vault_caller *caller)
{
	if (e->kind == VAULT_PRINCIPAL_UID)
		return caller->uid == (uid_t)e->id;
	for (int i = 0; i < caller->group_count; i++)
		if (caller->groups[i] == (gid_t)e->id)
			return 1;
	return 0;
}

int vault_access_entry_applies(const struct vault_access_entry *e, const struct vault_caller *caller,
                               const char *domain)
{
	int in_scope = e->domain_count == 0 || domain == NULL;

	if (!access_entry_matches(e, caller))
		return 0;
	for (size_t k = 0; !in_scope && k < e->domain_count; k++)
		in_scope = strcmp(e->domains[k], domain) == 0;
	return in_scope;
}

unsigned vault_access_roles(const struct vault_config *config, const struct vault_caller *caller,
                            const char *domain)
{
	unsigned roles = 0;

	if (config == NULL || caller == NULL)
		return 0;
	for (size_t i = 0; i < config->access_count; i++)
		if (vault_access_entry_applies(&config->access[i], caller, domain))
			roles |= config->access[i].roles;
	return roles;
}

unsigned vault_access_roles_unscoped(const struct vault_config *config, const struct vault_caller *caller)
{
	unsigned roles = 0;

	if (config == NULL || caller == NULL)
		return 0;
	for (size_t i = 0; i < config->access_count; i++)
		if (config->access[i].domain_count == 0 && access_entry_matches(&config->access[i], caller))
			roles |= config->access[i].roles;
	return roles;
}
