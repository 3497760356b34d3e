-- The SQL surface against a live master. The test (test/postgres.sh)
-- created the sequence "regress" with --chunk 100 for this instance alone,
-- so its first IDs are 1, 2, 3, ...
\set SHOW_CONTEXT never
SELECT snowrange.nextval('regress');
SELECT snowrange.nextvals('regress', 3);

-- A column default, as with a native sequence.
CREATE TABLE t (id bigint PRIMARY KEY DEFAULT snowrange.nextval('regress'), v text);
INSERT INTO t (v) VALUES ('a'), ('b');
SELECT id, v FROM t ORDER BY id;

-- Errors carry the sr_err name in the message and a SQLSTATE.
CREATE FUNCTION sqlstate_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
SELECT sqlstate_of($$SELECT snowrange.nextval('Not Valid')$$);
SELECT sqlstate_of($$SELECT snowrange.nextval('')$$);
SELECT sqlstate_of($$SELECT snowrange.nextval('missing')$$);
SELECT sqlstate_of($$SELECT snowrange.nextvals('regress', 0)$$);
SELECT sqlstate_of($$SELECT snowrange.decode(-1)$$);

-- txids: strictly increasing, decodable to this instance's worker id and
-- node, minted just now.
SELECT bool_and(a < b) AS increasing
FROM (SELECT x AS a, lead(x) OVER (ORDER BY i) AS b
      FROM (SELECT i, snowrange.txid() AS x FROM generate_series(1, 1000) i) s) p
WHERE b IS NOT NULL;
SELECT d.worker = s.worker_id AS own_worker, d.node_id = s.node_id AS own_node,
       abs(extract(epoch FROM d.time - now())) < 60 AS recent, d.sequence >= 0 AS seq
FROM snowrange.decode(snowrange.txid()) d, snowrange.status s
WHERE s.sequence IS NULL;

-- The status view: one row for the instance, one per sequence served.
SELECT sequence, chunk_size, used, node_name, master_reachable
FROM snowrange.status ORDER BY sequence NULLS FIRST;
