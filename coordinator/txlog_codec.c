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
txlog_file_header(uint8_t out[TXLOG_FILE_HDR])
{
	memcpy(out, TXLOG_MAGIC, 8);
	put32(out + 8, TXLOG_FORMAT_VERSION);
}

int
txlog_file_check(const uint8_t *buf, size_t len)
{
	uint8_t want[TXLOG_FILE_HDR];

	txlog_file_header(want);
	if (len < TXLOG_FILE_HDR)
		return len == 0 || memcmp(buf, want, len) == 0 ? TXLOG_TRUNCATED
							       : TXLOG_CORRUPT;
	if (memcmp(buf, TXLOG_MAGIC, 8) != 0)
		return TXLOG_CORRUPT;
	return get32(buf + 8) == TXLOG_FORMAT_VERSION ? TXLOG_OK : TXLOG_BADVERSION;
}

size_t
txlog_record_size(const struct txlog_rec *r)
{
	if (r == NULL || r->txid == 0 || !state_valid(r->state) ||
	    r->nparticipants > TXLOG_MAX_PARTICIPANTS ||
	    (r->nparticipants > 0 && r->participants == NULL) ||
	    r->payload_len > TXLOG_MAX_PAYLOAD ||
	    (r->payload_len > 0 && r->payload == NULL))
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
	put32(buf + 8, crc(buf, 8));
	*used = size;
	return TXLOG_OK;
}

static int
corrupt(struct txlog_rec *out, const char *why)
{
	out->why = why;
	return TXLOG_CORRUPT;
}

/* Checks the fields of a body whose checksum matched. */
static int
parse_body(const uint8_t *b, size_t n, struct txlog_rec *out)
{
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
txlog_decode(const uint8_t *buf, size_t len, struct txlog_rec *out,
    size_t *used)
{
	memset(out, 0, sizeof(*out));
	*used = 0;
	if (len < TXLOG_REC_HDR) {
		*used = TXLOG_REC_HDR;
		return TXLOG_TRUNCATED;
	}
	if (get32(buf + 8) != crc(buf, 8))
		return corrupt(out, "header checksum mismatch");
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
	int rv = parse_body(b, body, out);
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
