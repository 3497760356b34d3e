/*
 * Process control for the bench: the child processes it starts (daemons and
 * the echo server) and the signal handler that kills them, CPU and memory
 * readings from /proc, free loopback ports, temp dirs and finding the
 * binaries of the same build.
 */
#include "bench.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "snowrange/client.h"
#include "snowrange/coordinator.h"
#include "util.h"

extern char **environ;

/* Children to kill if we are interrupted: a signal handler can only reach
 * them through a static. */
static volatile sig_atomic_t child_pids[MAX_CHILDREN];

static void
on_signal(int sig)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (child_pids[i] > 0)
			kill((pid_t) child_pids[i], SIGKILL);
	static const char msg[] = "bench: interrupted; children killed, temp dirs "
	                          "/tmp/sr-bench-* left behind\n";
	ssize_t ignored = write(2, msg, sizeof(msg) - 1);
	(void) ignored;
	_exit(128 + sig);
}

void
proc_trap_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static void
child_track(pid_t pid, bool add)
{
	for (int i = 0; i < MAX_CHILDREN; i++) {
		if (add && child_pids[i] == 0) {
			child_pids[i] = pid;
			return;
		}
		if (!add && child_pids[i] == pid) {
			child_pids[i] = 0;
			return;
		}
	}
}

/* Starts argv[0] with stdout and stderr appended to ch->log. */
int
child_spawn(struct child *ch, const char *name, char *const argv[], const char *log, char *err,
    size_t errlen)
{
	posix_spawn_file_actions_t fa;
	sr_strlcpy(ch->name, name, sizeof(ch->name));
	sr_strlcpy(ch->log, log, sizeof(ch->log));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	int rv = posix_spawn(&ch->pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rv != 0) {
		ch->pid = 0;
		bench_errf(err, errlen, "cannot start %s: %s", argv[0], strerror(rv));
		return SR_EINTERNAL;
	}
	child_track(ch->pid, true);
	return SR_OK;
}

bool
child_alive(struct child *ch)
{
	int st;
	if (ch->pid <= 0)
		return false;
	if (waitpid(ch->pid, &st, WNOHANG) == ch->pid) {
		child_track(ch->pid, false);
		ch->pid = 0;
		return false;
	}
	return true;
}

/*
 * SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT_MS.
 * Returns false, with a message on stderr, unless it exited by itself with
 * status 0: a daemon that crashes or leaks (under the sanitizers) on the way
 * out is a bug the bench must not hide.
 */
bool
child_stop(struct child *ch)
{
	if (ch->pid <= 0)
		return true;
	kill(ch->pid, SIGTERM);
	int st = 0;
	bool clean = false;
	for (int i = 0; i < STOP_TIMEOUT_MS / 20; i++) {
		if (waitpid(ch->pid, &st, WNOHANG) == ch->pid) {
			clean = WIFEXITED(st) && WEXITSTATUS(st) == 0;
			goto done;
		}
		clock_sleep(0.02);
	}
	fprintf(stderr, "bench: %s did not stop within %d ms of SIGTERM; killing it\n", ch->name,
	    STOP_TIMEOUT_MS);
	kill(ch->pid, SIGKILL);
	waitpid(ch->pid, &st, 0);
done:
	if (!clean && ch->pid > 0 && (WIFEXITED(st) || WIFSIGNALED(st)))
		fprintf(stderr, "bench: %s ended uncleanly (%s %d); see %s\n", ch->name,
		    WIFEXITED(st) ? "exit status" : "signal",
		    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), ch->log);
	child_track(ch->pid, false);
	ch->pid = 0;
	return clean;
}

/* VmRSS (or VmHWM, the peak) of pid in KiB; 0 if unreadable. */
uint64_t
proc_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%ld/status", (long) pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	size_t flen = strlen(field);
	uint64_t kb = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
			kb = strtoull(line + flen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

/* CPU time (user + system, all threads) of this process, in seconds. */
static double
self_cpu_s(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
		return 0;
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* CPU time (utime + stime, all threads) of pid, in seconds, from
 * /proc/PID/stat; 0 if unreadable. Clock-tick resolution (10 ms). */
static double
proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long) pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces; fields count from after it. */
	char *p = strrchr(buf, ')');
	if (p == NULL)
		return 0;
	p++;
	uint64_t ut = 0, st = 0;
	for (int field = 3; field <= 15 && *p != '\0'; field++) {
		char *end;
		while (*p == ' ')
			p++;
		uint64_t v = strtoull(p, &end, 10);
		if (field == 14)
			ut = v;
		if (field == 15)
			st = v;
		p = strchr(p, ' ');
		if (p == NULL)
			break;
	}
	long hz = sysconf(_SC_CLK_TCK);
	return hz > 0 ? (double) (ut + st) / (double) hz : 0;
}

