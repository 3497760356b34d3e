/*
 * The 2PC log's record codec (format in txlog_codec.h): explicit
 * little-endian packing, zlib's crc32 for the checksums. Decoding trusts
 * nothing: every length is checked against the bytes at hand before it is
 * used, so the decoder is safe on arbitrary input (fuzzers call it).
 */
#include "txlog_codec.h"

#include <string.h>
#include <zlib.h>

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t) v;
	p[1] = (uint8_t) (v >> 8);
}

static void
put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

static void
put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t) (p[0] | (p[1] << 8));
}

static uint32_t
get32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t
get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* Sizes are bounded by TXLOG_MAX_BODY, far below UINT_MAX, so the cast to
 * zlib's uInt cannot truncate. */
static uint32_t
crc(const uint8_t *p, size_t n)
{
	return (uint32_t) crc32(0L, p, (uInt) n);
}

static int
state_valid(int s)
{
	return s >= SR_TX_BEGIN && s <= SR_TX_ABORT;
}

void
txlog_file_header(uint8_t out[TXLOG_FILE_HDR], uint64_t salt)
{
	memcpy(out, TXLOG_MAGIC, 8);
	put32(out + 8, TXLOG_FORMAT_VERSION);
	put64(out + 12, salt);
	put32(out + 20, crc(out, 20));
}

int
txlog_file_check(const uint8_t *buf, size_t len, uint64_t *salt, uint32_t *version)
{
	uint8_t want[12];

	*salt = 0;
	*version = 0;
	/* Magic and version are all a prefix can be compared with: the salt
	 * is random and the checksum covers it. */
	memcpy(want, TXLOG_MAGIC, 8);
	put32(want + 8, TXLOG_FORMAT_VERSION);
	size_t n = len < 12 ? len : 12;
	if (memcmp(buf, want, n < 8 ? n : 8) != 0)
		return TXLOG_CORRUPT;
	if (n > 8 && memcmp(buf + 8, want + 8, n - 8) != 0) {
		if (n == 12)
			*version = get32(buf + 8);
		return TXLOG_BADVERSION;
	}
	if (len < TXLOG_FILE_HDR)
		return TXLOG_TRUNCATED;
	if (get32(buf + 20) != crc(buf, 20))
		return TXLOG_CORRUPT;
	*salt = get64(buf + 12);
	return TXLOG_OK;
}

size_t
txlog_record_size(const struct txlog_rec *r)
{
	if (r == NULL || r->txid == 0 || !state_valid(r->state) ||
	    r->nparticipants > TXLOG_MAX_PARTICIPANTS ||
	    (r->nparticipants > 0 && r->participants == NULL) ||
	    r->payload_len > TXLOG_MAX_PAYLOAD || (r->payload_len > 0 && r->payload == NULL))
		return 0;
	size_t body = TXLOG_BODY_MIN + r->payload_len;
	for (size_t i = 0; i < r->nparticipants; i++) {
		const char *name = r->participants[i];
		if (name == NULL)
			return 0;
		size_t n = strnlen(name, TXLOG_MAX_NAME + 1);
		if (n == 0 || n > TXLOG_MAX_NAME)
			return 0;
		body += 2 + n;
	}
	return TXLOG_REC_HDR + body;
}

int
txlog_encode(const struct txlog_rec *r, uint8_t *buf, size_t len, size_t *used)
{
	size_t size = txlog_record_size(r);

	if (size == 0)
		return TXLOG_INVALID;
	if (len < size)
		return TXLOG_NOSPACE;
	uint8_t *b = buf + TXLOG_REC_HDR;
	put64(b, r->txid);
	b[8] = (uint8_t) r->state;
	b[9] = 0;
	put16(b + 10, (uint16_t) r->nparticipants);
	uint8_t *p = b + 12;
	for (size_t i = 0; i < r->nparticipants; i++) {
		size_t n = strlen(r->participants[i]);
		put16(p, (uint16_t) n);
		memcpy(p + 2, r->participants[i], n);
		p += 2 + n;
	}
	put32(p, (uint32_t) r->payload_len);
	if (r->payload_len > 0)
		memcpy(p + 4, r->payload, r->payload_len);
	size_t body = size - TXLOG_REC_HDR;
	put32(buf, (uint32_t) body);
	put32(buf + 4, crc(b, body));
	memset(buf + 8, 0, TXLOG_REC_HDR - 8); /* txlog_seal fills these */
	*used = size;
	return TXLOG_OK;
}

void
txlog_encode_mark(uint8_t out[TXLOG_MARK_SIZE], uint64_t nrecords)
{
	uint8_t *b = out + TXLOG_REC_HDR;

	memset(out, 0, TXLOG_MARK_SIZE);
	put64(b, nrecords);
	b[8] = TXLOG_MARK;
	put32(out, TXLOG_MARK_SIZE - TXLOG_REC_HDR);
	put32(out + 4, crc(b, TXLOG_MARK_SIZE - TXLOG_REC_HDR));
}

