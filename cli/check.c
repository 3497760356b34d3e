/*
 * The draw-file checker (see check.h for the file format).
 *
 * Uniqueness: all IDs of a sequence, from every file, go into one array that
 * is sorted; equal neighbours are duplicates. Order: the batches of each
 * (coordinator, sequence) pair are kept as [t0, t1] intervals with their
 * smallest and largest ID. If batch A's reply arrived before batch B was
 * requested (A.t1 < B.t0), the coordinator had already handed out A when it
 * served B, so max(A) < min(B) must hold; overlapping batches prove nothing
 * and are not compared. One sweep per pair over the batches sorted by t0,
 * with a running maximum over those sorted by t1, checks every such pair in
 * O(n log n).
 *
 * Memory is 8 bytes per ID plus 32 per batch (48 while one pair is being
 * swept), so millions of IDs fit easily; every input line is validated and a
 * bad one stops the check with its file and line number.
 *
 * Segment batches (S lines, issue 19) are never expanded: a segment of one
 * ID joins the sorted IDs, longer ones are kept as (first, step, count), 24
 * bytes whatever their size. Uniqueness among segments is one sweep over
 * them sorted by first ID, comparing each with the segments whose span it
 * overlaps (seg_common, an exact count of shared IDs from the Chinese
 * remainder theorem); the IDs of B lines are compared with each segment by
 * a binary search for those inside its span. Segments that do not overlap
 * cost nothing, so a million IDs in a few segments check in microseconds;
 * many long segments over one span (which correct draws do not make: one
 * chunk per coordinator and range) cost one comparison per pair.
 */
#include "check.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "segment.h"
#include "util.h"

#define ID_MAX UINT64_C(0x7fffffffffffffff)
/* Examples of each violation kind written to diag. */
#define EXAMPLES 10
/* Node and sequence tokens longer than this are not names draw writes. */
#define TOKEN_MAX 64

/* ---- a small string -> index map (open addressing) ---- */

struct map_ent {
	char *key;
	uint32_t idx;
};

struct map {
	struct map_ent *t;
	size_t cap, n;
};

static uint64_t
hash_str(const char *s)
{
	uint64_t h = UINT64_C(14695981039346656037);
	for (; *s != '\0'; s++) {
		h ^= (unsigned char) *s;
		h *= UINT64_C(1099511628211);
	}
	return h;
}

static bool
map_grow(struct map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 64;
	struct map_ent *t = calloc(cap, sizeof(*t));
	if (t == NULL)
		return false;
	for (size_t i = 0; i < m->cap; i++) {
		if (m->t[i].key == NULL)
			continue;
		size_t j = hash_str(m->t[i].key) & (cap - 1);
		while (t[j].key != NULL)
			j = (j + 1) & (cap - 1);
		t[j] = m->t[i];
	}
	free(m->t);
	m->t = t;
	m->cap = cap;
	return true;
}

/* Finds key, adding it with the next index when absent; *added tells which.
 * Returns false on ENOMEM. */
static bool
map_get(struct map *m, const char *key, uint32_t *idx, bool *added)
{
	*added = false;
	if (2 * (m->n + 1) > m->cap && !map_grow(m))
		return false;
	size_t j = hash_str(key) & (m->cap - 1);
	while (m->t[j].key != NULL) {
		if (strcmp(m->t[j].key, key) == 0) {
			*idx = m->t[j].idx;
			return true;
		}
		j = (j + 1) & (m->cap - 1);
	}
	char *k = strdup(key);
	if (k == NULL)
		return false;
	m->t[j].key = k;
	m->t[j].idx = (uint32_t) m->n++;
	*idx = m->t[j].idx;
	*added = true;
	return true;
}

static void
map_free(struct map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->t[i].key);
	free(m->t);
}

/* ---- the collected data ---- */

struct batch {
	uint64_t t0, t1;
	uint64_t min, max;
};

struct seqv {
	char *name;
	uint64_t *ids;
	size_t n, cap;
	sr_id_segment *segs; /* S-line segments of 2 or more IDs */
	size_t nseg, segcap;
};

struct group {
	uint32_t node, seq;
	struct batch *b;
	size_t n, cap;
};

