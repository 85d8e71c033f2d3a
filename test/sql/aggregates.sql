-- Local encrypted aggregates: values, NULLs, empty input, overflow, parallel plans
SET search_path = public, scor;

CREATE TABLE admissions (
	id integer,
	age smallint,
	los integer,
	cost bigint,
	weight numeric,
	ward text
);
INSERT INTO admissions
SELECT i, (i % 90)::smallint, CASE WHEN i % 7 = 0 THEN NULL ELSE i % 30 END,
       (i::bigint * 1000003) % 100000 - 50000, round((i % 1000) / 8.0, 3), 'w' || (i % 4)
FROM generate_series(1, 10000) i;
ANALYZE admissions;

-- Each aggregate decrypts to its plaintext counterpart
SELECT decrypt(enc_count(*)) AS n, count(*),
       decrypt(enc_count(los)) AS n_los, count(los),
       decrypt(enc_sum(age)) AS s_age, sum(age),
       decrypt(enc_sum(los)) AS s_los, sum(los),
       decrypt(enc_sum(cost)) AS s_cost, sum(cost),
       decrypt(enc_sum(weight, 3)) AS s_weight, sum(weight)
FROM admissions;

-- Negative totals work (sums of differences, noise)
SELECT decrypt(enc_sum(cost)) AS s, sum(cost) FROM admissions WHERE cost < 0;
SELECT decrypt(enc_sum(-los)) AS s, sum(-los) FROM admissions;

-- GROUP BY: one ciphertext per group
SELECT ward, decrypt(enc_count(*)) AS n, count(*), decrypt(enc_sum(los)) AS s, sum(los)
FROM admissions GROUP BY ward ORDER BY ward;

-- Aggregates return ciphertexts, never plaintext
SELECT pg_typeof(enc_count(*)), pg_typeof(enc_sum(los)), pg_typeof(enc_sum(weight, 3))
FROM admissions;

-- NULLs are skipped; an input of only NULLs, or no rows, is an encrypted 0, not NULL
SELECT enc_count(*) IS NULL AS count_null, enc_sum(los) IS NULL AS sum_null,
       decrypt(enc_count(*)) AS n, decrypt(enc_count(los)) AS n_los,
       decrypt(enc_sum(los)) AS s_los, decrypt(enc_sum(weight, 2)) AS s_weight
FROM admissions WHERE false;
SELECT decrypt(enc_sum(los)) AS s, decrypt(enc_count(los)) AS n FROM admissions WHERE los IS NULL;
SELECT decrypt(enc_sum(x)) FROM (VALUES (NULL::integer), (NULL)) v(x);
SELECT decrypt(enc_sum(x, 1)) FROM (VALUES (NULL::numeric), (NULL)) v(x);

-- Two encryptions of the same value differ (fresh randomness), decrypt the same
SELECT a::text <> b::text AS randomized, decrypt(a) = decrypt(b) AS same_value
FROM (SELECT enc_count(*) a, enc_count(id) b FROM admissions) s;

-- Exact decimal sums with a declared scale
SELECT decrypt(enc_sum(x, 2)) FROM (VALUES (1.25), (2.50), (-0.75)) v(x);
SELECT scale(enc_sum(x, 2)) FROM (VALUES (1.25)) v(x);
SELECT decrypt(enc_sum(x, 0)) FROM (VALUES (1e11), (2.0)) v(x);
-- bad scales and values: 22023, a NULL scale 22004, overflow 22003
SELECT error_of($$SELECT enc_sum(x, 1) FROM (VALUES (1.25)) v(x)$$);
SELECT error_of($$SELECT enc_sum(x, 19) FROM (VALUES (1.25)) v(x)$$);
SELECT error_of($$SELECT enc_sum(x, -1) FROM (VALUES (1.25)) v(x)$$);
SELECT error_of($$SELECT enc_sum(x, NULL) FROM (VALUES (1.25)) v(x)$$);
SELECT error_of($$SELECT enc_sum(weight, age::integer) FROM admissions$$);
SELECT error_of($$SELECT enc_sum(x, 18) FROM (VALUES (10.0)) v(x)$$);

