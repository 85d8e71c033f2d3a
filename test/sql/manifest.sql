-- Network manifests: three sites, as three databases of this cluster, join
-- one signed manifest read from a file:// URL, follow a key rotation and the
-- removal of a site; every bad manifest is refused and changes nothing.
-- (HTTPS, timeouts and four clusters: test/t/005_manifest.pl.)
SET search_path = public, scor;
CREATE ROLE regress_manifest_peer LOGIN PASSWORD 'peer-secret' IN ROLE scor_peer;
ALTER ROLE regress_manifest_peer SET session_preload_libraries = 'scor';

-- Where manifests are published: a file the server writes with COPY
SELECT current_setting('data_directory') || '/regress_manifest.json' AS mf_path \gset
SELECT 'file://' || :'mf_path' AS mf_url \gset
SELECT split_part(current_setting('unix_socket_directories'), ',', 1) AS sock,
       current_setting('port')::integer AS port \gset

CREATE DATABASE regress_mf_a;
CREATE DATABASE regress_mf_b;
CREATE DATABASE regress_mf_c;

-- Every site: the extension, a key, the suite's error helper, data, and its
-- entry for the manifest
\c regress_mf_a
SET client_min_messages = warning;
CREATE EXTENSION scor;
SET search_path = public, scor;
SELECT site_name FROM scor.init_site('mf_a');
CREATE FUNCTION public.sqlstate_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'no error';
EXCEPTION WHEN others THEN
	RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '[0-9a-f]{16,}', '<hex>', 'g');
END
$$;
-- everything a manifest can change here: a refused one must leave it as it was
CREATE FUNCTION public.state_snapshot() RETURNS text LANGUAGE sql AS $$
SELECT concat_ws(E'\n',
	(SELECT json_agg(m ORDER BY m.site_name) FROM scor.member m)::text,
	(SELECT json_agg(json_build_array(s.srvname, s.srvoptions, s.srvacl::text[]) ORDER BY s.srvname)
	 FROM pg_foreign_server s)::text,
	(SELECT json_agg(json_build_array(u.srvname, u.usename, u.umoptions) ORDER BY u.srvname, u.usename)
	 FROM pg_user_mappings u)::text,
	(SELECT json_agg(n) FROM scor.network n)::text,
	(SELECT json_agg(v ORDER BY v.version) FROM scor.network_manifest v)::text,
	(SELECT network_id FROM scor.network_key()))
$$;
CREATE TABLE visits (id integer, covid boolean, los integer);
INSERT INTO visits SELECT i, i % 3 = 0, i % 17 FROM generate_series(1, 900) i;
SELECT scor.manifest_member(:'sock', :port, 'regress_mf_a', 'disable') AS member_a \gset

\c regress_mf_b
SET client_min_messages = warning;
CREATE EXTENSION scor;
SET search_path = public, scor;
SELECT site_name FROM scor.init_site('mf_b');
CREATE FUNCTION public.sqlstate_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'no error';
EXCEPTION WHEN others THEN
	RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '[0-9a-f]{16,}', '<hex>', 'g');
END
$$;
CREATE TABLE visits (id integer, covid boolean, los integer);
INSERT INTO visits SELECT i, i % 4 = 0, i % 13 FROM generate_series(1, 700) i;
SELECT scor.manifest_member(:'sock', :port, 'regress_mf_b', 'disable') AS member_b \gset

\c regress_mf_c
SET client_min_messages = warning;
CREATE EXTENSION scor;
SET search_path = public, scor;
SELECT site_name FROM scor.init_site('mf_c');
CREATE FUNCTION public.sqlstate_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'no error';
EXCEPTION WHEN others THEN
	RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '[0-9a-f]{16,}', '<hex>', 'g');
END
$$;
CREATE TABLE visits (id integer, covid boolean, los integer);
INSERT INTO visits SELECT i, i % 5 = 0, i % 7 FROM generate_series(1, 400) i;
SELECT scor.manifest_member(:'sock', :port, 'regress_mf_c', 'disable') AS member_c \gset

-- A site's entry carries its public keys and proof of possession
SELECT jsonb_object_keys(:'member_c'::jsonb) AS member_fields ORDER BY 1;