struct state {
	struct map seqmap, nodemap, groupmap;
	struct seqv *seqs;    /* by seqmap index */
	char **nodes;         /* by nodemap index */
	struct group *groups; /* by groupmap index */
	size_t seqcap, nodecap, groupcap;
	struct check_result *res;
	FILE *diag;
	uint64_t order_shown;
};

/* Grows *v (of elem-sized items, capacity *cap) to hold need items. */
static bool
grow(void **v, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return true;
	size_t c = *cap ? *cap : 16;
	while (c < need)
		c *= 2;
	void *p = realloc(*v, c * elem);
	if (p == NULL)
		return false;
	*v = p;
	*cap = c;
	return true;
}

static void
state_free(struct state *s)
{
	for (size_t i = 0; i < s->seqmap.n; i++) {
		free(s->seqs[i].name);
		free(s->seqs[i].ids);
		free(s->seqs[i].segs);
	}
	for (size_t i = 0; i < s->nodemap.n; i++)
		free(s->nodes[i]);
	for (size_t i = 0; i < s->groupmap.n; i++)
		free(s->groups[i].b);
	free(s->seqs);
	free(s->nodes);
	free(s->groups);
	map_free(&s->seqmap);
	map_free(&s->nodemap);
	map_free(&s->groupmap);
}

