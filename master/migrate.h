/*
 * Copying a master's whole state from one store into another, for
 * `snowrange-master migrate --from URL --to URL` (master/main.c): how an
 * operator who started on SQLite moves to etcd (docs/ha.md, "Moving a
 * cluster to etcd"), or from any store to any other, without losing a hwm,
 * a worker grant or the fencing history. Pure over the store interface
 * (store.h), so the unit tests run it over in-memory stores; opening the
 * stores and making sure no master serves them is the caller's part.
 *
 * The rules, in the order migrate_copy() applies them:
 *
 *  1. The destination must be empty: no row of any kind and no layout
 *     (store_state_empty). Otherwise SR_EEXISTS, and neither store is
 *     written: a copy over existing rows would mix two clusters' hwms.
 *  2. The source is read with acquire_and_load, never load: the migration
 *     takes a new term t_s there before it reads, so a master still running
 *     on the source is fenced out from that moment. Each of its commits is
 *     either in what was read or fails with SR_ESTALE (and that master
 *     exits). A source holding nothing is refused (SR_ENOTFOUND): it is
 *     almost surely the wrong URL.
 *  3. The destination's term is taken too (t_d), and the rows are written
 *     under it in commits of at most `batch` ops. The last commit holds the
 *     layout and raises the destination's term to T = max(t_s, t_d) + 1
 *     (STORE_SET_TERM): every term the destination will ever have is above
 *     every term the source had, the migration's own included, so terms
 *     only grow over the life of the cluster, whatever the store. A copy cut
 *     short has no layout, so it is never taken for a finished one.
 *  4. Both are read back: the source's term must still be t_s (else a master
 *     took the source during the copy and may have committed after the read:
 *     SR_ESTALE), and the destination must hold exactly the source's rows
 *     with term T (SR_EIO otherwise).
 */
#ifndef SR_MIGRATE_H
#define SR_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct migrate_result {
	uint64_t src_term; /* the term the migration took on the source */
	uint64_t dst_term; /* the destination's term at the end (T) */
	size_t nseqs, nnodes, nworkers, neras;
	size_t commits; /* destination commits made */
	int partial;    /* on failure: the destination holds part of a copy */
	sr_flake_layout layout;
};

/*
 * Copies src into dst as above, in commits of at most batch ops (>= 2; an
 * etcd destination's --max-txn-ops). *res tells what was copied, or on
 * failure whether dst holds part of it (res->partial: clear it before trying
 * again). SR_EEXISTS (dst not empty), SR_ENOTFOUND (src empty), SR_ESTALE,
 * SR_EIO, SR_EINVAL, SR_ENOMEM, with a message naming the store in errbuf.
 */
int migrate_copy(struct store *src, struct store *dst, size_t batch, struct migrate_result *res,
    char *errbuf, size_t errlen);

/* ---- store URLs ---- */

enum migrate_kind {
	MIGRATE_SQLITE, /* sqlite:DIR or sqlite://DIR: a --data-dir */
	MIGRATE_ETCD,   /* etcd://HOST:PORT[,...][/PREFIX], as --store */
};

/*
 * Parses a store URL of migrate's --from or --to. For sqlite, *dir points
 * into url at the directory. SR_EINVAL naming the URL and what is wrong for
 * anything else (a bare path is refused: "sqlite:PATH" says what it is;
 * an etcd URL is checked as store_etcd_open would).
 */
int migrate_parse_url(const char *url, enum migrate_kind *kind, const char **dir, char *errbuf,
    size_t errlen);

#endif
