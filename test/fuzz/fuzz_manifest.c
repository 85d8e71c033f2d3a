/*
 * fuzz_manifest.c
 *	  The signed network manifest's parsers, from src/manifest.c: the
 *	  payload (parse_payload: json_parse's ASCII and duplicate-key checks,
 *	  jsonb, every field, every member and its proof of possession) and the
 *	  envelope (parse_envelope: the chain of signed versions, each payload
 *	  through parse_payload, each signatures array).
 *
 * Those functions are static, so this file includes manifest.c itself, as
 * fuzz_federate.c does federate.c; the rest of manifest.c (libcurl, SPI,
 * foreign servers) is unreachable and the linker drops it.  The JSON and
 * jsonb code they call is PostgreSQL's own: jsonb.c, jsonb_util.c,
 * jsonfuncs.c, numeric.c and list.c compiled, instrumented, from the LLVM
 * bitcode that PostgreSQL installs for its JIT, and pg_parse_json from
 * libpgcommon (see the Makefile and pgstub_json.c).
 *
 * Input: a mode byte, then
 *	0 payload   the payload's bytes
 *	1 envelope  the envelope's bytes
 * Oracles: only SC008 (the manifest is refused) is raised, whatever the
 * input (a jsonb or numeric error escaping json_parse's checks would be a
 * second parser disagreeing with the first), or 54001 for nesting deeper
 * than the backend's stack allows; an accepted document is
 * printable ASCII; an accepted payload has a valid network name, version,
 * previous_digest exactly when its version is not 1, 1 to 1000 members
 * with valid, distinct names and distinct keys whose proofs of possession
 * verify, a signers rule within the member count, this site's protocol
 * version, and its digest is SHA-256 of exactly its bytes; an accepted
 * envelope's versions are at most 257, of one network, each following the
 * one before by version and digest, each payload accepted alone with the
 * same digest, and each signature by a distinct valid site name.
 */
#include "../../src/manifest.c"

#include "fuzz_common.h"
#include "pgstub.h"

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* pgstub_json.c */
extern void pgstub_set_stack_base(void);

#define FUZZ_NMEMBERS 3

static scor_site_keys member_keys[FUZZ_NMEMBERS];

/* ------------------------------------------------------------ seeds */

/* A member object of the fixed test sites */
static void
append_member(StringInfo s, int i)
{
	uint8		pop[SCOR_POP_BYTES];
	char	   *site = psprintf("fuzz_site%d", i);

	if (scor_pop_create(pop, site, &member_keys[i]) != 0)
		abort();
	appendStringInfo(s, "{\"site\": \"%s\", \"host\": \"db%d.example.org\", \"port\": %d, "
					 "\"dbname\": \"clinical\", \"sslmode\": \"verify-full\", "
					 "\"public_key\": \"%s\", \"verify_key\": \"%s\", \"proof\": \"%s\"}",
					 site, i, 5432 + i,
					 scor_base64url_encode(member_keys[i].elgamal_public, SCOR_ELEMENT_BYTES),
					 scor_base64url_encode(member_keys[i].sign_public, SCOR_SIGN_PUBLIC_BYTES),
					 scor_base64url_encode(pop, SCOR_POP_BYTES));
}

/* Version v of the test network: members 0 .. v, chained to prev_digest */
static char *
build_payload(int version, const char *prev_digest, const char *signers)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfo(&s, "{\"network\": \"fuzznet\", \"version\": %d, \"previous_digest\": ", version);
	if (prev_digest)
		appendStringInfo(&s, "\"%s\"", prev_digest);
	else
		appendStringInfoString(&s, "null");
	appendStringInfo(&s, ", \"rules\": {\"signers\": %s}, \"settings\": {\"dp_honest_sites\": 1, "
					 "\"decode_range_bits\": 40, \"protocol_version\": %d}, \"members\": [",
					 signers, SCOR_PROTOCOL_VERSION);
	for (int i = 0; i <= version && i < FUZZ_NMEMBERS; i++)
	{
		if (i > 0)
			appendStringInfoString(&s, ", ");
		append_member(&s, i);
	}
	appendStringInfoString(&s, "]}");
	return s.data;
}

