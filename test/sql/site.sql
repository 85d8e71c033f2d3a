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

-- The same with the error's detail and hint, where they name the value or
-- the limit: "SQLSTATE: message DETAIL: detail HINT: hint", with only key
-- fingerprints (16 hex digits) masked
CREATE FUNCTION public.error_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	detail text;
	hint text;
BEGIN
	EXECUTE stmt;
	RETURN 'no error';
EXCEPTION WHEN others THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
	RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM || coalesce(' DETAIL: ' || nullif(detail, ''), '')
											  || coalesce(' HINT: ' || nullif(hint, ''), ''),
											  '\m[0-9a-f]{16}\M', '<fingerprint>', 'g');
END
$$;

-- Before init_site there is no key to encrypt under: 55000
SELECT sqlstate_of($$SELECT scor.encrypt(1)$$);
SELECT sqlstate_of($$SELECT * FROM scor.site_public_key()$$);
SELECT sqlstate_of($$SELECT scor.init_site('regress', rotate => true)$$);

-- Site names must be safe to use in a file name: 22023
SELECT scor.init_site('');
SELECT sqlstate_of($$SELECT scor.init_site('')$$);
SELECT sqlstate_of($$SELECT scor.init_site('Upper')$$);
SELECT sqlstate_of($$SELECT scor.init_site('../etc/passwd')$$);
SELECT sqlstate_of($$SELECT scor.init_site('-leading')$$);
SELECT error_of($$SELECT scor.init_site(repeat('a', 64))$$);
SELECT scor.init_site(NULL);

-- Create it; the secret appears nowhere in the result
SELECT site_name, length(public_key) AS pk_chars, length(fingerprint) AS fpr_chars,
       length(proof) AS proof_chars
FROM scor.init_site('regress');

-- A second call is an error unless a rotation is asked for: 42710
SELECT scor.init_site('regress');
SELECT sqlstate_of($$SELECT scor.init_site('regress')$$);
SELECT sqlstate_of($$SELECT scor.init_site('other')$$);

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
SELECT sqlstate_of($$SELECT scor.init_site('other', rotate => true)$$);
SELECT site_name, length(fingerprint) AS fpr_chars FROM scor.init_site('regress', rotate => true);
SELECT key_version FROM scor.site;
SELECT fpr <> (SELECT fingerprint FROM scor.network_key()) AS key_changed,
       scor.key_fingerprint(c) = fpr AS ct_under_old_key
FROM old_ct;
SELECT sqlstate_of($$SELECT scor.decrypt(c) FROM old_ct$$);
SELECT scor.decrypt(scor.encrypt(-42));

-- A rotation rolled back leaves the key as it was
BEGIN;
SELECT site_name FROM scor.init_site('regress', rotate => true);
ROLLBACK;
SELECT key_version FROM scor.site;
SELECT scor.decrypt(scor.encrypt(5));
SELECT f AS key_files FROM pg_ls_dir('scor') f WHERE f LIKE '%.key' ORDER BY 1;

-- A key file cannot be part of a prepared transaction: the error comes
-- before PostgreSQL's own check of max_prepared_transactions (0 here)
BEGIN;
SELECT site_name FROM scor.init_site('regress', rotate => true);
PREPARE TRANSACTION 'regress_rotation';
SELECT count(*) AS prepared FROM pg_prepared_xacts;
SELECT key_version FROM scor.site;
SELECT scor.decrypt(scor.encrypt(6));
SELECT f AS files FROM pg_ls_dir('scor') f WHERE f LIKE '%.key%' ORDER BY 1;
-- without a key file pending, PREPARE meets PostgreSQL's own check
BEGIN;
SELECT key_version FROM scor.site;
PREPARE TRANSACTION 'regress_no_key';
DROP TABLE old_ct;

