/* The growable text buffer of strbuf.h. */
#include "strbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
strbuf_init(struct strbuf *b)
{
	memset(b, 0, sizeof(*b));
}

void
strbuf_free(struct strbuf *b)
{
	if (b == NULL)
		return;
	free(b->p);
	memset(b, 0, sizeof(*b));
}

void
strbuf_reset(struct strbuf *b)
{
	b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

/* Makes room for n more bytes and the NUL. */
static bool
grow(struct strbuf *b, size_t n)
{
	if (b->oom)
		return false;
	if (n < b->cap - b->len && b->p != NULL)
		return true;
	if (n > SIZE_MAX / 2 - b->len - 1) {
		b->oom = true;
		return false;
	}
	size_t cap = b->cap < 256 ? 256 : b->cap;
	while (cap - b->len <= n)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (p == NULL) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	b->p[b->len] = '\0';
	return true;
}

void
strbuf_put(struct strbuf *b, const char *s, size_t n)
{
	if (!grow(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
strbuf_puts(struct strbuf *b, const char *s)
{
	strbuf_put(b, s, strlen(s));
}

void
strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char small[256];
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	if ((size_t) n < sizeof(small)) {
		strbuf_put(b, small, (size_t) n);
		return;
	}
	if (!grow(b, (size_t) n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t) n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t) n;
}

void
strbuf_json_str(struct strbuf *b, const char *s)
{
	strbuf_put(b, "\"", 1);
	for (const unsigned char *c = (const unsigned char *) s; *c != '\0'; c++) {
		if (*c == '"' || *c == '\\') {
			char e[2] = {'\\', (char) *c};
			strbuf_put(b, e, 2);
		} else if (*c < 0x20 || *c == 0x7f) {
			strbuf_printf(b, "\\u%04x", *c);
		} else {
			strbuf_put(b, (const char *) c, 1);
		}
	}
	strbuf_put(b, "\"", 1);
}

void
strbuf_json_u64(struct strbuf *b, unsigned long long v)
{
	strbuf_printf(b, "\"%llu\"", v);
}

char *
strbuf_take(struct strbuf *b, size_t *len)
{
	if (b->oom) {
		strbuf_free(b);
		return NULL;
	}
	if (b->p == NULL && !grow(b, 0))
		return NULL;
	char *p = b->p;
	if (len != NULL)
		*len = b->len;
	memset(b, 0, sizeof(*b));
	return p;
}