/* "payload": ..., "signatures": [...] of a version signed by members 0 .. nsigners-1 */
static void
append_signed_version(StringInfo s, const char *payload, int nsigners)
{
	size_t		dlen = strlen(MANIFEST_SIGNATURE_DOMAIN);
	size_t		len = strlen(payload);
	uint8	   *msg = palloc(dlen + len);
	uint8		sig[SCOR_SIGNATURE_BYTES];

	memcpy(msg, MANIFEST_SIGNATURE_DOMAIN, dlen);
	memcpy(msg + dlen, payload, len);
	appendStringInfo(s, "\"payload\": \"%s\", \"signatures\": [",
					 scor_base64url_encode((const uint8 *) payload, len));
	for (int i = 0; i < nsigners; i++)
	{
		crypto_sign_detached(sig, NULL, msg, dlen + len, member_keys[i].sign_secret);
		appendStringInfo(s, "%s{\"site\": \"fuzz_site%d\", \"signature\": \"%s\"}",
						 i > 0 ? ", " : "", i, scor_base64url_encode(sig, SCOR_SIGNATURE_BYTES));
	}
	appendStringInfoChar(s, ']');
}

static char *
digest_hex(const char *payload)
{
	uint8		d[MANIFEST_DIGEST_BYTES];

	crypto_hash_sha256(d, (const uint8 *) payload, strlen(payload));
	return scor_hex(d, MANIFEST_DIGEST_BYTES);
}

static void
write_seeds(void)
{
	char	   *p1 = build_payload(1, NULL, "\"all\"");
	char	   *p2 = build_payload(2, digest_hex(p1), "2");
	char	   *p3 = build_payload(3, digest_hex(p2), "1");
	StringInfoData e;

	fuzz_write_seed("payload-1", 0, p1, strlen(p1));
	fuzz_write_seed("payload-2", 0, p2, strlen(p2));

	initStringInfo(&e);
	appendStringInfoString(&e, "{\"scor_manifest\": 1, ");
	append_signed_version(&e, p1, 2);
	appendStringInfoChar(&e, '}');
	fuzz_write_seed("envelope-1", 1, e.data, e.len);

	resetStringInfo(&e);
	appendStringInfoString(&e, "{\"scor_manifest\": 1, ");
	append_signed_version(&e, p3, 2);
	appendStringInfoString(&e, ", \"chain\": [{");
	append_signed_version(&e, p1, 2);
	appendStringInfoString(&e, "}, {");
	append_signed_version(&e, p2, 2);
	appendStringInfoString(&e, "}]}");
	fuzz_write_seed("envelope-chain", 1, e.data, e.len);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init_keys();
	for (int i = 0; i < FUZZ_NMEMBERS; i++)
	{
		uint8_t		seed[SCOR_SEED_BYTES];

		for (int k = 0; k < SCOR_SEED_BYTES; k++)
			seed[k] = (uint8_t) (0x21 + 11 * k + 57 * i);
		if (scor_site_keys_derive(&member_keys[i], seed) != 0)
			abort();
	}
	if (fuzz_seed_dir())
	{
		pgstub_begin();
		write_seeds();
		pgstub_end();
		exit(0);
	}
	return 0;
}

/* ------------------------------------------------------------ oracles */

typedef struct ParseArgs
{
	const char *data;
	int			len;
	Manifest   *m;
	List	   *versions;
} ParseArgs;

static void
do_payload(void *arg)
{
	ParseArgs  *p = arg;

	p->m = parse_payload(p->data, p->len);
}

static void
do_envelope(void *arg)
{
	ParseArgs  *p = arg;

	p->versions = parse_envelope(p->data, p->len);
}

static void
check_ascii(const char *data, int len)
{
	for (int i = 0; i < len; i++)
		if (data[i] == '\0' || IS_HIGHBIT_SET(data[i]))
			pgstub_finding("a document with byte %d = 0x%02x was accepted", i, (uint8) data[i]);
}

