-- What a peer's login can do with this site's remote entry points: each
-- call must be the whole of a transaction of its own, so that no rollback
-- can erase the query log, the budget charge or the audit rows while the
-- peer keeps the answer or the shares; and a shipped query may call only
-- built-in and scor functions, never read the session's identity, and
-- never read what the site does not publish.  Runs after federation.sql, at
-- its site "regress" (the other sites are gone, but remain pinned members).
SET search_path = public, scor;
SET client_min_messages = warning;
SELECT scor.grant_budget('regress', 'mallory', 5);
RESET client_min_messages;

-- the site's record, as one value: answers, decryptions, audit rows, epsilon spent
CREATE FUNCTION public.peer_state() RETURNS text LANGUAGE sql AS $$
	SELECT format('%s answered, %s decrypted, %s audited, %s spent',
				  (SELECT count(*) FROM scor.query_log),
				  (SELECT count(*) FROM scor.query_log WHERE decrypted_at IS NOT NULL),
				  (SELECT count(*) FROM scor.audit_log),
				  (SELECT sum(spent) FROM scor.privacy_budget))
$$;
SELECT '\x' || network_id AS nid FROM scor.network_key() \gset
-- a query id that no refused request may ever log
\set qid '\\x5ec0000000000000000000000000a001'
\set dpq 'SELECT dp_noise(enc_count(*), 0.5) FROM visits WHERE covid'
SELECT public.peer_state() AS state0 \gset
-- this site's signature, as coordinator "regress", of a request it sends
-- to itself (a peer login cannot sign; a test of the entry points can)
CREATE FUNCTION public.peer_signature(qid bytea, sql text) RETURNS bytea
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp LANGUAGE sql AS $$
	SELECT scor.request_signature(decode(network_id, 'hex'), qid, 'regress', 'mallory', sql, false, '', '{}')
	FROM scor.network_key()
$$;

--
-- 1. A call of a remote entry point is a transaction of its own
--
SET ROLE regress_scor_peer;
-- an explicit transaction block, which the peer would roll back
BEGIN;
SELECT public.peer_signature(:'qid', :'dpq') AS sig \gset
SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory', :'dpq', false, '', '{}', :'sig');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- a savepoint
BEGIN;
SAVEPOINT s;
SELECT public.peer_signature(:'qid', :'dpq') AS sig \gset
SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory', :'dpq', false, '', '{}', :'sig');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- a multi-statement query string (an implicit transaction block)
SELECT public.peer_signature(:'qid', :'dpq') AS sig \gset
SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory', :'dpq', false, '', '{}', :'sig') \; SELECT 1/0;
\echo :LAST_ERROR_SQLSTATE
-- a statement that fails after the row was computed
SELECT public.peer_signature(:'qid', :'dpq') AS sig \gset
SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory', :'dpq', false, '', '{}', :'sig')
UNION ALL SELECT (1 / (random() * 0)::int)::text::bytea;
\echo :LAST_ERROR_SQLSTATE
SELECT public.peer_signature(:'qid', :'dpq') AS sig \gset
SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory', :'dpq', false, '', '{}', :'sig'), 1 / (random() * 0)::int;
\echo :LAST_ERROR_SQLSTATE
SELECT public.peer_signature(:'qid', :'dpq') AS sig \gset
SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory', :'dpq', false, '', '{}', :'sig')::text;
\echo :LAST_ERROR_SQLSTATE
SELECT public.peer_signature(:'qid', :'dpq') AS sig \gset
SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory', :'dpq', false, '', '{}', :'sig')
FROM generate_series(1, 2);
\echo :LAST_ERROR_SQLSTATE
SELECT public.peer_signature(:'qid', :'dpq') AS sig \gset
SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory', :'dpq', false, '', '{}', :'sig')
WHERE random() >= 0;
\echo :LAST_ERROR_SQLSTATE
SELECT scor.remote_contribute((SELECT :'nid'::bytea), :'qid', 'regress', 'mallory', :'dpq', false, '', '{}', :'sig');
\echo :LAST_ERROR_SQLSTATE
-- a function, a DO block, a subtransaction of PL/pgSQL
DO $$
BEGIN
	PERFORM scor.remote_contribute(decode((SELECT network_id FROM scor.network_key()), 'hex'),
								   '\x5ec0000000000000000000000000a001', 'regress', 'mallory',
								   'SELECT enc_count(*) FROM visits', false, '', '{}',
								   public.peer_signature('\x5ec0000000000000000000000000a001',
														 'SELECT enc_count(*) FROM visits'));
