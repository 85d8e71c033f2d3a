-- scor: core objects (types, site key, local encrypted aggregates)
-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION scor" to load this file. \quit

-- Everything below names its schema; nothing is looked up through a
-- search_path that an untrusted role could write to.
SET LOCAL search_path = pg_catalog, pg_temp;

-- CREATE EXTENSION uses a schema named scor that exists already: one that
-- another role made first (and so could drop or alter scor's objects in)
-- is refused, as are objects it could hold for scor to run by mistake.
DO $schema$
DECLARE
	owner_name name;
BEGIN
	SELECT r.rolname INTO owner_name
	FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_roles r ON r.oid = n.nspowner
	WHERE n.nspname = 'scor';
	IF owner_name IS DISTINCT FROM current_user THEN
		RAISE EXCEPTION 'schema scor belongs to role "%", not to the role creating the extension', owner_name
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Drop that schema, or let its owner create the extension.';
	END IF;
	IF EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.relnamespace = 'scor'::pg_catalog.regnamespace)
	   OR EXISTS (SELECT FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'scor'::pg_catalog.regnamespace)
	   OR EXISTS (SELECT FROM pg_catalog.pg_type t WHERE t.typnamespace = 'scor'::pg_catalog.regnamespace) THEN
		RAISE EXCEPTION 'schema scor is not empty'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'scor installs into a schema of its own: drop what the schema holds first.';
	END IF;
END
$schema$;

-- Roles: created once per cluster (roles are global), granted per database.
--   scor_admin:   the site's key holder and network administrator
--   scor_analyst: may run local encrypted aggregates and federated queries
--   scor_peer:    what a remote site's login is granted: scor's remote entry
--                 points and nothing else
DO $roles$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'scor_admin') THEN
		CREATE ROLE scor_admin NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'scor_analyst') THEN
		CREATE ROLE scor_analyst NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'scor_peer') THEN
		CREATE ROLE scor_peer NOLOGIN;
	END IF;
END
$roles$;

REVOKE ALL ON SCHEMA scor FROM PUBLIC;
GRANT USAGE ON SCHEMA scor TO scor_admin, scor_analyst, scor_peer;

--
-- The ciphertext type
--
CREATE TYPE scor.ciphertext;

CREATE FUNCTION scor.ciphertext_in(cstring, oid, integer) RETURNS scor.ciphertext
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION scor.ciphertext_out(scor.ciphertext) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION scor.ciphertext_recv(internal, oid, integer) RETURNS scor.ciphertext
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION scor.ciphertext_send(scor.ciphertext) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE scor.ciphertext (
	INPUT = scor.ciphertext_in,
	OUTPUT = scor.ciphertext_out,
	RECEIVE = scor.ciphertext_recv,
	SEND = scor.ciphertext_send,
	STORAGE = plain
);
COMMENT ON TYPE scor.ciphertext IS 'exponential EC-ElGamal ciphertext over ristretto255, tagged with the fingerprint of its key';

CREATE FUNCTION scor.ciphertext_add(scor.ciphertext, scor.ciphertext) RETURNS scor.ciphertext
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION scor.ciphertext_sub(scor.ciphertext, scor.ciphertext) RETURNS scor.ciphertext
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION scor.ciphertext_neg(scor.ciphertext) RETURNS scor.ciphertext
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR scor.+ (
	LEFTARG = scor.ciphertext, RIGHTARG = scor.ciphertext,
	FUNCTION = scor.ciphertext_add, COMMUTATOR = OPERATOR(scor.+)
);
CREATE OPERATOR scor.- (
	LEFTARG = scor.ciphertext, RIGHTARG = scor.ciphertext,
	FUNCTION = scor.ciphertext_sub
);
CREATE OPERATOR scor.- (
	RIGHTARG = scor.ciphertext, FUNCTION = scor.ciphertext_neg
);

-- What a ciphertext says about itself (never its value)
CREATE FUNCTION scor.key_fingerprint(scor.ciphertext) RETURNS text
	AS 'MODULE_PATHNAME', 'ciphertext_key_fingerprint' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION scor.scale(scor.ciphertext) RETURNS integer
	AS 'MODULE_PATHNAME', 'ciphertext_scale' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

--
-- The site: its name and public keys.  The secret never enters SQL: it is
-- a file under the data directory (mode 0600) or the output of
-- scor.key_command.
--
CREATE TABLE scor.site (
	singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	site_name text NOT NULL,
	public_key bytea NOT NULL CHECK (octet_length(public_key) = 32),
	verify_key bytea NOT NULL CHECK (octet_length(verify_key) = 32),
	proof bytea NOT NULL CHECK (octet_length(proof) = 128),
	key_version integer NOT NULL,
	created_at timestamptz NOT NULL
);
COMMENT ON TABLE scor.site IS 'this site''s name and public keys (the secret key is outside SQL)';

