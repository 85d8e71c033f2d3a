-- Federated queries: three sites as three databases of this cluster, over
-- loopback libpq (the way postgres_fdw's tests reach themselves)
SET search_path = public, scor;

-- The login peers use; trust authentication in the test cluster
CREATE ROLE regress_scor_peer LOGIN PASSWORD 'peer-secret' IN ROLE scor_peer;
-- scor locks the peer login's sessions down from their start (scor.require_peer_lockdown)
ALTER ROLE regress_scor_peer SET session_preload_libraries = 'scor';

-- Two more sites, each with its own key and data
CREATE DATABASE regress_site_b;
CREATE DATABASE regress_site_c;

-- Deterministic data at every site; site c has no COVID-19 cases at all,
-- and only site a has the '90+' age band
CREATE TABLE visits (id integer, covid boolean, los integer, delta integer, age_band text, cost numeric);
INSERT INTO visits
SELECT i, i % 3 = 0, i % 17, (i % 11) - 7,
       CASE WHEN i % 50 = 0 THEN '90+' WHEN i % 2 = 0 THEN '18-64' ELSE '65-89' END,
       round(i / 4.0, 2)
FROM generate_series(1, 3000) i;

\c regress_site_b
CREATE EXTENSION scor;
SET search_path = public, scor;
SELECT site_name FROM scor.init_site('regress_b');
-- the suite's error helper (see site.sql), here too
CREATE FUNCTION public.sqlstate_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'no error';
EXCEPTION WHEN others THEN
	RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '[0-9a-f]{16,}', '<hex>', 'g');
END
$$;
CREATE TABLE visits (id integer, covid boolean, los integer, delta integer, age_band text, cost numeric);
INSERT INTO visits
SELECT i, i % 4 = 0, i % 13, (i % 5) - 4, CASE WHEN i % 2 = 0 THEN '18-64' ELSE '65-89' END,
       round(i / 8.0, 3)
FROM generate_series(1, 2000) i;

\c regress_site_c
CREATE EXTENSION scor;
SET search_path = public, scor;
SELECT site_name FROM scor.init_site('regress_c');
CREATE TABLE visits (id integer, covid boolean, los integer, delta integer, age_band text, cost numeric);
INSERT INTO visits
SELECT i, false, i % 7, -(i % 3), '18-64', 1.5
FROM generate_series(1, 500) i;

-- Every site declares the two others, the PostgreSQL way, and pins their keys
\c contrib_regression
SET search_path = public, scor;
SET client_min_messages = warning;
DO $$
DECLARE
	db text;
	sock text := split_part(current_setting('unix_socket_directories'), ',', 1);
BEGIN
	FOREACH db IN ARRAY ARRAY['contrib_regression', 'regress_site_b', 'regress_site_c'] LOOP
		EXECUTE format('CREATE SERVER IF NOT EXISTS %I FOREIGN DATA WRAPPER scor OPTIONS (host %L, port %L, dbname %L)',
					   'srv_' || db, sock, current_setting('port'), db);
		EXECUTE format('CREATE USER MAPPING IF NOT EXISTS FOR PUBLIC SERVER %I OPTIONS (user %L, password %L)',
					   'srv_' || db, 'regress_scor_peer', 'peer-secret');
	END LOOP;
END
$$;
SELECT site_name, members FROM scor.add_peer('srv_regress_site_b');
SELECT site_name, members FROM scor.add_peer('srv_regress_site_c');
RESET client_min_messages;
-- a site cannot be its own peer
SELECT scor.add_peer('srv_contrib_regression');

\c regress_site_b
SET client_min_messages = warning;
DO $$
DECLARE
	db text;
	sock text := split_part(current_setting('unix_socket_directories'), ',', 1);
BEGIN
	FOREACH db IN ARRAY ARRAY['contrib_regression', 'regress_site_c'] LOOP
		EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER scor OPTIONS (host %L, port %L, dbname %L)',
					   'srv_' || db, sock, current_setting('port'), db);
		EXECUTE format('CREATE USER MAPPING FOR PUBLIC SERVER %I OPTIONS (user %L, password %L)',
					   'srv_' || db, 'regress_scor_peer', 'peer-secret');
	END LOOP;
END
$$;
SELECT site_name, members FROM scor.add_peer('srv_contrib_regression');
SELECT site_name, members FROM scor.add_peer('srv_regress_site_c');
RESET client_min_messages;

\c regress_site_c
SET client_min_messages = warning;
DO $$
DECLARE
	db text;
	sock text := split_part(current_setting('unix_socket_directories'), ',', 1);
BEGIN
	FOREACH db IN ARRAY ARRAY['contrib_regression', 'regress_site_b'] LOOP
		EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER scor OPTIONS (host %L, port %L, dbname %L)',
					   'srv_' || db, sock, current_setting('port'), db);
		EXECUTE format('CREATE USER MAPPING FOR PUBLIC SERVER %I OPTIONS (user %L, password %L)',
					   'srv_' || db, 'regress_scor_peer', 'peer-secret');
	END LOOP;
END
$$;
SELECT site_name, members FROM scor.add_peer('srv_contrib_regression');
SELECT site_name, members FROM scor.add_peer('srv_regress_site_b');
RESET client_min_messages;

-- The plaintext truth that only this test can compute, site by site
SELECT count(*) FILTER (WHERE covid) AS n_c, coalesce(sum(los) FILTER (WHERE covid), 0) AS los_c,
       sum(delta) AS delta_c, sum(cost) AS cost_c
FROM visits \gset
\c regress_site_b
SELECT count(*) FILTER (WHERE covid) AS n_b, sum(los) FILTER (WHERE covid) AS los_b,
       sum(delta) AS delta_b, sum(cost) AS cost_b
FROM visits \gset
\c contrib_regression
SET search_path = public, scor;
SELECT count(*) FILTER (WHERE covid) AS n_a, sum(los) FILTER (WHERE covid) AS los_a,
       sum(delta) AS delta_a, sum(cost) AS cost_a
FROM visits \gset

