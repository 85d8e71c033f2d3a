
-- scor: privileges.  Nothing is granted to PUBLIC; each scor role gets what
-- it needs and no more (docs/sql-reference.md, "Roles").
--   scor_analyst: local encrypted aggregates, their operators, dp_noise,
--                 federate, and single-site encrypt/decrypt
--   scor_admin:   everything scor_analyst may do, plus the site's key,
--                 peers, budgets and logs (granted above, object by object)
--   scor_peer:    the two remote entry points and the site's public key
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA scor FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
	scor.enc_count(),
	scor.enc_count("any"),
	scor.enc_sum(smallint),
	scor.enc_sum(integer),
	scor.enc_sum(bigint),
	scor.enc_sum(numeric, integer),
	scor.enc_sum(scor.ciphertext),
	scor.ciphertext_add(scor.ciphertext, scor.ciphertext),
	scor.ciphertext_sub(scor.ciphertext, scor.ciphertext),
	scor.ciphertext_neg(scor.ciphertext),
	scor.key_fingerprint(scor.ciphertext),
	scor.scale(scor.ciphertext),
	scor.dp_noise(scor.ciphertext, float8, bigint),
	scor.dp_expected_error(integer, float8, bigint, integer)
TO scor_analyst;

DO $grant$
BEGIN
	IF NOT pg_catalog.pg_has_role('scor_admin', 'scor_analyst', 'MEMBER') THEN
		GRANT scor_analyst TO scor_admin;
	END IF;
END
$grant$;