-- The network's member set, this site included.  The collective key is the
-- sum of the members' public keys; the network id hashes names and keys.
CREATE TABLE scor.member (
	site_name text PRIMARY KEY,
	server_name text UNIQUE,
	public_key bytea NOT NULL CHECK (octet_length(public_key) = 32),
	verify_key bytea NOT NULL CHECK (octet_length(verify_key) = 32),
	proof bytea NOT NULL CHECK (octet_length(proof) = 128),
	pinned_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE scor.member IS 'pinned public keys of the network members, this site included';

-- Every backend caches the network key; a change of members resets it
CREATE FUNCTION scor.member_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'scor_member_changed' LANGUAGE C;
CREATE TRIGGER member_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON scor.member
	FOR EACH STATEMENT EXECUTE FUNCTION scor.member_changed();
REVOKE ALL ON FUNCTION scor.member_changed() FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('scor.site', '');
SELECT pg_catalog.pg_extension_config_dump('scor.member', '');

REVOKE ALL ON scor.site, scor.member FROM PUBLIC;
GRANT SELECT ON scor.site, scor.member TO scor_admin, scor_analyst;

CREATE FUNCTION scor.init_site(site_name text, rotate boolean DEFAULT false)
	RETURNS TABLE (site_name text, public_key text, fingerprint text, proof text)
	AS 'MODULE_PATHNAME', 'scor_init_site' LANGUAGE C VOLATILE STRICT
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION scor.init_site(text, boolean) IS 'create this site''s key pair once (or rotate it) and show its public key and proof of possession';

CREATE FUNCTION scor.site_public_key()
	RETURNS TABLE (site_name text, public_key text, verify_key text, fingerprint text, proof text)
	AS 'MODULE_PATHNAME', 'scor_site_public_key' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION scor.site_public_key() IS 'this site''s public keys and proof of possession, as peers fetch them';

-- Check a site's public keys and proof of possession (as site_public_key
-- shows them, or as scor.site and scor.member store them): true, or an
-- error that names the check that failed
CREATE FUNCTION scor.verify_site_key(site_name text, public_key text, verify_key text, proof text)
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'scor_verify_site_key_text' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION scor.verify_site_key(text, text, text, text) IS 'check a site''s public keys and proof of possession (base64url, as site_public_key shows them)';
CREATE FUNCTION scor.verify_site_key(site_name text, public_key bytea, verify_key bytea, proof bytea)
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'scor_verify_site_key_bytea' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION scor.verify_site_key(text, bytea, bytea, bytea) IS 'check a site''s public keys and proof of possession (bytes, as scor.site and scor.member store them)';

CREATE FUNCTION scor.network_key()
	RETURNS TABLE (members integer, public_key text, fingerprint text, network_id text)
	AS 'MODULE_PATHNAME', 'scor_network_key_info' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION scor.network_key() IS 'the collective key local aggregates encrypt under, and the network id';