-- All three sites agree on the member set
SELECT members, length(network_id) FROM scor.network_key();

-- The consortium total: exact, and equal to the sum of the per-site truths
SELECT n, los, n = :n_a + :n_b + :n_c AS n_ok, los = :los_a + :los_b + :los_c AS los_ok
FROM scor.federate($$ SELECT enc_count(*), enc_sum(los) FROM visits WHERE covid $$)
     AS t(n bigint, los bigint);

-- Signed sums and exact decimals
SELECT delta, delta = :delta_a + :delta_b + :delta_c AS delta_ok,
       cost, cost = :cost_a + :cost_b + :cost_c AS cost_ok
FROM scor.federate($$ SELECT enc_sum(delta), enc_sum(cost, 3) FROM visits $$)
     AS t(delta bigint, cost numeric);

-- GROUP BY: groups are combined across sites, including one only site a has
SELECT * FROM scor.federate($$ SELECT age_band, enc_count(*) FROM visits GROUP BY age_band $$)
         AS t(age_band text, n bigint)
ORDER BY age_band;
-- strict_groups refuses a group that not every site answered
SELECT * FROM scor.federate($$ SELECT age_band, enc_count(*) FROM visits GROUP BY age_band $$,
                            strict_groups => true)
         AS t(age_band text, n bigint);
-- declaring the group domain makes every site answer every group, with 0 where it has none
SELECT * FROM scor.federate($$
	SELECT d.band, enc_count(v.id)
	FROM (VALUES ('18-64'), ('65-89'), ('90+')) d(band) LEFT JOIN visits v ON v.age_band = d.band
	GROUP BY d.band $$, strict_groups => true)
	AS t(age_band text, n bigint)
ORDER BY age_band;

-- The same query from another site gives the same answer
\c regress_site_b
SET search_path = public, scor;
SELECT n, los FROM scor.federate($$ SELECT enc_count(*), enc_sum(los) FROM visits WHERE covid $$)
     AS t(n bigint, los bigint);

-- Every site logged what it answered, once answered and once decrypted
\c regress_site_c
SELECT coordinator, analyst, requested_by, count(*) AS answered, count(decrypted_at) AS decrypted
FROM scor.query_log GROUP BY 1, 2, 3 ORDER BY 1;

-- ... and appended each answer and decryption to its hash-chained audit log
SELECT event, peer, login, analyst, count(*), bool_and(digest IS NOT NULL) AS digests,
       bool_and(query_id IS NOT NULL AND query IS NOT NULL) AS described
FROM scor.audit_log GROUP BY 1, 2, 3, 4 ORDER BY 1, 2;
SELECT * FROM scor.verify_audit_log();

\c contrib_regression
SET search_path = public, scor;
-- the coordinator logs its own site's part too
SELECT event, peer, count(*) FROM scor.audit_log GROUP BY 1, 2 ORDER BY 1, 2;
SELECT ok FROM scor.verify_audit_log();

-- Declared columns must fit what the query returns
SELECT * FROM scor.federate($$ SELECT enc_count(*) FROM visits $$) AS t(n bigint, extra bigint);
SELECT * FROM scor.federate($$ SELECT enc_count(*) FROM visits $$) AS t(n text);
-- ... and they are checked, like strict_groups, before any site decrypts:
-- a mistake does not use up the query
SELECT * FROM scor.federate($$ SELECT enc_count(*), enc_sum(los) FROM visits WHERE id > 10 $$) AS t(n bigint);
SELECT * FROM scor.federate($$ SELECT enc_count(*), enc_sum(cost, 3) FROM visits WHERE id > 10 $$) AS t(n bigint, cost bigint);
SELECT * FROM scor.federate($$ SELECT age_band, enc_count(*) FROM visits WHERE id > 10 GROUP BY age_band $$) AS t(age_band varchar(3), n bigint);
SELECT * FROM scor.federate($$ SELECT age_band, enc_count(*) FROM visits WHERE id > 10 GROUP BY age_band $$, strict_groups => true) AS t(age_band text, n bigint);
\c regress_site_c
SELECT query, count(*) AS answered, count(decrypted_at) AS decrypted
FROM scor.query_log WHERE query LIKE '% WHERE id > 10 %' GROUP BY query ORDER BY query;
SELECT count(*) AS decryptions FROM scor.audit_log WHERE event = 'decrypt' AND query LIKE '% WHERE id > 10 %';
\c contrib_regression
SET search_path = public, scor;

-- A federated query whose own part fails at this site, in an exception
-- block, leaves no peer busy: the next one in the same statement is exact
CREATE FUNCTION public.fails_here(integer) RETURNS boolean LANGUAGE plpgsql STABLE
AS $$ BEGIN RAISE EXCEPTION 'this site refuses'; END $$;
\c regress_site_b
CREATE FUNCTION public.fails_here(integer) RETURNS boolean LANGUAGE sql STABLE AS 'SELECT true';
\c regress_site_c
CREATE FUNCTION public.fails_here(integer) RETURNS boolean LANGUAGE sql STABLE AS 'SELECT true';
\c contrib_regression
SET search_path = public, scor;
SELECT set_config('regress.expected_n', (:n_a + :n_b + :n_c)::text, false) IS NOT NULL AS expected_set;
DO $$
DECLARE
	total bigint;
BEGIN
	BEGIN
		SELECT n INTO total
		FROM scor.federate('SELECT enc_count(*) FROM visits WHERE public.fails_here(id)') AS t(n bigint);
	EXCEPTION WHEN others THEN
		RAISE NOTICE 'the first federate failed: %: %', SQLSTATE, SQLERRM;
	END;
	SELECT n INTO total
	FROM scor.federate('SELECT enc_count(*) FROM visits WHERE covid') AS t(n bigint);
	RAISE NOTICE 'the second federate is exact: %', total = current_setting('regress.expected_n')::bigint;
END
$$;
DROP FUNCTION public.fails_here(integer);
\c regress_site_b
DROP FUNCTION public.fails_here(integer);
\c regress_site_c
DROP FUNCTION public.fails_here(integer);
\c contrib_regression
SET search_path = public, scor;

