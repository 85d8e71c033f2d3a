-- The site key: creation, proof of possession, rotation, bad input

-- A helper for the whole suite: the SQLSTATE and message of a failing
-- statement, with this run's random ids and fingerprints masked
CREATE FUNCTION public.sqlstate_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'no error';
EXCEPTION WHEN others THEN
	RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '[0-9a-f]{16,}', '<hex>', 'g');
END
$$;

-- Before init_site there is no key to encrypt under
SELECT scor.encrypt(1);
SELECT * FROM scor.site_public_key();
SELECT scor.init_site('regress', rotate => true);

-- Site names must be safe to use in a file name
SELECT scor.init_site('');
SELECT scor.init_site('Upper');
SELECT scor.init_site('../etc/passwd');
SELECT scor.init_site('-leading');
SELECT scor.init_site(repeat('a', 64));
SELECT scor.init_site(NULL);

-- Create it; the secret appears nowhere in the result
SELECT site_name, length(public_key) AS pk_chars, length(fingerprint) AS fpr_chars,
       length(proof) AS proof_chars
FROM scor.init_site('regress');

-- A second call is an error unless a rotation is asked for
SELECT scor.init_site('regress');
SELECT scor.init_site('other');

-- The public key, as peers fetch it, matches the table and the network key
SELECT k.site_name, k.public_key = n.public_key AS same_as_network,
       k.fingerprint = n.fingerprint AS same_fingerprint, n.members,
       length(n.network_id) AS network_id_chars
FROM scor.site_public_key() k, scor.network_key() n;
SELECT site_name, key_version, octet_length(public_key) AS pk_bytes,
       octet_length(verify_key) AS vk_bytes, octet_length(proof) AS proof_bytes
FROM scor.site;
SELECT site_name, server_name IS NULL AS is_self FROM scor.member;

-- No column of scor's tables can hold a secret: only public keys and proofs
SELECT table_name, column_name, data_type
FROM information_schema.columns
WHERE table_schema = 'scor'
ORDER BY table_name, ordinal_position;

-- The key file is under the data directory, not in SQL
SELECT f AS key_files FROM pg_ls_dir('scor') f WHERE f LIKE '%.key' ORDER BY 1;

-- A round trip through the site key
SELECT scor.decrypt(scor.encrypt(42));

-- Rotation: a new key, a new version; old ciphertexts are under the old key
CREATE TABLE old_ct AS SELECT scor.encrypt(7) AS c, (SELECT fingerprint FROM scor.network_key()) AS fpr;
SELECT scor.init_site('other', rotate => true);
SELECT site_name, length(fingerprint) AS fpr_chars FROM scor.init_site('regress', rotate => true);
SELECT key_version FROM scor.site;
SELECT fpr <> (SELECT fingerprint FROM scor.network_key()) AS key_changed,
       scor.key_fingerprint(c) = fpr AS ct_under_old_key
FROM old_ct;
\set VERBOSITY terse
SELECT scor.decrypt(c) FROM old_ct;
\set VERBOSITY default
SELECT scor.decrypt(scor.encrypt(-42));

-- A rotation rolled back leaves the key as it was
BEGIN;
SELECT site_name FROM scor.init_site('regress', rotate => true);
ROLLBACK;
SELECT key_version FROM scor.site;
SELECT scor.decrypt(scor.encrypt(5));
SELECT f AS key_files FROM pg_ls_dir('scor') f WHERE f LIKE '%.key' ORDER BY 1;
DROP TABLE old_ct;
