/*
 * fsfault: an LD_PRELOAD shim that makes a process's disk fail on demand,
 * for the fault-injection tests of the master's store (SQLite). It wraps
 * fsync, fdatasync, write, pwrite and pwrite64 and, while a fault is on,
 * fails them the way a dying or full disk does:
 *
 *   fsync    fsync and fdatasync fail with EIO (nothing is synced)
 *   enospc   write, pwrite and pwrite64 fail with ENOSPC (disk full)
 *   off      every call goes straight to libc
 *
 * The mode is the first word of the file named by SR_FSFAULT_CTL, so a test
 * script switches it with `echo fsync >"$ctl"` while the process runs. The
 * file is stat()ed at most every 50 ms and re-read when it changed; a test
 * waits a little longer than that after writing it. A missing file means
 * off. When SR_FSFAULT_MATCH is set, only descriptors whose path (the
 * readlink of /proc/self/fd/N) contains it are failed, so a process's log
 * on stderr keeps working while its data directory is "full".
 *
 * Each failure injected is reported on stderr (the first few per mode, then
 * a count), through the real write, so that a test can tell that its fault
 * really was hit. Test-only: nothing in the product links or loads this.
 */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

enum mode { MODE_OFF, MODE_FSYNC, MODE_ENOSPC };

#define CHECK_EVERY_NS (50 * 1000 * 1000)
/* Descriptors below this have their path match cached. */
#define FD_CACHE 1024
/* Injections reported one by one per mode before only counting. */
#define REPORT_FIRST 5

typedef int (*sync_fn)(int);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);

/* The libc functions behind ours, resolved once. */
static struct {
	sync_fn fsync, fdatasync;
	write_fn write;
	pwrite_fn pwrite, pwrite64;
} real;
static pthread_once_t resolved = PTHREAD_ONCE_INIT;

/* The control file and what was last seen of it. Reloads are serialized
 * by mu; readers of mode and next_check_ns need no lock. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int mode = MODE_OFF;
static _Atomic int64_t next_check_ns;
static struct stat seen;
static bool seen_valid;

/* Which descriptors match SR_FSFAULT_MATCH, keyed by fd and checked against
 * the file's identity, because descriptors are reused. Under mu. */
static struct {
	dev_t dev;
	ino_t ino;
	bool valid, match;
} fds[FD_CACHE];

static _Atomic uint64_t injected;

/* dlsym returns an object pointer; copying it into a function pointer
 * with memcpy is the conversion POSIX sanctions without a pedantic cast. */
static void
resolve_one(void *dst, const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);
	/* Without the real function there is nothing to forward to, and no
	 * write to complain with. */
	if (p == NULL)
		abort();
	memcpy(dst, &p, sizeof(p));
}

static void
resolve(void)
{
	resolve_one(&real.fsync, "fsync");
	resolve_one(&real.fdatasync, "fdatasync");
	resolve_one(&real.write, "write");
	resolve_one(&real.pwrite, "pwrite");
	resolve_one(&real.pwrite64, "pwrite64");
}

static int64_t
mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Writes a message to stderr through the real write; losing it is
 * harmless. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t) n >= sizeof(buf))
		n = sizeof(buf) - 1;
	ssize_t w = real.write(STDERR_FILENO, buf, (size_t) n);
	(void) w;
}

static int
parse_mode(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	if (strncmp(s, "fsync", 5) == 0)
		return MODE_FSYNC;
	if (strncmp(s, "enospc", 6) == 0)
		return MODE_ENOSPC;
	return MODE_OFF;
}