void
proc_cpu_hook(void *arg, int phase)
{
	struct cpu_window *cw = arg;
	double self = self_cpu_s(), server = proc_cpu_s(cw->server);
	if (phase == PHASE_MEASURE) {
		cw->self0 = self;
		cw->server0 = server;
	} else {
		cw->self_s = self - cw->self0;
		cw->server_s = server - cw->server0;
	}
}

void
proc_cpu_note(struct result *r, const struct cpu_window *cw)
{
	if (!r->has_rate || r->calls == 0)
		return;
	double c = cw->self_s * 1e6 / (double) r->calls;
	double s = cw->server_s * 1e6 / (double) r->calls;
	result_note(r, "cpu/call: client %.1fus server %.1fus", c, s);
	result_extra_real(r, "client_cpu_us_per_call", c);
	result_extra_real(r, "server_cpu_us_per_call", s);
}

/* A port on 127.0.0.1 that was free a moment ago (the kernel picks it). */
int
proc_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = 0;
	socklen_t len = sizeof(a);
	int port = -1;
	if (bind(fd, (struct sockaddr *) &a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *) &a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* Removes a temp dir this run made; it only ever holds plain files and
 * sockets, one level deep. */
void
proc_rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d != NULL) {
		struct dirent *e;
		struct stat st;
		char path[512];
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
				proc_rm_dir(path);
			else
				unlink(path);
		}
		closedir(d);
	}
	rmdir(dir);
}

/* The first three fields of /proc/loadavg, or "unknown". */
void
proc_loadavg(char *buf, size_t len)
{
	sr_strlcpy(buf, "unknown", len);
	FILE *f = fopen("/proc/loadavg", "r");
	if (f == NULL)
		return;
	char line[128];
	if (fgets(line, sizeof(line), f) != NULL) {
		/* Cut after the third field. */
		char *p = line;
		for (int i = 0; i < 3 && p != NULL; i++) {
			p = strchr(p, ' ');
			if (p != NULL && i < 2)
				p++;
		}
		if (p != NULL)
			*p = '\0';
		sr_strlcpy(buf, line, len);
	}
	fclose(f);
}

/* The directory of this executable: the binaries of the same build. */
int
proc_find_self(struct bench *b)
{
	ssize_t n = readlink("/proc/self/exe", b->self_exe, sizeof(b->self_exe) - 1);
	if (n <= 0 || (size_t) n >= sizeof(b->self_exe) - 1)
		return SR_EINTERNAL;
	b->self_exe[n] = '\0';
	sr_strlcpy(b->self_dir, b->self_exe, sizeof(b->self_dir));
	char *slash = strrchr(b->self_dir, '/');
	if (slash == NULL)
		return SR_EINTERNAL;
	*slash = '\0';
	return SR_OK;
}

int
proc_sibling(const struct bench *b, const char *name, char *out, size_t len, char *err,
    size_t errlen)
{
	snprintf(out, len, "%s/%s", b->self_dir, name);
	if (access(out, X_OK) != 0) {
		bench_errf(err, errlen, "%s not found next to %s (build it first)", name,
		    b->self_exe);
		return SR_ENOTFOUND;
	}
	return SR_OK;
}

/* Waits until url answers a Status request (a master or a coordinator). */
int
proc_wait_status(const char *url, struct child *ch, char *err, size_t errlen)
{
	return proc_wait_status_with(url, NULL, ch, err, errlen);
}

int
proc_wait_status_with(const char *url, const sr_credentials *cred, struct child *ch, char *err,
    size_t errlen)
{
	sr_client *cl;
	int rv = sr_client_open_with(url, 200, cred, &cl, err, errlen);
	if (rv != SR_OK) {
		bench_errf(err, errlen, "client for %s: %s", url, sr_strerror(rv));
		return rv;
	}
	int64_t until = sr_mono_ms() + READY_TIMEOUT_MS;
	for (;;) {
		sr_status st;
		memset(&st, 0, sizeof(st));
		if ((rv = sr_client_status(cl, &st)) == SR_OK) {
			sr_status_free(&st);
			break;
		}
		if (ch != NULL && !child_alive(ch)) {
			bench_errf(err, errlen, "%s exited at start (see %s)", ch->name, ch->log);
			break;
		}
		if (sr_mono_ms() >= until) {
			bench_errf(err, errlen, "%s did not answer within %d ms", url,
			    READY_TIMEOUT_MS);
			break;
		}
		clock_sleep(0.05);
	}
	sr_client_close(cl);
	return rv;
}
