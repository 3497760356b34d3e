-- The SQL surface of the snowrange extension (docs/postgresql.md).
\echo Use "CREATE EXTENSION snowrange" to load this file. \quit

-- The next ID of a snowrange sequence (created at the master with
-- `snowrange seq create NAME`): unique across every instance and coordinator
-- of the cluster, strictly increasing per instance. Usable as a column
-- DEFAULT.
CREATE FUNCTION nextval(seq text) RETURNS bigint
AS 'MODULE_PATHNAME', 'snowrange_nextval'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

-- n IDs of seq (1..100000), ascending.
CREATE FUNCTION nextvals(seq text, n int) RETURNS bigint[]
AS 'MODULE_PATHNAME', 'snowrange_nextvals'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

-- A Snowflake transaction ID under this instance's worker id lease.
CREATE FUNCTION txid() RETURNS bigint
AS 'MODULE_PATHNAME', 'snowrange_txid'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

-- A txid's parts in the cluster's layout; node_id is this instance's when
-- the worker id is the one it holds now, NULL otherwise.
CREATE FUNCTION decode(txid bigint, OUT "time" timestamptz, OUT worker int,
    OUT node_id bigint, OUT sequence int)
AS 'MODULE_PATHNAME', 'snowrange_decode'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;

CREATE FUNCTION status_rows(OUT sequence text, OUT chunk_start bigint,
    OUT chunk_n int, OUT chunk_k int, OUT chunk_size bigint, OUT used bigint,
    OUT next_held bool, OUT headroom bigint, OUT chunks_taken bigint,
    OUT waits bigint, OUT node_name text, OUT node_id bigint, OUT worker_id int,
    OUT master_reachable bool, OUT leases bigint, OUT lease_errors bigint,
    OUT last_error text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'snowrange_status'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

-- One row for the instance (sequence NULL), one per sequence served.
CREATE VIEW status AS SELECT * FROM status_rows();
