-- scor: peers as foreign servers of the scor foreign-data wrapper
--
-- A peer site is a foreign server of the scor wrapper, reached through the
-- current user's user mapping:
--
--   CREATE SERVER site_b FOREIGN DATA WRAPPER scor
--       OPTIONS (host 'b.example.org', port '5432', dbname 'clinic',
--                site 'site_b', sslmode 'verify-full');
--   CREATE USER MAPPING FOR PUBLIC SERVER site_b
--       OPTIONS (user 'scor_peer', password '...');
--
-- Server options: libpq's connection options (except the user mapping's,
-- client_encoding, fallback_application_name and replication), plus
--   site           the site name the peer is expected to have
--   query_timeout  how long to wait for the peer's answer (overrides
--                  scor.peer_timeout); libpq's connect_timeout overrides
--                  scor.connect_timeout
-- User mapping options: user, password, sslpassword, sslkey, sslcert, and
-- password_required (only a superuser may set it to false).

CREATE FUNCTION scor.fdw_validator(text[], oid) RETURNS void
	AS 'MODULE_PATHNAME', 'scor_fdw_validator' LANGUAGE C STRICT;
COMMENT ON FUNCTION scor.fdw_validator(text[], oid) IS 'checks the options of scor peer servers and their user mappings';

CREATE FOREIGN DATA WRAPPER scor VALIDATOR scor.fdw_validator;
COMMENT ON FOREIGN DATA WRAPPER scor IS 'peer sites of the scor network';

-- Connect to every peer at once and report, without raising, which answer
CREATE FUNCTION scor.check_peers()
	RETURNS TABLE (server_name text, status text, detail text, latency_ms float8)
	AS 'MODULE_PATHNAME', 'scor_check_peers' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION scor.check_peers() IS 'connect to every peer concurrently; one row per peer: ok with its versions and round trip, or error with the reason';

-- The validator is called by CREATE/ALTER SERVER and USER MAPPING, which
-- need no EXECUTE privilege on it.
REVOKE ALL ON FUNCTION scor.fdw_validator(text[], oid), scor.check_peers() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION scor.check_peers() TO scor_admin;

-- The network administrator declares the peers
REVOKE ALL ON FOREIGN DATA WRAPPER scor FROM PUBLIC;
GRANT USAGE ON FOREIGN DATA WRAPPER scor TO scor_admin;
