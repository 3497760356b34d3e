/*
 * ipcdrop PATH N GAP_MS: connects to the unix socket PATH N times, GAP_MS
 * apart, and closes each connection at once, without the SP handshake, the
 * way a crashed client or a probing tool does (tests/security/
 * ipc_listener.sh, nng issue #1518). The gap matters: after a drop that
 * nng survives it backs off 100 ms, and drops within that pause go unseen.
 * Exits 0 when every connect succeeded, 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: ipcdrop PATH N GAP_MS\n");
		return 2;
	}
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "ipcdrop: path too long: %s\n", argv[1]);
		return 2;
	}
	memcpy(sa.sun_path, argv[1], strlen(argv[1]) + 1);
	int n = atoi(argv[2]), gap = atoi(argv[3]), bad = 0;
	struct timespec ts = {gap / 1000, (long) (gap % 1000) * 1000000};
	for (int i = 0; i < n; i++) {
		if (i > 0)
			nanosleep(&ts, NULL);
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (const struct sockaddr *) &sa, sizeof(sa)) != 0) {
			perror("ipcdrop: connect");
			bad++;
		}
		if (fd >= 0)
			close(fd);
	}
	return bad == 0 ? 0 : 1;
}
