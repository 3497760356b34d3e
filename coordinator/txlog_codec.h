/*
 * The 2PC log's on-disk format, pure: encoding and decoding of the file
 * header and of records, no I/O and no allocation, so that the log, the CLI
 * and fuzzers share one definition. Every integer is little-endian and packed
 * byte by byte (never a struct dumped to disk). docs/txlog.md explains the
 * format and how recovery reads it.
 *
 *   file header (24 bytes, offset 0)
 *     0  8  magic "SRTXLOG1"
 *     8  4  u32 format version (2)
 *    12  8  u64 salt, random, chosen when the file is created
 *    20  4  u32 crc32 of bytes 0..19
 *   record (20-byte header + body), repeated
 *     0  4  u32 body_len
 *     4  4  u32 body_crc   crc32 of the body
 *     8  8  u64 batch      file offset of the first record of its batch
 *    16  4  u32 head_crc   crc32 of salt (8 bytes), the record's own file
 *                          offset (8 bytes) and bytes 0..15 of this header
 *   transaction record body
 *     0  8  u64 txid (not 0)
 *     8  1  u8  state (1 BEGIN, 2 PREPARE, 3 COMMIT, 4 ABORT)
 *     9  1  u8  reserved (0)
 *    10  2  u16 nparticipants (<= 1024)
 *           per participant: u16 len (1..255), len bytes (no NUL)
 *           u32 payload_len (<= 1 MiB), payload bytes; the body ends here
 *   commit marker body (16 bytes): closes a batch
 *     0  8  u64 records in the batch (>= 1)
 *     8  1  u8  0x80 (TXLOG_MARK)
 *     9  7  zeros
 *
 * A batch is what one group commit writes with one pwrite and makes durable
 * with one fdatasync: its records, then a commit marker. Every record of a
 * batch names the batch's first offset.
 *
 * Why a header checksum: with only a body CRC, a bit flip in body_len of a
 * record in the middle of the file can make it claim more bytes than the file
 * holds, which looks exactly like a torn tail, and recovery would cut every
 * record after it. With head_crc any damage to the header is CORRUPT, and
 * TRUNCATED means a checked header whose body runs past the end of the data.
 *
 * Why the salt and the offset in head_crc: a record decodes only at the
 * offset it was written at, in the file it was written to. Bytes that
 * happen to hold an encoded record (a copy inside another record's payload,
 * a record of another log) are not a record where they lie, so recovery
 * never takes them for evidence that the log goes on.
 */
#ifndef SR_TXLOG_CODEC_H
#define SR_TXLOG_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "snowrange/txlog.h"

#define TXLOG_MAGIC "SRTXLOG1"
#define TXLOG_FORMAT_VERSION 2
#define TXLOG_FILE_HDR 24 /* magic, version, salt, crc */
#define TXLOG_REC_HDR 20  /* body_len, body_crc, batch, head_crc */
#define TXLOG_BODY_MIN 16 /* txid, state, reserved, nparticipants, payload_len */
#define TXLOG_MARK 0x80   /* the state byte of a commit marker */
#define TXLOG_MARK_SIZE (TXLOG_REC_HDR + 16)
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
	TXLOG_BADVERSION, /* file header: right magic, another version */
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
 * txlog_name_next. A decoded commit marker has state TXLOG_MARK, txid 0,
 * no participants and no payload, and its record count in nrecords.
 */
struct txlog_rec {
	uint64_t txid;
	int state; /* an sr_tx_state, or TXLOG_MARK */
	size_t nparticipants;
	const char *const *participants; /* encode only */
	const uint8_t *names;            /* decode only */
	const void *payload;
	size_t payload_len;
	uint64_t batch;    /* decode: offset of the first record of its batch */
	uint64_t nrecords; /* decode, markers: records in the batch */
	const char *why;   /* decode: static text saying why the bytes are CORRUPT */
};

/* ---- file header ---- */

/* Writes the file header with this salt into out. */
void txlog_file_header(uint8_t out[TXLOG_FILE_HDR], uint64_t salt);

/*
 * Checks the first len bytes of a file. Returns TXLOG_OK (a whole header
 * of this version: *salt is set), TXLOG_TRUNCATED (fewer than 24 bytes that
 * can be the start of a valid header, as an interrupted creation leaves),
 * TXLOG_BADVERSION (the magic, then another version: *version is set to it,
 * or to 0 when its bytes are incomplete) or TXLOG_CORRUPT (not a txlog, or
 * a header whose checksum fails).
 */
int txlog_file_check(const uint8_t *buf, size_t len, uint64_t *salt, uint32_t *version);

/* ---- records ---- */

/* The encoded size of r, header included, or 0 when r breaks a limit (bad
 * state, txid 0, a NULL, empty or over-long name, too many participants, a
 * payload too large or NULL with a length). */
size_t txlog_record_size(const struct txlog_rec *r);

/*
 * Encodes r into buf (len bytes) and stores its size in *used. Returns
 * TXLOG_OK, TXLOG_INVALID (see txlog_record_size) or TXLOG_NOSPACE. The
 * record is not sealed yet: txlog_seal must give it its place before it is
 * written (the log encodes outside its lock and seals under it, once the
 * offset is known).
 */
int txlog_encode(const struct txlog_rec *r, uint8_t *buf, size_t len, size_t *used);

/* Encodes an unsealed commit marker for a batch of nrecords records. */
void txlog_encode_mark(uint8_t out[TXLOG_MARK_SIZE], uint64_t nrecords);

/* Seals the encoded record at rec for its place: it belongs to the batch
 * starting at file offset batch and is written at offset off (batch <= off;
 * batch < off for a marker) of the file whose header holds salt. */
void txlog_seal(uint8_t *rec, uint64_t salt, uint64_t batch, uint64_t off);

/*
 * Decodes the record at the start of buf (len bytes, which may hold more
 * after it), which lies at file offset off in a file with this salt.
 * Returns:
 *   TXLOG_OK         *out filled (pointing into buf), *used = its size;
 *   TXLOG_TRUNCATED  buf ends inside the record; *used = the bytes needed to
 *                    decide (20 until the header is whole, then the record's
 *                    full size): call again with at least that many;
 *   TXLOG_CORRUPT    not a valid record at this place (out->why says which
 *                    check failed); *used = 0.
 * Any change to a valid record's bytes (every single-bit flip, for
 * instance), and the same bytes at another offset or under another salt,
 * give CORRUPT, never a different record: the header, its place included,
 * is covered by head_crc, the body by body_crc, and fields are checked
 * after both. Reads nothing outside buf[0..len).
 */
int txlog_decode(const uint8_t *buf, size_t len, uint64_t salt, uint64_t off, struct txlog_rec *out,
    size_t *used);

/* Steps through the packed names of a decoded record: returns the current
 * name (not NUL-terminated), stores its length in *len and advances *cur.
 * Start with *cur = rec.names; call it exactly nparticipants times. */
const char *txlog_name_next(const uint8_t **cur, size_t *len);

#endif
