/*
 * Stands in for a master that dies at the worst moment for a coordinator
 * redialling it (tests/integration/reconnect.sh):
 *
 *   dropdial URL ROUNDS TIMEOUT_MS
 *
 * URL is ipc://PATH or tcp://127.0.0.1:PORT, the master's address while the
 * master is down. ROUNDS times, it listens there and closes the listener
 * the moment a dial is queued, without accepting it: what a master's
 * listener does when the master is killed or stops with a redial in its
 * listen queue. nng 1.5.2 ends such an ipc dial with NNG_ECLOSED and its
 * dialer never dials again (docs/reliability.md, "A dialer nng stopped");
 * over tcp the queued connection is reset. A real master can only meet that
 * by chance (the dial must land in the moment before it goes); this makes
 * it certain.
 *
 * Prints when each dial came. Exits 0 after ROUNDS dials were dropped, 1 when no dial came within
 * TIMEOUT_MS of a round's start (the coordinator stopped redialling), 2 on
 * bad arguments or a socket error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

/* A listening socket at url, or -1 (errno set; EINVAL for a bad URL). */
static int
listen_at(const char *url)
{
	int s = -1;
	if (strncmp(url, "ipc://", 6) == 0) {
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		const char *path = url + 6;
		if (strlen(path) >= sizeof(a.sun_path)) {
			errno = EINVAL;
			return -1;
		}
		strcpy(a.sun_path, path);
		/* The master killed before us left its socket file. */
		(void) unlink(path);
		s = socket(AF_UNIX, SOCK_STREAM, 0);
		if (s >= 0 && bind(s, (struct sockaddr *) &a, sizeof(a)) != 0)
			goto fail;
	} else if (strncmp(url, "tcp://127.0.0.1:", 16) == 0) {
		uint64_t port;
		if (!sr_parse_u64(url + 16, &port) || port == 0 || port > 65535) {
			errno = EINVAL;
			return -1;
		}
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		s = socket(AF_INET, SOCK_STREAM, 0);
		int one = 1;
		/* The master's last connections may be in TIME_WAIT. */
		if (s >= 0 &&
		    (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
		        bind(s, (struct sockaddr *) &a, sizeof(a)) != 0))
			goto fail;
	} else {
		errno = EINVAL;
		return -1;
	}
	if (s >= 0 && listen(s, 8) != 0)
		goto fail;
	return s;
fail:
	close(s);
	return -1;
}

int
main(int argc, char **argv)
{
	uint64_t rounds, timeout_ms;
	if (argc != 4 || !sr_parse_u64(argv[2], &rounds) || !sr_parse_u64(argv[3], &timeout_ms) ||
	    timeout_ms > 600000) {
		fprintf(stderr,
		    "usage: dropdial ipc://PATH|tcp://127.0.0.1:PORT ROUNDS TIMEOUT_MS\n");
		return 2;
	}
	bool ipc = strncmp(argv[1], "ipc://", 6) == 0;
	for (uint64_t r = 0; r < rounds; r++) {
		int l = listen_at(argv[1]);
		if (l < 0) {
			fprintf(stderr, "dropdial: cannot listen on %s: %s\n", argv[1],
			    strerror(errno));
			return 2;
		}
		/* Over ipc, polled without sleeping, so that the close comes
		 * before the dialer's first write as often as it can (a dying
		 * master's listener closes at any moment: this picks the worst
		 * one). Over tcp the close resets the dial whenever it comes. */
		struct pollfd p = {l, POLLIN, 0};
		int64_t end = sr_mono_ms() + (int64_t) timeout_ms;
		int wait_ms = ipc ? 0 : 10;
		int rv;
		do
			rv = poll(&p, 1, wait_ms);
		while ((rv == 0 || (rv < 0 && errno == EINTR)) && sr_mono_ms() < end);
		/* Closed with the dial still queued, unaccepted. */
		close(l);
		if (rv < 0) {
			fprintf(stderr, "dropdial: poll: %s\n", strerror(errno));
			return 2;
		}
		if (rv > 0)
			printf("dropped a dial %lld ms after listening\n",
			    (long long) (sr_mono_ms() - end + (int64_t) timeout_ms));
		/* In order with the message on stderr, in one log file. */
		fflush(stdout);
		if (rv == 0) {
			fprintf(stderr,
			    "dropdial: no dial reached %s within %llu ms after %llu dropped "
			    "(the client stopped redialling)\n",
			    argv[1], (unsigned long long) timeout_ms, (unsigned long long) r);
			return 1;
		}
	}
	if (ipc)
		(void) unlink(argv[1] + 6);
	return 0;
}
