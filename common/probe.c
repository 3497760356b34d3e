/* wire_probe (probe.h): is anything listening at an nng URL? */
/* realpath */
#define _DEFAULT_SOURCE
#include "probe.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "snowrange/error.h"

static int
refused(const char *url, int err, char *errbuf, size_t errlen)
{
	snprintf(errbuf, errlen, "%s: nothing listens at %s", strerror(err), url);
	return SR_ECONNECT;
}

/*
 * An ipc path is probed without connecting: nng 1.5.2's ipc listener stops
 * accepting after a connection that closes before its handshake (nng #1518),
 * which a probe would be. Linux lists listening Unix sockets in
 * /proc/net/unix (flag __SO_ACCEPTCON, 0x10000); a path that is missing, or
 * whose socket file is left over from a process that died, is refused.
 */
static int
probe_ipc(const char *url, const char *path, char *errbuf, size_t errlen)
{
	struct stat sb;
	if (stat(path, &sb) != 0)
		return errno == ENOENT ? refused(url, ENOENT, errbuf, errlen) : SR_OK;
	FILE *f = fopen("/proc/net/unix", "r");
	if (f == NULL)
		return SR_OK;
	/* The table shows the path as the server bound it, perhaps relative
	 * to its own directory: an entry whose path is a suffix of ours (on a
	 * '/' boundary) counts, so that only a path no listener can be is
	 * refused. */
	char full[4200];
	if (realpath(path, full) == NULL)
		snprintf(full, sizeof(full), "%s", path);
	char line[4200];
	bool listening = false, any = false;
	size_t fl = strlen(full);
	while (!listening && fgets(line, sizeof(line), f) != NULL) {
		/* Num RefCount Protocol Flags Type St Inode Path */
		unsigned long flags;
		int off = 0;
		if (sscanf(line, "%*s %*s %*s %lx %*s %*s %*s %n", &flags, &off) < 1 || off == 0)
			continue;
		any = true;
		char *p = line + off;
		p[strcspn(p, "\n")] = '\0';
		size_t pl = strlen(p);
		if (!(flags & 0x10000ul) || pl == 0 || pl > fl)
			continue;
		if (strcmp(full + fl - pl, p) == 0 &&
		    (pl == fl || p[0] == '/' || full[fl - pl - 1] == '/'))
			listening = true;
		else if (strcmp(path, p) == 0)
			listening = true;
	}
	fclose(f);
	if (any && !listening)
		return refused(url, ECONNREFUSED, errbuf, errlen);
	return SR_OK;
}

static int
probe_tcp(const char *url, const char *hostport, int timeout_ms, char *errbuf, size_t errlen)
{
	char host[256], port[16];
	const char *colon = strrchr(hostport, ':');
	if (colon == NULL || colon == hostport)
		return SR_OK;
	size_t hl = (size_t) (colon - hostport);
	const char *h = hostport;
	if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(host) || strlen(colon + 1) >= sizeof(port))
		return SR_OK;
	memcpy(host, h, hl);
	host[hl] = '\0';
	snprintf(port, sizeof(port), "%s", colon + 1);
	port[strcspn(port, "/")] = '\0';
	struct addrinfo hints, *res;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_family = strncmp(url, "tcp4", 4) == 0 ? AF_INET
	    : strncmp(url, "tcp6", 4) == 0             ? AF_INET6
	                                               : AF_UNSPEC;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return SR_OK;
	int out = SR_OK,
	    fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
	        res->ai_protocol);
	if (fd >= 0) {
		int rv = connect(fd, res->ai_addr, res->ai_addrlen), err = errno;
		if (rv != 0 && err == EINPROGRESS) {
			struct pollfd pfd = {fd, POLLOUT, 0};
			socklen_t sl = sizeof(err);
			err = 0;
			if (poll(&pfd, 1, timeout_ms) == 1)
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl);
		}
		if (rv != 0 && err == ECONNREFUSED)
			out = refused(url, err, errbuf, errlen);
		close(fd);
	}
	freeaddrinfo(res);
	return out;
}

int
wire_probe(const char *url, int timeout_ms, char *errbuf, size_t errlen)
{
	static const char *const tcp[] = {"tcp://", "tcp4://", "tcp6://", "tls+tcp://",
	    "tls+tcp4://", "tls+tcp6://"};
	if (strncmp(url, "ipc://", 6) == 0)
		return probe_ipc(url, url + 6, errbuf, errlen);
	for (size_t i = 0; i < sizeof(tcp) / sizeof(tcp[0]); i++) {
		size_t l = strlen(tcp[i]);
		if (strncmp(url, tcp[i], l) == 0)
			return probe_tcp(url, url + l, timeout_ms, errbuf, errlen);
	}
	return SR_OK;
}
