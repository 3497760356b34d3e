/*
 * Test helper (header-only, static): runs one real etcd member on loopback
 * for a C test, on free ports and in a temp data directory, and stops it
 * (SIGKILL, then the directory is removed). etcd_proc_available() says
 * whether the etcd binary is installed (scripts/deps test).
 */
#ifndef SR_TEST_ETCD_PROC_H
#define SR_TEST_ETCD_PROC_H

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rm_rf.h"

struct etcd_proc {
	pid_t pid;
	char dir[64];
	int client_port, peer_port;
	char url[128]; /* etcd://127.0.0.1:PORT/TEST/ (a store URL) */
};

#define ETCD_BIN "/usr/bin/etcd"

static bool
etcd_proc_available(void)
{
	return access(ETCD_BIN, X_OK) == 0;
}

/* A port nobody listens on now (the kernel's pick for port 0). */
static int
etcd_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *) &a, sizeof a) == 0 &&
	    getsockname(fd, (struct sockaddr *) &a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* Whether etcd at port answers GET /health with "health":"true". */
static bool
etcd_healthy(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
	char buf[1024];
	size_t n = 0;
	ssize_t r;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return false;
	struct timeval tv = {2, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	static const char req[] = "GET /health HTTP/1.0\r\n\r\n";
	if (connect(fd, (struct sockaddr *) &a, sizeof a) != 0 ||
	    write(fd, req, sizeof req - 1) != (ssize_t) (sizeof req - 1)) {
		close(fd);
		return false;
	}
	while (n < sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
		n += (size_t) r;
	close(fd);
	buf[n] = '\0';
	return strstr(buf, "\"health\":\"true\"") != NULL;
}

/* Starts etcd; 0 once it is healthy (bounded wait, 20 s), -1 otherwise. */
static int
etcd_proc_start(struct etcd_proc *e)
{
	char cu[64], pu[64], cluster[96], log[96];
	snprintf(e->dir, sizeof e->dir, "/tmp/sr-etcd-XXXXXX");
	if (mkdtemp(e->dir) == NULL)
		return -1;
	e->client_port = etcd_free_port();
	e->peer_port = etcd_free_port();
	if (e->client_port < 0 || e->peer_port < 0 || e->client_port == e->peer_port)
		return -1;
	snprintf(cu, sizeof cu, "http://127.0.0.1:%d", e->client_port);
	snprintf(pu, sizeof pu, "http://127.0.0.1:%d", e->peer_port);
	snprintf(cluster, sizeof cluster, "t=%s", pu);
	snprintf(log, sizeof log, "%s/etcd.log", e->dir);
	snprintf(e->url, sizeof e->url, "etcd://127.0.0.1:%d/test/", e->client_port);
	char data[96];
	snprintf(data, sizeof data, "%s/data", e->dir);
	e->pid = fork();
	if (e->pid < 0)
		return -1;
	if (e->pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(ETCD_BIN, "etcd", "--name", "t", "--data-dir", data, "--listen-client-urls",
		    cu, "--advertise-client-urls", cu, "--listen-peer-urls", pu,
		    "--initial-advertise-peer-urls", pu, "--initial-cluster", cluster,
		    (char *) NULL);
		_exit(127);
	}
	/* Ready means healthy (a raft leader, so requests are served), not
	 * just listening: a loaded machine takes a while between the two. */
	for (int i = 0; i < 200; i++) {
		if (etcd_healthy(e->client_port))
			return 0;
		if (waitpid(e->pid, NULL, WNOHANG) == e->pid) {
			e->pid = 0;
			return -1;
		}
		nanosleep(&(struct timespec) {0, 100 * 1000000L}, NULL);
	}
	return -1;
}

/* Whether every thread of pid is in the stopped state ('T' in
 * /proc/PID/task/TID/stat, the field after the command's closing ')'). The
 * main thread's /proc/PID/stat alone is not enough: each thread of a group
 * stop stops itself when it next runs in the kernel, so etcd's other threads
 * may still be serving requests after the main one stopped. */
static bool
etcd_proc_all_stopped(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int) pid);
	DIR *d = opendir(path);
	struct dirent *t;
	int seen = 0, stopped = 0;
	if (d == NULL)
		return false;
	while ((t = readdir(d)) != NULL) {
		char stat[400], buf[512];
		if (t->d_name[0] == '.')
			continue;
		snprintf(stat, sizeof stat, "%s/%s/stat", path, t->d_name);
		FILE *f = fopen(stat, "r");
		if (f == NULL)
			continue; /* the thread exited meanwhile */
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[n] = '\0';
		const char *rp = strrchr(buf, ')');
		seen++;
		if (rp != NULL && rp[1] == ' ' && rp[2] == 'T')
			stopped++;
	}
	closedir(d);
	return seen > 0 && stopped == seen;
}

/*
 * Sends sig to etcd; 0 once it took effect, -1 otherwise. kill() only
 * queues a SIGSTOP: the target stops when its threads are next scheduled,
 * and on a loaded machine etcd went on to answer (and commit) a request
 * sent right after the kill, in 6 of 100 runs of test_store_etcd. So a
 * SIGSTOP returns only once every thread of etcd is stopped (bounded, 5 s).
 */
static int
etcd_proc_signal(struct etcd_proc *e, int sig)
{
	if (e->pid <= 0 || kill(e->pid, sig) != 0)
		return -1;
	if (sig != SIGSTOP)
		return 0;
	for (int i = 0; i < 5000; i++) {
		if (etcd_proc_all_stopped(e->pid))
			return 0;
		nanosleep(&(struct timespec) {0, 1000000L}, NULL);
	}
	return -1;
}

static void
etcd_proc_stop(struct etcd_proc *e)
{
	if (e->pid > 0) {
		kill(e->pid, SIGKILL);
		waitpid(e->pid, NULL, 0);
		e->pid = 0;
	}
	if (e->dir[0] != '\0')
		rm_rf(e->dir);
	e->dir[0] = '\0';
}

#endif