/* What every accepted payload must be */
static void
check_payload(const Manifest *m, const char *data, int len)
{
	uint8		d[MANIFEST_DIGEST_BYTES];

	check_ascii(data, len);
	if (m->payload_len != len || memcmp(m->payload, data, len) != 0 || m->payload[len] != '\0')
		pgstub_finding("the payload kept is not the payload's bytes");
	crypto_hash_sha256(d, (const uint8 *) data, len);
	if (memcmp(d, m->digest, sizeof(d)) != 0 ||
		strcmp(m->digest_hex, scor_hex(d, sizeof(d))) != 0)
		pgstub_finding("the digest is not SHA-256 of the payload's bytes");
	if (!name_ok(m->network))
		pgstub_finding("an invalid network name \"%s\" was accepted", m->network);
	if (m->version < 1)
		pgstub_finding("version %d was accepted", m->version);
	if ((m->version == 1) != (m->previous_digest == NULL) ||
		(m->previous_digest && !hex_digest_ok(m->previous_digest)))
		pgstub_finding("version %d with a wrong previous_digest was accepted", m->version);
	if (m->nmembers < 1 || m->nmembers > MANIFEST_MAX_MEMBERS)
		pgstub_finding("%d members were accepted", m->nmembers);
	if (m->signers < 0 || m->signers > m->nmembers)
		pgstub_finding("a signers rule of %d for %d members was accepted", m->signers, m->nmembers);
	if (m->protocol_version != SCOR_PROTOCOL_VERSION)
		pgstub_finding("protocol version %d was accepted", m->protocol_version);
	if (m->dp_honest_sites < 0 || m->dp_honest_sites > m->nmembers ||
		m->decode_range_bits < 1 || m->decode_range_bits > 62)
		pgstub_finding("settings out of range were accepted");
	for (int i = 0; i < m->nmembers; i++)
	{
		const ManifestMember *mm = &m->members[i];

		if (!name_ok(mm->site))
			pgstub_finding("an invalid site name \"%s\" was accepted", mm->site);
		if (mm->port < 1 || mm->port > 65535 || strlen(mm->host) > HOST_MAX_LEN ||
			!chars_ok(mm->host, ".-:_/") || !chars_ok(mm->dbname, "_.-"))
			pgstub_finding("member \"%s\" has an invalid host, port or dbname", mm->site);
		if (!scor_element_is_valid(mm->public_key) || scor_element_is_identity(mm->public_key))
			pgstub_finding("member \"%s\" has an invalid public key", mm->site);
		if (scor_pop_verify(mm->proof, mm->site, mm->public_key, mm->verify_key) != 0)
			pgstub_finding("member \"%s\" was accepted without a valid proof of possession", mm->site);
		for (int j = 0; j < i; j++)
			if (strcmp(m->members[j].site, mm->site) == 0 ||
				memcmp(m->members[j].public_key, mm->public_key, SCOR_ELEMENT_BYTES) == 0 ||
				memcmp(m->members[j].verify_key, mm->verify_key, SCOR_SIGN_PUBLIC_BYTES) == 0)
				pgstub_finding("members %d and %d share a name or a key", j + 1, i + 1);
	}
}

static void
payload(const uint8 *data, size_t size)
{
	ParseArgs	p = {(const char *) data, (int) size, NULL, NIL};

	if (!pgstub_try(do_payload, &p))
	{
		pgstub_expect_sqlstate("parse_payload", "SC008", "54001", NULL);
		return;
	}
	check_payload(p.m, p.data, p.len);
}

static void
envelope(const uint8 *data, size_t size)
{
	ParseArgs	p = {(const char *) data, (int) size, NULL, NIL};
	const Manifest *prev = NULL;
	ListCell   *lc;

	if (!pgstub_try(do_envelope, &p))
	{
		pgstub_expect_sqlstate("parse_envelope", "SC008", "54001", NULL);
		return;
	}
	check_ascii(p.data, p.len);
	if (list_length(p.versions) < 1 || list_length(p.versions) > MANIFEST_MAX_CHAIN + 1)
		pgstub_finding("an envelope of %d versions was accepted", list_length(p.versions));
	foreach(lc, p.versions)
	{
		const Manifest *m = lfirst(lc);
		ParseArgs	alone = {m->payload, m->payload_len, NULL, NIL};

		if (!pgstub_try(do_payload, &alone))
			pgstub_finding("version %d was accepted in an envelope but not alone: %s",
						   m->version, pgstub_message());
		if (memcmp(alone.m->digest, m->digest, MANIFEST_DIGEST_BYTES) != 0)
			pgstub_finding("version %d has another digest alone", m->version);
		check_payload(m, m->payload, m->payload_len);
		if (prev != NULL &&
			(strcmp(m->network, prev->network) != 0 || m->version <= prev->version ||
			 m->previous_digest == NULL || strcmp(m->previous_digest, prev->digest_hex) != 0))
			pgstub_finding("version %d does not follow version %d, but was accepted",
						   m->version, prev->version);
		for (int i = 0; i < m->nsignatures; i++)
		{
			if (!name_ok(m->signatures[i].site))
				pgstub_finding("a signature by an invalid site name was accepted");
			for (int j = 0; j < i; j++)
				if (strcmp(m->signatures[j].site, m->signatures[i].site) == 0)
					pgstub_finding("two signatures by \"%s\" were accepted", m->signatures[i].site);
		}
		prev = m;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	pgstub_set_stack_base();
	pgstub_begin();
	if (data[0] % 2 == 0)
		payload(data + 1, size - 1);
	else
		envelope(data + 1, size - 1);
	pgstub_end();
	return 0;
}
