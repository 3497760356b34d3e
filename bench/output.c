/*
 * Result rows and how they are printed: one text table, or a JSON array with
 * one object a line (so that shell scripts read it with grep); and the
 * progress lines of a long run.
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

#include "snowrange/client.h"
#include "snowrange/coordinator.h"
#include "util.h"

/* ---- results ---- */

struct result *
result_new(struct bench *b, const char *group, const char *fmt, ...)
{
	static struct result overflow;
	struct result *r = b->nresults < MAX_RESULTS ? &b->results[b->nresults++] : &overflow;
	memset(r, 0, sizeof(*r));
	r->group = group;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->scenario, sizeof(r->scenario), fmt, ap);
	va_end(ap);
	return r;
}

void
result_fail(struct result *r, const char *fmt, ...)
{
	if (r->failed)
		return; /* keep the first cause */
	r->failed = true;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
}

void
result_note(struct result *r, const char *fmt, ...)
{
	size_t len = strlen(r->notes);
	if (len + 2 >= sizeof(r->notes))
		return;
	if (len > 0) {
		r->notes[len++] = ' ';
		r->notes[len] = '\0';
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->notes + len, sizeof(r->notes) - len, fmt, ap);
	va_end(ap);
}

void
result_extra_int(struct result *r, const char *key, int64_t v)
{
	if (r->extra == NULL)
		r->extra = json_object();
	json_object_set_new(r->extra, key, json_integer(v));
}

void
result_extra_real(struct result *r, const char *key, double v)
{
	if (r->extra == NULL)
		r->extra = json_object();
	json_object_set_new(r->extra, key, json_real(v));
}

void
result_set_baseline(struct result *r, const char *name, double ids_per_sec)
{
	r->has_baseline = true;
	sr_strlcpy(r->baseline_name, name, sizeof(r->baseline_name));
	r->baseline = ids_per_sec;
	r->ratio = ids_per_sec > 0 ? r->ids_per_sec / ids_per_sec : 0;
}

void
bench_progress(struct bench *b, const char *fmt, ...)
{
	if (!b->progress)
		return;
	char msg[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "bench: [%5.1fs] %s\n", (double) (clock_mono_ns() - b->t0_ns) / 1e9, msg);
}

/* ---- output ---- */

static void
fmt_rate(char *buf, size_t len, double v)
{
	if (v >= 1e9)
		snprintf(buf, len, "%.3gG", v / 1e9);
	else if (v >= 1e6)
		snprintf(buf, len, "%.4gM", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, len, "%.4gk", v / 1e3);
	else
		snprintf(buf, len, "%.4g", v);
}

static void
fmt_ns(char *buf, size_t len, double ns)
{
	if (ns < 1e3)
		snprintf(buf, len, "%.0fns", ns);
	else if (ns < 1e6)
		snprintf(buf, len, "%.1fus", ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, len, "%.2fms", ns / 1e6);
	else
		snprintf(buf, len, "%.2fs", ns / 1e9);
}

static const char *
verdict_text(enum verdict v)
{
	return v == V_MET ? "met" : v == V_MISSED ? "MISSED" : "";
}

