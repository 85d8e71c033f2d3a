--
-- Peers as foreign servers of the scor wrapper: option validation and
-- scor.check_peers()
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS scor;
RESET client_min_messages;

-- Good server and user mapping options
CREATE SERVER fdw_good FOREIGN DATA WRAPPER scor
	OPTIONS (host '127.0.0.1', port '5432', dbname 'clinic', site 'site_b',
			 connect_timeout '3', query_timeout '2500', sslmode 'prefer',
			 application_name 'scor test');
ALTER SERVER fdw_good OPTIONS (SET query_timeout '10000', DROP sslmode);
CREATE USER MAPPING FOR PUBLIC SERVER fdw_good
	OPTIONS (user 'scor_peer', password 'secret', sslpassword 'x');
ALTER USER MAPPING FOR PUBLIC SERVER fdw_good
	OPTIONS (ADD password_required 'true');
SELECT srvname, srvoptions FROM pg_foreign_server WHERE srvname = 'fdw_good';

-- Defaults of the timeouts that servers override
SHOW scor.connect_timeout;
SHOW scor.peer_timeout;

-- Options that are not valid on a server (the hint lists libpq's options,
-- which depend on the libpq version, so only the message is shown)
\set VERBOSITY terse
CREATE SERVER fdw_bad FOREIGN DATA WRAPPER scor OPTIONS (nosuch 'x');
CREATE SERVER fdw_bad FOREIGN DATA WRAPPER scor OPTIONS (user 'scor_peer');
CREATE SERVER fdw_bad FOREIGN DATA WRAPPER scor OPTIONS (password 'secret');
CREATE SERVER fdw_bad FOREIGN DATA WRAPPER scor OPTIONS (sslkey '/tmp/key');
CREATE SERVER fdw_bad FOREIGN DATA WRAPPER scor OPTIONS (client_encoding 'LATIN1');
CREATE SERVER fdw_bad FOREIGN DATA WRAPPER scor OPTIONS (fallback_application_name 'x');
CREATE SERVER fdw_bad FOREIGN DATA WRAPPER scor OPTIONS (replication 'database');
CREATE SERVER fdw_bad FOREIGN DATA WRAPPER scor OPTIONS (password_required 'false');
\set VERBOSITY default

-- Bad values
CREATE SERVER fdw_bad FOREIGN DATA WRAPPER scor OPTIONS (query_timeout 'soon');
CREATE SERVER fdw_bad FOREIGN DATA WRAPPER scor OPTIONS (query_timeout '0');
CREATE SERVER fdw_bad FOREIGN DATA WRAPPER scor OPTIONS (query_timeout '1.5');
CREATE SERVER fdw_bad FOREIGN DATA WRAPPER scor OPTIONS (connect_timeout '-1');
CREATE SERVER fdw_bad FOREIGN DATA WRAPPER scor OPTIONS (connect_timeout '2s');
CREATE SERVER fdw_bad FOREIGN DATA WRAPPER scor OPTIONS (site '');
ALTER SERVER fdw_good OPTIONS (SET query_timeout 'abc');
ALTER USER MAPPING FOR PUBLIC SERVER fdw_good
	OPTIONS (SET password_required 'maybe');

-- Options that are not valid on a user mapping, or anywhere else
CREATE USER MAPPING FOR CURRENT_USER SERVER fdw_good OPTIONS (host 'x');
CREATE USER MAPPING FOR CURRENT_USER SERVER fdw_good OPTIONS (query_timeout '5');
ALTER FOREIGN DATA WRAPPER scor OPTIONS (host 'x');

-- Only a superuser may waive the password or name key files
CREATE ROLE regress_scor_fdw_user;
GRANT USAGE ON FOREIGN SERVER fdw_good TO regress_scor_fdw_user;
SET ROLE regress_scor_fdw_user;
CREATE USER MAPPING FOR regress_scor_fdw_user SERVER fdw_good
	OPTIONS (user 'u', password 'p', password_required 'false');
CREATE USER MAPPING FOR regress_scor_fdw_user SERVER fdw_good
	OPTIONS (user 'u', password 'p', sslkey '/tmp/key');
CREATE USER MAPPING FOR regress_scor_fdw_user SERVER fdw_good
	OPTIONS (user 'u', password 'p', password_required 'true');
RESET ROLE;
ALTER USER MAPPING FOR regress_scor_fdw_user SERVER fdw_good
	OPTIONS (SET password_required 'false', ADD sslkey '/tmp/key');
SET ROLE regress_scor_fdw_user;
ALTER USER MAPPING FOR regress_scor_fdw_user SERVER fdw_good
	OPTIONS (SET password 'q');
RESET ROLE;
DROP USER MAPPING FOR regress_scor_fdw_user SERVER fdw_good;
SET client_min_messages = warning;
DROP SERVER fdw_good CASCADE;
RESET client_min_messages;

