/*
 * The 2PC log's on-disk format, pure: encoding and decoding of the file
 * header and of records, no I/O and no allocation, so that the log, the CLI
 * and fuzzers share one definition. Every integer is little-endian and packed
 * byte by byte (never a struct dumped to disk).
 *
 *   file header (12 bytes, offset 0)
 *     0  8  magic "SRTXLOG1"
 *     8  4  u32 format version (1)
 *   record (12-byte header + body), repeated
 *     0  4  u32 body_len
 *     4  4  u32 body_crc   crc32 of the body
 *     8  4  u32 head_crc   crc32 of bytes 0..7 (body_len and body_crc)
 *   body
 *     0  8  u64 txid (not 0)
 *     8  1  u8  state (1 BEGIN, 2 PREPARE, 3 COMMIT, 4 ABORT)
 *     9  1  u8  reserved (0)
 *    10  2  u16 nparticipants (<= 1024)
 *           per participant: u16 len (1..255), len bytes (no NUL)
 *           u32 payload_len (<= 1 MiB), payload bytes; the body ends here
 *
 * Why a header checksum: with only a body CRC, a bit flip in body_len of a
 * record in the middle of the file can make it claim more bytes than the file
 * holds, which looks exactly like a torn tail, and recovery would cut every
 * record after it. With head_crc any damage to the header is CORRUPT, and
 * TRUNCATED means a checked header whose body runs past the end of the data.
 */
#ifndef SR_TXLOG_CODEC_H
#define SR_TXLOG_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "snowrange/txlog.h"

#define TXLOG_MAGIC "SRTXLOG1"
#define TXLOG_FORMAT_VERSION 1
#define TXLOG_FILE_HDR 12 /* magic + version */
#define TXLOG_REC_HDR 12  /* body_len, body_crc, head_crc */
#define TXLOG_BODY_MIN 16 /* txid, state, reserved, nparticipants, payload_len */
#define TXLOG_MAX_NAME 255
#define TXLOG_MAX_PARTICIPANTS 1024
#define TXLOG_MAX_PAYLOAD (UINT32_C(1) << 20)
/* Larger than any valid body (16 + 1024 * 257 + 1 MiB): a quick, generous
 * bound on body_len before anything is read. */
#define TXLOG_MAX_BODY (UINT32_C(2) << 20)

/* Outcomes of the codec functions. */
enum txlog_result {
	TXLOG_OK = 0,
	TXLOG_TRUNCATED,  /* decode: the bytes end before the record does */
	TXLOG_CORRUPT,    /* decode: the bytes are not a valid record */
	TXLOG_BADVERSION, /* file header: right magic, unknown version */
	TXLOG_INVALID,    /* encode: the record breaks a limit */
	TXLOG_NOSPACE,    /* encode: the buffer is shorter than the record */
};

/*
 * A record as the codec sees it. For encoding fill txid, state,
 * participants/nparticipants (C strings) and payload/payload_len.
 * Decoding fills every field; the pointers point into the decoded buffer
 * (nothing is copied), so the record is valid only as long as that buffer.
 * Names on disk are not NUL-terminated, so a decoded record has
 * participants = NULL and names pointing at the packed list: walk it with
 * txlog_name_next.
 */
struct txlog_rec {
	uint64_t txid;
	int state; /* an sr_tx_state */
	size_t nparticipants;
	const char *const *participants; /* encode only */
	const uint8_t *names;            /* decode only */
	const void *payload;
	size_t payload_len;
	const char *why; /* decode: static text saying why the bytes are CORRUPT */
};

/* ---- file header ---- */

/* Writes the 12-byte file header into out. */
void txlog_file_header(uint8_t out[TXLOG_FILE_HDR]);

/* Checks the first len bytes of a file: TXLOG_OK (a whole, known header),
 * TXLOG_TRUNCATED (len < 12 and the bytes are a prefix of a valid header,
 * as an interrupted creation leaves), TXLOG_CORRUPT (not a txlog) or
 * TXLOG_BADVERSION. */
int txlog_file_check(const uint8_t *buf, size_t len);

/* ---- records ---- */

/* The encoded size of r, header included, or 0 when r breaks a limit (bad
 * state, txid 0, a NULL, empty or over-long name, too many participants, a
 * payload too large or NULL with a length). */
size_t txlog_record_size(const struct txlog_rec *r);

/* Encodes r into buf (len bytes) and stores its size in *used. Returns
 * TXLOG_OK, TXLOG_INVALID (see txlog_record_size) or TXLOG_NOSPACE. */
int txlog_encode(const struct txlog_rec *r, uint8_t *buf, size_t len,
    size_t *used);

/*
 * Decodes the record at the start of buf (len bytes, which may hold more
 * after it). Returns:
 *   TXLOG_OK         *out filled (pointing into buf), *used = its size;
 *   TXLOG_TRUNCATED  buf ends inside the record; *used = the bytes needed to
 *                    decide (12 until the header is whole, then the record's
 *                    full size): call again with at least that many;
 *   TXLOG_CORRUPT    not a valid record (out->why says which check failed);
 *                    *used = 0.
 * Any change to a valid record's bytes (every single-bit flip, for
 * instance) gives CORRUPT, never a different record: the header is covered
 * by head_crc, the body by body_crc, and fields are checked after both.
 * Reads nothing outside buf[0..len).
 */
int txlog_decode(const uint8_t *buf, size_t len, struct txlog_rec *out,
    size_t *used);

/* Steps through the packed names of a decoded record: returns the current
 * name (not NUL-terminated), stores its length in *len and advances *cur.
 * Start with *cur = rec.names; call it exactly nparticipants times. */
const char *txlog_name_next(const uint8_t **cur, size_t *len);

#endif
