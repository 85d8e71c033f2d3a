-- Decoding: a signed range, errors (never 0, never a wrong value) outside it
SET search_path = public, scor;

SELECT decrypt(encrypt(0)) AS loads_scor;
SHOW scor.decode_range_bits;
SHOW scor.decode_table_bits;

-- Small, negative, and large values inside the default range of 2^40
SELECT v, decrypt(encrypt(v)) = v AS ok
FROM unnest(ARRAY[0, 1, -1, 2097152, -2097152, 2097153, -2097153, 4194305, -4194305,
                  123456789, -123456789, 4294967296, -4294967296,
                  1099511627775, -1099511627775, 1099511627776, -1099511627776]::bigint[]) v;

-- Just outside the range: an error that names the range, 22003 (the
-- first in full, with its hint)
SELECT decrypt(encrypt(1099511627777));
SELECT error_of($$SELECT decrypt(encrypt(1099511627777))$$);
SELECT error_of($$SELECT decrypt(encrypt(-1099511627777))$$);
SELECT error_of($$SELECT decrypt(encrypt(9223372036854775807))$$);
SELECT error_of($$SELECT decrypt(encrypt(-9223372036854775808))$$);

-- A smaller range is enforced exactly
SET scor.decode_range_bits = 20;
SELECT decrypt(encrypt(1048576)) AS at_bound, decrypt(encrypt(-1048576)) AS at_minus_bound;
SELECT error_of($$SELECT decrypt(encrypt(1048577))$$);
SELECT error_of($$SELECT decrypt(encrypt(-1048577))$$);
RESET scor.decode_range_bits;

-- Settings are checked: 22023, and 42602 for an unknown name under scor's prefix
SELECT error_of($$SET scor.decode_range_bits = 0$$);
SELECT error_of($$SET scor.decode_range_bits = 63$$);
SELECT error_of($$SET scor.no_such_setting = 1$$);

-- Scaled values decode to exact numerics
SELECT decrypt(enc_sum(x, 2)) FROM (VALUES (0.01), (-0.02)) v(x);
SELECT decrypt(enc_sum(x, 5)) FROM (VALUES (0.00001)) v(x);
SELECT decrypt(enc_sum(x, 3)) FROM (VALUES (-123456.789)) v(x);

-- The table is built once and shared through a file
SELECT f AS files, (pg_stat_file('scor/' || f)).size AS bytes FROM pg_ls_dir('scor') f WHERE f LIKE 'dlog%' ORDER BY 1;
