-- The driver tests' network: three sites as three databases of one throw-away
-- cluster, peers wired over TCP on 127.0.0.1 with password authentication,
-- plus two single-purpose sites.  Run by run.sh as the superuser over the
-- unix socket (trust), in database postgres, with psql variables
--   port              the cluster's TCP port
--   peer_password     the password of the login the user mappings name
--   analyst_password  the password of the analyst login the drivers use
--
--   site_a, site_b, site_c  the network; each has a table admissions of
--                           deterministic data; site_a has the views
--                           covid_summary (GROUP BY) and covid_totals
--   site_solo               a one-site network, where scor.decrypt works:
--                           ciphertext round trips
--   site_d                  a network whose only peer (site_a) is down: its
--                           server was pointed at a closed port after
--                           add_peer; its view down_summary fails with 08001
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE DATABASE site_a;
CREATE DATABASE site_b;
CREATE DATABASE site_c;
CREATE DATABASE site_d;
CREATE DATABASE site_solo;

-- Every site: the extension, its key, the search path analysts get and its
-- patients.  Every age band has COVID-19 cases at every site.
\c site_a
SET client_min_messages = warning;
CREATE EXTENSION scor;
-- the roles scor_peer and scor_analyst exist from here on (they are global)
CREATE ROLE scor_drv_peer LOGIN PASSWORD :'peer_password' IN ROLE scor_peer;
ALTER ROLE scor_drv_peer SET session_preload_libraries = 'scor';
CREATE ROLE scor_drv_analyst LOGIN PASSWORD :'analyst_password' IN ROLE scor_analyst;
SELECT site_name FROM scor.init_site('site_a');
ALTER DATABASE site_a SET search_path = "$user", public, scor;
CREATE TABLE admissions (id integer PRIMARY KEY, covid boolean, los integer, age_band text);
INSERT INTO admissions
SELECT i, i % 3 = 0, i % 17,
       CASE i % 5 WHEN 0 THEN '0-17' WHEN 1 THEN '18-64' WHEN 2 THEN '18-64' ELSE '65+' END
FROM generate_series(1, 3000) i;

\c site_b
SET client_min_messages = warning;
CREATE EXTENSION scor;
SELECT site_name FROM scor.init_site('site_b');
ALTER DATABASE site_b SET search_path = "$user", public, scor;
CREATE TABLE admissions (id integer PRIMARY KEY, covid boolean, los integer, age_band text);
INSERT INTO admissions
SELECT i, i % 4 = 0, i % 13,
       CASE (i / 4) % 3 WHEN 0 THEN '0-17' WHEN 1 THEN '18-64' ELSE '65+' END
FROM generate_series(1, 2000) i;

\c site_c
SET client_min_messages = warning;
CREATE EXTENSION scor;
SELECT site_name FROM scor.init_site('site_c');
ALTER DATABASE site_c SET search_path = "$user", public, scor;
CREATE TABLE admissions (id integer PRIMARY KEY, covid boolean, los integer, age_band text);
INSERT INTO admissions
SELECT i, i % 2 = 1, i % 7 + 1,
       CASE i % 7 WHEN 0 THEN '0-17' WHEN 1 THEN '65+' WHEN 3 THEN '65+' ELSE '18-64' END
FROM generate_series(1, 500) i;

-- Peers: foreign servers over TCP, one user mapping each, keys pinned
\c site_a
SET client_min_messages = warning;
CREATE SERVER site_b FOREIGN DATA WRAPPER scor OPTIONS (host '127.0.0.1', port :'port', dbname 'site_b', site 'site_b');
CREATE SERVER site_c FOREIGN DATA WRAPPER scor OPTIONS (host '127.0.0.1', port :'port', dbname 'site_c', site 'site_c');
CREATE USER MAPPING FOR PUBLIC SERVER site_b OPTIONS (user 'scor_drv_peer', password :'peer_password');
CREATE USER MAPPING FOR PUBLIC SERVER site_c OPTIONS (user 'scor_drv_peer', password :'peer_password');
SELECT site_name, members FROM scor.add_peer('site_b');
SELECT site_name, members FROM scor.add_peer('site_c');
-- as with postgres_fdw, whoever runs a federated query must be allowed to use
-- the servers (and so their user mappings)
GRANT USAGE ON FOREIGN SERVER site_b, site_c TO scor_analyst;

