/*
 * The in-process cluster the local scenarios share: a master started in this
 * process (SQLite store in a temp dir, an ipc URL), an admin client and the
 * coordinator "bench-0". Opened on first use, closed once at the end.
 */
#include "bench.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snowrange/client.h"
#include "snowrange/coordinator.h"
#include "util.h"
#include "wire.h"
#include "server.h"

static int
fx_open(struct fixture *f, char *err, size_t errlen)
{
	const char *store = f->store_url;
	memset(f, 0, sizeof(*f));
	f->store_url = store;
	snprintf(f->dir, sizeof(f->dir), "/tmp/sr-bench-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		bench_errf(err, errlen, "mkdtemp: %s", strerror(errno));
		f->dir[0] = '\0';
		return SR_EIO;
	}
	snprintf(f->url, sizeof(f->url), "ipc://%s/master.ipc", f->dir);
	f->mcfg.listen_url = f->url;
	f->mcfg.data_dir = f->dir;
	f->mcfg.store_url = f->store_url;
	f->mcfg.workers = 16;
	catalog_config_init(&f->mcfg.catalog);
	/* The bench's own master on a new store, with no coordinator from
	 * before: no wait for worker claims (docs/snowflake.md, "Claims"). */
	f->mcfg.catalog.claim_wait_ms = 0;
	int rv = master_start(&f->mcfg, &f->m, err, errlen);
	/* On etcd the master stands by until it is elected: wait (bounded)
	 * for it to answer as the leader. */
	for (int i = 0; rv == SR_OK && f->store_url != NULL && i < 100; i++) {
		sr_client *cl;
		sr_status st;
		if (sr_client_open(f->url, REMOTE_TIMEOUT_MS, &cl) != SR_OK)
			break;
		int srv = sr_client_status(cl, &st);
		if (srv == SR_OK)
			sr_status_free(&st);
		sr_client_close(cl);
		if (srv == SR_OK)
			break;
		nanosleep(&(struct timespec) {0, 100 * 1000000L}, NULL);
	}
	if (rv == SR_OK && (rv = sr_client_open(f->url, REMOTE_TIMEOUT_MS, &f->admin)) != SR_OK)
		bench_errf(err, errlen, "client: %s", sr_strerror(rv));
	return rv;
}

int
fx_coord(struct fixture *f, const char *name, sr_coordinator **out, char *err, size_t errlen)
{
	sr_coordinator_config cfg;
	sr_coordinator_config_init(&cfg);
	cfg.master_url = f->url;
	cfg.node_name = name;
	return sr_coordinator_open(&cfg, out, err, errlen);
}

int
fx_seq(struct fixture *f, const sr_seq_spec *spec, char *err, size_t errlen)
{
	int rv = sr_client_seq_create(f->admin, spec, NULL);
	if (rv != SR_OK)
		bench_errf(err, errlen, "seq create %s: %s: %s", spec->name, sr_strerror(rv),
		    sr_client_errmsg(f->admin));
	return rv;
}

/* Opens the shared cluster on first use. */
int
fx_get(struct fixture *f, char *err, size_t errlen)
{
	if (f->m != NULL)
		return SR_OK;
	int rv = fx_open(f, err, errlen);
	if (rv == SR_OK)
		rv = fx_coord(f, "bench-0", &f->c, err, errlen);
	return rv;
}

void
fx_close(struct fixture *f)
{
	sr_coordinator_close(f->c);
	sr_client_close(f->admin);
	master_stop(f->m);
	if (f->dir[0] != '\0' && f->keep)
		fprintf(stderr, "bench: logs kept in %s\n", f->dir);
	else if (f->dir[0] != '\0')
		proc_rm_dir(f->dir);
	memset(f, 0, sizeof(*f));
}
