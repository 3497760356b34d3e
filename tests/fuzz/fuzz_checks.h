/*
 * The checks behind snowrange's fuzz targets, shared by the libFuzzer
 * targets (tests/fuzz/fuzz_*.c, built with clang) and by the cmocka
 * regression test (tests/unit/test_fuzz_regress.c, built by every build), so
 * that an input the fuzzer once found is replayed by exactly the code that
 * judged it.
 *
 * Each check feeds one input to the real decoder and asserts what the
 * contract promises about the result. It returns 0 when every invariant
 * held, or -1 with a sentence naming the broken one in why. Memory errors are
 * not reported here: AddressSanitizer and UBSan catch those in the builds
 * that have them.
 *
 * The checks keep no state between calls, so an input gives the same verdict
 * whenever and wherever it is replayed; the ones that need files use a
 * per-process path in fuzz_tmpdir() and remove it before returning.
 */
#ifndef SR_FUZZ_CHECKS_H
#define SR_FUZZ_CHECKS_H

#include <stddef.h>
#include <stdint.h>

/* Room for the message a check leaves in why. */
#define FUZZ_WHY_MAX 512

/*
 * The request envelope and every handler's input: data as a raw nng request
 * body through wire_serve_bytes(), once with the master's dispatch table
 * (over a real catalog on an in-memory store, prepared afresh for every
 * input) and once with the coordinator daemon's (NextIds, NextTxids, Status,
 * Leave over a fake ID source). Every reply must decode as a Response; an
 * error reply carries a code in 1..SR_ERR_MAX-1 and a message and no body;
 * a success carries the body of the request's kind; oversized, undecodable,
 * wrong-version and bodiless requests get SR_ETOOBIG, SR_EPROTO, SR_EVERSION
 * and SR_EPROTO; the bodies of successful replies are well formed (chunks
 * inside their range, as many ascending IDs as asked for).
 */
int fuzz_check_envelope(const uint8_t *data, size_t len, char *why, size_t whylen);

/*
 * The salt of the file header the txlog checks put before data, and under
 * which they decode data as a record at offset TXLOG_FILE_HDR: the first
 * record of a log, where the seeds (tests/fuzz/gen_seeds.c) put theirs.
 */
#define FUZZ_TXLOG_SALT UINT64_C(0x746c61737a7a7566) /* "fuzzsalt" */

/*
 * The 2PC log reader: txlog_decode() on data (a decoded record or commit
 * marker re-encodes and seals to the same bytes, every shorter prefix is
 * TRUNCATED asking for more), then data written as a log file after a
 * valid file header and read by
 * sr_txlog_scan() (file and txid order), sr_txlog_in_doubt() and recovery in
 * sr_txlog_open() (bytes kept plus bytes cut never exceed the file; recovery
 * agrees with the scan; the recovered file scans clean and takes an append).
 * data without a header is scanned too, which covers the file-header checks.
 */
int fuzz_check_txlog(const uint8_t *data, size_t len, char *why, size_t whylen);

/*
 * The config parser: data as an INI file read by sr_opts_parse() with
 * --config and a table holding one option of each type (on success every
 * value lies within its row's bounds), and data as a string read by
 * flake_layout_parse() (on success the layout passes flake_layout_check()
 * and flake_layout_format() then flake_layout_parse() give it back).
 */
int fuzz_check_config(const uint8_t *data, size_t len, char *why, size_t whylen);

/*
 * The RESP request parser of the coordinator's RESP port (coordinator/resp.c):
 * data as a stream of requests, parsed one after another as the server does.
 * A parsed request lies inside its frame, within the argument limits, every
 * shorter prefix of it asks for more bytes, and its arguments re-encoded as
 * an array of bulk strings parse back to themselves; RESP_MORE is never
 * returned on RESP_MAX_FRAME bytes or more (a server that keeps that much is
 * never stuck); a refusal carries a one-line message.
 */
int fuzz_check_resp(const uint8_t *data, size_t len, char *why, size_t whylen);

/* The directory for the checks' scratch files: $FUZZ_TMPDIR, else /dev/shm
 * when it exists (fsync there costs nothing, which matters at thousands of
 * runs a second), else $TMPDIR, else /tmp. */
const char *fuzz_tmpdir(void);

#endif
