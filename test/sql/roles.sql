-- The role model: nothing for PUBLIC, each scor role exactly what it needs

-- No function, table or the schema of scor is usable by PUBLIC
SELECT p.oid::regprocedure AS public_function
FROM pg_proc p, LATERAL aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
WHERE p.pronamespace = 'scor'::regnamespace AND a.grantee = 0;
SELECT c.relname AS public_table
FROM pg_class c, LATERAL aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
WHERE c.relnamespace = 'scor'::regnamespace AND a.grantee = 0;
SELECT has_schema_privilege('public', 'scor', 'USAGE') AS public_schema_usage;

-- Every SECURITY DEFINER function pins its search_path, pg_temp last
SELECT p.oid::regprocedure, p.proconfig
FROM pg_proc p
WHERE p.pronamespace = 'scor'::regnamespace AND p.prosecdef
ORDER BY p.oid::regprocedure::text COLLATE "C";

-- What each role may execute
SELECT r.rolname, count(*) FILTER (WHERE has_function_privilege(r.oid, p.oid, 'EXECUTE')) AS functions
FROM pg_roles r, pg_proc p
WHERE r.rolname IN ('scor_admin', 'scor_analyst', 'scor_peer') AND p.pronamespace = 'scor'::regnamespace
GROUP BY r.rolname ORDER BY 1;
SELECT p.oid::regprocedure AS peer_may_call
FROM pg_proc p
WHERE p.pronamespace = 'scor'::regnamespace AND has_function_privilege('scor_peer', p.oid, 'EXECUTE')
ORDER BY p.oid::regprocedure::text COLLATE "C";

-- An analyst computes encrypted aggregates, but cannot touch the key or the logs
CREATE TABLE roles_data AS SELECT i AS x FROM generate_series(1, 100) i;
CREATE ROLE regress_analyst IN ROLE scor_analyst;
CREATE ROLE regress_nobody;
CREATE ROLE regress_peer IN ROLE scor_peer;
GRANT SELECT ON roles_data TO regress_analyst, regress_nobody, regress_peer;
SET ROLE regress_analyst;
SELECT scor.decrypt(scor.enc_count(*)) AS n, scor.decrypt(scor.enc_sum(x)) AS s FROM roles_data;
SELECT scor.decrypt(scor.dp_noise(scor.enc_count(*), 1000)) BETWEEN 90 AND 110 AS noisy_ok FROM roles_data;
SELECT scor.init_site('stolen', rotate => true);
SELECT count(*) FROM scor.query_log;
SELECT count(*) FROM scor.audit_log;
SELECT scor.grant_budget('x', 'y', 1);
SELECT scor.remote_decrypt('\x00', '\x00', '\x00');
RESET ROLE;

-- A role outside scor cannot even reach the schema
SET ROLE regress_nobody;
SELECT scor.enc_count(*) FROM roles_data;
SELECT * FROM scor.network_key();
RESET ROLE;

-- A peer login can call the remote entry points and read the public key, nothing else
SET ROLE regress_peer;
SELECT site_name FROM scor.site_public_key();
SELECT scor.enc_count(*) FROM roles_data;
SELECT scor.encrypt(1);
SELECT * FROM scor.federate($$ SELECT enc_count(*) FROM roles_data $$) AS t(n bigint);
SELECT count(*) FROM scor.member;
RESET ROLE;

DROP TABLE roles_data;
DROP ROLE regress_analyst, regress_nobody, regress_peer;

-- A schema named scor that another role made before CREATE EXTENSION (and
-- whose owner could then drop or replace scor's objects) is refused, and so
-- is one that holds objects already (CVE-2022-2625 class)
CREATE DATABASE regress_scor_takeover;
\c regress_scor_takeover
CREATE ROLE regress_squatter;
CREATE SCHEMA scor AUTHORIZATION regress_squatter;
\set VERBOSITY terse
CREATE EXTENSION scor;
ALTER SCHEMA scor OWNER TO CURRENT_USER;
CREATE FUNCTION scor.encrypt(bigint) RETURNS bytea LANGUAGE sql AS 'SELECT NULL::bytea';
CREATE EXTENSION scor;
\set VERBOSITY default
DROP FUNCTION scor.encrypt(bigint);
-- an empty schema of the installing role is used as it is
CREATE EXTENSION scor;
SELECT extname, extnamespace::regnamespace FROM pg_extension WHERE extname = 'scor';
\c contrib_regression
DROP DATABASE regress_scor_takeover;
DROP ROLE regress_squatter;
