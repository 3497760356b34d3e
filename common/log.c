/*
 * Logging and the daemons' shutdown watchdog (log.h): one timestamped line
 * on stderr, or the embedder's callback. Apart from the pure helpers in
 * util.c because it needs threads and writes to a file descriptor.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "snowrange/error.h"
#include "util.h"

/* The settings: written once at start-up (sr_log_setup) before any thread
 * logs, read by every thread after. The file's descriptor number never
 * changes: a reopen dup2()s the new file onto it, atomically. */
static sr_log_level min_level = SR_LOG_INFO;
static bool json_format;
static int log_fd = 2;
static char log_path[4096];

static int
open_log(const char *path, char *errbuf, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		snprintf(errbuf, errlen, "--log-file %s: %s", path, strerror(errno));
	return fd;
}

int
sr_log_setup(const char *level, const char *format, const char *file, char *errbuf, size_t errlen)
{
	if (level == NULL || strcmp(level, "info") == 0)
		min_level = SR_LOG_INFO;
	else if (strcmp(level, "warn") == 0)
		min_level = SR_LOG_WARN;
	else if (strcmp(level, "error") == 0)
		min_level = SR_LOG_ERROR;
	else {
		snprintf(errbuf, errlen, "--log-level: expected error, warn or info, got '%.40s'",
		    level);
		return SR_EINVAL;
	}
	if (format == NULL || strcmp(format, "text") == 0)
		json_format = false;
	else if (strcmp(format, "json") == 0)
		json_format = true;
	else {
		snprintf(errbuf, errlen, "--log-format: expected text or json, got '%.40s'",
		    format);
		return SR_EINVAL;
	}
	if (file != NULL && file[0] != '\0') {
		if (strlen(file) >= sizeof(log_path)) {
			snprintf(errbuf, errlen, "--log-file: path too long");
			return SR_EINVAL;
		}
		int fd = open_log(file, errbuf, errlen);
		if (fd < 0)
			return SR_EINVAL;
		sr_strlcpy(log_path, file, sizeof(log_path));
		log_fd = fd;
	}
	return SR_OK;
}

int
sr_log_reopen(char *errbuf, size_t errlen)
{
	if (log_path[0] == '\0')
		return SR_OK; /* stderr: the supervisor's to rotate */
	int fd = open_log(log_path, errbuf, errlen);
	if (fd < 0)
		return SR_EIO;
	int rv = dup2(fd, log_fd) < 0 ? SR_EIO : SR_OK;
	if (rv != SR_OK)
		snprintf(errbuf, errlen, "--log-file %s: dup2: %s", log_path, strerror(errno));
	close(fd);
	return rv;
}

static const char *
level_name(sr_log_level level)
{
	return level == SR_LOG_ERROR ? "error" : level == SR_LOG_WARN ? "warn" : "info";
}

/* msg as the body of a JSON string. */
static size_t
json_escape(char *out, size_t len, const char *msg)
{
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *) msg; *p && o + 7 < len; p++) {
		if (*p == '"' || *p == '\\') {
			out[o++] = '\\';
			out[o++] = (char) *p;
		} else if (*p < 0x20) {
			o += (size_t) snprintf(out + o, len - o, "\\u%04x", *p);
		} else {
			out[o++] = (char) *p;
		}
	}
	out[o] = '\0';
	return o;
}

static void
log_line(sr_log_level level, const char *who, const char *msg)
{
	if (level > min_level)
		return;
	char line[2600], ts[64];
	int64_t ms = sr_wall_ms();
	time_t sec = (time_t) (ms / 1000);
	struct tm tm;
	gmtime_r(&sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int) (ms % 1000));
	int n;
	if (json_format) {
		char w[160], m[2200];
		json_escape(w, sizeof(w), who);
		json_escape(m, sizeof(m), msg);
		n = snprintf(line, sizeof(line),
		    "{\"time\":\"%s\",\"level\":\"%s\",\"who\":\"%s\",\"msg\":\"%s\"}\n", ts,
		    level_name(level), w, m);
	} else {
		n = snprintf(line, sizeof(line), "%s %s: %s%s\n", ts, who,
		    level == SR_LOG_ERROR      ? "ERROR: "
		        : level == SR_LOG_WARN ? "WARN: "
		                               : "",
		    msg);
	}
	if (n < 0)
		return;
	if ((size_t) n >= sizeof(line)) {
		n = (int) sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* One write per line: lines of several threads do not interleave. */
	ssize_t w = write(log_fd, line, (size_t) n);
	(void) w;
}

void
sr_log(const char *who, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_line(SR_LOG_INFO, who, msg);
}

void
sr_logl(sr_log_level level, const char *who, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_line(level, who, msg);
}

void
sr_log_to(sr_log_fn fn, void *arg, sr_log_level level, const char *who, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (fn != NULL)
		fn(arg, level, msg);
	else
		log_line(level, who, msg);
}

/* ---- shutdown watchdog ---- */

struct watchdog {
	const char *who;
	int seconds;
};

static void *
watchdog_run(void *arg)
{
	struct watchdog w = *(struct watchdog *) arg;
	free(arg);
	struct timespec ts = {w.seconds, 0};
	while (nanosleep(&ts, &ts) != 0)
		;
	sr_log(w.who, "shutdown did not finish within %d s; exiting", w.seconds);
	_exit(0);
}

void
sr_exit_watchdog(const char *who, int seconds)
{
	struct watchdog *w = malloc(sizeof(*w));
	pthread_t t;
	if (w == NULL)
		return;
	*w = (struct watchdog) {who, seconds};
	if (pthread_create(&t, NULL, watchdog_run, w) != 0) {
		free(w);
		return;
	}
	pthread_detach(t);
}
