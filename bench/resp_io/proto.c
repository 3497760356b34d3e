/*
 * A measurement tool, not part of the build: the smallest RESP server that
 * answers INCR the way the coordinator's RESP port does (the same parser,
 * coordinator/resp.c, and the same reply bytes; a counter stands in for the
 * atomic add), on four I/O engines, so that docs/benchmarks.md ("io_uring
 * instead of epoll") can compare the engines and nothing else. One thread,
 * one connection list, no limits or timeouts: it trusts its client
 * (redis-benchmark).
 *
 *   proto PORT epoll      epoll_wait, recv, send: what resp_server.c does
 *   proto PORT uring      one io_uring_enter per loop turn: each reply is a
 *                         send SQE (MSG_WAITALL, CQE_SKIP_SUCCESS) linked
 *                         to the connection's next recv, which takes a
 *                         buffer from a provided-buffer ring when data
 *                         arrives; all of them submitted with the wait
 *                         (DEFER_TASKRUN, SINGLE_ISSUER, registered ring fd)
 *   proto PORT multishot  the same with one multishot recv per connection
 *                         (armed once) and unlinked sends; it reuses a
 *                         connection's reply buffer, which is safe only
 *                         because redis-benchmark reads every reply before
 *                         it sends again
 *   proto PORT sqpoll     multishot with a kernel thread polling the
 *                         submission queue (SQPOLL) instead of DEFER_TASKRUN
 *
 * Build (liburing-dev: scripts/deps bench):
 *   gcc -O2 -Wall -Wextra -Icoordinator -o /tmp/proto bench/resp_io/proto.c \
 *       coordinator/resp.c -luring
 * bench/resp_io/run.sh drives it against Redis and the real RESP port.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "resp.h"

static uint64_t counter;

/* Answers the whole requests in buf[0..len) into out; returns the bytes
 * used. *bad after a protocol error (the connection is then closed). */
static size_t
serve(const char *buf, size_t len, struct resp_buf *out, bool *bad)
{
	size_t pos = 0, used;
	struct resp_cmd cmd;
	char err[160];
	while (pos < len) {
		enum resp_status r =
		    resp_parse(buf + pos, len - pos, &cmd, &used, err, sizeof(err));
		if (r == RESP_MORE)
			break;
		if (r == RESP_BAD) {
			resp_put_error(out, err);
			*bad = true;
			return len;
		}
		pos += used;
		if (cmd.argc == 0)
			continue;
		if (resp_arg_is(&cmd.argv[0], "INCR"))
			resp_put_uint(out, ++counter);
		else if (resp_arg_is(&cmd.argv[0], "PING"))
			resp_put_simple(out, "PONG");
		else
			resp_put_array(out, 0); /* CONFIG GET at redis-benchmark's start */
	}
	return pos;
}

static int
listen_on(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *) &a, sizeof(a)) != 0 || listen(fd, 4096) != 0) {
		perror("proto: listen");
		exit(1);
	}
	return fd;
}

/* ---- epoll ---- */

struct econn {
	int fd;
	char in[RESP_MAX_FRAME];
	size_t in_len;
};