END $$;
\echo :LAST_ERROR_SQLSTATE
SELECT sqlstate_of(format('SELECT scor.remote_contribute(%L, %L, %L, %L, %L, false, '''', ''{}'', %L)',
                          :'nid', :'qid', 'regress', 'mallory', :'dpq', :'sig')) AS in_subtransaction;
-- a cursor held past its transaction, a prepared statement, a row-by-row fetch
SELECT public.peer_signature(:'qid', :'dpq') AS sig \gset
DECLARE c CURSOR WITH HOLD FOR
	SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory', :'dpq', false, '', '{}', :'sig');
\echo :LAST_ERROR_SQLSTATE
PREPARE p AS SELECT scor.remote_contribute($1, $2, 'regress', 'mallory', $3, false, '', '{}', $4);
EXECUTE p(:'nid', :'qid', :'dpq', :'sig');
\echo :LAST_ERROR_SQLSTATE
DEALLOCATE p;
\set FETCH_COUNT 1
SELECT public.peer_signature(:'qid', :'dpq') AS sig \gset
SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory', :'dpq', false, '', '{}', :'sig');
\echo :LAST_ERROR_SQLSTATE
\unset FETCH_COUNT
-- the copy and table-creating commands
SELECT public.peer_signature(:'qid', :'dpq') AS sig \gset
COPY (SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory', :'dpq', false, '', '{}', :'sig')) TO STDOUT;
\echo :LAST_ERROR_SQLSTATE
SELECT public.peer_signature(:'qid', :'dpq') AS sig \gset
CREATE TEMP TABLE kept AS
	SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory', :'dpq', false, '', '{}', :'sig');
\echo :LAST_ERROR_SQLSTATE
-- the same for the decryption
BEGIN;
SELECT scor.remote_decrypt(:'nid', :'qid', '\x5343423100');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT scor.remote_decrypt(:'nid', :'qid', '\x5343423100') UNION ALL SELECT (1 / (random() * 0)::int)::text::bytea;
\echo :LAST_ERROR_SQLSTATE
SELECT scor.remote_decrypt(:'nid', :'qid', '\x5343423100') \; SELECT 1;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- nothing of all that left a trace, or spent any budget
SELECT public.peer_state() = :'state0' AS unchanged;

-- A call on its own is served, and recorded, and stays so
SET ROLE regress_scor_peer;
\set qid_ok '\\x5ec0000000000000000000000000a002'
SELECT public.peer_signature(:'qid_ok', :'dpq') AS sig \gset
SELECT scor.remote_contribute(:'nid', :'qid_ok', 'regress', 'mallory', :'dpq', false, '', '{}', :'sig') AS answer \gset
RESET ROLE;
SELECT length(:'answer') > 100 AS answered, public.peer_state() <> :'state0' AS recorded;
SELECT coordinator, analyst, requested_by, decrypted_at IS NULL AS not_decrypted
FROM scor.query_log WHERE query_id = :'qid_ok';
SELECT event, epsilon FROM scor.audit_log WHERE query_id = :'qid_ok' ORDER BY seq;
SELECT spent FROM scor.privacy_budget WHERE coordinator = 'regress' AND analyst = 'mallory';
SELECT public.peer_state() AS state1 \gset
-- its decryption cannot be rolled back either, and a bad bundle still is only a bad bundle
SET ROLE regress_scor_peer;
BEGIN;
SELECT scor.remote_decrypt(:'nid', :'qid_ok', '\x5343423100');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT scor.remote_decrypt(:'nid', :'qid_ok', '\x5343423100') UNION ALL SELECT NULL;
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY terse
SELECT scor.remote_decrypt(:'nid', :'qid_ok', '\x5343423100');
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT public.peer_state() = :'state1' AS unchanged;

--
-- 2. What a shipped query may not do, asked directly of remote_contribute
--
CREATE EXTENSION dblink;
CREATE SCHEMA regress_hidden;
CREATE TABLE regress_hidden.secrets (id integer, secret text);
-- a STABLE function of a published schema that does anything as the extension owner
CREATE FUNCTION public.slow_leak(integer) RETURNS boolean STABLE LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_catalog.pg_sleep(0);
	RETURN true;
END $$;
CREATE FUNCTION public.eq_leak(integer, integer) RETURNS boolean IMMUTABLE LANGUAGE sql AS 'SELECT $1 = $2';
CREATE OPERATOR public.=== (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.eq_leak);
CREATE VIEW public.visits_slowly AS SELECT * FROM visits WHERE public.slow_leak(id);
-- a type of a published schema named like scor's
CREATE DOMAIN public.ciphertext AS bytea;
CREATE TABLE public.fake_ciphertexts (c public.ciphertext);
INSERT INTO public.fake_ciphertexts VALUES ('\x00');
GRANT SELECT ON public.fake_ciphertexts TO PUBLIC;
SELECT public.peer_state() AS state2 \gset
SET ROLE regress_scor_peer;
SELECT public.peer_signature(:'qid', 'SELECT enc_count(*) FROM visits WHERE set_config(''work_mem'', ''1MB'', false) IS NOT NULL') AS sig \gset
SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory',
	'SELECT enc_count(*) FROM visits WHERE set_config(''work_mem'', ''1MB'', false) IS NOT NULL', false, '', '{}', :'sig');
\echo :LAST_ERROR_SQLSTATE
SELECT public.peer_signature(:'qid', 'SELECT enc_count(*) FROM visits WHERE public.dblink_connect(''host=localhost'') IS NOT NULL') AS sig \gset
SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory',
	'SELECT enc_count(*) FROM visits WHERE public.dblink_connect(''host=localhost'') IS NOT NULL', false, '', '{}', :'sig');
\echo :LAST_ERROR_SQLSTATE
SELECT public.peer_signature(:'qid', 'SELECT enc_count(*) FROM visits WHERE pg_catalog.lo_get(id) IS NOT NULL') AS sig \gset
SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory',
	'SELECT enc_count(*) FROM visits WHERE pg_catalog.lo_get(id) IS NOT NULL', false, '', '{}', :'sig');
\echo :LAST_ERROR_SQLSTATE
SELECT public.peer_signature(:'qid', 'SELECT enc_count(*) FROM visits WHERE pg_catalog.lo_import(''/etc/passwd'') > 0') AS sig \gset
SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory',
	'SELECT enc_count(*) FROM visits WHERE pg_catalog.lo_import(''/etc/passwd'') > 0', false, '', '{}', :'sig');
\echo :LAST_ERROR_SQLSTATE
SELECT public.peer_signature(:'qid', 'SELECT enc_sum(length(pg_catalog.pg_read_file(''postgresql.conf''))) FROM visits') AS sig \gset
SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory',
	'SELECT enc_sum(length(pg_catalog.pg_read_file(''postgresql.conf''))) FROM visits', false, '', '{}', :'sig');
\echo :LAST_ERROR_SQLSTATE
SELECT public.peer_signature(:'qid', 'SELECT enc_count(*) FROM regress_hidden.secrets') AS sig \gset
SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory',
	'SELECT enc_count(*) FROM regress_hidden.secrets', false, '', '{}', :'sig');
\echo :LAST_ERROR_SQLSTATE
SELECT public.peer_signature(:'qid', 'SELECT current_user, enc_count(*) FROM visits GROUP BY 1') AS sig \gset
SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory',
	'SELECT current_user, enc_count(*) FROM visits GROUP BY 1', false, '', '{}', :'sig');
\echo :LAST_ERROR_SQLSTATE
SELECT public.peer_signature(:'qid', 'SELECT enc_count(*) FROM visits WHERE session_user = ''postgres'' OR current_catalog = ''x'' OR current_schema = ''y''') AS sig \gset
SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory',
	'SELECT enc_count(*) FROM visits WHERE session_user = ''postgres'' OR current_catalog = ''x'' OR current_schema = ''y''', false, '', '{}', :'sig');