static void diag_order(struct state *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
diag_order(struct state *s, const char *fmt, ...)
{
	if (s->diag == NULL || s->order_shown > EXAMPLES)
		return;
	if (s->order_shown++ == EXAMPLES) {
		fprintf(s->diag, "verify: more order violations not shown\n");
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vfprintf(s->diag, fmt, ap);
	va_end(ap);
}

/* ---- parsing ---- */

/* Splits off the next blank-separated token of *p, NUL-terminating it in
 * place; NULL at the end of the line. */
static char *
token(char **p)
{
	char *s = *p;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0')
		return NULL;
	char *e = s;
	while (*e != '\0' && *e != ' ' && *e != '\t')
		e++;
	if (*e != '\0')
		*e++ = '\0';
	*p = e;
	return s;
}

/* Error context for one line. */
struct where {
	const char *file;
	size_t line;
	char *errbuf;
	size_t errlen;
};

static int bad(const struct where *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
bad(const struct where *w, const char *fmt, ...)
{
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(w->errbuf, w->errlen, "%s:%zu: %s", w->file, w->line, msg);
	return SR_EINVAL;
}

/* Interns a sequence name, creating its ID array. */
static int
seq_index(struct state *s, const char *name, uint32_t *idx)
{
	bool added;
	if (!map_get(&s->seqmap, name, idx, &added))
		return SR_ENOMEM;
	if (!added)
		return SR_OK;
	if (!grow((void **) &s->seqs, &s->seqcap, s->seqmap.n, sizeof(*s->seqs)))
		return SR_ENOMEM;
	struct seqv *v = &s->seqs[*idx];
	memset(v, 0, sizeof(*v));
	if ((v->name = strdup(name)) == NULL)
		return SR_ENOMEM;
	return SR_OK;
}

static int
node_index(struct state *s, const char *name, uint32_t *idx)
{
	bool added;
	if (!map_get(&s->nodemap, name, idx, &added))
		return SR_ENOMEM;
	if (!added)
		return SR_OK;
	if (!grow((void **) &s->nodes, &s->nodecap, s->nodemap.n, sizeof(*s->nodes)))
		return SR_ENOMEM;
	if ((s->nodes[*idx] = strdup(name)) == NULL)
		return SR_ENOMEM;
	return SR_OK;
}

static int
group_index(struct state *s, uint32_t node, uint32_t seq, uint32_t *idx)
{
	/* Both names are known already, so their indexes make the key. */
	char key[32];
	snprintf(key, sizeof(key), "%" PRIu32 " %" PRIu32, node, seq);
	bool added;
	if (!map_get(&s->groupmap, key, idx, &added))
		return SR_ENOMEM;
	if (!added)
		return SR_OK;
	if (!grow((void **) &s->groups, &s->groupcap, s->groupmap.n, sizeof(*s->groups)))
		return SR_ENOMEM;
	struct group *g = &s->groups[*idx];
	memset(g, 0, sizeof(*g));
	g->node = node;
	g->seq = seq;
	return SR_OK;
}

/* The head of a batch line, "<node> <seq> <t0> <t1>", shared by B and S. */
struct head {
	const char *node, *seq;
	uint32_t si, gi;
	uint64_t t0, t1;
};

static int
parse_head(struct state *s, char **p, const struct where *w, const char *shape, struct head *h)
{
	h->node = token(p);
	h->seq = token(p);
	const char *t0s = token(p), *t1s = token(p);
	if (t1s == NULL)
		return bad(w, "expected '%s'", shape);
	if (strlen(h->node) > TOKEN_MAX || strlen(h->seq) > TOKEN_MAX)
		return bad(w, "node or sequence name longer than %d", TOKEN_MAX);
	if (!sr_parse_u64(t0s, &h->t0) || !sr_parse_u64(t1s, &h->t1))
		return bad(w, "bad timestamp '%s' or '%s'", t0s, t1s);
	if (h->t1 < h->t0)
		return bad(w, "reply time %" PRIu64 " before request time %" PRIu64, h->t1, h->t0);
	uint32_t ni;
	int rv;
	if ((rv = node_index(s, h->node, &ni)) != SR_OK ||
	    (rv = seq_index(s, h->seq, &h->si)) != SR_OK ||
	    (rv = group_index(s, ni, h->si, &h->gi)) != SR_OK)
		return rv;
	return SR_OK;
}

/* Records a parsed batch for the order check. */
static int
add_batch(struct state *s, const struct head *h, const struct batch *b, uint64_t n)
{
	struct group *g = &s->groups[h->gi];
	if (!grow((void **) &g->b, &g->cap, g->n + 1, sizeof(*g->b)))
		return SR_ENOMEM;
	g->b[g->n++] = *b;
	s->res->ids += n;
	s->res->batches++;
	return SR_OK;
}

/* "B <node> <seq> <t0> <t1> <id>...": p points past the "B". */
static int
parse_batch(struct state *s, char *p, const struct where *w)
{
	struct head h;
	int rv = parse_head(s, &p, w, "B NODE SEQ T0_US T1_US ID...", &h);
	if (rv != SR_OK)
		return rv;
	const char *node = h.node, *seq = h.seq;
	struct seqv *v = &s->seqs[h.si];
	struct batch b = {h.t0, h.t1, UINT64_MAX, 0};
	uint64_t prev = 0;
	size_t n = 0;
	for (const char *tok; (tok = token(&p)) != NULL; n++) {
		uint64_t id;
		if (!sr_parse_u64(tok, &id))
			return bad(w, "bad id '%.40s'", tok);
		if (id == 0 || id > ID_MAX) {
			if (s->diag != NULL && s->res->range < EXAMPLES)
				fprintf(s->diag,
				    "verify: %s:%zu: id %" PRIu64 " outside 1..2^63-1\n", w->file,
				    w->line, id);
			s->res->range++;
		}
		if (n > 0 && id <= prev) {
			s->res->order++;
			diag_order(s,
			    "verify: %s:%zu: node %s seq %s: id %" PRIu64 " after %" PRIu64
			    " in one batch\n",
			    w->file, w->line, node, seq, id, prev);
		}
		prev = id;
		if (id < b.min)
			b.min = id;
		if (id > b.max)
			b.max = id;
		if (!grow((void **) &v->ids, &v->cap, v->n + 1, sizeof(*v->ids)))
			return SR_ENOMEM;
		v->ids[v->n++] = id;
	}
	if (n == 0)
		return bad(w, "batch without ids");
	return add_batch(s, &h, &b, n);
}

/* Parses "FIRST:STEP:COUNT". */
static bool
parse_seg(char *tok, sr_id_segment *g)
{
	char *a = strchr(tok, ':');
	char *b = a != NULL ? strchr(a + 1, ':') : NULL;
	if (b == NULL)
		return false;
	*a = '\0';
	*b = '\0';
	return sr_parse_u64(tok, &g->first) && sr_parse_u64(a + 1, &g->step) &&
	    sr_parse_u64(b + 1, &g->count);
}

/* Keeps the part of g inside 1..2^63-1 and counts the IDs outside it as
 * range violations; false when nothing is left. */
static bool
clamp_seg(struct state *s, const struct where *w, sr_id_segment *g)
{
	uint64_t out = 0;
	if (g->first == 0) {
		out++;
		g->first = g->step;
		g->count--;
	}
	if (g->count > 0 && g->first > ID_MAX) {
		out += g->count;
		g->count = 0;
	} else if (g->count > 0 && g->count - 1 > (ID_MAX - g->first) / g->step) {
		uint64_t keep = (ID_MAX - g->first) / g->step + 1;
		out += g->count - keep;
		g->count = keep;
	}
	if (out > 0) {
		if (s->diag != NULL && s->res->range < EXAMPLES)
			fprintf(s->diag,
			    "verify: %s:%zu: %" PRIu64 " ids of a segment"
			    " outside 1..2^63-1\n",
			    w->file, w->line, out);
		s->res->range += out;
	}
	return g->count > 0;
}

/* "S <node> <seq> <t0> <t1> <first>:<step>:<count>...": p points past the
 * "S". The segments of a batch must ascend like the IDs of a B line. */
static int
parse_segments(struct state *s, char *p, const struct where *w)
{
	struct head h;
	int rv = parse_head(s, &p, w, "S NODE SEQ T0_US T1_US FIRST:STEP:COUNT...", &h);
	if (rv != SR_OK)
		return rv;
	struct seqv *v = &s->seqs[h.si];
	struct batch b = {h.t0, h.t1, UINT64_MAX, 0};
	uint64_t prev = 0, total = 0;
	size_t n = 0;
	for (char *tok; (tok = token(&p)) != NULL; n++) {
		sr_id_segment g;
		if (!parse_seg(tok, &g))
			return bad(w, "bad segment '%.60s' (expected FIRST:STEP:COUNT)", tok);
		if (g.count == 0 || g.step == 0)
			return bad(w, "segment with count or step 0");
		/* A chunk count is 32 bits: a longer step is not one
		 * snowrange makes (and would overflow the checks). */
		if (g.count > 1 && g.step > SEG_STEP_MAX)
			return bad(w, "segment step %" PRIu64 " above 2^32", g.step);
		if (g.count > UINT64_MAX - total)
			return bad(w, "segment counts overflow");
		total += g.count;
		if (!clamp_seg(s, w, &g))
			continue;
		if (n > 0 && g.first <= prev) {
			s->res->order++;
			diag_order(s,
			    "verify: %s:%zu: node %s seq %s: segment at %" PRIu64
			    " not above %" PRIu64 " in one batch\n",
			    w->file, w->line, h.node, h.seq, g.first, prev);
		}
		prev = seg_last(&g);
		if (g.first < b.min)
			b.min = g.first;
		if (prev > b.max)
			b.max = prev;
		if (g.count == 1) {
			if (!grow((void **) &v->ids, &v->cap, v->n + 1, sizeof(*v->ids)))
				return SR_ENOMEM;
			v->ids[v->n++] = g.first;
		} else {
			if (!grow((void **) &v->segs, &v->segcap, v->nseg + 1, sizeof(*v->segs)))
				return SR_ENOMEM;
			v->segs[v->nseg++] = g;
		}
	}
	if (n == 0)
		return bad(w, "batch without segments");
	if (b.min > b.max) /* every ID was out of range */
		b.min = b.max = 0;
	return add_batch(s, &h, &b, total);
}

/* "R <begin> <end>", the span of a draw run: p points past the "R". The
 * checks need nothing from it (tests/fault/churn reads it for outages that
 * last to the end of a run); it must still be well formed. */
static int
parse_run(char *p, const struct where *w)
{
	const char *bs = token(&p), *es = token(&p);
	uint64_t b, e;
	if (es == NULL || token(&p) != NULL)
		return bad(w, "expected 'R BEGIN_US END_US'");
	if (!sr_parse_u64(bs, &b) || !sr_parse_u64(es, &e))
		return bad(w, "bad timestamp '%.40s' or '%.40s'", bs, es);
	if (e < b)
		return bad(w, "run ends at %" PRIu64 " before it begins at %" PRIu64, e, b);
	return SR_OK;
}

/* Maps "ETIMEDOUT" to its sr_err slot; SR_ERR_MAX for "EUNKNOWN". */
static bool
err_slot(const char *name, size_t *slot)
{
	for (int e = 0; e < SR_ERR_MAX; e++) {
		if (strcmp(sr_errname(e), name) == 0) {
			*slot = (size_t) e;
			return true;
		}
	}
	if (strcmp(name, "EUNKNOWN") == 0) {
		*slot = SR_ERR_MAX;
		return true;
	}
	return false;
}

/* "E <total> <NAME>=<count>...": p points past the "E". */
static int
parse_errors(struct state *s, char *p, const struct where *w)
{
	const char *ts = token(&p);
	uint64_t total, sum = 0;
	if (ts == NULL || !sr_parse_u64(ts, &total))
		return bad(w, "expected 'E TOTAL NAME=COUNT...'");
	uint64_t counts[SR_ERR_MAX + 1] = {0};
	for (char *tok; (tok = token(&p)) != NULL;) {
		char *eq = strchr(tok, '=');
		if (eq == NULL)
			return bad(w, "expected NAME=COUNT, got '%.40s'", tok);
		*eq = '\0';
		size_t slot;
		uint64_t c;
		if (!err_slot(tok, &slot))
			return bad(w, "unknown error name '%.40s'", tok);
		if (!sr_parse_u64(eq + 1, &c) || c > UINT64_MAX - sum)
			return bad(w, "bad count '%.40s'", eq + 1);
		counts[slot] += c;
		sum += c;
	}
	if (sum != total)
		return bad(w, "error counts add up to %" PRIu64 ", not %" PRIu64, sum, total);
	for (size_t i = 0; i <= SR_ERR_MAX; i++)
		s->res->errcount[i] += counts[i];
	s->res->errors += total;
	return SR_OK;
}

static int
read_file(struct state *s, const char *file, char *errbuf, size_t errlen)
{
	bool is_stdin = strcmp(file, "-") == 0;
	FILE *f = is_stdin ? stdin : fopen(file, "r");
	if (f == NULL) {
		snprintf(errbuf, errlen, "%s: %s", file, strerror(errno));
		return SR_EIO;
	}
	struct where w = {file, 0, errbuf, errlen};
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int rv = SR_OK;
	while (rv == SR_OK && (len = getline(&line, &cap, f)) >= 0) {
		w.line++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if ((size_t) len != strlen(line)) {
			rv = bad(&w, "NUL byte in line");
			break;
		}
		char *p = line;
		const char *kind = token(&p);
		if (kind == NULL)
			continue; /* blank lines are harmless */
		if (strcmp(kind, "B") == 0)
			rv = parse_batch(s, p, &w);
		else if (strcmp(kind, "S") == 0)
			rv = parse_segments(s, p, &w);
		else if (strcmp(kind, "E") == 0)
			rv = parse_errors(s, p, &w);
		else if (strcmp(kind, "R") == 0)
			rv = parse_run(p, &w);
		else
			rv = bad(&w, "unknown line kind '%.20s' (expected B, S, R or E)", kind);
	}
	if (rv == SR_OK && ferror(f)) {
		snprintf(errbuf, errlen, "%s: read error: %s", file, strerror(errno));
		rv = SR_EIO;
	}
	free(line);
	if (!is_stdin)
		fclose(f);
	return rv;
}

/* ---- the checks ---- */

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
	return (x > y) - (x < y);
}

static int
cmp_t0(const void *a, const void *b)
{
	const struct batch *x = a, *y = b;
	return (x->t0 > y->t0) - (x->t0 < y->t0);
}

/* A batch's end and largest ID, sorted by end for the sweep. */
struct end {
	uint64_t t1, max;
};

static int
cmp_t1(const void *a, const void *b)
{
	const struct end *x = a, *y = b;
	return (x->t1 > y->t1) - (x->t1 < y->t1);
}

static int
cmp_seg(const void *a, const void *b)
{
	const sr_id_segment *x = a, *y = b;
	return (x->first > y->first) - (x->first < y->first);
}

static void
diag_dup(struct state *s, unsigned *shown, const char *seq, uint64_t id, uint64_t n)
{
	if (s->diag == NULL || (*shown)++ >= EXAMPLES)
		return;
	if (n == 1)
		fprintf(s->diag, "verify: seq %s: id %" PRIu64 " issued more than once\n", seq, id);
	else
		fprintf(s->diag,
		    "verify: seq %s: %" PRIu64 " ids from %" PRIu64 " on issued more than once\n",
		    seq, n, id);
}

/* Segments against segments: a sweep by first ID over the ones whose span
 * is still open. Returns false on ENOMEM. */
static bool
dups_segments(struct state *s, struct seqv *v, unsigned *shown)
{
	if (v->nseg < 2)
		return true;
	qsort(v->segs, v->nseg, sizeof(*v->segs), cmp_seg);
	size_t *open = malloc(v->nseg * sizeof(*open));
	if (open == NULL)
		return false;
	size_t nopen = 0;
	for (size_t j = 0; j < v->nseg; j++) {
		const sr_id_segment *g = &v->segs[j];
		size_t keep = 0;
		for (size_t i = 0; i < nopen; i++) {
			const sr_id_segment *o = &v->segs[open[i]];
			if (seg_last(o) < g->first)
				continue; /* closed: nothing later reaches it */
			open[keep++] = open[i];
			uint64_t c = seg_common(o, g);
			if (c > 0) {
				s->res->dup += c;
				diag_dup(s, shown, v->name, g->first, c);
			}
		}
		nopen = keep;
		open[nopen++] = j;
	}
	free(open);
	return true;
}

/* The IDs of B lines (sorted) against each segment: those inside its span
 * are found by binary search and tested for membership. */
static void
dups_points(struct state *s, struct seqv *v, unsigned *shown)
{
	for (size_t j = 0; j < v->nseg && v->n > 0; j++) {
		const sr_id_segment *g = &v->segs[j];
		uint64_t last = seg_last(g);
		size_t lo = 0, hi = v->n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (v->ids[mid] < g->first)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (size_t i = lo; i < v->n && v->ids[i] <= last; i++) {
			if ((v->ids[i] - g->first) % g->step != 0)
				continue;
			s->res->dup++;
			diag_dup(s, shown, v->name, v->ids[i], 1);
		}
	}
}

static int
check_dups(struct state *s)
{
	unsigned shown = 0;
	for (size_t i = 0; i < s->seqmap.n; i++) {
		struct seqv *v = &s->seqs[i];
		/* A sequence drawn only as segments has no IDs (and a NULL
		 * array, which qsort must not get). */
		if (v->n > 1)
			qsort(v->ids, v->n, sizeof(*v->ids), cmp_u64);
		for (size_t j = 1; j < v->n; j++) {
			if (v->ids[j] != v->ids[j - 1])
				continue;
			s->res->dup++;
			diag_dup(s, &shown, v->name, v->ids[j], 1);
		}
		if (!dups_segments(s, v, &shown))
			return SR_ENOMEM;
		dups_points(s, v, &shown);
		/* The IDs are not needed any more; give the memory back before
		 * the order check allocates. */
		free(v->ids);
		free(v->segs);
		v->ids = NULL;
		v->segs = NULL;
		v->n = v->cap = v->nseg = v->segcap = 0;
	}
	if (s->diag != NULL && shown > EXAMPLES)
		fprintf(s->diag, "verify: %u more duplicates not shown\n", shown - EXAMPLES);
	return SR_OK;
}

static int
check_order(struct state *s)
{
	for (size_t i = 0; i < s->groupmap.n; i++) {
		struct group *g = &s->groups[i];
		if (g->n < 2)
			continue;
		qsort(g->b, g->n, sizeof(*g->b), cmp_t0);
		struct end *e = malloc(g->n * sizeof(*e));
		if (e == NULL)
			return SR_ENOMEM;
		for (size_t j = 0; j < g->n; j++)
			e[j] = (struct end) {g->b[j].t1, g->b[j].max};
		qsort(e, g->n, sizeof(*e), cmp_t1);
		/* runmax: the largest ID of every batch that ended before the
		 * current one started. */
		size_t k = 0;
		uint64_t runmax = 0, runt1 = 0;
		bool any = false;
		for (size_t j = 0; j < g->n; j++) {
			const struct batch *b = &g->b[j];
			while (k < g->n && e[k].t1 < b->t0) {
				if (!any || e[k].max > runmax) {
					runmax = e[k].max;
					runt1 = e[k].t1;
				}
				any = true;
				k++;
			}
			if (any && runmax >= b->min) {
				s->res->order++;
				diag_order(s,
				    "verify: node %s seq %s: batch requested at"
				    " %" PRIu64 " us starts at id %" PRIu64 ", but id %" PRIu64
				    " was returned earlier (at %" PRIu64 " us)\n",
				    s->nodes[g->node], s->seqs[g->seq].name, b->t0, b->min, runmax,
				    runt1);
			}
		}
		free(e);
		free(g->b);
		g->b = NULL;
		g->n = g->cap = 0;
	}
	return SR_OK;
}

int
check_files(const char *const *files, size_t nfiles, struct check_result *res, FILE *diag,
    char *errbuf, size_t errlen)
{
	struct state s;
	memset(&s, 0, sizeof(s));
	memset(res, 0, sizeof(*res));
	s.res = res;
	s.diag = diag;
	int rv = SR_OK;
	for (size_t i = 0; i < nfiles && rv == SR_OK; i++)
		rv = read_file(&s, files[i], errbuf, errlen);
	if (rv == SR_OK) {
		res->seqs = s.seqmap.n;
		res->nodes = s.nodemap.n;
		rv = check_dups(&s);
		if (rv == SR_OK)
			rv = check_order(&s);
	}
	if (rv == SR_ENOMEM)
		snprintf(errbuf, errlen, "out of memory");
	state_free(&s);
	return rv;
}

bool
check_ok(const struct check_result *res)
{
	return res->ids > 0 && res->dup == 0 && res->order == 0 && res->range == 0;
}

void
check_summary(const struct check_result *res, char *buf, size_t len)
{
	int n = snprintf(buf, len,
	    "verify: ids=%" PRIu64 " batches=%" PRIu64 " seqs=%zu nodes=%zu dup=%" PRIu64
	    " order=%" PRIu64 " range=%" PRIu64 " errors=%" PRIu64,
	    res->ids, res->batches, res->seqs, res->nodes, res->dup, res->order, res->range,
	    res->errors);
	for (int e = 0; e <= SR_ERR_MAX; e++) {
		if (res->errcount[e] == 0 || n < 0 || (size_t) n >= len)
			continue;
		n += snprintf(buf + n, len - (size_t) n, " %s=%" PRIu64, sr_errname(e),
		    res->errcount[e]);
	}
}

static void
print_json(const struct check_result *res)
{
	json_t *codes = json_object();
	for (int e = 0; e <= SR_ERR_MAX; e++)
		if (res->errcount[e] > 0)
			json_object_set_new(codes, sr_errname(e),
			    json_integer((json_int_t) res->errcount[e]));
	json_t *o = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "ok",
	    check_ok(res), "ids", (json_int_t) res->ids, "batches", (json_int_t) res->batches,
	    "seqs", (json_int_t) res->seqs, "nodes", (json_int_t) res->nodes, "dup",
	    (json_int_t) res->dup, "order", (json_int_t) res->order, "range",
	    (json_int_t) res->range, "errors", (json_int_t) res->errors, "error_codes", codes);
	char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	if (text != NULL)
		printf("%s\n", text);
	free(text);
	json_decref(o);
}

int
check_main(int nfiles, char **files, bool json)
{
	struct check_result res;
	char errbuf[512];
	int rv = check_files((const char *const *) files, (size_t) nfiles, &res, stderr, errbuf,
	    sizeof(errbuf));
	if (rv != SR_OK) {
		fprintf(stderr, "snowrange: verify: %s: %s (%s)\n", errbuf, sr_strerror(rv),
		    sr_errname(rv));
		return 1;
	}
	if (json) {
		print_json(&res);
	} else {
		char line[1024];
		check_summary(&res, line, sizeof(line));
		printf("%s\n", line);
	}
	if (res.ids == 0)
		fprintf(stderr, "snowrange: verify: no ids in the input\n");
	return check_ok(&res) ? 0 : 1;
}