-- scor.verify_site_key: the checks add_peer and a manifest make, one by
-- one.  The good case, in both forms (base64url as site_public_key shows
-- it, bytes as scor.site and scor.member store it)
SELECT scor.verify_site_key(site_name, public_key, verify_key, proof) AS text_form
FROM scor.site_public_key();
SELECT scor.verify_site_key(site_name, public_key, verify_key, proof) AS bytea_form FROM scor.member;
CREATE TABLE good AS SELECT site_name, public_key AS pk, verify_key AS vk, proof FROM scor.site;
-- bad lengths and encodings: 22P02 (text), 22P03 (bytes)
SELECT error_of($$SELECT scor.verify_site_key(site_name, 'abc', verify_key, proof) FROM scor.site_public_key()$$);
SELECT error_of($$SELECT scor.verify_site_key(site_name, public_key || 'A', verify_key, proof) FROM scor.site_public_key()$$);
SELECT error_of($$SELECT scor.verify_site_key(site_name, public_key, '*' || substr(verify_key, 2), proof) FROM scor.site_public_key()$$);
SELECT error_of($$SELECT scor.verify_site_key(site_name, public_key, verify_key, proof || '=') FROM scor.site_public_key()$$);
SELECT error_of($$SELECT scor.verify_site_key(site_name, '\x00'::bytea, vk, proof) FROM good$$);
SELECT error_of($$SELECT scor.verify_site_key(site_name, pk, vk || '\x00'::bytea, proof) FROM good$$);
SELECT error_of($$SELECT scor.verify_site_key(site_name, pk, vk, substr(proof, 1, 127)) FROM good$$);
-- a site name scor would never accept: 22023
SELECT error_of($$SELECT scor.verify_site_key('Regress', pk, vk, proof) FROM good$$);
-- the public key: not canonical (bit 255 set; a field element >= p), the identity: 22023
SELECT error_of($$SELECT scor.verify_site_key(site_name, set_byte(pk, 31, get_byte(pk, 31) | 128), vk, proof) FROM good$$);
SELECT error_of($$SELECT scor.verify_site_key(site_name, '\xedffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'::bytea, vk, proof) FROM good$$);
SELECT error_of($$SELECT scor.verify_site_key(site_name, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea, vk, proof) FROM good$$);
-- the verify key: Ed25519's identity (small order): 22023
SELECT error_of($$SELECT scor.verify_site_key(site_name, pk, '\x0100000000000000000000000000000000000000000000000000000000000000'::bytea, proof) FROM good$$);
-- the proof's commitment R not canonical: 22023
SELECT error_of($$SELECT scor.verify_site_key(site_name, pk, vk, set_byte(proof, 31, get_byte(proof, 31) | 128)) FROM good$$);
-- non-canonical scalars: s = L, s with bit 255 set, S = L, S with bit 255 set: 22023
-- (L = 2^252 + 27742317777372353535851937790883648493, little-endian below)
SELECT error_of($$SELECT scor.verify_site_key(site_name, pk, vk, overlay(proof placing '\xedd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010'::bytea from 33 for 32)) FROM good$$);
SELECT error_of($$SELECT scor.verify_site_key(site_name, pk, vk, set_byte(proof, 63, get_byte(proof, 63) | 128)) FROM good$$);
SELECT error_of($$SELECT scor.verify_site_key(site_name, pk, vk, overlay(proof placing '\xedd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010'::bytea from 97 for 32)) FROM good$$);
SELECT error_of($$SELECT scor.verify_site_key(site_name, pk, vk, set_byte(proof, 127, get_byte(proof, 127) | 128)) FROM good$$);
-- well-formed but false: SC003.  A proof for another site name, for
-- another key (the generator G), for another verify key (Ed25519's base
-- point), and an altered signature
SELECT error_of($$SELECT scor.verify_site_key('other', pk, vk, proof) FROM good$$);
SELECT error_of($$SELECT scor.verify_site_key(site_name, '\xe2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76'::bytea, vk, proof) FROM good$$);
SELECT error_of($$SELECT scor.verify_site_key(site_name, pk, '\x5866666666666666666666666666666666666666666666666666666666666666'::bytea, proof) FROM good$$);
SELECT error_of($$SELECT scor.verify_site_key(site_name, pk, vk, set_byte(proof, 70, get_byte(proof, 70) # 1)) FROM good$$);
DROP TABLE good;
