-- The audit log's tail, anchored by a signed checkpoint; and the claims of
-- docs/threat-model.md that no other test checked.  Two sites of their own
-- (regress_audit_a, regress_audit_b), so every seq below is deterministic.

CREATE DATABASE regress_audit_a;
CREATE DATABASE regress_audit_b;
CREATE ROLE regress_audit_peer LOGIN PASSWORD 'audit-peer-secret' IN ROLE scor_peer;
CREATE ROLE regress_audit_analyst IN ROLE scor_analyst;

\c regress_audit_b
CREATE EXTENSION scor;
SELECT site_name FROM scor.init_site('regress_audit_b');
SELECT scor.grant_budget('someone', 'else', 1);
-- b's own checkpoint, presented to a below as if it were a's
SELECT seq AS b_seq, row_hash AS b_hash, signature AS b_sig FROM scor.audit_checkpoint() \gset

\c regress_audit_a
CREATE EXTENSION scor;
SET search_path = public, scor;
CREATE FUNCTION public.sqlstate_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'no error';
EXCEPTION WHEN others THEN
	RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '[0-9a-f]{16,}', '<hex>', 'g');
END
$$;
SELECT site_name FROM scor.init_site('regress_audit_a');
CREATE TABLE visits AS SELECT i AS id, i % 3 = 0 AS covid FROM generate_series(1, 3000) i;
GRANT SELECT ON visits TO regress_audit_analyst;

-- An empty log: its checkpoint is row 0 with the all-zero hash
SELECT seq, row_hash = '\x'::bytea || decode(repeat('00', 32), 'hex') AS zero_hash,
       octet_length(signature) AS sig_bytes FROM scor.audit_checkpoint();
SELECT seq AS empty_seq, row_hash AS empty_hash, signature AS empty_sig FROM scor.audit_checkpoint() \gset
SELECT * FROM scor.verify_audit_log(:empty_seq, :'empty_hash', :'empty_sig');

-- Write some rows: a federated query of this one-member network (an answer
-- and a decryption) and budget grants
SELECT n FROM scor.federate($$ SELECT enc_count(*) FROM visits WHERE covid $$) AS t(n bigint);
SELECT scor.grant_budget('regress_audit_b', 'alice', 1);
SELECT scor.grant_budget('regress_audit_b', 'bob', 2);
SELECT seq, event, peer, analyst FROM scor.audit_log ORDER BY seq;

-- The checkpoint is the head of the chain: the last row's seq and hash
SELECT c.seq, c.row_hash = l.row_hash AS is_last_row_hash, octet_length(c.signature) AS sig_bytes
FROM scor.audit_checkpoint() c, scor.audit_log l WHERE l.seq = (SELECT max(seq) FROM scor.audit_log);
SELECT seq AS cp_seq, row_hash AS cp_hash, signature AS cp_sig FROM scor.audit_checkpoint() \gset

-- An intact log verifies, alone and against the checkpoint (signed or not),
-- and still does after it has grown
SELECT * FROM scor.verify_audit_log();
SELECT * FROM scor.verify_audit_log(:cp_seq, :'cp_hash', :'cp_sig');
SELECT * FROM scor.verify_audit_log(:cp_seq, :'cp_hash');
SELECT scor.grant_budget('regress_audit_b', 'carol', 3);
SELECT * FROM scor.verify_audit_log(:cp_seq, :'cp_hash', :'cp_sig');
SELECT * FROM scor.verify_audit_log(:empty_seq, :'empty_hash', :'empty_sig');

-- Deleting the last rows: the chain alone cannot tell, the checkpoint can,
-- and names the first missing row
BEGIN;
DELETE FROM scor.audit_log WHERE seq >= :cp_seq;
SELECT * FROM scor.verify_audit_log();
SELECT * FROM scor.verify_audit_log(:cp_seq, :'cp_hash', :'cp_sig');
ROLLBACK;
BEGIN;
DELETE FROM scor.audit_log WHERE seq >= :cp_seq - 1;
SELECT * FROM scor.verify_audit_log(:cp_seq, :'cp_hash', :'cp_sig');
ROLLBACK;
-- ... all of them
BEGIN;
DELETE FROM scor.audit_log;
SELECT * FROM scor.verify_audit_log(:cp_seq, :'cp_hash', :'cp_sig');
ROLLBACK;
-- a row deleted in the middle is still the chain's finding
BEGIN;
DELETE FROM scor.audit_log WHERE seq = 2;
SELECT * FROM scor.verify_audit_log(:cp_seq, :'cp_hash', :'cp_sig');
ROLLBACK;