\c site_b
SET client_min_messages = warning;
CREATE SERVER site_a FOREIGN DATA WRAPPER scor OPTIONS (host '127.0.0.1', port :'port', dbname 'site_a', site 'site_a');
CREATE SERVER site_c FOREIGN DATA WRAPPER scor OPTIONS (host '127.0.0.1', port :'port', dbname 'site_c', site 'site_c');
CREATE USER MAPPING FOR PUBLIC SERVER site_a OPTIONS (user 'scor_drv_peer', password :'peer_password');
CREATE USER MAPPING FOR PUBLIC SERVER site_c OPTIONS (user 'scor_drv_peer', password :'peer_password');
SELECT site_name, members FROM scor.add_peer('site_a');
SELECT site_name, members FROM scor.add_peer('site_c');

\c site_c
SET client_min_messages = warning;
CREATE SERVER site_a FOREIGN DATA WRAPPER scor OPTIONS (host '127.0.0.1', port :'port', dbname 'site_a', site 'site_a');
CREATE SERVER site_b FOREIGN DATA WRAPPER scor OPTIONS (host '127.0.0.1', port :'port', dbname 'site_b', site 'site_b');
CREATE USER MAPPING FOR PUBLIC SERVER site_a OPTIONS (user 'scor_drv_peer', password :'peer_password');
CREATE USER MAPPING FOR PUBLIC SERVER site_b OPTIONS (user 'scor_drv_peer', password :'peer_password');
SELECT site_name, members FROM scor.add_peer('site_a');
SELECT site_name, members FROM scor.add_peer('site_b');

-- What a BI tool lists and queries like a table, at site_a
\c site_a
CREATE VIEW covid_summary AS
SELECT * FROM scor.federate($$ SELECT age_band, enc_count(*), enc_sum(los) FROM admissions WHERE covid GROUP BY age_band $$)
         AS t(age_band text, n bigint, los bigint);
CREATE VIEW covid_totals AS
SELECT * FROM scor.federate($$ SELECT enc_count(*), enc_sum(los) FROM admissions WHERE covid $$)
         AS t(n bigint, los bigint);
GRANT SELECT ON covid_summary, covid_totals TO scor_drv_analyst;

-- A one-site network: scor.decrypt works only there
\c site_solo
SET client_min_messages = warning;
CREATE EXTENSION scor;
SELECT site_name FROM scor.init_site('site_solo');
ALTER DATABASE site_solo SET search_path = "$user", public, scor;

-- A site whose peer goes down: pinned while up, then pointed at a closed port
\c site_d
SET client_min_messages = warning;
CREATE EXTENSION scor;
SELECT site_name FROM scor.init_site('site_d');
ALTER DATABASE site_d SET search_path = "$user", public, scor;
CREATE TABLE admissions (id integer PRIMARY KEY, covid boolean, los integer, age_band text);
INSERT INTO admissions VALUES (1, true, 3, '18-64');
CREATE SERVER site_a FOREIGN DATA WRAPPER scor
	OPTIONS (host '127.0.0.1', port :'port', dbname 'site_a', site 'site_a', connect_timeout '3');
CREATE USER MAPPING FOR PUBLIC SERVER site_a OPTIONS (user 'scor_drv_peer', password :'peer_password');
SELECT site_name, members FROM scor.add_peer('site_a');
GRANT USAGE ON FOREIGN SERVER site_a TO scor_analyst;
ALTER SERVER site_a OPTIONS (SET port '1');
CREATE VIEW down_summary AS
SELECT * FROM scor.federate($$ SELECT enc_count(*) FROM admissions WHERE covid $$) AS t(n bigint);
GRANT SELECT ON down_summary TO scor_drv_analyst;