-- An error while a shipped query runs carries no data back: the value that
-- failed stays in that site's server log
SELECT sqlstate_of($$SELECT * FROM scor.federate('SELECT enc_sum(cost, 2) FROM visits WHERE id < 10') AS t(n numeric)$$) AS inexact_value;
SELECT sqlstate_of($$SELECT * FROM scor.federate('SELECT enc_sum(100 / (los - 16)) FROM visits') AS t(n bigint)$$) AS division_by_zero;
SELECT sqlstate_of($$SELECT * FROM scor.federate('SELECT enc_count(*) FROM visits WHERE (CASE WHEN id = 1234 THEN ''x'' ELSE ''1'' END)::int = 1') AS t(n bigint)$$) AS failing_cast;

-- A site refuses anything but encrypted aggregates and their group keys
SELECT * FROM scor.federate($$ SELECT count(*) FROM visits $$) AS t(n bigint);
SELECT * FROM scor.federate($$ SELECT age_band, max(id), enc_count(*) FROM visits GROUP BY age_band $$) AS t(b text, m int, n bigint);
SELECT * FROM scor.federate($$ SELECT age_band, enc_count(*) FROM visits GROUP BY 1; SELECT 1 $$) AS t(b text, n bigint);
SELECT * FROM scor.federate($$ DELETE FROM visits RETURNING enc_count(*) $$) AS t(n bigint);
SELECT * FROM scor.federate($$ WITH d AS (DELETE FROM visits RETURNING id) SELECT enc_count(*) FROM d $$) AS t(n bigint);
SELECT * FROM scor.federate($$ SELECT enc_count(*) FROM pg_catalog.pg_authid $$) AS t(n bigint);
SELECT * FROM scor.federate($$ SELECT enc_count(*) FROM scor.query_log $$) AS t(n bigint);
SELECT * FROM scor.federate($$ SELECT enc_sum(pg_catalog.length(pg_catalog.pg_read_file('postgresql.conf'))) FROM visits $$) AS t(n bigint);
SELECT * FROM scor.federate($$ SELECT enc_count(*) FROM visits WHERE pg_catalog.pg_sleep(1) IS NULL $$) AS t(n bigint);
SELECT * FROM scor.federate($$ SELECT enc_count(*) FROM pg_catalog.generate_series(1, 10) $$) AS t(n bigint);
-- nor read the server's catalogs, settings or state through a function or a reg* type
SELECT * FROM scor.federate($$ SELECT enc_count(*) FROM visits WHERE pg_catalog.current_setting('scor.key_command') = '' $$) AS t(n bigint);
SELECT * FROM scor.federate($$ SELECT enc_count(*) FROM visits WHERE pg_catalog.has_table_privilege('pg_authid', 'SELECT') $$) AS t(n bigint);
SELECT * FROM scor.federate($$ SELECT enc_count(*) FROM visits WHERE 'pg_authid'::regclass IS NOT NULL $$) AS t(n bigint);
SELECT * FROM scor.federate($$ SELECT enc_count(*) FROM visits WHERE pg_catalog.query_to_xml('SELECT 1', true, true, '') IS NOT NULL $$) AS t(n bigint);
-- functions of any schema but pg_catalog and scor are refused, published or not:
-- whatever volatility they declare, they could run anything as the extension owner
CREATE SCHEMA regress_private;
CREATE FUNCTION regress_private.leak(integer) RETURNS boolean LANGUAGE sql STABLE AS 'SELECT true';
CREATE FUNCTION public.adult(integer) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1 >= 18';
SELECT * FROM scor.federate($$ SELECT enc_count(*) FROM visits WHERE regress_private.leak(id) $$) AS t(n bigint);
SELECT * FROM scor.federate($$ SELECT enc_count(*) FROM visits WHERE public.adult(id) $$) AS t(n bigint);
DROP FUNCTION public.adult(integer);
DROP SCHEMA regress_private CASCADE;
SELECT * FROM scor.federate($$ SELECT enc_count(*) FROM visits FOR UPDATE $$) AS t(n bigint);
-- a site limits how long a shipped query may run
SET scor.query_timeout = 1;
SELECT * FROM scor.federate($$ SELECT enc_count(*) FROM visits a, visits b, visits c $$) AS t(n bigint);
RESET scor.query_timeout;
-- a stored or combined ciphertext is not a fresh contribution
SELECT * FROM scor.federate($$ SELECT enc_count(*) + enc_count(*) FROM visits $$) AS t(n bigint);
SELECT * FROM scor.federate($$ SELECT -enc_count(*) FROM visits $$) AS t(n bigint);
SELECT * FROM scor.federate($$ SELECT no_such_column FROM visits $$) AS t(n bigint);

-- Replays are refused: a query id is answered once and decrypted once
\c regress_site_b
SET search_path = public, scor;
SELECT query_id AS used_qid, network_id AS nid FROM scor.query_log ORDER BY answered_at LIMIT 1 \gset
-- (requests signed by hand: as the coordinator "regress" signs them, and by site c)
\c contrib_regression
SELECT scor.request_signature(:'nid', :'used_qid', 'regress_b', 'mallory',
                              'SELECT enc_count(*) FROM visits', false, '', '{}') AS used_sig,
       scor.request_signature(:'nid', '\x0102030405060708090a0b0c0d0e0f11', 'regress_b', 'mallory',
                              'SELECT enc_count(*) FROM visits', false, '', '{}') AS fresh_sig,
       scor.request_signature(:'nid', '\x0102030405060708090a0b0c0d0e0f11', 'regress_c', 'mallory',
                              'SELECT enc_count(*) FROM visits', false, '', '{}') AS fresh_sig_for_c,
       scor.request_signature('\x00000000000000000000000000000000000000000000000000000000000000ff',
                              '\x0102030405060708090a0b0c0d0e0f10', 'regress_b', 'mallory',
                              'SELECT enc_count(*) FROM visits', false, '', '{}') AS other_sig \gset