static void
run_epoll(int lfd)
{
	static char rbuf[65536 + RESP_MAX_FRAME];
	struct resp_buf out = {0};
	struct epoll_event ev[256];
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event le = {.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &le);
	for (;;) {
		int n = epoll_wait(ep, ev, 256, 1000);
		for (int i = 0; i < n; i++) {
			struct econn *c = ev[i].data.ptr;
			if (c == NULL) {
				int fd;
				while ((fd = accept4(lfd, NULL, NULL,
				            SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					int one = 1;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					c = calloc(1, sizeof(*c));
					c->fd = fd;
					struct epoll_event ce = {.events = EPOLLIN, .data.ptr = c};
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ce);
				}
				continue;
			}
			memcpy(rbuf, c->in, c->in_len);
			ssize_t r = recv(c->fd, rbuf + c->in_len, 65536, 0);
			if (r < 0 && errno == EAGAIN)
				continue;
			bool bad = r <= 0;
			if (r > 0) {
				size_t len = c->in_len + (size_t) r;
				out.len = 0;
				size_t used = serve(rbuf, len, &out, &bad);
				c->in_len = len - used;
				memcpy(c->in, rbuf + used, c->in_len);
				/* A reply this small always fits the socket's buffer
				 * when the client reads its replies. */
				if (out.len > 0 &&
				    send(c->fd, out.p, out.len, MSG_NOSIGNAL) != (ssize_t) out.len)
					bad = true;
			}
			if (bad) {
				close(c->fd);
				free(c);
			}
		}
	}
}

/* ---- io_uring ---- */

#define NBUF 256     /* provided buffers */
#define BUFSZ 16384  /* bytes each */
#define BGID 1       /* their group */
#define OP_ACCEPT 1u /* user_data: a connection pointer | the operation */
#define OP_RECV 2u
#define OP_SEND 3u      /* the last reply before a close: counted */
#define OP_SEND_SKIP 4u /* posts a CQE only when it failed: not counted */

struct uconn {
	int fd;
	int pending; /* CQEs still to come */
	bool dead;
	char in[RESP_MAX_FRAME];
	size_t in_len;
	struct resp_buf out;
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufs;
static bool multishot, link_sends = true;

static struct io_uring_sqe *
get_sqe(void)
{
	struct io_uring_sqe *s = io_uring_get_sqe(&ring);
	if (s == NULL) {
		io_uring_submit(&ring);
		s = io_uring_get_sqe(&ring);
	}
	return s;
}

static void
arm_recv(struct uconn *c)
{
	struct io_uring_sqe *s = get_sqe();
	if (multishot)
		io_uring_prep_recv_multishot(s, c->fd, NULL, 0, 0);
	else
		io_uring_prep_recv(s, c->fd, NULL, BUFSZ, 0);
	s->flags |= IOSQE_BUFFER_SELECT;
	s->buf_group = BGID;
	io_uring_sqe_set_data64(s, (uint64_t) (uintptr_t) c | OP_RECV);
	c->pending++;
}

static void
arm_accept(int lfd)
{
	struct io_uring_sqe *s = get_sqe();
	io_uring_prep_multishot_accept(s, lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(s, OP_ACCEPT);
}

static void
give_back(unsigned bid)
{
	io_uring_buf_ring_add(br, bufs + (size_t) bid * BUFSZ, BUFSZ, (unsigned short) bid,
	    io_uring_buf_ring_mask(NBUF), 0);
	io_uring_buf_ring_advance(br, 1);
}

static void
uconn_release(struct uconn *c)
{
	c->dead = true;
	if (c->pending > 0)
		return;
	close(c->fd);
	resp_buf_free(&c->out);
	free(c);
}

/* A recv completed with data in buffer bid: answer, send, read again. */
static void
on_data(struct uconn *c, const char *b, size_t n, bool armed)
{
	static char rbuf[BUFSZ + RESP_MAX_FRAME];
	memcpy(rbuf, c->in, c->in_len);
	memcpy(rbuf + c->in_len, b, n);
	size_t len = c->in_len + n;
	bool bad = false;
	c->out.len = 0;
	size_t used = serve(rbuf, len, &c->out, &bad);
	c->in_len = len - used;
	memcpy(c->in, rbuf + used, c->in_len);
	if (c->out.len > 0) {
		struct io_uring_sqe *s = get_sqe();
		io_uring_prep_send(s, c->fd, c->out.p, c->out.len, MSG_NOSIGNAL | MSG_WAITALL);
		/* A send that took everything posts no CQE; a failed or cut one
		 * does (and cancels the linked recv). The last reply before a
		 * close is waited for. */
		if (!bad) {
			s->flags |= IOSQE_CQE_SKIP_SUCCESS;
			if (link_sends)
				s->flags |= IOSQE_IO_LINK;
			io_uring_sqe_set_data64(s, (uint64_t) (uintptr_t) c | OP_SEND_SKIP);
		} else {
			c->pending++;
			io_uring_sqe_set_data64(s, (uint64_t) (uintptr_t) c | OP_SEND);
		}
	}
	if (bad)
		uconn_release(c);
	else if (!armed)
		arm_recv(c);
}

static void
run_uring(int lfd, bool sqpoll)
{
	struct io_uring_params p = {0};
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	p.cq_entries = 16384;
	if (sqpoll) {
		p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SQPOLL;
		p.sq_thread_idle = 100;
	}
	int rv = io_uring_queue_init_params(4096, &ring, &p);
	if (rv < 0) {
		fprintf(stderr, "proto: io_uring_queue_init: %s\n", strerror(-rv));
		exit(1);
	}
	io_uring_register_ring_fd(&ring);
	br = mmap(NULL, NBUF * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
	    MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	struct io_uring_buf_reg reg = {.ring_addr = (uintptr_t) br,
	    .ring_entries = NBUF,
	    .bgid = BGID};
	bufs = malloc((size_t) NBUF * BUFSZ);
	if (br == MAP_FAILED || bufs == NULL ||
	    (rv = io_uring_register_buf_ring(&ring, &reg, 0)) < 0) {
		fprintf(stderr, "proto: provided buffers: %s\n", strerror(-rv));
		exit(1);
	}
	io_uring_buf_ring_init(br);
	for (unsigned i = 0; i < NBUF; i++)
		give_back(i);
	arm_accept(lfd);
	for (;;) {
		struct io_uring_cqe *cqe;
		struct __kernel_timespec ts = {.tv_sec = 1};
		rv = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
		if (rv < 0 && rv != -ETIME && rv != -EINTR) {
			fprintf(stderr, "proto: wait: %s\n", strerror(-rv));
			exit(1);
		}
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&ring, head, cqe)
		{
			seen++;
			uint64_t ud = io_uring_cqe_get_data64(cqe);
			unsigned op = (unsigned) (ud & 7);
			struct uconn *c = (struct uconn *) (uintptr_t) (ud & ~(uint64_t) 7);
			if (op == OP_ACCEPT) {
				if (!(cqe->flags & IORING_CQE_F_MORE))
					arm_accept(lfd);
				if (cqe->res < 0)
					continue;
				int one = 1;
				setsockopt(cqe->res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				c = calloc(1, sizeof(*c));
				c->fd = cqe->res;
				arm_recv(c);
				continue;
			}
			if (op == OP_SEND_SKIP) {
				/* Failed: the linked recv ends with -ECANCELED. */
				c->dead = true;
				continue;
			}
			bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
			if (!more)
				c->pending--;
			if (op == OP_SEND) {
				uconn_release(c);
				continue;
			}
			bool buf = (cqe->flags & IORING_CQE_F_BUFFER) != 0;
			unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
			/* -ECANCELED follows a failed send, whose CQE may come
			 * later: the tool does not free such a connection. */
			if (cqe->res == -ECANCELED)
				c->dead = true;
			else if (!c->dead && cqe->res == -ENOBUFS)
				arm_recv(c);
			else if (c->dead || cqe->res <= 0)
				uconn_release(c);
			else
				on_data(c, bufs + (size_t) bid * BUFSZ, (size_t) cqe->res, more);
			if (buf)
				give_back(bid);
		}
		io_uring_cq_advance(&ring, seen);
	}
}

int
main(int argc, char **argv)
{
	long port = argc == 3 ? strtol(argv[1], NULL, 10) : 0;
	if (port < 1 || port > 65535) {
		fprintf(stderr, "usage: proto PORT epoll|uring|multishot|sqpoll\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	int lfd = listen_on((int) port);
	if (strcmp(argv[2], "epoll") == 0)
		run_epoll(lfd);
	multishot = strcmp(argv[2], "multishot") == 0 || strcmp(argv[2], "sqpoll") == 0;
	link_sends = !multishot;
	run_uring(lfd, strcmp(argv[2], "sqpoll") == 0);
	return 0;
}
