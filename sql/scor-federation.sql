
-- scor: federated queries (coordinator and remote entry points)

-- Every request this site answered: replay protection and a record of who
-- asked what.  The query id is answered once and decrypted once.
CREATE TABLE scor.query_log (
	query_id bytea PRIMARY KEY CHECK (octet_length(query_id) = 16),
	network_id bytea NOT NULL,
	coordinator text NOT NULL,
	analyst text NOT NULL,
	requested_by name NOT NULL,
	query text NOT NULL,
	answer_digest bytea NOT NULL,
	answered_at timestamptz NOT NULL,
	decrypted_at timestamptz,
	per_site boolean NOT NULL
);
COMMENT ON TABLE scor.query_log IS 'federated queries this site answered: who asked, what, and when it was decrypted';
REVOKE ALL ON scor.query_log FROM PUBLIC;
GRANT SELECT ON scor.query_log TO scor_admin;

-- The hash-chained audit log: every answer, partial decryption and budget
-- charge.  Written only by scor (as the extension owner); each row holds
-- the hash of the row before it.
CREATE TABLE scor.audit_log (
	seq bigint PRIMARY KEY,
	logged_at timestamptz NOT NULL,
	event text NOT NULL,
	peer text NOT NULL,
	login name NOT NULL,
	analyst text NOT NULL,
	query_id bytea,
	query text,
	epsilon float8,
	digest bytea,
	prev_hash bytea NOT NULL,
	row_hash bytea NOT NULL
);
COMMENT ON TABLE scor.audit_log IS 'hash-chained record of every answer, partial decryption and budget charge of this site';
REVOKE ALL ON scor.audit_log FROM PUBLIC;
GRANT SELECT ON scor.audit_log TO scor_admin;

CREATE FUNCTION scor.verify_audit_log()
	RETURNS TABLE (ok boolean, rows_checked bigint, first_bad_seq bigint, problem text)
	AS 'MODULE_PATHNAME', 'scor_verify_audit_log' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION scor.verify_audit_log() IS 'walk the audit log''s hash chain and name the first row altered, deleted or reordered';
REVOKE ALL ON FUNCTION scor.verify_audit_log() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION scor.verify_audit_log() TO scor_admin;

-- The head of the chain, signed with the site's key: exported to a SIEM or
-- a peer, it anchors the tail that the chain alone cannot protect
CREATE FUNCTION scor.audit_checkpoint()
	RETURNS TABLE (seq bigint, row_hash bytea, signature bytea)
	AS 'MODULE_PATHNAME', 'scor_audit_checkpoint' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION scor.audit_checkpoint() IS 'the seq and hash of the audit log''s last row, signed with this site''s Ed25519 key, for export';
REVOKE ALL ON FUNCTION scor.audit_checkpoint() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION scor.audit_checkpoint() TO scor_admin;

CREATE FUNCTION scor.verify_audit_log(checkpoint_seq bigint, checkpoint_hash bytea,
									  checkpoint_signature bytea DEFAULT NULL)
	RETURNS TABLE (ok boolean, rows_checked bigint, first_bad_seq bigint, problem text)
	AS 'MODULE_PATHNAME', 'scor_verify_audit_log_checkpoint' LANGUAGE C STABLE;
