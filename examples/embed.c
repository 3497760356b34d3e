/*
 * A query layer embedding libsnowrange (docs/embedding.md): it joins the
 * master as a coordinator, draws IDs of one sequence from memory and mints
 * one transaction ID, then leaves. Only the installed headers and library
 * are used:
 *
 *   cc embed.c $(pkg-config --cflags --libs snowrange) -o embed
 *   ./embed tcp://127.0.0.1:7400 app-1 orders 5
 *
 * It prints COUNT IDs, one per line, then "txid N". The library's own
 * messages go through a log callback to stderr, marked with their level.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <snowrange/coordinator.h>
#include <snowrange/version.h>

static void
on_log(void *arg, sr_log_level level, const char *msg)
{
	(void) arg;
	const char *what = level == SR_LOG_ERROR ? "error"
	    : level == SR_LOG_WARN               ? "warning"
	                                         : "info";
	fprintf(stderr, "embed: snowrange %s: %s\n", what, msg);
}

int
main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: embed MASTER_URL NODE_NAME SEQUENCE COUNT\n");
		return 2;
	}
	char *end;
	unsigned long count = strtoul(argv[4], &end, 10);
	if (*end != '\0' || count < 1 || count > 1000000) {
		fprintf(stderr, "embed: COUNT must be 1..1000000, not '%s'\n", argv[4]);
		return 2;
	}

	sr_coordinator_config cfg;
	sr_coordinator_config_init(&cfg);
	cfg.master_url = argv[1];
	cfg.node_name = argv[2];
	cfg.log_fn = on_log;

	sr_coordinator *c;
	char err[256];
	int rv = sr_coordinator_open(&cfg, &c, err, sizeof(err));
	if (rv != SR_OK) {
		fprintf(stderr, "embed: cannot join %s: %s (%s)\n", argv[1], err, sr_errname(rv));
		return 1;
	}
	fprintf(stderr, "embed: libsnowrange %s (headers %s), node %" PRIu64 "\n", sr_version(),
	    SNOWRANGE_VERSION_STRING, sr_coordinator_node_id(c));

	/* A sequence handle skips the name lookup on every call. */
	sr_sequence *seq;
	rv = sr_sequence_get(c, argv[3], &seq);
	for (unsigned long i = 0; rv == SR_OK && i < count; i++) {
		uint64_t id;
		if ((rv = sr_seq_next_id(seq, &id)) == SR_OK)
			printf("%" PRIu64 "\n", id);
	}
	uint64_t txid;
	if (rv == SR_OK && (rv = sr_next_txid(c, &txid)) == SR_OK)
		printf("txid %" PRIu64 "\n", txid);
	if (rv != SR_OK)
		fprintf(stderr, "embed: %s: %s (%s)\n", argv[3], sr_strerror(rv), sr_errname(rv));

	sr_coordinator_close(c);
	return rv == SR_OK ? 0 : 1;
}