-- A forged checkpoint is reported, before anything it would vouch for
-- (a flipped signature byte; a later head under the real signature; a hash
-- that is not the row's under the real signature; another site's checkpoint)
SELECT * FROM scor.verify_audit_log(:cp_seq, :'cp_hash',
	set_byte(:'cp_sig'::bytea, 10, get_byte(:'cp_sig'::bytea, 10) # 1));
SELECT * FROM scor.verify_audit_log(:cp_seq + 1, :'cp_hash', :'cp_sig');
SELECT * FROM scor.verify_audit_log(:cp_seq, sha256(:'cp_hash'), :'cp_sig');
SELECT * FROM scor.verify_audit_log(:b_seq, :'b_hash', :'b_sig');
-- unsigned, a head that is not the log's is still found
SELECT * FROM scor.verify_audit_log(:cp_seq, sha256(:'cp_hash'));
SELECT * FROM scor.verify_audit_log(:cp_seq + 10, :'cp_hash');

-- A damaged log is not signed
BEGIN;
UPDATE scor.audit_log SET analyst = 'mallory' WHERE seq = 3;
SELECT sqlstate_of('SELECT * FROM scor.audit_checkpoint()');
ROLLBACK;

-- Malformed checkpoints
SELECT sqlstate_of($$SELECT * FROM scor.verify_audit_log(NULL, '\x00')$$);
SELECT sqlstate_of($$SELECT * FROM scor.verify_audit_log(-1, sha256('\x00'))$$);
SELECT sqlstate_of($$SELECT * FROM scor.verify_audit_log(1, '\x00')$$);
SELECT sqlstate_of($$SELECT * FROM scor.verify_audit_log(1, sha256('\x00'), '\x00')$$);

-- Only scor_admin may take or check a checkpoint
SELECT r.rolname, has_function_privilege(r.oid, 'scor.audit_checkpoint()', 'EXECUTE') AS checkpoint,
       has_function_privilege(r.oid, 'scor.verify_audit_log(bigint, bytea, bytea)', 'EXECUTE') AS verify
FROM pg_roles r WHERE r.rolname IN ('scor_admin', 'scor_analyst', 'scor_peer', 'public')
ORDER BY 1;
SELECT has_function_privilege('public', 'scor.audit_checkpoint()', 'EXECUTE') AS public_checkpoint,
       has_function_privilege('public', 'scor.verify_audit_log(bigint, bytea, bytea)', 'EXECUTE') AS public_verify;

--
-- Claims of docs/threat-model.md
--

-- A compromised analyst account cannot change peers, keys or budgets (42501)
SET ROLE regress_audit_analyst;
SELECT sqlstate_of($$SELECT scor.add_peer('srv_regress_audit_b')$$) AS add_peer;
SELECT sqlstate_of($$SELECT scor.remove_peer('srv_regress_audit_b')$$) AS remove_peer;
SELECT sqlstate_of($$SELECT scor.init_site('regress_audit_a', rotate => true)$$) AS init_site;
SELECT sqlstate_of($$SELECT scor.grant_budget('regress_audit_b', 'regress_audit_analyst', 100)$$) AS grant_budget;
SELECT sqlstate_of('SELECT * FROM scor.audit_checkpoint()') AS checkpoint;
SELECT sqlstate_of('SELECT count(*) FROM scor.audit_log') AS read_audit_log;
-- what it may do: a federated query of the published tables
SELECT n FROM scor.federate($$ SELECT enc_count(*) FROM visits $$) AS t(n bigint);
RESET ROLE;

-- A site limits the memory of a shipped query (scor.query_work_mem): a
-- GROUP BY of 3000 groups spills to a temporary file with 64 kB, even when
-- the session's own work_mem is 1 GB, and does not with 1 GB
SET work_mem = '1GB';
SET scor.query_work_mem = '64kB';
SELECT temp_files AS temp_before FROM pg_stat_database WHERE datname = current_database() \gset
SELECT count(*) FROM scor.federate($$ SELECT id, enc_count(*) FROM visits GROUP BY id $$) AS t(id integer, n bigint);
SELECT pg_stat_force_next_flush();
SELECT pg_stat_clear_snapshot();
SELECT temp_files > :temp_before AS spilled_at_64kb FROM pg_stat_database WHERE datname = current_database();
SET scor.query_work_mem = '1GB';
SELECT temp_files AS temp_before FROM pg_stat_database WHERE datname = current_database() \gset
SELECT count(*) FROM scor.federate($$ SELECT id, enc_count(*) FROM visits GROUP BY id $$) AS t(id integer, n bigint);
SELECT pg_stat_force_next_flush();
SELECT pg_stat_clear_snapshot();
SELECT temp_files = :temp_before AS no_spill_at_1gb FROM pg_stat_database WHERE datname = current_database();
RESET scor.query_work_mem;
RESET work_mem;

-- scor.decrypt decrypts alone only while this site is the whole network;
-- once the network has another member it refuses (decryption needs every
-- member's share), for the analyst and the superuser alike
SELECT scor.decrypt(scor.enc_count(*)) AS alone FROM visits;
SET client_min_messages = warning;
DO $$
DECLARE
	sock text := split_part(current_setting('unix_socket_directories'), ',', 1);
BEGIN
	EXECUTE format('CREATE SERVER srv_regress_audit_b FOREIGN DATA WRAPPER scor OPTIONS (host %L, port %L, dbname %L)',
				   sock, current_setting('port'), 'regress_audit_b');
	EXECUTE format('CREATE USER MAPPING FOR PUBLIC SERVER srv_regress_audit_b OPTIONS (user %L, password %L)',
				   'regress_audit_peer', 'audit-peer-secret');
END
$$;
SELECT site_name, members FROM scor.add_peer('srv_regress_audit_b');
RESET client_min_messages;
SELECT sqlstate_of('SELECT scor.decrypt(scor.enc_count(*)) FROM visits') AS with_peer;
SELECT sqlstate_of('SELECT scor.decrypt(scor.encrypt(1))') AS own_ciphertext_with_peer;
SET ROLE regress_audit_analyst;
SELECT sqlstate_of('SELECT scor.decrypt(scor.enc_count(*)) FROM visits') AS analyst_with_peer;
RESET ROLE;
-- and decrypts alone again once the peer is gone
SELECT scor.remove_peer('srv_regress_audit_b');
SELECT scor.decrypt(scor.enc_count(*)) AS alone_again FROM visits;

-- The seed never appears in an error message: scor.key_command printing a
-- seed with one bad digit, a valid seed that is not this site's, and a
-- seed followed by a failing exit are each refused without quoting it
CREATE FUNCTION public.error_quotes(stmt text, needle text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	m text;
	d text;
	h text;
BEGIN
	EXECUTE stmt;
	RETURN 'no error';
EXCEPTION WHEN others THEN
	GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
	RETURN SQLSTATE || ': ' || regexp_replace(m, '"[a-z_]+"', '"..."') ||
		CASE WHEN strpos(lower(concat_ws(' ', m, d, h)), lower(needle)) > 0 THEN ' (quotes it)' ELSE ' (does not quote it)' END;
END
$$;
-- (the control: a message that does quote the text is caught)
SELECT error_quotes('SELECT scor.no_such_function_5c636a71()', '5c636a71') AS control;
ALTER SYSTEM SET scor.key_command = 'printf 5c636a71787f868d949ba2a9b0b7bec5ccd3d+ae1e8eff6fd040b121920272e35';
SELECT pg_reload_conf();
\c
SET search_path = public, scor;
SELECT error_quotes('SELECT scor.decrypt(scor.encrypt(1))', '5c636a71787f868d949ba2a9b0b7bec5ccd3d') AS bad_digit;
ALTER SYSTEM SET scor.key_command = 'printf 5c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e35';
SELECT pg_reload_conf();
\c
SET search_path = public, scor;
SELECT error_quotes('SELECT scor.decrypt(scor.encrypt(1))', '5c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e35') AS other_key;
ALTER SYSTEM SET scor.key_command = 'echo 5c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e35; exit 3';
SELECT pg_reload_conf();
\c
SET search_path = public, scor;
SELECT error_quotes('SELECT scor.decrypt(scor.encrypt(1))', '5c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e35') AS failing_command;
ALTER SYSTEM RESET scor.key_command;
SELECT pg_reload_conf();
\c
SET search_path = public, scor;
SELECT scor.decrypt(scor.encrypt(7)) AS key_file_again;

-- A finding of fuzz_manifest: a number beyond numeric's range made jsonb
-- raise 22003 instead of the manifest being refused (SC008); a manifest's
-- numbers are whole numbers now, so an exponent or a fraction is refused too
SELECT sqlstate_of($$SELECT scor.manifest_sign('{"network": 1e999999}')$$) AS huge_number;
SELECT sqlstate_of($$SELECT scor.manifest_sign('{"network": "n", "version": 1e0}')$$) AS exponent;
SELECT sqlstate_of($$SELECT scor.manifest_sign('{"network": "n", "version": 1.0}')$$) AS fraction;
SELECT sqlstate_of($$SELECT scor.manifest_sign('{"network": "n", "version": 1234567890123456789}')$$) AS nineteen_digits;
SELECT sqlstate_of($$SELECT scor.manifest_sign('{"network": "n", "version": -5}')$$) AS negative_whole;

-- The log of all this still verifies against the checkpoint taken above
SELECT ok, first_bad_seq, problem FROM scor.verify_audit_log(:cp_seq, :'cp_hash', :'cp_sig');

\c contrib_regression
DROP DATABASE regress_audit_a WITH (FORCE);
DROP DATABASE regress_audit_b WITH (FORCE);
DROP ROLE regress_audit_peer, regress_audit_analyst;
