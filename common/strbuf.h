/*
 * A growable text buffer for the HTTP layer's JSON bodies and the metrics
 * text (pure: libc only). An allocation failure is remembered in the buffer
 * rather than reported by every call, so a renderer appends freely and
 * checks once at the end (strbuf_take).
 */
#ifndef SR_STRBUF_H
#define SR_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *p;    /* NUL-terminated once anything was appended */
	size_t len; /* bytes, without the NUL */
	size_t cap;
	bool oom; /* an append failed: the content is incomplete */
};

/* A zeroed struct strbuf is an empty buffer; strbuf_init makes one. */
void strbuf_init(struct strbuf *b);
/* Frees the text. NULL-safe. */
void strbuf_free(struct strbuf *b);
/* Drops the content, keeps the memory. */
void strbuf_reset(struct strbuf *b);

void strbuf_put(struct strbuf *b, const char *s, size_t n);
void strbuf_puts(struct strbuf *b, const char *s);
void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a JSON string, quotes included; control characters, quotes and
 * backslashes escaped, bytes >= 0x80 passed through (UTF-8 stays UTF-8). */
void strbuf_json_str(struct strbuf *b, const char *s);
/* v as a JSON string of decimal digits: 64-bit IDs never become JSON
 * numbers, which JavaScript rounds above 2^53. */
void strbuf_json_u64(struct strbuf *b, unsigned long long v);

/* Hands the text over (malloc'd, NUL-terminated) and empties the buffer;
 * NULL when an append had failed (the buffer is freed then). */
char *strbuf_take(struct strbuf *b, size_t *len);

#endif