-- Overflow of a plaintext accumulator is an error, never a wrapped value: 22003
SELECT error_of($$SELECT enc_sum(x) FROM (VALUES (9223372036854775807::bigint), (1)) v(x)$$);
SELECT error_of($$SELECT enc_sum(x) FROM (VALUES ((-9223372036854775808)::bigint), (-1)) v(x)$$);
SELECT error_of($$SELECT decrypt(enc_sum(x)) FROM (VALUES (9223372036854775807::bigint), (-1), (1)) v(x)$$);
SELECT error_of($$SELECT enc_sum(x, 0) FROM (VALUES (9223372036854775807::numeric), (1)) v(x)$$);
SELECT error_of($$SELECT enc_sum(x, 0) FROM (VALUES (1e19)) v(x)$$);
SELECT error_of($$SELECT enc_sum(x, 0) FROM (VALUES (-1e19)) v(x)$$);
-- values at the edge of numeric's own range: value * 10^scale is beyond
-- numeric (the multiplication itself overflows), or a 131072-digit integer
SELECT error_of($$SELECT enc_sum('1e131071'::numeric, 1)$$);
SELECT error_of($$SELECT enc_sum('-1e131071'::numeric, 18)$$);
SELECT error_of($$SELECT enc_sum('1e131071'::numeric, 0)$$);
SELECT error_of($$SELECT enc_sum(x, 2) FROM (VALUES (1.5), ('1e131071'::numeric)) v(x)$$);
-- NaN and infinities are not numbers to add: 22023
SELECT error_of($$SELECT enc_sum(x, 2) FROM (VALUES ('NaN'::numeric)) v(x)$$);
SELECT error_of($$SELECT enc_sum(x, 2) FROM (VALUES ('Infinity'::numeric)) v(x)$$);
SELECT error_of($$SELECT enc_sum(x, 0) FROM (VALUES (1.0), ('-Infinity'::numeric)) v(x)$$);
-- the backend survived all of the above
SELECT decrypt(enc_sum(x, 1)) AS still_fine FROM (VALUES (0.5)) v(x);

-- Homomorphic operators and enc_sum over a ciphertext column
CREATE TABLE per_ward AS
SELECT ward, enc_count(*) AS n, enc_sum(los) AS s FROM admissions GROUP BY ward;
SELECT decrypt(enc_sum(n)) AS n, decrypt(enc_sum(s)) AS s FROM per_ward;
SELECT decrypt(a.n + b.n) AS plus, decrypt(a.n - b.n) AS minus, decrypt(-a.n) AS neg
FROM per_ward a, per_ward b WHERE a.ward = 'w0' AND b.ward = 'w1';
SELECT decrypt(enc_sum(s)) FROM per_ward WHERE false;
SELECT decrypt(enc_sum(c)) FROM (VALUES (NULL::scor.ciphertext)) v(c);
SELECT error_of($$SELECT enc_sum(weight, 3) + enc_sum(los) FROM admissions$$);
-- enc_sum over a ciphertext column with no rows: a ciphertext column has no
-- declared scale, so an empty input has none to inherit and gives an
-- encryption of 0 with scale 0.  It adds to scale-0 ciphertexts; with a
-- scaled one it is the different-scales error, whose hint says why
CREATE TABLE scaled_ct AS SELECT enc_sum(weight, 3) AS c FROM admissions;
SELECT scale(c) AS column_scale, (SELECT scale(enc_sum(c)) FROM scaled_ct WHERE false) AS empty_sum_scale
FROM scaled_ct;
SELECT decrypt((SELECT enc_sum(s) FROM per_ward WHERE false) + enc_sum(los)) AS plus_scale_0 FROM admissions;
SELECT error_of($$SELECT (SELECT enc_sum(c) FROM scaled_ct WHERE false) + c FROM scaled_ct$$);
DROP TABLE scaled_ct;