COMMENT ON FUNCTION scor.verify_audit_log(bigint, bytea, bytea) IS 'verify the audit log''s chain, then its tail against a checkpoint (and the checkpoint''s signature, when given)';
REVOKE ALL ON FUNCTION scor.verify_audit_log(bigint, bytea, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION scor.verify_audit_log(bigint, bytea, bytea) TO scor_admin;

--
-- Differential privacy
--
CREATE FUNCTION scor.dp_noise(scor.ciphertext, epsilon float8, sensitivity bigint DEFAULT 1)
	RETURNS scor.ciphertext
	AS 'MODULE_PATHNAME', 'scor_dp_noise' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION scor.dp_noise(scor.ciphertext, float8, bigint) IS 'add this site''s encrypted share of discrete-Laplace noise (exact sampler)';

CREATE FUNCTION scor.dp_expected_error(sites integer, epsilon float8, sensitivity bigint DEFAULT 1,
									   honest_sites integer DEFAULT NULL)
	RETURNS TABLE (honest_sites integer, expected_abs_error float8, standard_deviation float8)
	AS 'MODULE_PATHNAME', 'scor_dp_expected_error' LANGUAGE C STABLE;
COMMENT ON FUNCTION scor.dp_expected_error(integer, float8, bigint, integer) IS 'expected error of a dp_noise total over a network of the given size';

-- The privacy budget of every (requesting site, analyst) pair, enforced by
-- this site for every query it answers
CREATE TABLE scor.privacy_budget (
	coordinator text NOT NULL,
	analyst text NOT NULL,
	budget numeric NOT NULL CHECK (budget >= 0),
	spent numeric NOT NULL CHECK (spent >= 0),
	last_charged_at timestamptz,
	PRIMARY KEY (coordinator, analyst)
);
COMMENT ON TABLE scor.privacy_budget IS 'epsilon granted and spent per requesting site and analyst; every charge is in scor.audit_log';
REVOKE ALL ON scor.privacy_budget FROM PUBLIC;
GRANT SELECT ON scor.privacy_budget TO scor_admin;

CREATE FUNCTION scor.grant_budget(coordinator text, analyst text, epsilon float8) RETURNS void
	AS 'MODULE_PATHNAME', 'scor_grant_budget' LANGUAGE C VOLATILE STRICT;
CREATE FUNCTION scor.reset_budget(coordinator text, analyst text) RETURNS void
	AS 'MODULE_PATHNAME', 'scor_reset_budget' LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION scor.grant_budget(text, text, float8), scor.reset_budget(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION scor.grant_budget(text, text, float8), scor.reset_budget(text, text) TO scor_admin;

-- Pin a peer's keys after verifying its proof of possession
CREATE FUNCTION scor.add_peer(server_name text, repin boolean DEFAULT false)
	RETURNS TABLE (site_name text, fingerprint text, members integer, network_id text)
	AS 'MODULE_PATHNAME', 'scor_add_peer' LANGUAGE C VOLATILE STRICT
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION scor.add_peer(text, boolean) IS 'fetch a peer''s public key and proof of possession, verify and pin it';

CREATE FUNCTION scor.remove_peer(server_name text) RETURNS void
	AS 'MODULE_PATHNAME', 'scor_remove_peer' LANGUAGE C VOLATILE STRICT
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION scor.remove_peer(text) IS 'remove a peer from this site''s member set';

-- The analyst's one statement
CREATE FUNCTION scor.federate(query text, strict_groups boolean DEFAULT false,
							  per_site boolean DEFAULT false)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'scor_federate' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION scor.federate(text, boolean, boolean) IS 'run an encrypted aggregate query at every site and return the decrypted consortium totals';

-- Approved query templates: with scor.require_templates, the only queries
-- this site answers, each for the coordinators it names (NULL: any member)
CREATE TABLE scor.query_template (
	name text PRIMARY KEY,
	query text NOT NULL,
	param_types regtype[] NOT NULL DEFAULT '{}',
	peers text[],
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE scor.query_template IS 'queries this site approves, with $n parameters, and which coordinators may ask for them';
SELECT pg_catalog.pg_extension_config_dump('scor.query_template', '');
REVOKE ALL ON scor.query_template FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON scor.query_template TO scor_admin;
GRANT SELECT ON scor.query_template TO scor_analyst;

CREATE FUNCTION scor.federate_template(template text, params text[] DEFAULT '{}',
									   strict_groups boolean DEFAULT false,
									   per_site boolean DEFAULT false)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'scor_federate_template' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION scor.federate_template(text, text[], boolean, boolean) IS 'run an approved query template at every site with the given parameters';
REVOKE ALL ON FUNCTION scor.federate_template(text, text[], boolean, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION scor.federate_template(text, text[], boolean, boolean) TO scor_admin, scor_analyst;

-- What a peer's coordinator calls; they switch to the extension owner
-- themselves, inside a security-restricted operation.  A round-1 request
-- carries the coordinator's signature of all of it, for this site.
CREATE FUNCTION scor.remote_contribute(network_id bytea, query_id bytea, coordinator text,
									   analyst text, query text, per_site boolean,
									   template text, params text[], signature bytea) RETURNS bytea
	AS 'MODULE_PATHNAME', 'scor_remote_contribute' LANGUAGE C VOLATILE STRICT;
CREATE FUNCTION scor.remote_decrypt(network_id bytea, query_id bytea, bundle bytea) RETURNS bytea
	AS 'MODULE_PATHNAME', 'scor_remote_decrypt' LANGUAGE C VOLATILE STRICT;

-- This site's signature of a round-1 request to a member, as scor.federate
-- makes it: for running the protocol by hand.  Superusers only.
CREATE FUNCTION scor.request_signature(network_id bytea, query_id bytea, site text,
									   analyst text, query text, per_site boolean,
									   template text, params text[]) RETURNS bytea
	AS 'MODULE_PATHNAME', 'scor_request_signature' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION scor.request_signature(bytea, bytea, text, text, text, boolean, text, text[]) IS 'this site''s signature of a round-1 request to a member, for running the protocol by hand (superusers only)';

REVOKE ALL ON FUNCTION
	scor.add_peer(text, boolean),
	scor.remove_peer(text),
	scor.federate(text, boolean, boolean),
	scor.remote_contribute(bytea, bytea, text, text, text, boolean, text, text[], bytea),
	scor.remote_decrypt(bytea, bytea, bytea),
	scor.request_signature(bytea, bytea, text, text, text, boolean, text, text[])
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION scor.add_peer(text, boolean), scor.remove_peer(text) TO scor_admin;
GRANT EXECUTE ON FUNCTION scor.federate(text, boolean, boolean) TO scor_admin, scor_analyst;
GRANT EXECUTE ON FUNCTION
	scor.remote_contribute(bytea, bytea, text, text, text, boolean, text, text[], bytea),
	scor.remote_decrypt(bytea, bytea, bytea)
TO scor_peer;
