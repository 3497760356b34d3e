/*
 * The election (master/leader.c) against a real etcd member the test
 * starts (tests/etcd_proc.h): one leader and a standby that knows its URL,
 * a hand-over when the leader resigns, a leader whose lease etcd ended,
 * a leader cut off from etcd that stops serving by its own clock within
 * the TTL, and a master that cannot take the term giving the key up.
 * Label ha; skipped when etcd is not installed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "etcd_proc.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "etcd_codec.h"
#include "etcd_http.h"
#include "leader.h"
#include "snowrange/error.h"
#include "util.h"

static struct etcd_proc etcd;

static int
group_setup(void **state)
{
	(void) state;
	if (!etcd_proc_available())
		return 0;
	return etcd_proc_start(&etcd) == 0 ? 0 : -1;
}

static int
group_teardown(void **state)
{
	(void) state;
	etcd_proc_stop(&etcd);
	return 0;
}

/* One master's side of the election: counts the callbacks. */
struct side {
	atomic_int elected, lost;
	int fail_elected; /* on_elected returns SR_EIO while set */
};

static int
on_elected(void *arg, char *errbuf, size_t errlen)
{
	struct side *s = arg;
	if (s->fail_elected)
		return SR_ERRF(errbuf, errlen, SR_EIO, "injected");
	atomic_fetch_add(&s->elected, 1);
	return SR_OK;
}

static void
on_lost(void *arg)
{
	struct side *s = arg;
	atomic_fetch_add(&s->lost, 1);
}

static struct leader *
start(const char *prefix, const char *url, struct side *s)
{
	char store[128], err[256];
	struct leader *ld = NULL;
	if (!etcd_proc_available())
		skip();
	snprintf(store, sizeof store, "etcd://127.0.0.1:%d/%s", etcd.client_port, prefix);
	struct leader_config cfg = {store, url, 2000, 500, on_elected, on_lost, s};
	if (leader_start(&cfg, &ld, err, sizeof err) != SR_OK)
		fail_msg("leader_start: %s", err);
	return ld;
}

/* Polls cond for up to ms (bounded: tests must not hang). */
#define WAIT_FOR(cond, ms)                                                        \
	for (int64_t _end = sr_mono_ms() + (ms); !(cond) && sr_mono_ms() < _end;) \
	nanosleep(&(struct timespec) {0, 20 * 1000000L}, NULL)

static void
test_one_leader_then_handover(void **state)
{
	(void) state;
	struct side sa = {0}, sb = {0};
	char url[256];
	struct leader *a = start("l1", "tcp://a:1", &sa);
	WAIT_FOR(leader_serving(a), 5000);
	assert_true(leader_serving(a));
	struct leader *b = start("l1", "tcp://b:2", &sb);
	WAIT_FOR((leader_url(b, url, sizeof url), url[0] != '\0'), 5000);
	assert_string_equal(url, "tcp://a:1");
	assert_false(leader_serving(b));
	assert_int_equal(atomic_load(&sb.elected), 0);

	/* A leader that stops resigns: the standby leads well within the
	 * TTL (2 s), without waiting for the lease to run out. */
	int64_t t0 = sr_mono_ms();
	leader_stop(a);
	assert_int_equal(atomic_load(&sa.lost), 1);
	WAIT_FOR(leader_serving(b), 5000);
	assert_true(leader_serving(b));
	assert_true(sr_mono_ms() - t0 < 1500);
	leader_url(b, url, sizeof url);
	assert_string_equal(url, "tcp://b:2");
	leader_stop(b);
}

/* Revoking the leader's lease in etcd (what etcd does when it expires)
 * ends the leadership at the next keep-alive; the master campaigns again. */