-- A forced parallel plan gives the same answers, through Partial Aggregate
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
-- EXPLAIN ANALYZE shows the workers really ran, so the states of
-- enc_sum(numeric) and enc_sum(ciphertext) really went through their
-- serial and deserial functions; the row counts of each worker vary from
-- run to run and are cut out, as are memory sizes
CREATE FUNCTION explain_analyze(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	line text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
		CONTINUE WHEN line ~ '(Memory|Batches|Sort Method|Worker \d|Rows Removed)';
		RETURN NEXT regexp_replace(line, ' \(actual rows=\d+ loops=\d+\)', '');
	END LOOP;
END
$$;
SELECT explain_analyze($$
SELECT enc_count(*), enc_count(los), enc_sum(age), enc_sum(los), enc_sum(cost), enc_sum(weight, 3)
FROM admissions$$);
SELECT decrypt(enc_count(*)) AS n, decrypt(enc_count(los)) AS n_los, decrypt(enc_sum(age)) AS s_age,
       decrypt(enc_sum(los)) AS s_los, decrypt(enc_sum(cost)) AS s_cost,
       decrypt(enc_sum(weight, 3)) AS s_weight
FROM admissions;
SELECT explain_analyze($$SELECT ward, enc_count(*), enc_sum(los) FROM admissions GROUP BY ward$$);
SELECT ward, decrypt(enc_count(*)) AS n, decrypt(enc_sum(los)) AS s
FROM admissions GROUP BY ward ORDER BY ward;
CREATE TABLE many_ct AS SELECT i, scor.encrypt(i) AS c FROM generate_series(-500, 1000) i;
ANALYZE many_ct;
SELECT explain_analyze($$SELECT enc_sum(c) FROM many_ct$$);
SELECT decrypt(enc_sum(c)) AS s, sum(i) FROM many_ct;
SELECT decrypt(enc_sum(c)) AS empty_ct, decrypt(enc_sum(i::numeric, 2)) AS empty_numeric FROM many_ct WHERE i < -1000;
DROP FUNCTION explain_analyze(text);
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;

-- dp_noise locally: an encrypted noise share under the same key; with the
-- superuser-only test seed it is reproducible (the first draw of a session)
SELECT scor.key_fingerprint(dp_noise(enc_count(*), 1.0)) = scor.key_fingerprint(enc_count(*)) AS same_key
FROM admissions;
SET scor.dp_test_seed = '0101010101010101010101010101010101010101010101010101010101010101';
SELECT decrypt(dp_noise(enc_count(*), 0.5)) - count(*) AS seeded_noise FROM admissions \gset first_
\c
SET search_path = public, scor;
SET scor.dp_test_seed = '0101010101010101010101010101010101010101010101010101010101010101';
SELECT decrypt(dp_noise(enc_count(*), 0.5)) - count(*) = :first_seeded_noise AS reproducible FROM admissions;
RESET scor.dp_test_seed;
SELECT error_of($$SELECT dp_noise(enc_count(*), 0) FROM admissions$$);
SELECT error_of($$SELECT dp_noise(enc_count(*), 'Infinity') FROM admissions$$);
SELECT error_of($$SELECT dp_noise(enc_count(*), 1, 0) FROM admissions$$);
-- the range applies to epsilon as used (rounded down to 12 decimals): the double nearest
-- 1e-6 is just below 10^-6 and refused; the next double above it gives exactly 10^-6
SELECT error_of($$SELECT dp_noise(enc_count(*), 1e-6) FROM admissions$$);
SELECT decrypt(dp_noise(enc_count(*), 1.0000000000000002e-6)) IS NOT NULL AS smallest_epsilon_ok FROM admissions;
SELECT dp_noise(scor.encrypt(1) - scor.encrypt(1), 1) IS NOT NULL AS combined_ok_locally;
-- the seed is for superusers only
CREATE ROLE regress_scor_analyst IN ROLE scor_analyst;
SET ROLE regress_scor_analyst;
SELECT sqlstate_of($$SET scor.dp_test_seed = '0101010101010101010101010101010101010101010101010101010101010101'$$);
RESET ROLE;
DROP ROLE regress_scor_analyst;

DROP TABLE many_ct, per_ward;