void
output_text(const struct bench *b)
{
	printf("%-32s %8s %8s %8s %8s %8s %8s %8s %8s %7s  %-26s %s\n", "scenario", "IDs/s",
	    "calls/s", "p50", "p99", "p99.9", "p99.99", "max", "baseline", "ratio", "target",
	    "notes");
	for (size_t i = 0; i < b->nresults; i++) {
		const struct result *r = &b->results[i];
		char ids[16] = "-", calls[16] = "-", p[5][16], base[16] = "-", ratio[16] = "-";
		char target[64] = "";
		for (int j = 0; j < 5; j++)
			sr_strlcpy(p[j], "-", sizeof(p[j]));
		if (r->failed) {
			printf("%-32s FAILED: %s\n", r->scenario, r->error);
			continue;
		}
		if (r->has_rate) {
			fmt_rate(ids, sizeof(ids), r->ids_per_sec);
			fmt_rate(calls, sizeof(calls), r->calls_per_sec);
		}
		if (r->has_lat) {
			double v[5] = {r->p50, r->p99, r->p999, r->p9999, r->max};
			for (int j = 0; j < 5; j++)
				fmt_ns(p[j], sizeof(p[j]), v[j]);
		}
		if (r->has_baseline) {
			fmt_rate(base, sizeof(base), r->baseline);
			snprintf(ratio, sizeof(ratio), "%.3fx", r->ratio);
		}
		if (r->target != NULL)
			snprintf(target, sizeof(target), "%s %s", r->target,
			    verdict_text(r->verdict));
		printf("%-32s %8s %8s %8s %8s %8s %8s %8s %8s %7s  %-26s %s\n", r->scenario, ids,
		    calls, p[0], p[1], p[2], p[3], p[4], base, ratio, target, r->notes);
	}
	printf("\nLatency is per call (a batch is one call). %s; 1 in 64 calls timed for "
	       "inproc/switches, 1 in 1024/batch for batch, every call elsewhere; the "
	       "timer's own ~%.0f ns is included. Percentiles are bucket upper bounds "
	       "(<=0.8%% high). Baseline is in IDs/s (echo: messages/s x batch). "
	       "Load average at start: %s.\n",
	    b->clk.tsc ? "Clock: TSC (lfence+rdtsc), calibrated" : "Clock: CLOCK_MONOTONIC",
	    b->clk.overhead_ns, b->loadavg);
}

static json_t *
num_or_null(bool has, double v)
{
	return has ? json_real(v) : json_null();
}

static json_t *
ns_or_null(bool has, double v)
{
	if (!has)
		return json_null();
	/* Round up: never in our favour. */
	int64_t n = (int64_t) v;
	if ((double) n < v)
		n++;
	return json_integer(n);
}

void
output_json(const struct bench *b)
{
	/* One object per line, so shell scripts can read it with grep. */
	printf("[\n");
	for (size_t i = 0; i < b->nresults; i++) {
		const struct result *r = &b->results[i];
		json_t *o = json_object();
		json_object_set_new(o, "scenario", json_string(r->scenario));
		json_object_set_new(o, "group", json_string(r->group));
		json_object_set_new(o, "ok", json_boolean(!r->failed));
		json_object_set_new(o, "threads", json_integer(r->threads));
		json_object_set_new(o, "batch", json_integer((json_int_t) r->batch));
		json_object_set_new(o, "ops_per_sec", num_or_null(r->has_rate, r->ids_per_sec));
		json_object_set_new(o, "ids_per_sec", num_or_null(r->has_rate, r->ids_per_sec));
		json_object_set_new(o, "calls_per_sec", num_or_null(r->has_rate, r->calls_per_sec));
		json_object_set_new(o, "calls", json_integer((json_int_t) r->calls));
		json_object_set_new(o, "samples", json_integer((json_int_t) r->samples));
		json_object_set_new(o, "timed_every", json_integer(r->every));
		json_object_set_new(o, "p50_ns", ns_or_null(r->has_lat, r->p50));
		json_object_set_new(o, "p99_ns", ns_or_null(r->has_lat, r->p99));
		json_object_set_new(o, "p999_ns", ns_or_null(r->has_lat, r->p999));
		json_object_set_new(o, "p9999_ns", ns_or_null(r->has_lat, r->p9999));
		json_object_set_new(o, "max_ns", ns_or_null(r->has_lat, r->max));
		json_object_set_new(o, "baseline", num_or_null(r->has_baseline, r->baseline));
		json_object_set_new(o, "baseline_name",
		    r->has_baseline ? json_string(r->baseline_name) : json_null());
		json_object_set_new(o, "ratio", num_or_null(r->has_baseline, r->ratio));
		json_object_set_new(o, "target", r->target ? json_string(r->target) : json_null());
		json_object_set_new(o, "met",
		    r->verdict == V_NONE ? json_null() : json_boolean(r->verdict == V_MET));
		if (r->extra != NULL)
			json_object_update(o, r->extra);
		if (r->failed)
			json_object_set_new(o, "error", json_string(r->error));
		char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		printf("%s%s\n", s ? s : "{}", i + 1 < b->nresults ? "," : "");
		free(s);
		json_decref(o);
	}
	printf("]\n");
}