/* Re-reads the control file if it changed since last time. Under mu. */
static void
reload(void)
{
	const char *path = getenv("SR_FSFAULT_CTL");
	struct stat st;
	int m = MODE_OFF;

	if (path == NULL || stat(path, &st) != 0) {
		seen_valid = false;
	} else {
		if (seen_valid && st.st_ino == seen.st_ino && st.st_dev == seen.st_dev &&
		    st.st_size == seen.st_size && st.st_mtim.tv_sec == seen.st_mtim.tv_sec &&
		    st.st_mtim.tv_nsec == seen.st_mtim.tv_nsec)
			return;
		seen = st;
		seen_valid = true;
		char buf[32] = "";
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			ssize_t n = read(fd, buf, sizeof(buf) - 1);
			buf[n > 0 ? n : 0] = '\0';
			close(fd);
		}
		m = parse_mode(buf);
	}
	int old = atomic_exchange(&mode, m);
	if (old != m) {
		static const char *const names[] = {"off", "fsync", "enospc"};
		say("fsfault[%d]: mode %s\n", (int) getpid(), names[m]);
		atomic_store(&injected, 0);
	}
}

/* The current mode; the control file is looked at when it is due. */
static int
current_mode(void)
{
	pthread_once(&resolved, resolve);
	int64_t now = mono_ns();
	if (now >= atomic_load(&next_check_ns) && pthread_mutex_trylock(&mu) == 0) {
		atomic_store(&next_check_ns, now + CHECK_EVERY_NS);
		reload();
		pthread_mutex_unlock(&mu);
	}
	return atomic_load(&mode);
}

/* The path of fd into buf ("?" when unknown). */
static void
fd_path(int fd, char *buf, size_t len)
{
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, buf, len - 1);
	if (n < 0)
		n = snprintf(buf, len, "?");
	buf[n] = '\0';
}

/* Whether a fault applies to fd: every fd without SR_FSFAULT_MATCH, else
 * those whose path contains it. */
static bool
fd_matches(int fd)
{
	const char *match = getenv("SR_FSFAULT_MATCH");
	struct stat st;
	char path[4096];
	bool hit;

	if (match == NULL || *match == '\0')
		return true;
	if (fd < 0 || fstat(fd, &st) != 0)
		return false;
	pthread_mutex_lock(&mu);
	if (fd < FD_CACHE && fds[fd].valid && fds[fd].dev == st.st_dev &&
	    fds[fd].ino == st.st_ino) {
		hit = fds[fd].match;
	} else {
		fd_path(fd, path, sizeof(path));
		hit = strstr(path, match) != NULL;
		if (fd < FD_CACHE) {
			fds[fd].dev = st.st_dev;
			fds[fd].ino = st.st_ino;
			fds[fd].valid = true;
			fds[fd].match = hit;
		}
	}
	pthread_mutex_unlock(&mu);
	return hit;
}

/* Decides whether this call fails; if so sets errno and reports it. */
static bool
inject(int want, int fd, const char *call, int err)
{
	if (current_mode() != want || !fd_matches(fd))
		return false;
	uint64_t k = atomic_fetch_add(&injected, 1) + 1;
	if (k <= REPORT_FIRST || (k & (k - 1)) == 0) {
		char path[4096];
		fd_path(fd, path, sizeof(path));
		say("fsfault[%d]: %s(fd %d %s) -> %s (injected, #%llu)\n", (int) getpid(), call, fd,
		    path, strerror(err), (unsigned long long) k);
	}
	errno = err;
	return true;
}

/* ---- the wrapped calls ---- */

int
fsync(int fd)
{
	if (inject(MODE_FSYNC, fd, "fsync", EIO))
		return -1;
	return real.fsync(fd);
}

int
fdatasync(int fd)
{
	if (inject(MODE_FSYNC, fd, "fdatasync", EIO))
		return -1;
	return real.fdatasync(fd);
}

ssize_t
write(int fd, const void *buf, size_t n)
{
	if (inject(MODE_ENOSPC, fd, "write", ENOSPC))
		return -1;
	return real.write(fd, buf, n);
}

ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
	if (inject(MODE_ENOSPC, fd, "pwrite", ENOSPC))
		return -1;
	return real.pwrite(fd, buf, n, off);
}

ssize_t
pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	if (inject(MODE_ENOSPC, fd, "pwrite64", ENOSPC))
		return -1;
	return real.pwrite64(fd, buf, n, off);
}
