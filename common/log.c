/*
 * Logging and the daemons' shutdown watchdog (log.h): one timestamped line
 * on stderr, or the embedder's callback. Apart from the pure helpers in
 * util.c because it needs threads and writes to a file descriptor.
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

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
