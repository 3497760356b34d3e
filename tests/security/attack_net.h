/*
 * What the RESP attack tools (respattack.c, resptlsattack.c) share: a
 * monotonic clock in seconds and a blocking TCP connect to 127.0.0.1:port.
 * Header-only; each tool includes it once.
 */
#ifndef SR_ATTACK_NET_H
#define SR_ATTACK_NET_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* A connected socket to 127.0.0.1:port, or -1. */
static inline int
dial_port(int port)
{
	struct sockaddr_in sa = {0};
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short) port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

#endif
