/* Small shared helpers: names, numbers, clocks, logging, options. */
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <unistd.h>

#include "snowrange/error.h"

bool
sr_name_valid(const char *s)
{
	if (s == NULL)
		return false;
	size_t n = 0;
	for (; s[n] != '\0'; n++) {
		char ch = s[n];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '_' || ch == '.' || ch == '-';
		if (!ok || n >= SR_NAME_MAX)
			return false;
	}
	return n > 0;
}

bool
sr_parse_u64(const char *s, uint64_t *out)
{
	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = (uint64_t) v;
	return true;
}

static int64_t
clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
sr_wall_ms(void)
{
	return clock_ns(CLOCK_REALTIME) / 1000000;
}

int64_t
sr_wall_us(void)
{
	return clock_ns(CLOCK_REALTIME) / 1000;
}

int64_t
sr_mono_ms(void)
{
	return clock_ns(CLOCK_MONOTONIC) / 1000000;
}

int64_t
sr_mono_us(void)
{
	return clock_ns(CLOCK_MONOTONIC) / 1000;
}

bool
sr_strlcpy(char *dst, const char *src, size_t dstlen)
{
	size_t n = strlen(src);
	if (dstlen == 0)
		return false;
	size_t m = n < dstlen ? n : dstlen - 1;
	memcpy(dst, src, m);
	dst[m] = '\0';
	return n < dstlen;
}

void
sr_log(const char *who, const char *fmt, ...)
{
	char line[1024];
	int64_t ms = sr_wall_ms();
	time_t sec = (time_t) (ms / 1000);
	struct tm tm;
	gmtime_r(&sec, &tm);
	int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s: ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, (int) (ms % 1000), who);
	va_list ap;
	va_start(ap, fmt);
	if (n > 0 && (size_t) n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t) n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}

void
sr_log_to(sr_log_fn fn, void *arg, sr_log_level level, const char *who,
    const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (fn != NULL)
		fn(arg, level, msg);
	else
		sr_log(who, "%s", msg);
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
	*w = (struct watchdog){who, seconds};
	if (pthread_create(&t, NULL, watchdog_run, w) != 0) {
		free(w);
		return;
	}
	pthread_detach(t);
}