-- Version 1: the three sites, every one of which must sign
SELECT scor.manifest_payload('regress_net', 1, NULL,
                             jsonb_build_array(:'member_a'::jsonb, :'member_b'::jsonb, :'member_c'::jsonb))
       AS p1 \gset
SELECT scor.manifest_digest(:'p1') AS d1 \gset
SELECT (:'p1')::jsonb -> 'rules' AS rules, (:'p1')::jsonb -> 'settings' AS settings;
SET client_min_messages = warning;
SELECT scor.manifest_sign(:'p1') AS s1_c \gset
\c regress_mf_b
SET client_min_messages = warning;
SELECT scor.manifest_sign(:'p1') AS s1_b \gset
\c contrib_regression
SET client_min_messages = warning;
-- site "regress" signs too, but is no member of the network
SELECT scor.manifest_sign(:'p1') AS s1_x \gset
\c regress_mf_a
SET search_path = public, scor;
SET client_min_messages = warning;
SELECT scor.manifest_sign(:'p1') AS s1_a \gset
RESET client_min_messages;
SELECT jsonb_build_array(jsonb_build_object('site', 'mf_a', 'signature', :'s1_a'),
                         jsonb_build_object('site', 'mf_b', 'signature', :'s1_b'),
                         jsonb_build_object('site', 'mf_c', 'signature', :'s1_c')) AS sigs1 \gset
SELECT scor.manifest_envelope(:'p1', :'sigs1') AS e1 \gset
SELECT jsonb_object_keys(:'e1'::jsonb) AS envelope_fields ORDER BY 1;
SELECT length(:'s1_a') AS signature_chars, length(:'d1') AS digest_chars;