/* The header checksum of the record header h at file offset off: it binds
 * the record to its place and to its file. */
static uint32_t
head_crc(const uint8_t *h, uint64_t salt, uint64_t off)
{
	uint8_t place[16];

	put64(place, salt);
	put64(place + 8, off);
	uLong c = crc32(0L, place, sizeof(place));
	return (uint32_t) crc32(c, h, 16);
}

void
txlog_seal(uint8_t *rec, uint64_t salt, uint64_t batch, uint64_t off)
{
	put64(rec + 8, batch);
	put32(rec + 16, head_crc(rec, salt, off));
}

static int
corrupt(struct txlog_rec *out, const char *why)
{
	out->why = why;
	return TXLOG_CORRUPT;
}

/* Checks the fields of a commit marker's body (whose checksum matched). */
static int
parse_mark(const uint8_t *b, size_t n, uint64_t at, struct txlog_rec *out)
{
	static const uint8_t zeros[7];

	if (n != TXLOG_MARK_SIZE - TXLOG_REC_HDR)
		return corrupt(out, "commit marker of the wrong length");
	if (memcmp(b + 9, zeros, sizeof(zeros)) != 0)
		return corrupt(out, "reserved bytes of a commit marker not 0");
	out->state = TXLOG_MARK;
	out->nrecords = get64(b);
	if (out->nrecords == 0)
		return corrupt(out, "commit marker of an empty batch");
	if (out->batch >= at)
		return corrupt(out, "commit marker closing no record before it");
	return TXLOG_OK;
}

/* Checks the fields of a body whose checksum matched. */
static int
parse_body(const uint8_t *b, size_t n, uint64_t at, struct txlog_rec *out)
{
	if (b[8] == TXLOG_MARK)
		return parse_mark(b, n, at, out);
	if (out->batch > at)
		return corrupt(out, "batch starts after the record");
	out->txid = get64(b);
	out->state = b[8];
	out->nparticipants = get16(b + 10);
	if (out->txid == 0)
		return corrupt(out, "txid 0");
	if (!state_valid(out->state))
		return corrupt(out, "unknown state");
	if (b[9] != 0)
		return corrupt(out, "reserved byte not 0");
	if (out->nparticipants > TXLOG_MAX_PARTICIPANTS)
		return corrupt(out, "too many participants");
	/* n >= TXLOG_BODY_MIN, so the 4 bytes of payload_len are always
	 * counted in `left` below and never read past the body. */
	size_t off = 12;
	out->names = b + off;
	for (size_t i = 0; i < out->nparticipants; i++) {
		if (n - off < 2 + 4)
			return corrupt(out, "participants run past the body");
		size_t len = get16(b + off);
		if (len == 0 || len > TXLOG_MAX_NAME)
			return corrupt(out, "bad participant name length");
		if (n - off - 2 - 4 < len)
			return corrupt(out, "participants run past the body");
		if (memchr(b + off + 2, '\0', len) != NULL)
			return corrupt(out, "NUL in a participant name");
		off += 2 + len;
	}
	if (n - off < 4)
		return corrupt(out, "participants run past the body");
	size_t plen = get32(b + off);
	off += 4;
	if (plen > TXLOG_MAX_PAYLOAD)
		return corrupt(out, "payload too large");
	if (plen != n - off)
		return corrupt(out, "payload length does not match the body length");
	out->payload = b + off;
	out->payload_len = plen;
	return TXLOG_OK;
}

int
txlog_decode(const uint8_t *buf, size_t len, uint64_t salt, uint64_t off, struct txlog_rec *out,
    size_t *used)
{
	memset(out, 0, sizeof(*out));
	*used = 0;
	if (len < TXLOG_REC_HDR) {
		*used = TXLOG_REC_HDR;
		return TXLOG_TRUNCATED;
	}
	if (get32(buf + 16) != head_crc(buf, salt, off))
		return corrupt(out, "header checksum mismatch (or not at its place)");
	size_t body = get32(buf);
	if (body < TXLOG_BODY_MIN || body > TXLOG_MAX_BODY)
		return corrupt(out, "impossible body length");
	if (len - TXLOG_REC_HDR < body) {
		*used = TXLOG_REC_HDR + body;
		return TXLOG_TRUNCATED;
	}
	const uint8_t *b = buf + TXLOG_REC_HDR;
	if (get32(buf + 4) != crc(b, body))
		return corrupt(out, "body checksum mismatch");
	out->batch = get64(buf + 8);
	int rv = parse_body(b, body, off, out);
	if (rv != TXLOG_OK) {
		/* Leave no half-filled record behind for a careless caller. */
		const char *why = out->why;
		memset(out, 0, sizeof(*out));
		out->why = why;
		return rv;
	}
	*used = TXLOG_REC_HDR + body;
	return TXLOG_OK;
}

const char *
txlog_name_next(const uint8_t **cur, size_t *len)
{
	const uint8_t *p = *cur;

	*len = get16(p);
	*cur = p + 2 + *len;
	return (const char *) (p + 2);
}
