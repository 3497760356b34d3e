/*
 * Writes a 2PC log for the txlog CLI test through the library's real API:
 *
 *   mktxlog FILE TXID1 TXID2 TXID3
 *
 * TXID1 commits (BEGIN, PREPARE, COMMIT), TXID2 stays in doubt (BEGIN,
 * PREPARE), TXID3 aborts (BEGIN, ABORT). Records are appended in reverse
 * txid order so that txid-order printing is visible. Prints the log's last
 * txid (the floor a coordinator would be given).
 */
#include <stdio.h>
#include <string.h>

#include "snowrange/txlog.h"
#include "util.h"

int
main(int argc, char **argv)
{
	uint64_t t[3];
	if (argc != 5 || !sr_parse_u64(argv[2], &t[0]) || !sr_parse_u64(argv[3], &t[1]) ||
	    !sr_parse_u64(argv[4], &t[2])) {
		fprintf(stderr, "usage: mktxlog FILE TXID1 TXID2 TXID3\n");
		return 2;
	}
	const char *parts[] = {"shard-a", "shard-b"};
	const struct {
		int tx;
		sr_tx_state st;
	} plan[] = {{2, SR_TX_BEGIN}, {2, SR_TX_ABORT}, {1, SR_TX_BEGIN}, {1, SR_TX_PREPARE},
	    {0, SR_TX_BEGIN}, {0, SR_TX_PREPARE}, {0, SR_TX_COMMIT}};
	sr_txlog *log;
	sr_txlog_recovery rec;
	char err[256];
	int rv = sr_txlog_open(argv[1], &log, &rec, err, sizeof(err));
	if (rv != SR_OK) {
		fprintf(stderr, "mktxlog: %s: %s\n", argv[1], err);
		return 1;
	}
	for (size_t i = 0; i < sizeof(plan) / sizeof(plan[0]) && rv == SR_OK; i++) {
		sr_txrecord r = {t[plan[i].tx], plan[i].st, parts, 2, "payload", 7};
		rv = sr_txlog_write(log, &r);
	}
	printf("%llu\n", (unsigned long long) sr_txlog_last_txid(log));
	sr_txlog_close(log);
	return rv == SR_OK ? 0 : 1;
}
