/*
 * Leader election among masters sharing one etcd prefix (docs/ha.md).
 *
 * Every master holds an etcd lease (TTL --leader-ttl-ms) and tries to
 * create the key P leader (its advertised URL) under that lease; the one
 * that creates it leads, the others poll the key and stand by, answering
 * clients with SR_ENOTLEADER and the leader's URL. The leader keeps its
 * lease alive; when the lease ends (the leader died, hung, or lost etcd),
 * etcd deletes the key and a standby creates it.
 *
 * The rule that keeps IDs and worker ids unique across a failover: the
 * leader serves only while its own view of the lease is valid, which ends
 * at send time of its last successful keep-alive plus the TTL etcd
 * granted, minus a margin. etcd expires the lease no earlier than that
 * (it counts from when it received the keep-alive), and only then can
 * another master create the key. So a leader stops before any successor
 * starts, even when it is cut off from etcd or stopped (SIGSTOP) and its
 * election thread cannot tell it. The fencing term (store.h) is the second
 * line: the successor takes a new term before it loads, so whatever the old
 * leader still tries to commit fails.
 *
 * on_elected runs on the election thread after this master created the
 * key; it takes the term and loads (catalog_open). on_lost runs there too,
 * after serving has already stopped. Both may do I/O.
 */
#ifndef SR_LEADER_H
#define SR_LEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct leader_config {
	const char *store_url; /* etcd://HOST:PORT,.../PREFIX */
	const char *advertise; /* this master's URL as coordinators dial it */
	int ttl_ms;            /* lease TTL; etcd counts whole seconds (rounded up) */
	int timeout_ms;        /* one etcd request to one member */
	int (*on_elected)(void *arg, char *errbuf, size_t errlen);
	void (*on_lost)(void *arg);
	void *arg;
};

struct leader;

/* Starts the election thread; SR_EINVAL for a bad URL or TTL. */
int leader_start(const struct leader_config *cfg, struct leader **out, char *errbuf, size_t errlen);
/* Stops the thread; a leader resigns first (revokes its lease, so a standby
 * takes over at once instead of after the TTL). NULL-safe. */
void leader_stop(struct leader *ld);
/* leader_stop without freeing: the thread is stopped and leader_serving is
 * false from then on, while threads that may still ask (requests in
 * flight, the flusher of parked leases) can do so safely; leader_stop
 * frees it later. NULL-safe. */
void leader_resign(struct leader *ld);

/* True while this master leads and its lease is valid by its own clock:
 * what every request checks before and after it touches the catalog. */
bool leader_serving(struct leader *ld);
/* The leading master's URL as last seen ("" when none is known). */
void leader_url(struct leader *ld, char *buf, size_t len);
/* Stop serving now and resign (a commit found the term taken): the
 * election thread calls on_lost and campaigns again. Any thread. */
void leader_step_down(struct leader *ld);

#endif
