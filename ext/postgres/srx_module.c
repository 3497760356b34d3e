/*
 * The snowrange extension's entry point: its settings (GUCs), the shared
 * memory request and the background worker's registration. Loaded through
 * shared_preload_libraries; without that the SQL functions refuse with a
 * message saying so (docs/postgresql.md).
 */
#include "srx.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

char *srx_node_name, *srx_master_url;
char *srx_tls_ca, *srx_tls_cert, *srx_tls_key, *srx_token_file;
int srx_max_sequences = 64;
int srx_lease_timeout_ms = 3000;
int srx_rpc_timeout_ms = 2000;
int srx_txid_max_age_ms = 50;

static shmem_request_hook_type prev_shmem_request_hook;
static shmem_startup_hook_type prev_shmem_startup_hook;

static void
shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(srx_shmem_size());
	RequestNamedLWLockTranche("snowrange", 1);
}

static void
shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	srx_shmem_init();
}

static void
define_string(const char *name, const char *desc, char **var)
{
	DefineCustomStringVariable(name, desc, NULL, var, "", PGC_POSTMASTER, 0, NULL, NULL, NULL);
}

void _PG_init(void);

void
_PG_init(void)
{
	define_string("snowrange.node_name",
	    "This instance's node name at the snowrange master ([a-z0-9_.-]{1,64}, unique "
	    "per instance).",
	    &srx_node_name);
	define_string("snowrange.master_url",
	    "URL of the snowrange master (tcp://HOST:PORT, tls+tcp://..., ipc://...), or a "
	    "comma-separated list of the masters of an HA cluster (docs/ha.md).",
	    &srx_master_url);
	define_string("snowrange.tls_ca", "PEM CA bundle verifying the master (tls+tcp://).",
	    &srx_tls_ca);
	define_string("snowrange.tls_cert", "PEM certificate presented to the master.",
	    &srx_tls_cert);
	define_string("snowrange.tls_key", "PEM key of snowrange.tls_cert.", &srx_tls_key);
	define_string("snowrange.token_file",
	    "Role tokens file (mode 600) holding this node's token.", &srx_token_file);
	DefineCustomIntVariable("snowrange.max_sequences",
	    "How many sequences this instance can serve (slots in shared memory).", NULL,
	    &srx_max_sequences, 64, 1, 100000, PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("snowrange.lease_timeout_ms",
	    "How long a call waits for a chunk or txids before failing with EUNAVAILABLE.", NULL,
	    &srx_lease_timeout_ms, 3000, 1, 3600000, PGC_POSTMASTER, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("snowrange.rpc_timeout_ms",
	    "Bound on every round trip to the master.", NULL, &srx_rpc_timeout_ms, 2000, 1, 3600000,
	    PGC_POSTMASTER, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("snowrange.txid_max_age_ms",
	    "A batch of txids older than this is let go instead of handed out, so the time "
	    "a txid carries is at most this much before the call.",
	    NULL, &srx_txid_max_age_ms, 50, 1, 60000, PGC_POSTMASTER, GUC_UNIT_MS, NULL, NULL,
	    NULL);
	MarkGUCPrefixReserved("snowrange");

	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shmem_startup;
	srx_worker_register();
}
