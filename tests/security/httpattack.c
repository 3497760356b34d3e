/*
 * A hostile HTTP client for tests/security/http_attacks.sh: holds many
 * connections open the way slowloris does, to show what the daemons' HTTP
 * server (common/httpd.c) lets one address keep.
 *
 *   httpattack HOST PORT slow N SECONDS
 *       opens N connections, each sending the start of a request and then
 *       one more header byte every second, never finishing it; after
 *       SECONDS prints "OK ACCEPTED OPEN": how many connections the server
 *       let send their first bytes without closing them at once, and how
 *       many were still open at the end.
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
	if (fd == NULL)
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
	for (int s = 0; s < seconds; s++) {
		sleep(1);
		for (int i = 0; i < n; i++) {
			if (fd[i] < 0)
				continue;
			if (!still_open(fd[i]) || (slow && send(fd[i], "a", 1, MSG_NOSIGNAL) < 0)) {
				close(fd[i]);
				fd[i] = -1;
			}
		}
	}
	int open = 0;
	for (int i = 0; i < n; i++) {
		if (fd[i] >= 0 && still_open(fd[i]))
			open++;
		if (fd[i] >= 0)
			close(fd[i]);
	}
	printf("OK %d %d\n", accepted, open);
	free(fd);
	return 0;
}