\echo :LAST_ERROR_SQLSTATE
SELECT public.peer_signature(:'qid', 'SELECT enc_count(*) FROM visits WHERE public.slow_leak(id)') AS sig \gset
SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory',
	'SELECT enc_count(*) FROM visits WHERE public.slow_leak(id)', false, '', '{}', :'sig');
\echo :LAST_ERROR_SQLSTATE
SELECT public.peer_signature(:'qid', 'SELECT enc_count(*) FROM visits WHERE id === 3') AS sig \gset
SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory',
	'SELECT enc_count(*) FROM visits WHERE id === 3', false, '', '{}', :'sig');
\echo :LAST_ERROR_SQLSTATE
SELECT public.peer_signature(:'qid', 'SELECT enc_count(*) FROM visits_slowly') AS sig \gset
SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory',
	'SELECT enc_count(*) FROM visits_slowly', false, '', '{}', :'sig');
\echo :LAST_ERROR_SQLSTATE
SELECT public.peer_signature(:'qid', 'SELECT enc_count(*) FROM visits WHERE xmlelement(name x, id) IS NOT NULL') AS sig \gset
SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory',
	'SELECT enc_count(*) FROM visits WHERE xmlelement(name x, id) IS NOT NULL', false, '', '{}', :'sig');
\echo :LAST_ERROR_SQLSTATE
SELECT public.peer_signature(:'qid', 'SELECT c FROM fake_ciphertexts') AS sig \gset
SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory',
	'SELECT c FROM fake_ciphertexts', false, '', '{}', :'sig');