\c regress_site_c
SELECT scor.request_signature(:'nid', '\x0102030405060708090a0b0c0d0e0f11', 'regress_b', 'mallory',
                              'SELECT enc_count(*) FROM visits', false, '', '{}') AS sig_by_c \gset
\c regress_site_b
SET search_path = public, scor;
SET ROLE regress_scor_peer;
-- (each call is a statement of its own, as a coordinator sends it; psql keeps the error)
\set VERBOSITY sqlstate
SELECT scor.remote_contribute(:'nid', :'used_qid', 'regress', 'mallory', 'SELECT enc_count(*) FROM visits', false, '', '{}', :'used_sig');
SELECT :'LAST_ERROR_SQLSTATE' || ': ' || regexp_replace(:'LAST_ERROR_MESSAGE', '[0-9a-f]{16,}', '<hex>', 'g') AS replayed_answer;
SELECT scor.remote_decrypt(:'nid', :'used_qid', '\x5343423100');
SELECT :'LAST_ERROR_SQLSTATE' || ': ' || regexp_replace(:'LAST_ERROR_MESSAGE', '[0-9a-f]{16,}', '<hex>', 'g') AS replayed_decryption;
-- a request for another member set is refused
SELECT scor.remote_contribute('\x00000000000000000000000000000000000000000000000000000000000000ff',
                              '\x0102030405060708090a0b0c0d0e0f10', 'regress', 'mallory',
                              'SELECT enc_count(*) FROM visits', false, '', '{}', :'other_sig');
SELECT :'LAST_ERROR_SQLSTATE' || ': ' || :'LAST_ERROR_MESSAGE' AS other_member_set;
-- only the coordinator a request names can make it: another member's
-- signature, a garbage one, one made for another site, or a request
-- altered after signing is refused, naming the claimed coordinator
SELECT format('SELECT scor.remote_contribute(%L, %L, %L, %L, %L, %s, '''', ''{}'', %L)', :'nid',
              '\x0102030405060708090a0b0c0d0e0f11', 'regress', '%s', '%s', '%s', '%s') AS request \gset
-- (the generated calls carry this run's keys and signatures: they are not echoed)
\set ECHO none
SELECT format(:'request', 'mallory', 'SELECT enc_count(*) FROM visits', 'false', :'sig_by_c') \gexec
SELECT :'LAST_ERROR_SQLSTATE' || ': ' || :'LAST_ERROR_MESSAGE' AS signed_by_another_member;
SELECT format(:'request', 'mallory', 'SELECT enc_count(*) FROM visits', 'false', '\x' || repeat('00', 64)) \gexec
SELECT :'LAST_ERROR_SQLSTATE' || ': ' || :'LAST_ERROR_MESSAGE' AS garbage_signature;
SELECT format(:'request', 'mallory', 'SELECT enc_count(*) FROM visits', 'false', '\x') \gexec
SELECT :'LAST_ERROR_SQLSTATE' || ': ' || :'LAST_ERROR_MESSAGE' AS no_signature;
SELECT format(:'request', 'mallory', 'SELECT enc_count(*) FROM visits', 'false', :'fresh_sig_for_c') \gexec
SELECT :'LAST_ERROR_SQLSTATE' || ': ' || :'LAST_ERROR_MESSAGE' AS signed_for_another_site;
SELECT format(:'request', 'someone_else', 'SELECT enc_count(*) FROM visits', 'false', :'fresh_sig') \gexec
SELECT :'LAST_ERROR_SQLSTATE' || ': ' || :'LAST_ERROR_MESSAGE' AS other_analyst;
SELECT format(:'request', 'mallory', 'SELECT enc_count(*) FROM visits', 'true', :'fresh_sig') \gexec
SELECT :'LAST_ERROR_SQLSTATE' || ': ' || :'LAST_ERROR_MESSAGE' AS other_per_site;
SELECT format(:'request', 'mallory', 'SELECT enc_sum(los) FROM visits', 'false', :'fresh_sig') \gexec
SELECT :'LAST_ERROR_SQLSTATE' || ': ' || :'LAST_ERROR_MESSAGE' AS other_query;
SELECT replace(format(:'request', 'mallory', 'SELECT enc_count(*) FROM visits', 'false', :'fresh_sig'),
               '''regress''', '''regress_nobody''') \gexec
SELECT :'LAST_ERROR_SQLSTATE' || ': ' || :'LAST_ERROR_MESSAGE' AS not_a_member;
\set ECHO all
\set VERBOSITY default
-- none of them was answered (this would be a replay), the request as signed is
SELECT scor.remote_contribute(:'nid', '\x0102030405060708090a0b0c0d0e0f11', 'regress', 'mallory',
                              'SELECT enc_count(*) FROM visits', false, '', '{}', :'fresh_sig') AS as_signed_answer \gset
SELECT length(:'as_signed_answer') > 0 AS as_signed;
-- and only a superuser may sign by hand
SELECT sqlstate_of(format('SELECT scor.request_signature(%L, %L, %L, %L, %L, false, '''', ''{}'')', :'nid',
                          '\x0102030405060708090a0b0c0d0e0f12', 'regress', 'mallory',
                          'SELECT enc_count(*) FROM visits')) AS peer_cannot_sign;
\set VERBOSITY sqlstate
-- a decryption for a query this site never answered is refused
SELECT scor.remote_decrypt(:'nid', '\x0102030405060708090a0b0c0d0e0f10', '\x5343423100');
SELECT :'LAST_ERROR_SQLSTATE' || ': ' || regexp_replace(:'LAST_ERROR_MESSAGE', '[0-9a-f]{16,}', '<hex>', 'g') AS never_answered;
-- malformed requests
SELECT scor.remote_contribute('\x00', '\x01', 'regress', 'mallory', 'SELECT 1', false, '', '{}', '\x');
SELECT :'LAST_ERROR_SQLSTATE' || ': ' || :'LAST_ERROR_MESSAGE' AS malformed;
\set VERBOSITY default
-- the peer login cannot read the site's tables, nor its log, nor run federate
SELECT count(*) FROM visits;
SELECT count(*) FROM scor.query_log;
SELECT * FROM scor.federate($$ SELECT enc_count(*) FROM visits $$) AS t(n bigint);
RESET ROLE;