-- Bad manifests at join: each refused, naming the check (and the member)
SELECT state_snapshot() AS snap0 \gset
COPY (SELECT :'e1') TO :'mf_path';
SELECT sqlstate_of(format('SELECT scor.join_network(%L, %L)', :'mf_url', repeat('0', 64))) AS wrong_digest;
SELECT sqlstate_of(format('SELECT scor.join_network(%L, %L)', :'mf_url', 'xyz')) AS malformed_digest;
SELECT sqlstate_of(format('SELECT scor.join_network(%L, %L)', 'http://127.0.0.1/m.json', :'d1')) AS plain_http;
SELECT sqlstate_of(format('SELECT scor.join_network(%L, %L)', 'ftp://127.0.0.1/m.json', :'d1')) AS ftp;
SELECT sqlstate_of(format('SELECT scor.join_network(%L, %L)', :'mf_url' || '.missing', :'d1')) AS missing_file;
-- truncated
COPY (SELECT left(:'e1', length(:'e1') / 2)) TO :'mf_path';
SELECT sqlstate_of(format('SELECT scor.join_network(%L, %L)', :'mf_url', :'d1')) AS truncated;
-- oversized
COPY (SELECT :'e1') TO :'mf_path';
SET scor.manifest_max_bytes = 1024;
SELECT sqlstate_of(format('SELECT scor.join_network(%L, %L)', :'mf_url', :'d1')) AS oversized;
RESET scor.manifest_max_bytes;
-- unsigned
COPY (SELECT scor.manifest_envelope(:'p1', '[]')) TO :'mf_path';
SELECT sqlstate_of(format('SELECT scor.join_network(%L, %L)', :'mf_url', :'d1')) AS unsigned;
-- signed by all but one
COPY (SELECT scor.manifest_envelope(:'p1', (:'sigs1')::jsonb - 1)) TO :'mf_path';
SELECT sqlstate_of(format('SELECT scor.join_network(%L, %L)', :'mf_url', :'d1')) AS one_missing;
-- signed by a non-member as well
COPY (SELECT scor.manifest_envelope(:'p1', (:'sigs1')::jsonb || jsonb_build_object('site', 'regress', 'signature', :'s1_x'))) TO :'mf_path';
SELECT sqlstate_of(format('SELECT scor.join_network(%L, %L)', :'mf_url', :'d1')) AS non_member_signer;
-- a member's signature that does not verify (mf_b's slot holds mf_c's)
COPY (SELECT scor.manifest_envelope(:'p1', jsonb_set(:'sigs1', '{1,signature}', to_jsonb(:'s1_c'::text)))) TO :'mf_path';
SELECT sqlstate_of(format('SELECT scor.join_network(%L, %L)', :'mf_url', :'d1')) AS bad_signature;
-- two signatures by one site
COPY (SELECT jsonb_set(:'e1', '{signatures}', ((:'e1')::jsonb -> 'signatures') || ((:'e1')::jsonb #> '{signatures,0}'))) TO :'mf_path';
SELECT sqlstate_of(format('SELECT scor.join_network(%L, %L)', :'mf_url', :'d1')) AS signed_twice;
-- a bad proof of possession: mf_b presents mf_c's proof
SELECT scor.manifest_payload('regress_net', 1, NULL,
           jsonb_build_array(:'member_a'::jsonb, jsonb_set(:'member_b', '{proof}', (:'member_c'::jsonb) -> 'proof'),
                             :'member_c'::jsonb)) AS p_badpop \gset
COPY (SELECT scor.manifest_envelope(:'p_badpop', :'sigs1')) TO :'mf_path';
SELECT sqlstate_of(format('SELECT scor.join_network(%L, %L)', :'mf_url', scor.manifest_digest(:'p_badpop'))) AS bad_proof;
-- mf_b's keys under mf_c's name
SELECT scor.manifest_payload('regress_net', 1, NULL,
           jsonb_build_array(:'member_a'::jsonb, :'member_b'::jsonb, jsonb_set(:'member_b', '{site}', '"mf_c"'))) AS p_stolen \gset
COPY (SELECT scor.manifest_envelope(:'p_stolen', :'sigs1')) TO :'mf_path';
SELECT sqlstate_of(format('SELECT scor.join_network(%L, %L)', :'mf_url', scor.manifest_digest(:'p_stolen'))) AS stolen_key;
-- a field twice, an unknown field, a bad port, a bad host
SELECT replace(:'p1', '"version": 1', '"version": 1, "version": 2') AS p_twice \gset
COPY (SELECT scor.manifest_envelope(:'p_twice', :'sigs1')) TO :'mf_path';
SELECT sqlstate_of(format('SELECT scor.join_network(%L, %L)', :'mf_url', scor.manifest_digest(:'p_twice'))) AS field_twice;
SELECT jsonb_set(:'p1', '{extra}', '1')::text AS p_extra \gset
COPY (SELECT scor.manifest_envelope(:'p_extra', :'sigs1')) TO :'mf_path';
SELECT sqlstate_of(format('SELECT scor.join_network(%L, %L)', :'mf_url', scor.manifest_digest(:'p_extra'))) AS unknown_field;
SELECT jsonb_set(:'p1', '{members,1,port}', '70000')::text AS p_port \gset
COPY (SELECT scor.manifest_envelope(:'p_port', :'sigs1')) TO :'mf_path';
SELECT sqlstate_of(format('SELECT scor.join_network(%L, %L)', :'mf_url', scor.manifest_digest(:'p_port'))) AS bad_port;
SELECT jsonb_set(:'p1', '{members,2,host}', '"x; rm -rf"')::text AS p_host \gset
COPY (SELECT scor.manifest_envelope(:'p_host', :'sigs1')) TO :'mf_path';
SELECT sqlstate_of(format('SELECT scor.join_network(%L, %L)', :'mf_url', scor.manifest_digest(:'p_host'))) AS bad_host;
-- another protocol version; more honest sites than members
SELECT jsonb_set(:'p1', '{settings,protocol_version}', '2')::text AS p_proto \gset
COPY (SELECT scor.manifest_envelope(:'p_proto', :'sigs1')) TO :'mf_path';
SELECT sqlstate_of(format('SELECT scor.join_network(%L, %L)', :'mf_url', scor.manifest_digest(:'p_proto'))) AS protocol;
SELECT jsonb_set(:'p1', '{settings,dp_honest_sites}', '4')::text AS p_t \gset
COPY (SELECT scor.manifest_envelope(:'p_t', :'sigs1')) TO :'mf_path';
SELECT sqlstate_of(format('SELECT scor.join_network(%L, %L)', :'mf_url', scor.manifest_digest(:'p_t'))) AS honest_sites;
-- a valid manifest that does not list this site
SELECT scor.manifest_payload('regress_net', 1, NULL,
                             jsonb_build_array(:'member_b'::jsonb, :'member_c'::jsonb)) AS p_bc \gset
COPY (SELECT scor.manifest_envelope(:'p_bc', '[]')) TO :'mf_path';
SELECT sqlstate_of(format('SELECT scor.join_network(%L, %L)', :'mf_url', scor.manifest_digest(:'p_bc'))) AS not_listed;
-- reading a file of the server takes pg_read_server_files
CREATE ROLE regress_mf_admin IN ROLE scor_admin;
SET ROLE regress_mf_admin;
SELECT sqlstate_of(format('SELECT scor.join_network(%L, %L)', :'mf_url', :'d1')) AS file_needs_privilege;
RESET ROLE;
DROP ROLE regress_mf_admin;
-- nothing changed
SELECT count(*) AS networks FROM scor.network;
SELECT count(*) AS versions FROM scor.network_manifest;
SELECT count(*) AS servers FROM pg_foreign_server;
SELECT site_name, server_name FROM scor.member;
SELECT * FROM scor.network_status();
SELECT sqlstate_of('SELECT scor.sync_network()') AS not_joined;
SELECT state_snapshot() = :'snap0' AS unchanged;

-- Servers the manifest makes get this site's CA bundle for the peers'
-- certificates (the manifest cannot name a file of this site)
ALTER DATABASE regress_mf_a SET scor.peer_sslrootcert = '/etc/scor/regress-ca-1.pem';
ALTER DATABASE regress_mf_b SET scor.peer_sslrootcert = '/etc/scor/regress-ca-1.pem';
ALTER DATABASE regress_mf_c SET scor.peer_sslrootcert = '/etc/scor/regress-ca-1.pem';
\c regress_mf_a
SET search_path = public, scor;
SHOW scor.peer_sslrootcert;

-- The valid manifest: every site joins with one statement
COPY (SELECT :'e1') TO :'mf_path';
SELECT network, version, manifest_digest = :'d1' AS digest_ok, url = :'mf_url' AS url_ok, members,
       member_set_matches
FROM scor.join_network(:'mf_url', :'d1');
SELECT srvname, srvoptions @> ARRAY['host=' || :'sock', 'port=' || :port] AS host_port_ok,
       ARRAY(SELECT o FROM unnest(srvoptions) o WHERE o !~ '^(host|port)=') AS options
FROM pg_foreign_server ORDER BY 1;
SELECT site_name, server_name FROM scor.member ORDER BY 1;
SELECT version, digest = :'d1' AS digest_ok, previous_digest FROM scor.network_manifest;
-- joining again with the same digest changes nothing
SELECT version FROM scor.join_network(:'mf_url', :'d1');
SELECT sqlstate_of('SELECT scor.sync_network()') AS nothing_new;
\c regress_mf_b
SET search_path = public, scor;
SET client_min_messages = warning;
SELECT version, members FROM scor.join_network(:'mf_url', :'d1');
\c regress_mf_c
SET search_path = public, scor;
SET client_min_messages = warning;
SELECT version, members FROM scor.join_network(:'mf_url', :'d1');

-- Credentials stay local: each site maps its users to the peer login
DO $$
DECLARE
	s text;
BEGIN
	FOR s IN SELECT srvname FROM pg_foreign_server LOOP
		EXECUTE format('CREATE USER MAPPING FOR PUBLIC SERVER %I OPTIONS (user %L, password %L)',
					   s, 'regress_manifest_peer', 'peer-secret');
	END LOOP;
END
$$;
SELECT network_id AS nid_c FROM scor.network_status() \gset
SELECT count(*) FILTER (WHERE covid) AS n_c FROM visits \gset
\c regress_mf_b
SET search_path = public, scor;
DO $$
DECLARE
	s text;
BEGIN
	FOR s IN SELECT srvname FROM pg_foreign_server LOOP
		EXECUTE format('CREATE USER MAPPING FOR PUBLIC SERVER %I OPTIONS (user %L, password %L)',
					   s, 'regress_manifest_peer', 'peer-secret');
	END LOOP;
END
$$;
SELECT network_id AS nid_b FROM scor.network_status() \gset
SELECT count(*) FILTER (WHERE covid) AS n_b FROM visits \gset
\c regress_mf_a
SET search_path = public, scor;
DO $$
DECLARE
	s text;
BEGIN
	FOR s IN SELECT srvname FROM pg_foreign_server LOOP
		EXECUTE format('CREATE USER MAPPING FOR PUBLIC SERVER %I OPTIONS (user %L, password %L)',
					   s, 'regress_manifest_peer', 'peer-secret');
	END LOOP;
END
$$;
SELECT count(*) FILTER (WHERE covid) AS n_a FROM visits \gset
-- the three sites pin the same member set
SELECT network_id = :'nid_b' AND network_id = :'nid_c' AS same_network_id FROM scor.network_status();
-- and a federated query gives the exact consortium total
SELECT n, n = :n_a + :n_b + :n_c AS n_ok
FROM scor.federate($$ SELECT enc_count(*) FROM visits WHERE covid $$) AS t(n bigint);

-- A query in flight: all three sites answer round 1 of query 0102...10
-- under version 1 (coordinator mf_a), and the bundle of their answers is kept
SELECT network_id AS nid_a1 FROM scor.network_key() \gset
-- (mf_a's round-1 requests, signed by hand for each site)
SELECT scor.request_signature(('\x' || :'nid_a1')::bytea, '\x0102030405060708090a0b0c0d0e0f10', 'mf_a',
                              'mallory', 'SELECT enc_count(*) FROM visits', false, '', '{}') AS sig_for_mf_a \gset
SELECT scor.request_signature(('\x' || :'nid_a1')::bytea, '\x0102030405060708090a0b0c0d0e0f10', 'mf_b',
                              'mallory', 'SELECT enc_count(*) FROM visits', false, '', '{}') AS sig_for_mf_b \gset
SELECT scor.request_signature(('\x' || :'nid_a1')::bytea, '\x0102030405060708090a0b0c0d0e0f10', 'mf_c',
                              'mallory', 'SELECT enc_count(*) FROM visits', false, '', '{}') AS sig_for_mf_c \gset
SET ROLE regress_manifest_peer;
SELECT scor.remote_contribute(('\x' || :'nid_a1')::bytea, '\x0102030405060708090a0b0c0d0e0f10',
                              'mf_a', 'mallory', 'SELECT enc_count(*) FROM visits', false, '', '{}',
                              :'sig_for_mf_a') AS ans_a \gset
RESET ROLE;
\c regress_mf_b
SET ROLE regress_manifest_peer;
SELECT scor.remote_contribute(('\x' || :'nid_a1')::bytea, '\x0102030405060708090a0b0c0d0e0f10',
                              'mf_a', 'mallory', 'SELECT enc_count(*) FROM visits', false, '', '{}',
                              :'sig_for_mf_b') AS ans_b \gset
RESET ROLE;
\c regress_mf_c
SET ROLE regress_manifest_peer;
SELECT scor.remote_contribute(('\x' || :'nid_a1')::bytea, '\x0102030405060708090a0b0c0d0e0f10',
                              'mf_a', 'mallory', 'SELECT enc_count(*) FROM visits', false, '', '{}',
                              :'sig_for_mf_c') AS ans_c \gset
RESET ROLE;
-- the BUNDLE: "SCB1", u16 count, then each answer with its u32 length, in member order
SELECT '\x53434231'::bytea || '\x0003'::bytea
       || int4send(length(:'ans_a'::bytea)) || :'ans_a'::bytea
       || int4send(length(:'ans_b'::bytea)) || :'ans_b'::bytea
       || int4send(length(:'ans_c'::bytea)) || :'ans_c'::bytea AS bundle1 \gset
SELECT encode(substr(:'ans_a'::bytea, 1, 4), 'escape') AS answer_a, encode(substr(:'ans_b'::bytea, 1, 4), 'escape') AS answer_b,
       encode(substr(:'ans_c'::bytea, 1, 4), 'escape') AS answer_c;

-- Version 2: mf_c rotates its key; the rules become "any 2 members"
\c regress_mf_c
SET search_path = public, scor;
SELECT site_name FROM scor.init_site('mf_c', rotate => true);
SELECT scor.manifest_member(:'sock', :port, 'regress_mf_c', 'disable') AS member_c2 \gset
SELECT scor.manifest_payload('regress_net', 2, :'d1',
                             jsonb_build_array(:'member_a'::jsonb, :'member_b'::jsonb, :'member_c2'::jsonb),
                             signers => '2', dp_honest_sites => 2) AS p2 \gset
SELECT scor.manifest_digest(:'p2') AS d2 \gset
SET client_min_messages = warning;
SELECT scor.manifest_sign(:'p2') AS s2_c \gset
\c regress_mf_b
SET client_min_messages = warning;
SELECT scor.manifest_sign(:'p2') AS s2_b \gset
\c contrib_regression
SET client_min_messages = warning;
SELECT scor.manifest_sign(:'p2') AS s2_x \gset
\c regress_mf_a
SET search_path = public, scor;
SET client_min_messages = warning;
SELECT scor.manifest_sign(:'p2') AS s2_a \gset
RESET client_min_messages;
SELECT jsonb_build_array(jsonb_build_object('site', 'mf_a', 'signature', :'s2_a'),
                         jsonb_build_object('site', 'mf_b', 'signature', :'s2_b'),
                         jsonb_build_object('site', 'mf_c', 'signature', :'s2_c')) AS sigs2 \gset
SELECT scor.manifest_envelope(:'p2', :'sigs2', :'e1') AS e2 \gset
SELECT jsonb_array_length((:'e2')::jsonb -> 'chain') AS chain_length;

-- Bad versions 2 at sync: each refused, nothing changes
SELECT state_snapshot() AS snap1 \gset
COPY (SELECT scor.manifest_envelope(:'p2', '[]', :'e1')) TO :'mf_path';
SELECT sqlstate_of('SELECT scor.sync_network()') AS unsigned, state_snapshot() = :'snap1' AS unchanged;
COPY (SELECT scor.manifest_envelope(:'p2', (:'sigs2')::jsonb - 2, :'e1')) TO :'mf_path';
SELECT sqlstate_of('SELECT scor.sync_network()') AS rotated_member_did_not_sign, state_snapshot() = :'snap1' AS unchanged;
COPY (SELECT scor.manifest_envelope(:'p2', jsonb_build_array(jsonb_build_object('site', 'regress', 'signature', :'s2_x')), :'e1')) TO :'mf_path';
SELECT sqlstate_of('SELECT scor.sync_network()') AS non_member_signer, state_snapshot() = :'snap1' AS unchanged;
COPY (SELECT scor.manifest_envelope(:'p2', (:'sigs2')::jsonb || jsonb_build_object('site', 'regress', 'signature', :'s2_x'), :'e1')) TO :'mf_path';
SELECT sqlstate_of('SELECT scor.sync_network()') AS members_and_non_member, state_snapshot() = :'snap1' AS unchanged;
COPY (SELECT scor.manifest_envelope(:'p2', jsonb_set(:'sigs2', '{1,signature}', to_jsonb(:'s1_b'::text)), :'e1')) TO :'mf_path';
SELECT sqlstate_of('SELECT scor.sync_network()') AS old_signature, state_snapshot() = :'snap1' AS unchanged;
COPY (SELECT :'e2') TO :'mf_path';
SET scor.manifest_max_bytes = 1024;
SELECT sqlstate_of('SELECT scor.sync_network()') AS oversized, state_snapshot() = :'snap1' AS unchanged;
RESET scor.manifest_max_bytes;
SELECT scor.manifest_payload('regress_net', 2, :'d1',
           jsonb_build_array(:'member_a'::jsonb, jsonb_set(:'member_b', '{proof}', (:'member_c2'::jsonb) -> 'proof'),
                             :'member_c2'::jsonb)) AS p2_badpop \gset
COPY (SELECT scor.manifest_envelope(:'p2_badpop', :'sigs2', :'e1')) TO :'mf_path';
SELECT sqlstate_of('SELECT scor.sync_network()') AS bad_proof, state_snapshot() = :'snap1' AS unchanged;
SELECT scor.manifest_payload('regress_net', 2, repeat('0', 64),
                             jsonb_build_array(:'member_a'::jsonb, :'member_b'::jsonb, :'member_c2'::jsonb))
       AS p2_other_parent \gset
COPY (SELECT scor.manifest_envelope(:'p2_other_parent', :'sigs2')) TO :'mf_path';
SELECT sqlstate_of('SELECT scor.sync_network()') AS wrong_previous_digest;
SELECT scor.manifest_payload('regress_net', 3, :'d2',
                             jsonb_build_array(:'member_a'::jsonb, :'member_b'::jsonb)) AS p3_alone \gset
COPY (SELECT scor.manifest_envelope(:'p3_alone', '[]')) TO :'mf_path';
SELECT sqlstate_of('SELECT scor.sync_network()') AS skips_a_version;
SELECT scor.manifest_payload('other_net', 2, :'d1',
                             jsonb_build_array(:'member_a'::jsonb, :'member_b'::jsonb)) AS p2_net \gset
COPY (SELECT scor.manifest_envelope(:'p2_net', :'sigs2')) TO :'mf_path';
SELECT sqlstate_of('SELECT scor.sync_network()') AS other_network;
COPY (SELECT left(:'e2', 200)) TO :'mf_path';
SELECT sqlstate_of('SELECT scor.sync_network()') AS truncated;
SELECT state_snapshot() = :'snap1' AS unchanged;
SELECT version, network_id = :'nid_a1' AS same_network_id, member_set_matches FROM scor.network_status();
SELECT count(*) AS versions FROM scor.network_manifest;

-- The valid version 2 at sites a and c, with a new CA bundle for the peers:
-- the servers are altered to it
ALTER DATABASE regress_mf_a SET scor.peer_sslrootcert = '/etc/scor/regress-ca-2.pem';
ALTER DATABASE regress_mf_b SET scor.peer_sslrootcert = '/etc/scor/regress-ca-2.pem';
ALTER DATABASE regress_mf_c SET scor.peer_sslrootcert = '/etc/scor/regress-ca-2.pem';
\c regress_mf_a
SET search_path = public, scor;
COPY (SELECT :'e2') TO :'mf_path';
SELECT version, manifest_digest = :'d2' AS digest_ok, members, member_set_matches FROM scor.sync_network();
SELECT version, previous_digest = :'d1' AS linked FROM scor.network_manifest ORDER BY 1;
SELECT srvname, o AS ca FROM pg_foreign_server, unnest(srvoptions) o WHERE o LIKE 'sslrootcert=%' ORDER BY 1;
-- ... and query 0102...10, begun under version 1, cannot be decrypted: its
-- full bundle is refused under version 1's network id and under version 2's
SELECT network_id AS nid_a2 FROM scor.network_key() \gset
SET ROLE regress_manifest_peer;
\set VERBOSITY sqlstate
SELECT scor.remote_decrypt(('\x' || :'nid_a1')::bytea, '\x0102030405060708090a0b0c0d0e0f10', :'bundle1');
SELECT :'LAST_ERROR_SQLSTATE' || ': ' || :'LAST_ERROR_MESSAGE' AS in_flight_v1_id;
SELECT scor.remote_decrypt(('\x' || :'nid_a2')::bytea, '\x0102030405060708090a0b0c0d0e0f10', :'bundle1');
SELECT :'LAST_ERROR_SQLSTATE' || ': ' || :'LAST_ERROR_MESSAGE' AS in_flight_v2_id;
\set VERBOSITY default
RESET ROLE;
SELECT count(*) AS decrypted FROM scor.query_log
WHERE query_id = '\x0102030405060708090a0b0c0d0e0f10' AND decrypted_at IS NOT NULL;
\c regress_mf_c
SET search_path = public, scor;
SELECT version, member_set_matches FROM scor.sync_network();
-- mf_c has rotated: it refuses query 0102...10 too
SET ROLE regress_manifest_peer;
\set VERBOSITY sqlstate
SELECT scor.remote_decrypt(('\x' || :'nid_a1')::bytea, '\x0102030405060708090a0b0c0d0e0f10', :'bundle1');
SELECT :'LAST_ERROR_SQLSTATE' || ': ' || :'LAST_ERROR_MESSAGE' AS in_flight_v1_id;
\set VERBOSITY default
RESET ROLE;
-- a rollback to version 1 is refused
COPY (SELECT :'e1') TO :'mf_path';
SELECT sqlstate_of('SELECT scor.sync_network()') AS rollback;
-- and so is another version 2
SELECT scor.manifest_payload('regress_net', 2, :'d1',
                             jsonb_build_array(:'member_a'::jsonb, :'member_b'::jsonb, :'member_c2'::jsonb),
                             signers => '2', dp_honest_sites => 1) AS p2_fork \gset
COPY (SELECT scor.manifest_envelope(:'p2_fork', :'sigs2')) TO :'mf_path';
SELECT sqlstate_of('SELECT scor.sync_network()') AS forked;
SELECT version FROM scor.network_status();

-- Site b has not synced: the others refuse its requests, and it theirs
\c regress_mf_a
SET search_path = public, scor;
SELECT sqlstate_of($$SELECT * FROM scor.federate('SELECT enc_count(*) FROM visits') AS t(n bigint)$$)
       ~ '^SC001' AS member_set_mismatch;

-- Version 3 removes mf_c (say it was compromised) and narrows the decode
-- range; the rules of version 2 need any two members
SELECT scor.manifest_payload('regress_net', 3, :'d2',
                             jsonb_build_array(:'member_a'::jsonb, :'member_b'::jsonb),
                             signers => '2', decode_range_bits => 10) AS p3 \gset
SELECT scor.manifest_digest(:'p3') AS d3 \gset
SET client_min_messages = warning;
SELECT scor.manifest_sign(:'p3') AS s3_a \gset
\c regress_mf_b
SET client_min_messages = warning;
SELECT scor.manifest_sign(:'p3') AS s3_b \gset
\c regress_mf_a
SET search_path = public, scor;
-- one signature is not enough
COPY (SELECT scor.manifest_envelope(:'p3', jsonb_build_array(jsonb_build_object('site', 'mf_a', 'signature', :'s3_a')), :'e2')) TO :'mf_path';
SELECT sqlstate_of('SELECT scor.sync_network()') AS one_of_two;
SELECT scor.manifest_envelope(:'p3', jsonb_build_array(jsonb_build_object('site', 'mf_a', 'signature', :'s3_a'),
                                                       jsonb_build_object('site', 'mf_b', 'signature', :'s3_b')),
                              :'e2') AS e3 \gset
COPY (SELECT :'e3') TO :'mf_path';
SELECT version, members, member_set_matches FROM scor.sync_network();
-- mf_c's server is gone with its user mapping; mf_b's mapping stays
SELECT srvname FROM pg_foreign_server ORDER BY 1;
SELECT srvname, usename FROM pg_user_mappings ORDER BY 1;
-- site b goes from version 1 to 3 through the chain; with
-- scor.peer_sslrootcert empty, its server keeps the sslrootcert it has
ALTER DATABASE regress_mf_a RESET scor.peer_sslrootcert;
ALTER DATABASE regress_mf_b RESET scor.peer_sslrootcert;
ALTER DATABASE regress_mf_c RESET scor.peer_sslrootcert;
\c regress_mf_b
SET search_path = public, scor;
SELECT version, members FROM scor.sync_network();
SELECT version FROM scor.network_manifest ORDER BY 1;
SELECT srvname FROM pg_foreign_server ORDER BY 1;
SELECT srvname, o AS ca FROM pg_foreign_server, unnest(srvoptions) o WHERE o LIKE 'sslrootcert=%' ORDER BY 1;
-- the removed site can no longer follow
\c regress_mf_c
SET search_path = public, scor;
SELECT sqlstate_of('SELECT scor.sync_network()') AS removed;
SELECT version FROM scor.network_status();
-- ... and leaves: the servers and pins of the manifest's members go
SELECT scor.leave_network();
SELECT count(*) AS servers FROM pg_foreign_server;
SELECT site_name, server_name FROM scor.member;
SELECT count(*) AS versions FROM scor.network_manifest;
SELECT count(*) AS networks FROM scor.network_status();

-- The two remaining sites answer, under the network's decode range
\c regress_mf_a
SET search_path = public, scor;
\c regress_mf_b
SELECT count(*) AS n_b_200 FROM visits WHERE covid AND id < 200 \gset
\c regress_mf_a
SET search_path = public, scor;
SELECT n, n = (SELECT count(*) FROM visits WHERE covid AND id < 200) + :n_b_200 AS n_ok
FROM scor.federate($$ SELECT enc_count(*) FROM visits WHERE covid AND id < 200 $$) AS t(n bigint);
SELECT * FROM scor.federate($$ SELECT enc_count(*) FROM visits $$) AS t(n bigint);

-- Clean up
\c contrib_regression
DROP DATABASE regress_mf_a WITH (FORCE);
DROP DATABASE regress_mf_b WITH (FORCE);
DROP DATABASE regress_mf_c WITH (FORCE);
DROP ROLE regress_manifest_peer;