\echo :LAST_ERROR_SQLSTATE
-- a null ciphertext in some group is a failure like any other: it names no row
SELECT public.peer_signature(:'qid', 'SELECT age_band, CASE WHEN age_band = ''90+'' THEN enc_count(*) END FROM visits GROUP BY age_band') AS sig \gset
SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory',
	'SELECT age_band, CASE WHEN age_band = ''90+'' THEN enc_count(*) END FROM visits GROUP BY age_band', false, '', '{}', :'sig');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT public.peer_state() = :'state2' AS unchanged;
-- scor's own type is found whatever the published schemas hold, and the
-- date and time may be read
SET ROLE regress_scor_peer;
\set qid_ok '\\x5ec0000000000000000000000000a003'
SELECT public.peer_signature(:'qid_ok', 'SELECT age_band, dp_noise(enc_count(*), 0.25) FROM visits WHERE current_date > ''2000-01-01'' GROUP BY age_band') AS sig \gset
SELECT scor.remote_contribute(:'nid', :'qid_ok', 'regress', 'mallory',
	'SELECT age_band, dp_noise(enc_count(*), 0.25) FROM visits WHERE current_date > ''2000-01-01'' GROUP BY age_band',
	false, '', '{}', :'sig') AS answer \gset
RESET ROLE;
SELECT length(:'answer') > 100 AS answered;
SELECT event, epsilon FROM scor.audit_log WHERE query_id = :'qid_ok' ORDER BY seq;

DROP TABLE public.fake_ciphertexts;
DROP DOMAIN public.ciphertext;
DROP VIEW public.visits_slowly;
DROP OPERATOR public.=== (integer, integer);
DROP FUNCTION public.eq_leak(integer, integer);
DROP FUNCTION public.slow_leak(integer);
DROP SCHEMA regress_hidden CASCADE;
DROP EXTENSION dblink;

--
-- 3. A peer login's own session is locked down from its start: it may call
-- the remote entry points (and add_peer's public key query), nothing else
-- (federation.sql made scor a session_preload_library of the login)
--
SELECT current_user AS regress_user \gset
SELECT public.peer_state() AS state3 \gset
SELECT public.peer_signature('\x5ec0000000000000000000000000a004', 'SELECT enc_count(*) FROM visits') AS sig_login \gset
\c - regress_scor_peer
SELECT pg_sleep(0);
SELECT set_config('work_mem', '1MB', false);
SELECT lo_create(0);
CREATE TEMP TABLE kept (x bytea);
SELECT count(*) FROM pg_class;
SELECT count(*) FROM pg_stat_activity;
SELECT count(*) FROM visits;
SET statement_timeout = 0;
BEGIN;
SHOW search_path;
SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory', pg_sleep(1)::text, false, '', '{}', '\x');
SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory', 'SELECT 1', false, '', '{}', '\x'), 1;
\set VERBOSITY sqlstate
SELECT 1;
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
-- what a coordinator asks is served
SELECT site_name FROM scor.site_public_key();
\set qid_ok '\\x5ec0000000000000000000000000a004'
SELECT scor.remote_contribute(:'nid', :'qid_ok', 'regress', 'mallory', 'SELECT enc_count(*) FROM visits', false, '', '{}', :'sig_login') AS answer \gset
\c - :regress_user
SET search_path = public, scor;
SELECT length(:'answer') > 100 AS answered, requested_by FROM scor.query_log WHERE query_id = :'qid_ok';
-- a coordinator's session set-up and check_peers() query are served too
-- (this site is a server of its own, reached as the peer login)
SELECT server_name, status, detail ~ '^PostgreSQL .*, scor ' AS versions
FROM scor.check_peers() WHERE server_name = 'srv_contrib_regression';
SELECT public.peer_state() <> :'state3' AS recorded;
SELECT public.peer_state() AS state3 \gset
-- without scor preloaded, the login's session could have run anything
-- before it called an entry point: the entry points refuse it
SELECT public.peer_signature(:'qid', 'SELECT enc_count(*) FROM visits') AS sig_unlocked \gset
ALTER ROLE regress_scor_peer RESET session_preload_libraries;
\c - regress_scor_peer
SELECT scor.remote_contribute(:'nid', :'qid', 'regress', 'mallory', 'SELECT enc_count(*) FROM visits', false, '', '{}', :'sig_unlocked');
\echo :LAST_ERROR_SQLSTATE
SELECT scor.remote_decrypt(:'nid', :'qid', '\x5343423100');
\echo :LAST_ERROR_SQLSTATE
\c - :regress_user
SET search_path = public, scor;
ALTER ROLE regress_scor_peer SET session_preload_libraries = 'scor';
SELECT public.peer_state() = :'state3' AS unchanged;
-- the setting is the superuser's alone
LOAD 'scor';
SET ROLE regress_scor_peer;
SET scor.require_peer_lockdown = off;
RESET ROLE;

DROP FUNCTION public.peer_state();
DROP FUNCTION public.peer_signature(bytea, text);