--
-- scor.check_peers(): a loopback peer answers, a peer on a closed port
-- does not; latencies vary, so only their presence is shown
--
DO $d$
BEGIN
	EXECUTE format('CREATE SERVER fdw_loopback FOREIGN DATA WRAPPER scor
					OPTIONS (host %L, dbname %L, port %L)',
				   coalesce(nullif(trim(split_part(current_setting('unix_socket_directories'), ',', 1)), ''),
							'127.0.0.1'),
				   current_database(), current_setting('port'));
END
$d$;
CREATE USER MAPPING FOR CURRENT_USER SERVER fdw_loopback;
CREATE SERVER fdw_down FOREIGN DATA WRAPPER scor
	OPTIONS (host '127.0.0.1', port '1', connect_timeout '2', site 'site_down');
CREATE USER MAPPING FOR CURRENT_USER SERVER fdw_down;

SELECT server_name, status,
	   CASE WHEN status = 'ok' THEN detail LIKE 'PostgreSQL %'
	   END AS has_versions,
	   CASE WHEN status = 'error' THEN split_part(detail, E'\n', 1)
	   END AS reason,
	   latency_ms >= 0 AS has_latency
FROM scor.check_peers()
WHERE server_name LIKE 'fdw\_%'
ORDER BY server_name;

-- Again, on the cached connection, and after the server changed: the
-- loopback peer's backend (found by its application_name) is the same one
-- while nothing changes, and a new one after ALTER SERVER or ALTER USER
-- MAPPING (the old one is closed)
CREATE FUNCTION pg_temp.loopback_pids() RETURNS int[] LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_stat_clear_snapshot();
	RETURN ARRAY(SELECT pid FROM pg_stat_activity
				 WHERE application_name = 'regress_fdw_loopback' ORDER BY pid);
END
$$;
-- wait (at most 10 s) until the loopback backend pid has exited
CREATE FUNCTION pg_temp.wait_closed(old int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..200 LOOP
		IF NOT old = ANY (pg_temp.loopback_pids()) THEN
			RETURN true;
		END IF;
		PERFORM pg_sleep(0.05);
	END LOOP;
	RETURN false;
END
$$;
ALTER SERVER fdw_loopback OPTIONS (ADD application_name 'regress_fdw_loopback');
SELECT server_name, status FROM scor.check_peers()
WHERE server_name = 'fdw_loopback';
SELECT (pg_temp.loopback_pids())[1] AS loopback_pid \gset
SELECT cardinality(pg_temp.loopback_pids()) AS loopback_connections;
SELECT server_name, status FROM scor.check_peers()
WHERE server_name = 'fdw_loopback';
SELECT pg_temp.loopback_pids() = ARRAY[:loopback_pid] AS same_connection;
ALTER SERVER fdw_loopback OPTIONS (ADD site 'loopback', query_timeout '5000');
SELECT pg_temp.wait_closed(:loopback_pid) AS old_connection_closed;
SELECT server_name, status FROM scor.check_peers()
WHERE server_name = 'fdw_loopback';
SELECT cardinality(pg_temp.loopback_pids()) = 1 AND NOT :loopback_pid = ANY (pg_temp.loopback_pids())
       AS new_connection_after_alter_server;
SELECT (pg_temp.loopback_pids())[1] AS loopback_pid \gset
ALTER USER MAPPING FOR CURRENT_USER SERVER fdw_loopback OPTIONS (ADD password_required 'true');
SELECT pg_temp.wait_closed(:loopback_pid) AS old_connection_closed;
SELECT server_name, status FROM scor.check_peers()
WHERE server_name = 'fdw_loopback';
SELECT cardinality(pg_temp.loopback_pids()) = 1 AND NOT :loopback_pid = ANY (pg_temp.loopback_pids())
       AS new_connection_after_alter_user_mapping;
ALTER USER MAPPING FOR CURRENT_USER SERVER fdw_loopback OPTIONS (DROP password_required);

-- A non-superuser needs USAGE on the server, a user mapping, and a password
-- in it
CREATE SERVER fdw_nomapping FOREIGN DATA WRAPPER scor
	OPTIONS (host '127.0.0.1', port '1');
GRANT USAGE ON FOREIGN SERVER fdw_nomapping TO regress_scor_fdw_user;
GRANT scor_admin TO regress_scor_fdw_user;
GRANT USAGE ON FOREIGN SERVER fdw_loopback TO regress_scor_fdw_user;
CREATE USER MAPPING FOR regress_scor_fdw_user SERVER fdw_loopback
	OPTIONS (user 'regress_scor_fdw_user');
SET ROLE regress_scor_fdw_user;
SELECT server_name, status, detail, latency_ms FROM scor.check_peers()
WHERE server_name LIKE 'fdw\_%'
ORDER BY server_name;
RESET ROLE;

-- Only scor_admin may run it
REVOKE scor_admin FROM regress_scor_fdw_user;
GRANT scor_analyst TO regress_scor_fdw_user;
SET ROLE regress_scor_fdw_user;
SELECT count(*) FROM scor.check_peers();
RESET ROLE;

SET client_min_messages = warning;
DROP SERVER fdw_loopback, fdw_down, fdw_nomapping CASCADE;
RESET client_min_messages;
DROP ROLE regress_scor_fdw_user;