--
-- Local encrypted aggregates: plaintext accumulation inside the site,
-- one encryption under the network key in the final function.
--
CREATE FUNCTION scor.enc_count_star_trans(bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'enc_count_star_trans' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION scor.enc_count_trans(bigint, "any") RETURNS bigint
	AS 'MODULE_PATHNAME', 'enc_count_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION scor.enc_int_sum_trans(bigint, smallint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'enc_int2_sum_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION scor.enc_int_sum_trans(bigint, integer) RETURNS bigint
	AS 'MODULE_PATHNAME', 'enc_int4_sum_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION scor.enc_int_sum_trans(bigint, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'enc_int8_sum_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION scor.enc_int_sum_combine(bigint, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'enc_int_sum_combine' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION scor.enc_int_final(bigint) RETURNS scor.ciphertext
	AS 'MODULE_PATHNAME', 'enc_int_final' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;

CREATE AGGREGATE scor.enc_count(*) (
	SFUNC = scor.enc_count_star_trans,
	STYPE = bigint,
	INITCOND = '0',
	COMBINEFUNC = scor.enc_int_sum_combine,
	FINALFUNC = scor.enc_int_final,
	PARALLEL = SAFE
);
CREATE AGGREGATE scor.enc_count("any") (
	SFUNC = scor.enc_count_trans,
	STYPE = bigint,
	INITCOND = '0',
	COMBINEFUNC = scor.enc_int_sum_combine,
	FINALFUNC = scor.enc_int_final,
	PARALLEL = SAFE
);
CREATE AGGREGATE scor.enc_sum(smallint) (
	SFUNC = scor.enc_int_sum_trans,
	STYPE = bigint,
	INITCOND = '0',
	COMBINEFUNC = scor.enc_int_sum_combine,
	FINALFUNC = scor.enc_int_final,
	PARALLEL = SAFE
);
CREATE AGGREGATE scor.enc_sum(integer) (
	SFUNC = scor.enc_int_sum_trans,
	STYPE = bigint,
	INITCOND = '0',
	COMBINEFUNC = scor.enc_int_sum_combine,
	FINALFUNC = scor.enc_int_final,
	PARALLEL = SAFE
);
CREATE AGGREGATE scor.enc_sum(bigint) (
	SFUNC = scor.enc_int_sum_trans,
	STYPE = bigint,
	INITCOND = '0',
	COMBINEFUNC = scor.enc_int_sum_combine,
	FINALFUNC = scor.enc_int_final,
	PARALLEL = SAFE
);

-- Exact decimal sums: every value is scaled by 10^scale and must be an
-- integer after scaling (an error names the value that is not).
CREATE FUNCTION scor.enc_numeric_sum_trans(internal, numeric, integer) RETURNS internal
	AS 'MODULE_PATHNAME', 'enc_numeric_sum_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION scor.enc_numeric_sum_combine(internal, internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'enc_numeric_sum_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION scor.enc_numeric_sum_serial(internal) RETURNS bytea
	AS 'MODULE_PATHNAME', 'enc_numeric_sum_serial' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION scor.enc_numeric_sum_deserial(bytea, internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'enc_numeric_sum_deserial' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION scor.enc_numeric_sum_final(internal, numeric, integer) RETURNS scor.ciphertext
	AS 'MODULE_PATHNAME', 'enc_numeric_sum_final' LANGUAGE C VOLATILE PARALLEL SAFE;

CREATE AGGREGATE scor.enc_sum(numeric, integer) (
	SFUNC = scor.enc_numeric_sum_trans,
	STYPE = internal,
	COMBINEFUNC = scor.enc_numeric_sum_combine,
	SERIALFUNC = scor.enc_numeric_sum_serial,
	DESERIALFUNC = scor.enc_numeric_sum_deserial,
	FINALFUNC = scor.enc_numeric_sum_final,
	FINALFUNC_EXTRA,
	PARALLEL = SAFE
);

-- Homomorphic sum of a ciphertext column
CREATE FUNCTION scor.enc_ciphertext_sum_trans(internal, scor.ciphertext) RETURNS internal
	AS 'MODULE_PATHNAME', 'enc_ciphertext_sum_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION scor.enc_ciphertext_sum_combine(internal, internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'enc_ciphertext_sum_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION scor.enc_ciphertext_sum_serial(internal) RETURNS bytea
	AS 'MODULE_PATHNAME', 'enc_ciphertext_sum_serial' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION scor.enc_ciphertext_sum_deserial(bytea, internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'enc_ciphertext_sum_deserial' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION scor.enc_ciphertext_sum_final(internal) RETURNS scor.ciphertext
	AS 'MODULE_PATHNAME', 'enc_ciphertext_sum_final' LANGUAGE C VOLATILE PARALLEL SAFE;

CREATE AGGREGATE scor.enc_sum(scor.ciphertext) (
	SFUNC = scor.enc_ciphertext_sum_trans,
	STYPE = internal,
	COMBINEFUNC = scor.enc_ciphertext_sum_combine,
	SERIALFUNC = scor.enc_ciphertext_sum_serial,
	DESERIALFUNC = scor.enc_ciphertext_sum_deserial,
	FINALFUNC = scor.enc_ciphertext_sum_final,
	PARALLEL = SAFE
);

-- Encrypt a single value under the network key (for tests and for sites
-- that store ciphertext columns)
CREATE FUNCTION scor.encrypt(bigint) RETURNS scor.ciphertext
	AS 'MODULE_PATHNAME', 'scor_encrypt_int8' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;

-- Decryption with this site's key alone: only meaningful while the network
-- is this one site.  With peers, decryption is collective.
CREATE FUNCTION scor.decrypt(scor.ciphertext) RETURNS numeric
	AS 'MODULE_PATHNAME', 'scor_decrypt' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION scor.decrypt(scor.ciphertext) IS 'decrypt with this site''s key; only while the network has no other member';

REVOKE ALL ON FUNCTION
	scor.init_site(text, boolean),
	scor.site_public_key(),
	scor.verify_site_key(text, text, text, text),
	scor.verify_site_key(text, bytea, bytea, bytea),
	scor.network_key(),
	scor.encrypt(bigint),
	scor.decrypt(scor.ciphertext)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION scor.init_site(text, boolean) TO scor_admin;
GRANT EXECUTE ON FUNCTION scor.site_public_key(), scor.network_key() TO scor_admin, scor_analyst, scor_peer;
-- read-only, but not a remote entry point: not for scor_peer
GRANT EXECUTE ON FUNCTION scor.verify_site_key(text, text, text, text),
	scor.verify_site_key(text, bytea, bytea, bytea) TO scor_admin, scor_analyst;
GRANT EXECUTE ON FUNCTION scor.encrypt(bigint), scor.decrypt(scor.ciphertext) TO scor_admin, scor_analyst;
