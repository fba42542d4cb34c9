/*
 * libmcxvault — what methods.c uses of client.c beyond the public API
 * (not exported: libmcxvault.map lists the public symbols only).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef MCX_VAULT_CLIENT_INTERNAL_H
#define MCX_VAULT_CLIENT_INTERNAL_H

#include "mcxvault.h"

/* Until mcx_client_uncork, mcxvault_send keeps its requests (counted as
 * outstanding) in the handle; the uncork writes them all at once. */
void mcx_client_cork(struct mcxvault *v);
int mcx_client_uncork(struct mcxvault *v, struct mcxvault_error *err_out);

#endif
