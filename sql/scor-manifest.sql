
-- scor: the consortium's signed network manifest (src/manifest.c)
--
-- One manifest, published at one URL, lists the network's members and the
-- settings every site shares.  Each site follows it with one command:
--
--   SELECT * FROM scor.join_network('https://consortium.example/scor.json', '<digest>');
--   SELECT * FROM scor.sync_network();            -- later, for every new version
--
-- which create, update or drop the scor foreign servers named after the
-- member sites and pin their keys in scor.member.  User mappings
-- (credentials) stay local.  docs/deployment.md, "Consortium workflow".

-- The network this site follows (none: no row)
CREATE TABLE scor.network (
	singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	network text NOT NULL,
	url text NOT NULL,
	version integer NOT NULL,
	digest text NOT NULL,
	signers integer NOT NULL,
	dp_honest_sites integer NOT NULL,
	decode_range_bits integer NOT NULL,
	protocol_version integer NOT NULL,
	joined_at timestamptz NOT NULL,
	applied_at timestamptz NOT NULL,
	synced_at timestamptz NOT NULL
);
COMMENT ON TABLE scor.network IS 'the network manifest this site follows: its URL, applied version and digest, and the network settings that override this site''s';
COMMENT ON COLUMN scor.network.signers IS 'the rules of the applied version for the next one: 0 for all members, k for any k members';

-- Every version this site applied (or passed through on the way to it)
CREATE TABLE scor.network_manifest (
	version integer PRIMARY KEY,
	network text NOT NULL,
	digest text NOT NULL UNIQUE,
	previous_digest text,
	payload text NOT NULL,
	signatures jsonb NOT NULL,
	url text NOT NULL,
	applied_at timestamptz NOT NULL
);
COMMENT ON TABLE scor.network_manifest IS 'history of the network manifest versions this site accepted: the exact signed payload and its signatures';

-- The network settings are cached per backend, like the member set
CREATE TRIGGER network_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON scor.network
	FOR EACH STATEMENT EXECUTE FUNCTION scor.member_changed();

SELECT pg_catalog.pg_extension_config_dump('scor.network', '');
SELECT pg_catalog.pg_extension_config_dump('scor.network_manifest', '');

REVOKE ALL ON scor.network, scor.network_manifest FROM PUBLIC;
GRANT SELECT ON scor.network, scor.network_manifest TO scor_admin;

-- join, sync and status return the same row.  They run as the calling
-- administrator (who creates and owns the foreign servers) and switch to the
-- extension owner in C for scor's own tables.
CREATE FUNCTION scor.join_network(url text, digest text)
	RETURNS TABLE (network text, version integer, manifest_digest text, url text, members text[],
				   network_id text, member_set_matches boolean, applied_at timestamptz,
				   synced_at timestamptz)
	AS 'MODULE_PATHNAME', 'scor_join_network' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION scor.join_network(text, text) IS 'follow the network manifest at url, whose payload digest was confirmed out of band';

CREATE FUNCTION scor.sync_network()
	RETURNS TABLE (network text, version integer, manifest_digest text, url text, members text[],
				   network_id text, member_set_matches boolean, applied_at timestamptz,
				   synced_at timestamptz)
	AS 'MODULE_PATHNAME', 'scor_sync_network' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION scor.sync_network() IS 'fetch the network manifest again and apply its newer versions, each checked against the one before';

CREATE FUNCTION scor.network_status()
	RETURNS TABLE (network text, version integer, manifest_digest text, url text, members text[],
				   network_id text, member_set_matches boolean, applied_at timestamptz,
				   synced_at timestamptz)
	AS 'MODULE_PATHNAME', 'scor_network_status' LANGUAGE C VOLATILE STRICT;
CREATE FUNCTION scor.leave_network() RETURNS void
	AS 'MODULE_PATHNAME', 'scor_leave_network' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION scor.leave_network() IS 'stop following the network manifest: drop its members'' servers and pinned keys, forget its versions';

COMMENT ON FUNCTION scor.network_status() IS 'the network manifest this site follows: version, digest, members, and whether scor.member matches it';

-- Making manifests with SQL only: this site's member entry, a payload, its
-- digest, this site's signature, and the envelope to publish
CREATE FUNCTION scor.manifest_member(host text, port integer, dbname text,
									 sslmode text DEFAULT 'verify-full')
	RETURNS jsonb LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT jsonb_build_object('site', k.site_name, 'host', host, 'port', port, 'dbname', dbname,
							  'sslmode', sslmode, 'public_key', k.public_key,
							  'verify_key', k.verify_key, 'proof', k.proof)
	FROM scor.site_public_key() k
	$$;
COMMENT ON FUNCTION scor.manifest_member(text, integer, text, text) IS 'this site''s entry in a network manifest''s members, with its public keys and proof of possession';

CREATE FUNCTION scor.manifest_payload(network text, version integer, previous_digest text,
									  members jsonb, signers text DEFAULT 'all',
									  dp_honest_sites integer DEFAULT 0,
									  decode_range_bits integer DEFAULT 40)
	RETURNS text LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT jsonb_build_object(
		'network', network,
		'version', version,
		'previous_digest', previous_digest,
		'rules', jsonb_build_object('signers',
			CASE WHEN signers = 'all' THEN to_jsonb(signers) ELSE to_jsonb(signers::integer) END),
		'settings', jsonb_build_object('dp_honest_sites', dp_honest_sites,
									   'decode_range_bits', decode_range_bits,
									   'protocol_version', 1),
		'members', members)::text
	$$;
COMMENT ON FUNCTION scor.manifest_payload(text, integer, text, jsonb, text, integer, integer) IS 'a network manifest payload (its exact text is what is signed and digested)';

CREATE FUNCTION scor.manifest_digest(payload text) RETURNS text
	AS 'MODULE_PATHNAME', 'scor_manifest_digest' LANGUAGE C IMMUTABLE STRICT;
COMMENT ON FUNCTION scor.manifest_digest(text) IS 'SHA-256 of a manifest payload, in hex: what join_network pins and what the next version names as previous_digest';

CREATE FUNCTION scor.manifest_sign(payload text) RETURNS text
	AS 'MODULE_PATHNAME', 'scor_manifest_sign' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION scor.manifest_sign(text) IS 'check a manifest payload and sign it with this site''s key';

CREATE FUNCTION scor.manifest_envelope(payload text, signatures jsonb, previous text DEFAULT NULL,
									   keep integer DEFAULT 16)
	RETURNS text
	AS 'MODULE_PATHNAME', 'scor_manifest_envelope' LANGUAGE C IMMUTABLE;
COMMENT ON FUNCTION scor.manifest_envelope(text, jsonb, text, integer) IS 'the manifest file to publish: the payload, its signatures, and the newest versions before it as its chain';

REVOKE ALL ON FUNCTION
	scor.join_network(text, text),
	scor.sync_network(),
	scor.network_status(),
	scor.leave_network(),
	scor.manifest_member(text, integer, text, text),
	scor.manifest_payload(text, integer, text, jsonb, text, integer, integer),
	scor.manifest_digest(text),
	scor.manifest_sign(text),
	scor.manifest_envelope(text, jsonb, text, integer)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	scor.join_network(text, text),
	scor.sync_network(),
	scor.network_status(),
	scor.leave_network(),
	scor.manifest_member(text, integer, text, text),
	scor.manifest_payload(text, integer, text, jsonb, text, integer, integer),
	scor.manifest_digest(text),
	scor.manifest_sign(text),
	scor.manifest_envelope(text, jsonb, text, integer)
TO scor_admin;