-- A member-set mismatch: site b drops site c; everyone else refuses b's requests
SET client_min_messages = warning;
SELECT scor.remove_peer('srv_regress_site_c');
SELECT members FROM scor.network_key();
SELECT sqlstate_of($$SELECT * FROM scor.federate('SELECT enc_count(*) FROM visits') AS t(n bigint)$$) AS mismatch;
SELECT site_name, members FROM scor.add_peer('srv_regress_site_c');
RESET client_min_messages;

-- A changed key is an error until an administrator re-pins it
\c regress_site_c
SELECT site_name FROM scor.init_site('regress_c', rotate => true);
\c contrib_regression
SET search_path = public, scor;
SELECT sqlstate_of($$SELECT scor.add_peer('srv_regress_site_c')$$) AS key_changed;
-- until then, site c refuses requests made for the old member set
SELECT sqlstate_of($$SELECT * FROM scor.federate('SELECT enc_count(*) FROM visits') AS t(n bigint)$$) AS old_member_set;
SET client_min_messages = warning;
SELECT site_name, members FROM scor.add_peer('srv_regress_site_c', repin => true);
\c regress_site_b
SET client_min_messages = warning;
SELECT site_name, members FROM scor.add_peer('srv_regress_site_c', repin => true);
\c contrib_regression
SET search_path = public, scor;
SELECT n = :n_a + :n_b + :n_c AS n_ok
FROM scor.federate($$ SELECT enc_count(*) FROM visits WHERE covid $$) AS t(n bigint);
-- A changed signing key alone is an error too (the pinned one is altered
-- here, since a site's two keys rotate together), and the network id
-- covers the signing keys
SELECT network_id AS nid_before FROM scor.network_key() \gset
UPDATE scor.member SET verify_key = (SELECT verify_key FROM scor.member WHERE site_name = 'regress_b')
WHERE site_name = 'regress_c';
SELECT network_id <> :'nid_before' AS network_id_changed FROM scor.network_key();
SELECT sqlstate_of($$SELECT scor.add_peer('srv_regress_site_c')$$) AS signing_key_changed;
SET client_min_messages = warning;
SELECT site_name, members FROM scor.add_peer('srv_regress_site_c', repin => true);
RESET client_min_messages;
SELECT network_id = :'nid_before' AS network_id_restored FROM scor.network_key();

-- A peer that is down is named, and nothing partial is returned
CREATE SERVER srv_down FOREIGN DATA WRAPPER scor OPTIONS (host '127.0.0.1', port '1', dbname 'x', connect_timeout '2');
CREATE USER MAPPING FOR PUBLIC SERVER srv_down OPTIONS (user 'x', password 'x');
\set VERBOSITY terse
SELECT scor.add_peer('srv_down');
\set VERBOSITY default
-- a server of another wrapper is not a peer
CREATE FOREIGN DATA WRAPPER regress_other;
CREATE SERVER srv_other FOREIGN DATA WRAPPER regress_other;
SELECT scor.add_peer('srv_other');
SELECT scor.add_peer('no_such_server');

-- Differential privacy: every site adds an encrypted noise share inside the query
SELECT * FROM scor.dp_expected_error(3, 0.5);
SELECT honest_sites, round(expected_abs_error::numeric, 3) AS abs_error,
       round(standard_deviation::numeric, 3) AS sd
FROM scor.dp_expected_error(10, 1.0, 1, 3);
SELECT * FROM scor.dp_expected_error(3, 0.5, 1, 4);
-- without honest_sites, t is the network's setting (0: a majority)
SET scor.dp_honest_sites = 1;
SELECT honest_sites FROM scor.dp_expected_error(3, 0.5);
RESET scor.dp_honest_sites;
SELECT * FROM scor.dp_expected_error(3, 0);
-- with no budget granted, every site refuses (each enforces its own ledger)
SELECT sqlstate_of($$SELECT * FROM scor.federate('SELECT dp_noise(enc_count(*), 0.5) FROM visits WHERE covid') AS t(n bigint)$$) AS no_budget;
-- each site grants this analyst at this coordinator epsilon 1
SELECT scor.grant_budget('regress', 'postgres', 1.0);
\c regress_site_b
SELECT scor.grant_budget('regress', 'postgres', 1.0);
\c regress_site_c
SELECT scor.grant_budget('regress', 'postgres', 1.0);
\c contrib_regression
SET search_path = public, scor;
-- the noisy total scatters around the truth; the analyst is told how much
SELECT abs(n - (:n_a + :n_b + :n_c)) < 60 AS near_truth
FROM scor.federate($$ SELECT dp_noise(enc_count(*), 0.5) FROM visits WHERE covid $$) AS t(n bigint);
SELECT abs(n - (:n_a + :n_b + :n_c)) < 60 AS near_truth, abs(los - (:los_a + :los_b + :los_c)) < 2000 AS los_near
FROM scor.federate($$ SELECT dp_noise(enc_count(*), 0.25), dp_noise(enc_sum(los), 0.25, 16) FROM visits WHERE covid $$)
     AS t(n bigint, los bigint);
-- the budget is spent: the next query is refused, saying whose budget and what is left
SELECT sqlstate_of($$SELECT * FROM scor.federate('SELECT dp_noise(enc_count(*), 0.5) FROM visits') AS t(n bigint)$$) AS exhausted;
SELECT coordinator, analyst, budget, spent FROM scor.privacy_budget;
SELECT event, epsilon FROM scor.audit_log WHERE event LIKE 'budget%' ORDER BY seq;
-- non-DP queries are not charged
SELECT n = :n_a + :n_b + :n_c AS exact FROM scor.federate($$ SELECT enc_count(*) FROM visits WHERE covid $$) AS t(n bigint);
SELECT scor.reset_budget('regress', 'postgres');
SELECT spent FROM scor.privacy_budget;
SELECT sqlstate_of($$SELECT scor.reset_budget('nobody', 'postgres')$$) AS unknown_budget;
SELECT sqlstate_of($$SELECT scor.grant_budget('regress', 'postgres', -1)$$) AS negative_grant;
-- dp_noise must apply once, directly to a fresh aggregate, with sane parameters
SELECT sqlstate_of($$SELECT * FROM scor.federate('SELECT dp_noise(dp_noise(enc_count(*), 0.1), 0.1) FROM visits') AS t(n bigint)$$) AS twice;
SELECT sqlstate_of($$SELECT * FROM scor.federate('SELECT enc_count(*), dp_noise(enc_count(*), 0.1) FROM visits') AS t(a bigint, b bigint)$$) AS with_raw_copy;
SELECT sqlstate_of($$SELECT * FROM scor.federate('SELECT dp_noise(enc_count(*), 0) FROM visits') AS t(n bigint)$$) AS zero_epsilon;
SELECT sqlstate_of($$SELECT * FROM scor.federate('SELECT dp_noise(enc_count(*), ''NaN'') FROM visits') AS t(n bigint)$$) AS nan_epsilon;
SELECT sqlstate_of($$SELECT * FROM scor.federate('SELECT dp_noise(enc_count(*), 0.1, 0) FROM visits') AS t(n bigint)$$) AS zero_sensitivity;
SELECT sqlstate_of($$SELECT * FROM scor.federate('SELECT age_band, enc_count(*) FROM visits GROUP BY age_band HAVING count(*) > 10') AS t(b text, n bigint)$$) AS having;
SELECT sqlstate_of($$SELECT * FROM scor.federate('SELECT age_band, enc_count(*) FROM visits GROUP BY age_band ORDER BY count(*) LIMIT 1') AS t(b text, n bigint)$$) AS order_limit;
-- its parameters travel in the answer, so they must not depend on data
SELECT sqlstate_of($$SELECT * FROM scor.federate('SELECT dp_noise(enc_count(*), count(*) / 1000.0) FROM visits') AS t(n bigint)$$) AS data_epsilon;
SELECT sqlstate_of($$SELECT * FROM scor.federate('SELECT dp_noise(enc_count(*), 1, max(los)) FROM visits') AS t(n bigint)$$) AS data_sensitivity;
-- one epsilon per column is right only if no row reaches two groups or two copies: a query
-- with dp_noise reads one published relation, optionally left-joined from its declared
-- group domain; anything else is refused before it runs (nothing is charged)
CREATE FUNCTION public.detail_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	det text;
BEGIN
	EXECUTE stmt;
	RETURN 'no error';
EXCEPTION WHEN others THEN
	GET STACKED DIAGNOSTICS det = PG_EXCEPTION_DETAIL;
	RETURN SQLSTATE || ': ' || split_part(det, ':', 1);
END
$$;
SELECT * FROM scor.federate($$ SELECT v.g, dp_noise(enc_count(*), 0.1) FROM visits CROSS JOIN (VALUES (1), (2), (3)) v(g) GROUP BY v.g $$)
	AS t(g integer, n bigint);
SELECT detail_of($$SELECT * FROM scor.federate('SELECT dp_noise(enc_count(*), 0.1) FROM visits a JOIN visits b ON a.id = b.id') AS t(n bigint)$$) AS self_join;
SELECT detail_of($$SELECT * FROM scor.federate('SELECT dp_noise(enc_count(*), 0.1) FROM (SELECT id FROM visits UNION ALL SELECT id FROM visits) u') AS t(n bigint)$$) AS union_all;
SELECT detail_of($$SELECT * FROM scor.federate('WITH w AS (SELECT * FROM visits) SELECT dp_noise(enc_count(*), 0.1) FROM w') AS t(n bigint)$$) AS cte;
SELECT detail_of($$SELECT * FROM scor.federate('SELECT dp_noise(enc_count(*), 0.1) FROM visits WHERE id IN (SELECT id FROM visits)') AS t(n bigint)$$) AS sublink;
SELECT detail_of($$SELECT * FROM scor.federate('SELECT los / 7, dp_noise(enc_count(*), 0.1) FROM visits GROUP BY los / 7') AS t(g integer, n bigint)$$) AS group_by_expression;
SELECT detail_of($$SELECT * FROM scor.federate('SELECT d.band, dp_noise(enc_count(v.id), 0.1) FROM (VALUES (''18-64''), (''65-89''), (''18-64'')) d(band) LEFT JOIN visits v ON v.age_band = d.band GROUP BY d.band') AS t(b text, n bigint)$$) AS duplicate_domain_value;
SELECT detail_of($$SELECT * FROM scor.federate('SELECT d.band, dp_noise(enc_count(v.id), 0.1) FROM (VALUES (''18-64''), (''65-89'')) d(band) LEFT JOIN visits v ON v.age_band <> d.band GROUP BY d.band') AS t(b text, n bigint)$$) AS domain_not_equality;
SELECT detail_of($$SELECT * FROM scor.federate('SELECT d.band, dp_noise(enc_count(v.id), 0.1) FROM (VALUES (''18-64''), (''65-89'')) d(band) JOIN visits v ON v.age_band = d.band GROUP BY d.band') AS t(b text, n bigint)$$) AS domain_inner_join;
SELECT detail_of($$SELECT * FROM scor.federate('SELECT d.band, dp_noise(enc_count(v.id), 0.1) FROM (SELECT DISTINCT age_band FROM visits) d(band) LEFT JOIN visits v ON v.age_band = d.band GROUP BY d.band') AS t(b text, n bigint)$$) AS domain_from_data;

-- Site policy: site b requires DP; site c caps epsilon; site a suppresses small cells
-- (budgets of 20: a peer refusing can cancel another peer's charge or not, by timing)
SELECT scor.grant_budget('regress', 'postgres', 20);
\c regress_site_b
SELECT scor.grant_budget('regress', 'postgres', 20);
ALTER DATABASE regress_site_b SET scor.require_dp = on;
\c regress_site_c
SELECT scor.grant_budget('regress', 'postgres', 20);
ALTER DATABASE regress_site_c SET scor.max_epsilon = 1;
\c contrib_regression
SET search_path = public, scor;
-- a group that fewer than t = 2 sites answered carries too few noise shares: no site decrypts it
SELECT * FROM scor.federate($$ SELECT age_band, dp_noise(enc_count(*), 0.1) FROM visits GROUP BY age_band $$)
	AS t(age_band text, n bigint);
-- 65-89, which site c lacks, has 2 shares: released, and the NOTICE gives the error for 2 and 3
SELECT age_band, n IS NOT NULL AS released
FROM scor.federate($$ SELECT age_band, dp_noise(enc_count(*), 0.5) FROM visits WHERE age_band <> '90+' GROUP BY age_band $$)
	AS t(age_band text, n bigint)
ORDER BY age_band;
SELECT sqlstate_of($$SELECT * FROM scor.federate('SELECT enc_count(*) FROM visits') AS t(n bigint)$$) AS dp_required;
SELECT sqlstate_of($$SELECT * FROM scor.federate('SELECT dp_noise(enc_count(*), 2) FROM visits') AS t(n bigint)$$) AS epsilon_too_large;
-- the cap is per query: two columns of 0.6 exceed it, two of 0.5 do not
SELECT sqlstate_of($$SELECT * FROM scor.federate('SELECT dp_noise(enc_count(*), 0.6), dp_noise(enc_sum(los), 0.6, 16) FROM visits') AS t(n bigint, los bigint)$$) AS query_epsilon_too_large;
SELECT n IS NOT NULL AND los IS NOT NULL AS released
FROM scor.federate($$ SELECT dp_noise(enc_count(*), 0.5), dp_noise(enc_sum(los), 0.5, 16) FROM visits $$) AS t(n bigint, los bigint);
SELECT n IS NOT NULL AS released FROM scor.federate($$ SELECT dp_noise(enc_count(*), 1) FROM visits $$) AS t(n bigint);
-- a column list that does not fit a DP query is refused before any peer is asked, or charged
\c regress_site_b
SELECT spent AS spent_b FROM scor.privacy_budget WHERE coordinator = 'regress' AND analyst = 'postgres' \gset
\c contrib_regression
SET search_path = public, scor;
SELECT * FROM scor.federate($$ SELECT dp_noise(enc_count(*), 1) FROM visits $$) AS t(n bigint, extra bigint);
\c regress_site_b
SELECT spent = :spent_b AS peer_not_charged FROM scor.privacy_budget
WHERE coordinator = 'regress' AND analyst = 'postgres';
\c contrib_regression
SET search_path = public, scor;
ALTER DATABASE contrib_regression SET scor.min_cell = 100;
\c contrib_regression
SET search_path = public, scor;
SELECT * FROM scor.federate($$
	SELECT d.band, dp_noise(enc_count(v.id), 1)
	FROM (VALUES ('18-64'), ('65-89'), ('90+')) d(band) LEFT JOIN visits v ON v.age_band = d.band
	GROUP BY d.band $$) AS t(age_band text, n bigint)
WHERE n IS NULL;
ALTER DATABASE contrib_regression RESET scor.min_cell;
\c regress_site_b
ALTER DATABASE regress_site_b RESET scor.require_dp;
\c regress_site_c
ALTER DATABASE regress_site_c RESET scor.max_epsilon;
\c contrib_regression
SET search_path = public, scor;
-- site b rounds released totals to a multiple of 10: the coordinator rounds the noisy totals
SELECT sum(n) FILTER (WHERE band = '18-64') AS young, sum(n) FILTER (WHERE band = '65-89') AS old
FROM scor.federate($$
	SELECT d.band, enc_count(v.id)
	FROM (VALUES ('18-64'), ('65-89')) d(band) LEFT JOIN visits v ON v.age_band = d.band AND v.id % 3 = 0
	GROUP BY d.band $$) AS t(band text, n bigint) \gset exact_
\c regress_site_b
ALTER DATABASE regress_site_b SET scor.release_rounding = 10;
\c contrib_regression
SET search_path = public, scor;
SELECT band, n % 10 = 0 AS rounded,
       abs(n - CASE band WHEN '18-64' THEN :exact_young ELSE :exact_old END) <= 25 AS near_truth
FROM scor.federate($$
	SELECT d.band, dp_noise(enc_count(v.id), 1)
	FROM (VALUES ('18-64'), ('65-89')) d(band) LEFT JOIN visits v ON v.age_band = d.band AND v.id % 3 = 0
	GROUP BY d.band $$) AS t(band text, n bigint)
ORDER BY band;
SELECT n % 10 = 0 AS exact_total_rounded_too, abs(n - (:n_a + :n_b + :n_c)) <= 5 AS near_truth
FROM scor.federate($$ SELECT enc_count(*) FROM visits WHERE covid $$) AS t(n bigint);
\c regress_site_b
ALTER DATABASE regress_site_b RESET scor.release_rounding;
\c contrib_regression
SET search_path = public, scor;

-- Approved query templates: each site runs its own approved text, with the
-- analyst's parameters; with scor.require_templates nothing else is answered
INSERT INTO scor.query_template (name, query, param_types)
VALUES ('covid_after', 'SELECT enc_count(*), enc_sum(los) FROM visits WHERE covid AND id > $1', '{integer}');
\c regress_site_b
INSERT INTO scor.query_template (name, query, param_types)
VALUES ('covid_after', 'SELECT enc_count(*), enc_sum(los) FROM visits WHERE covid AND id > $1', '{integer}');
\c regress_site_c
INSERT INTO scor.query_template (name, query, param_types, peers)
VALUES ('covid_after', 'SELECT enc_count(*), enc_sum(los) FROM visits WHERE covid AND id > $1', '{integer}', '{regress}');
\c contrib_regression
SET search_path = public, scor;
SELECT n AS n_after_100, los AS los_after_100
FROM scor.federate($$ SELECT enc_count(*), enc_sum(los) FROM visits WHERE covid AND id > 100 $$) AS t(n bigint, los bigint) \gset
SELECT n = :n_after_100 AND los = :los_after_100 AS same_as_the_literal_query
FROM scor.federate_template('covid_after', '{100}') AS t(n bigint, los bigint);
\c regress_site_b
ALTER DATABASE regress_site_b SET scor.require_templates = on;
\c contrib_regression
SET search_path = public, scor;
SELECT n = :n_after_100 AS template_still_answered
FROM scor.federate_template('covid_after', '{100}') AS t(n bigint, los bigint);
SELECT sqlstate_of($$SELECT * FROM scor.federate('SELECT enc_count(*) FROM visits') AS t(n bigint)$$) AS templates_only;
SELECT sqlstate_of($$SELECT * FROM scor.federate_template('no_such_template', '{}') AS t(n bigint)$$) AS unknown_template;
SELECT sqlstate_of($$SELECT * FROM scor.federate_template('covid_after', '{1, 2}') AS t(n bigint, los bigint)$$) AS wrong_arity;
SELECT sqlstate_of($$SELECT * FROM scor.federate_template('covid_after', '{abc}') AS t(n bigint, los bigint)$$) AS bad_parameter;
\c regress_site_c
UPDATE scor.query_template SET peers = '{regress_b}';
\c contrib_regression
SET search_path = public, scor;
SELECT sqlstate_of($$SELECT * FROM scor.federate_template('covid_after', '{100}') AS t(n bigint, los bigint)$$) AS not_for_this_coordinator;
\c regress_site_b
ALTER DATABASE regress_site_b RESET scor.require_templates;
\c contrib_regression
SET search_path = public, scor;

-- Per-site totals (the SHRINE way): off by default at every site
SELECT sqlstate_of($$SELECT * FROM scor.federate('SELECT dp_noise(enc_count(*), 1) FROM visits', per_site => true) AS t(site text, n bigint)$$) AS per_site_off;
ALTER DATABASE contrib_regression SET scor.allow_per_site = on;
\c regress_site_b
ALTER DATABASE regress_site_b SET scor.allow_per_site = on;
\c regress_site_c
ALTER DATABASE regress_site_c SET scor.allow_per_site = on;
\c contrib_regression
SET search_path = public, scor;
-- a site allowing it releases its own totals only with a small-cell threshold
ALTER DATABASE contrib_regression SET scor.min_cell = 10;
\c regress_site_b
ALTER DATABASE regress_site_b SET scor.min_cell = 1;
\c contrib_regression
SET search_path = public, scor;
SELECT sqlstate_of($$SELECT * FROM scor.federate('SELECT dp_noise(enc_count(*), 1) FROM visits', per_site => true) AS t(site text, n bigint)$$) AS per_site_needs_min_cell;
\c regress_site_c
ALTER DATABASE regress_site_c SET scor.min_cell = 1;
\c contrib_regression
SET search_path = public, scor;
-- only noised totals, each with its own site's full noise, and thresholded
SELECT sqlstate_of($$SELECT * FROM scor.federate('SELECT enc_count(*) FROM visits', per_site => true) AS t(site text, n bigint)$$) AS per_site_needs_dp;
SELECT sqlstate_of($$SELECT * FROM scor.federate('SELECT dp_noise(enc_count(*), 1) FROM visits', per_site => true) AS t(n bigint)$$) AS per_site_needs_site_column;
SELECT site, abs(n - CASE site WHEN 'regress' THEN :n_a WHEN 'regress_b' THEN :n_b END) < 40 AS near_own_truth, n IS NULL AS suppressed
FROM scor.federate($$ SELECT dp_noise(enc_count(*), 1) FROM visits WHERE covid $$, per_site => true) AS t(site text, n bigint)
ORDER BY site;
ALTER DATABASE contrib_regression RESET scor.min_cell;
ALTER DATABASE contrib_regression RESET scor.allow_per_site;
\c regress_site_b
ALTER DATABASE regress_site_b RESET scor.min_cell;
\c regress_site_c
ALTER DATABASE regress_site_c RESET scor.min_cell;
\c contrib_regression
SET search_path = public, scor;

-- Tampering with the audit log is found, and the first bad row named
\c regress_site_c
SELECT ok, rows_checked > 4 AS has_rows FROM scor.verify_audit_log();
BEGIN;
UPDATE scor.audit_log SET query = 'SELECT 1' WHERE seq = 3;
SELECT ok, first_bad_seq, problem FROM scor.verify_audit_log();
ROLLBACK;
BEGIN;
UPDATE scor.audit_log SET analyst = 'someone else' WHERE seq = 2;
SELECT ok, first_bad_seq, problem FROM scor.verify_audit_log();
ROLLBACK;
BEGIN;
DELETE FROM scor.audit_log WHERE seq = 2;
SELECT ok, first_bad_seq, problem FROM scor.verify_audit_log();
ROLLBACK;
BEGIN;
-- reorder: swap two rows' positions
UPDATE scor.audit_log SET seq = -seq WHERE seq IN (2, 3);
UPDATE scor.audit_log SET seq = CASE seq WHEN -2 THEN 3 ELSE 2 END WHERE seq IN (-2, -3);
SELECT ok, first_bad_seq, problem FROM scor.verify_audit_log();
ROLLBACK;
BEGIN;
-- a damaged hash is found too
UPDATE scor.audit_log SET row_hash = '\x00' WHERE seq = 2;
SELECT ok, first_bad_seq, problem FROM scor.verify_audit_log();
ROLLBACK;
SELECT ok FROM scor.verify_audit_log();
\c contrib_regression
SET search_path = public, scor;

-- Clean up the other sites
DROP SERVER srv_down CASCADE;
DROP SERVER srv_other;
DROP FOREIGN DATA WRAPPER regress_other;
DROP DATABASE regress_site_b WITH (FORCE);
DROP DATABASE regress_site_c WITH (FORCE);