static void
test_lease_ended_by_etcd(void **state)
{
	(void) state;
	struct side sa = {0};
	struct leader *a = start("l2", "tcp://a:1", &sa);
	WAIT_FOR(leader_serving(a), 5000);
	assert_true(leader_serving(a));

	struct etcd_client *cl;
	char ep[64], err[256], id[32];
	json_t *reply;
	snprintf(ep, sizeof ep, "http://127.0.0.1:%d", etcd.client_port);
	assert_int_equal(etcd_client_open(ep, 1000, &cl, err, sizeof err), SR_OK);
	json_t *rr = etcd_range_req("/l2/leader", 0);
	assert_int_equal(etcd_call(cl, "/v3/kv/range", rr, &reply, err, sizeof err), SR_OK);
	json_decref(rr);
	int64_t lease;
	assert_int_equal(etcd_get_i64(json_array_get(etcd_reply_kvs(reply, -1), 0), "lease",
	                     &lease),
	    SR_OK);
	json_decref(reply);
	assert_true(lease != 0);
	snprintf(id, sizeof id, "%lld", (long long) lease);
	json_t *rv = json_pack("{ss}", "ID", id);
	assert_int_equal(etcd_call(cl, "/v3/lease/revoke", rv, &reply, err, sizeof err), SR_OK);
	json_decref(rv);
	json_decref(reply);

	WAIT_FOR(atomic_load(&sa.lost) == 1, 3000);
	assert_int_equal(atomic_load(&sa.lost), 1);
	/* Alone, it wins again (on_elected takes a new term each time). */
	WAIT_FOR(atomic_load(&sa.elected) == 2 && leader_serving(a), 5000);
	assert_int_equal(atomic_load(&sa.elected), 2);
	etcd_client_close(cl);
	leader_stop(a);
}

/* Cut off from etcd (SIGSTOP: requests hang), the leader stops serving by
 * its own clock, within the TTL of its last keep-alive: before etcd could
 * let anyone else lead. */
static void
test_cut_off_leader_stops_in_time(void **state)
{
	(void) state;
	struct side sa = {0};
	struct leader *a = start("l3", "tcp://a:1", &sa);
	WAIT_FOR(leader_serving(a), 5000);
	assert_true(leader_serving(a));
	assert_int_equal(etcd_proc_signal(&etcd, SIGSTOP), 0);
	int64_t t0 = sr_mono_ms();
	WAIT_FOR(!leader_serving(a), 5000);
	int64_t took = sr_mono_ms() - t0;
	/* Read before etcd resumes: a keep-alive sent while it was stopped
	 * may be answered once it runs again, and then the leader rightly
	 * serves again (this assertion failed that way under load). */
	bool serving = leader_serving(a);
	assert_int_equal(etcd_proc_signal(&etcd, SIGCONT), 0);
	assert_false(serving);
	/* Within the 2 s TTL (the last keep-alive was at most a quarter of
	 * it ago, and a tenth is kept back). */
	assert_true(took <= 2000);
	leader_stop(a);
}

/* A leader told to step down (a commit found the term taken) stops
 * serving at once, drops its catalog (on_lost) and campaigns again. An
 * earlier version cleared the serving flag in leader_step_down, which the
 * election thread then read as "was not leading": on_lost never ran and the
 * loss was not logged (found by failover.sh). */
static void
test_step_down_calls_on_lost(void **state)
{
	(void) state;
	struct side sa = {0};
	struct leader *a = start("l5", "tcp://a:1", &sa);
	WAIT_FOR(leader_serving(a), 5000);
	assert_true(leader_serving(a));
	leader_step_down(a);
	assert_false(leader_serving(a));
	WAIT_FOR(atomic_load(&sa.lost) == 1, 3000);
	assert_int_equal(atomic_load(&sa.lost), 1);
	/* Alone, it leads again, under a new lease and term. */
	WAIT_FOR(atomic_load(&sa.elected) == 2 && leader_serving(a), 5000);
	assert_int_equal(atomic_load(&sa.elected), 2);
	leader_stop(a);
	assert_int_equal(atomic_load(&sa.lost), 2);
}

/* A master that wins the key but cannot take the term (etcd trouble, a
 * layout refused) gives the key up, so that another can lead. */
static void
test_failed_takeover_resigns(void **state)
{
	(void) state;
	struct side sa = {.fail_elected = 1}, sb = {0};
	struct leader *a = start("l4", "tcp://a:1", &sa);
	nanosleep(&(struct timespec) {0, 300 * 1000000L}, NULL);
	struct leader *b = start("l4", "tcp://b:2", &sb);
	WAIT_FOR(leader_serving(b), 5000);
	assert_true(leader_serving(b));
	assert_false(leader_serving(a));
	leader_stop(a);
	leader_stop(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_leader_then_handover),
	    cmocka_unit_test(test_lease_ended_by_etcd),
	    cmocka_unit_test(test_cut_off_leader_stops_in_time),
	    cmocka_unit_test(test_failed_takeover_resigns),
	    cmocka_unit_test(test_step_down_calls_on_lost),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
