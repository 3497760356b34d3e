/*
 * A hostile RESP client for tests/security/resp.sh: many connections, slow
 * senders and a client that never reads its replies, against the
 * coordinator's RESP port (docs/security.md). Plain sockets, no library.
 *
 *   respattack PORT conns N SECONDS   opens N connections to 127.0.0.1:PORT,
 *       sends PING on each, and reads for up to SECONDS; prints
 *       "OK SERVED FULL CLOSED OTHER": how many answered (+PONG, or NOAUTH
 *       from a port that wants AUTH first), how many were
 *       told "max number of clients reached", closed without a word, or said
 *       something else.
 *   respattack PORT slow N SECONDS    N connections each announce a
 *       512-byte argument and send one byte of it a second; after SECONDS
 *       prints "OK OPEN", how many the server still kept open.
 *   respattack PORT noread SECONDS    pipelines SR.NEXT bench 65536 as fast
 *       as the server takes them, never reading a reply, for SECONDS;
 *       prints "OK SENT_BYTES". With RESPATTACK_TOKEN in the environment it
 *       sends AUTH with that token first, so that the replies are IDs.
 *
 * Exit status 0 when the attack ran, 1 when it could not connect at all, 2
 * on a usage error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "attack_net.h"

static int port;

static int
dial(void)
{
	return dial_port(port);
}

/* True when the peer closed fd (a read returns 0 or a reset). */
static int
closed(int fd)
{
	char b[256];
	ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static int
conns(int n, double secs)
{
	int *fd = calloc((size_t) n, sizeof(int));
	char(*got)[64] = calloc((size_t) n, 64);
	size_t *len = calloc((size_t) n, sizeof(size_t));
	int *done = calloc((size_t) n, sizeof(int));
	struct pollfd *p = calloc((size_t) n, sizeof(*p));
	if (!fd || !got || !len || !done || !p)
		return 2;
	int ok = 0;
	for (int i = 0; i < n; i++) {
		fd[i] = dial();
		if (fd[i] >= 0) {
			ok++;
			ssize_t w = send(fd[i], "*1\r\n$4\r\nPING\r\n", 14, MSG_NOSIGNAL);
			(void) w;
		}
	}
	if (ok == 0) {
		free(fd);
		free(got);
		free(len);
		free(done);
		free(p);
		return 1;
	}
	int pong = 0, full = 0, gone = 0, other = 0, left = ok;
	double end = now() + secs;
	while (left > 0 && now() < end) {
		int k = 0;
		for (int i = 0; i < n; i++)
			if (fd[i] >= 0 && !done[i]) {
				p[k].fd = fd[i];
				p[k].events = POLLIN;
				k++;
			}
		if (poll(p, (nfds_t) k, 200) <= 0)
			continue;
		for (int i = 0, j = 0; i < n; i++) {
			if (fd[i] < 0 || done[i])
				continue;
			struct pollfd *q = &p[j++];
			if (!(q->revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t r = recv(fd[i], got[i] + len[i], 63 - len[i], MSG_DONTWAIT);
			if (r > 0)
				len[i] += (size_t) r;
			got[i][len[i]] = '\0';
			if (strstr(got[i], "\r\n") != NULL || r <= 0 || len[i] == 63) {
				if (strncmp(got[i], "+PONG\r\n", 7) == 0 ||
				    strncmp(got[i], "-NOAUTH", 7) == 0)
					pong++;
				else if (strstr(got[i], "max number of clients") != NULL)
					full++;
				else if (len[i] == 0)
					gone++;
				else
					other++;
				done[i] = 1;
				left--;
			}
		}
	}
	printf("OK %d %d %d %d\n", pong, full, gone + (n - ok), other + left);
	for (int i = 0; i < n; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	free(fd);
	free(got);
	free(len);
	free(done);
	free(p);
	return 0;
}

static int
slow(int n, double secs)
{
	int *fd = calloc((size_t) n, sizeof(int));
	if (!fd)
		return 2;
	int ok = 0;
	for (int i = 0; i < n; i++) {
		fd[i] = dial();
		if (fd[i] >= 0) {
			ok++;
			const char *hdr = "*2\r\n$4\r\nINCR\r\n$512\r\n";
			ssize_t w = send(fd[i], hdr, strlen(hdr), MSG_NOSIGNAL);
			(void) w;
		}
	}
	if (ok == 0) {
		free(fd);
		return 1;
	}
	double end = now() + secs;
	while (now() < end) {
		for (int i = 0; i < n; i++)
			if (fd[i] >= 0) {
				ssize_t w = send(fd[i], "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
				(void) w;
			}
		usleep(1000 * 1000);
	}
	int open = 0;
	for (int i = 0; i < n; i++)
		if (fd[i] >= 0) {
			open += !closed(fd[i]);
			close(fd[i]);
		}
	printf("OK %d\n", open);
	free(fd);
	return 0;
}

static int
noread(double secs)
{
	int fd = dial();
	if (fd < 0)
		return 1;
	const char *req = "*3\r\n$7\r\nSR.NEXT\r\n$5\r\nbench\r\n$5\r\n65536\r\n";
	size_t rl = strlen(req);
	char buf[4096];
	size_t n = 0;
	while (n + rl <= sizeof(buf)) {
		memcpy(buf + n, req, rl);
		n += rl;
	}
	const char *tok = getenv("RESPATTACK_TOKEN");
	if (tok != NULL) {
		char auth[300];
		int an = snprintf(auth, sizeof(auth), "AUTH %s\r\n", tok);
		if (an > 0 && (size_t) an < sizeof(auth)) {
			ssize_t w = send(fd, auth, (size_t) an, MSG_NOSIGNAL);
			(void) w;
		}
	}
	long long sent = 0;
	double end = now() + secs;
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	while (now() < end) {
		if (poll(&p, 1, 200) <= 0)
			continue;
		ssize_t w = send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			break;
		if (w > 0)
			sent += w;
	}
	printf("OK %lld\n", sent);
	close(fd);
	return 0;
}

/* A whole positive number, else the usage error. */
static long
num(const char *s)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1) {
		fprintf(stderr, "respattack: '%s' is not a positive number\n", s);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	if (argc < 4)
		goto usage;
	port = (int) num(argv[1]);
	if (strcmp(argv[2], "conns") == 0 && argc == 5)
		return conns((int) num(argv[3]), (double) num(argv[4]));
	if (strcmp(argv[2], "slow") == 0 && argc == 5)
		return slow((int) num(argv[3]), (double) num(argv[4]));
	if (strcmp(argv[2], "noread") == 0 && argc == 4)
		return noread((double) num(argv[3]));
usage:
	fprintf(stderr,
	    "usage: respattack PORT conns N SECONDS | slow N SECONDS | "
	    "noread SECONDS\n");
	return 2;
}
