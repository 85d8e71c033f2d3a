/*
 * manifest.c
 *	  The consortium's signed network manifest: fetching it (libcurl),
 *	  checking it, and making this site's member set follow it.
 *
 * A manifest file is a JSON envelope
 *
 *	 {"scor_manifest": 1, "payload": "<base64url of the payload's bytes>",
 *	  "signatures": [{"site": "...", "signature": "<base64url>"}, ...],
 *	  "chain": [{"payload": "...", "signatures": [...]}, ...]}
 *
 * whose payload is a JSON document listing the network's members and the
 * settings every site must share.  Signatures are Ed25519 over the domain
 * tag "scor-manifest-v1" followed by the payload's exact bytes; a version's
 * digest is SHA-256 of those bytes.  No JSON is ever re-serialized before it
 * is hashed or verified, so there is nothing to canonicalize.
 *
 * Version N+1 must carry previous_digest = digest of version N and be signed
 * by the members of version N as version N's rules require; the first
 * version a site accepts is pinned by its digest, given out of band to
 * scor.join_network.  A manifest that fails any check changes nothing: every
 * check runs before the first change, and the changes (foreign servers,
 * pinned keys, settings, history) are made in the caller's transaction.
 * docs/deployment.md ("Consortium workflow") and docs/sql-reference.md
 * describe the format and the rules.
 */
#include "postgres.h"

#include <curl/curl.h>
#include <limits.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "common/jsonapi.h"
#include "executor/spi.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/snapmgr.h"

#include "noise.h"
#include "protocol.h"
#include "remote.h"

PG_FUNCTION_INFO_V1(scor_join_network);
PG_FUNCTION_INFO_V1(scor_sync_network);
PG_FUNCTION_INFO_V1(scor_network_status);
PG_FUNCTION_INFO_V1(scor_leave_network);
PG_FUNCTION_INFO_V1(scor_manifest_sign);
PG_FUNCTION_INFO_V1(scor_manifest_digest);
PG_FUNCTION_INFO_V1(scor_manifest_envelope);

#define MANIFEST_FORMAT 1
#define MANIFEST_SIGNATURE_DOMAIN "scor-manifest-v1"
#define MANIFEST_DIGEST_BYTES crypto_hash_sha256_BYTES
#define MANIFEST_MAX_MEMBERS 1000
#define MANIFEST_MAX_CHAIN 256
#define MANIFEST_MAX_OBJECT_KEYS 16
#define MANIFEST_MAX_URL 2048
#define NAME_MAX_LEN 63
#define HOST_MAX_LEN 255

/* Settings */
static char *manifest_ca_file = NULL;
static int	manifest_connect_timeout_ms = 10000;
static int	manifest_timeout_ms = 30000;
static int	manifest_max_bytes = 1024 * 1024;
static char *peer_sslrootcert = NULL;

/* Backend-local cache of scor.network's settings, reset by invalidation */
static ScorNetworkSettings settings_cache;
static bool settings_valid = false;
static Oid	network_relid = InvalidOid;

static bool curl_initialized = false;

/* One member of a manifest version */
typedef struct ManifestMember
{
	char	   *site;
	char	   *host;
	int			port;
	char	   *dbname;
	char	   *sslmode;
	uint8		public_key[SCOR_ELEMENT_BYTES];
	uint8		verify_key[SCOR_SIGN_PUBLIC_BYTES];
	uint8		proof[SCOR_POP_BYTES];
} ManifestMember;

/* One signature of a manifest version */
typedef struct ManifestSignature
{
	char	   *site;
	uint8		signature[SCOR_SIGNATURE_BYTES];
} ManifestSignature;

/* One parsed and checked manifest version, with its signatures */
typedef struct Manifest
{
	char	   *payload;		/* the exact signed bytes, NUL-terminated */
	int			payload_len;
	uint8		digest[MANIFEST_DIGEST_BYTES];
	char	   *digest_hex;
	char	   *network;
	int			version;
	char	   *previous_digest;	/* hex, or NULL for a first version */
	int			signers;		/* 0: all members; k: any k members */
	int			dp_honest_sites;
	int			decode_range_bits;
	int			protocol_version;
	int			nmembers;
	ManifestMember *members;
	int			nsignatures;
	ManifestSignature *signatures;
} Manifest;

/* This site's manifest state, from scor.network */
typedef struct NetworkState
{
	bool		joined;
	char	   *network;
	char	   *url;
	int			version;
	char	   *digest;
	Manifest   *current;		/* the applied version (without signatures) */
} NetworkState;

static void network_settings_invalidate(Datum arg, Oid relid);

/* ---------------------------------------------------------------- settings */

/* Define the manifest settings; called from _PG_init */
void
ScorManifestInit(void)
{
	DefineCustomStringVariable("scor.manifest_ca_file",
							   "File of CA certificates that verify the server of an https:// manifest URL.",
							   "Empty: the system's default CA bundle.  Certificate verification cannot be turned off.",
							   &manifest_ca_file,
							   "",
							   PGC_SUSET, 0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("scor.manifest_connect_timeout",
							"Sets the maximum time to wait for a connection to the manifest's server.",
							NULL,
							&manifest_connect_timeout_ms,
							10000, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("scor.manifest_timeout",
							"Sets the maximum time to fetch a network manifest, connection included.",
							NULL,
							&manifest_timeout_ms,
							30000, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("scor.manifest_max_bytes",
							"Sets the largest network manifest this site fetches.",
							NULL,
							&manifest_max_bytes,
							1024 * 1024, 1024, 64 * 1024 * 1024,
							PGC_SUSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	DefineCustomStringVariable("scor.peer_sslrootcert",
							   "File of CA certificates that verify the peers' PostgreSQL servers, set as the sslrootcert option of every server a network manifest creates or updates.",
							   "Empty: join_network and sync_network leave the servers' sslrootcert option as it is.",
							   &peer_sslrootcert,
							   "",
							   PGC_SUSET, 0,
							   NULL, NULL, NULL);
	CacheRegisterRelcacheCallback(network_settings_invalidate, (Datum) 0);
}

/* Forget the cached network settings when scor.network changes */
static void
network_settings_invalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == network_relid)
		settings_valid = false;
}

/*
 * The settings of the network this site follows (scor.network), which
 * override scor.dp_honest_sites and scor.decode_range_bits; joined is false
 * while the site follows no manifest.
 */
const ScorNetworkSettings *
scor_network_settings(void)
{
	ScorNetworkSettings s;
	ScorOwnerScope scope;

	if (settings_valid)
		return &settings_cache;

	if (!OidIsValid(network_relid))
		network_relid = get_relname_relid("network", get_namespace_oid("scor", false));

	memset(&s, 0, sizeof(s));
	scor_become_owner(&scope, "pg_catalog, pg_temp");
	SPI_connect();
	if (SPI_execute("SELECT dp_honest_sites, decode_range_bits FROM scor.network", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read scor.network");
	if (SPI_processed == 1)
	{
		bool		isnull;

		s.joined = true;
		s.dp_honest_sites = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
														SPI_tuptable->tupdesc, 1, &isnull));
		s.decode_range_bits = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc, 2, &isnull));
	}
	SPI_finish();
	scor_end_owner(&scope);

	settings_cache = s;
	settings_valid = true;
	return &settings_cache;
}

/* ------------------------------------------------------------------ errors */

/*
 * Refuse a manifest: the message names the check, the detail the specifics.
 * refuse(detail, fmt, ...) formats the message with psprintf.
 */
#define refuse(detail, ...) refuse_message((detail), psprintf(__VA_ARGS__))

static void
refuse_message(const char *detail, const char *message)
{
	ereport(ERROR,
			(errcode(ERRCODE_SCOR_MANIFEST_REFUSED),
			 errmsg("network manifest refused: %s", message),
			 detail ? errdetail("%s", detail) : 0));
}

/* ------------------------------------------------------------------- JSON */

/* State of the duplicate-key check: the keys of each open object */
typedef struct KeyCheck
{
	List	   *objects;		/* innermost first; each a List of names */
	const char *what;
} KeyCheck;

static void
keycheck_object_start(void *state)
{
	KeyCheck   *kc = (KeyCheck *) state;

	kc->objects = lcons(NIL, kc->objects);
}

static void
keycheck_object_end(void *state)
{
	KeyCheck   *kc = (KeyCheck *) state;

	kc->objects = list_delete_first(kc->objects);
}

static void
keycheck_field_start(void *state, char *fname, bool isnull)
{
	KeyCheck   *kc = (KeyCheck *) state;
	List	   *keys = (List *) linitial(kc->objects);
	ListCell   *lc;

	foreach(lc, keys)
	{
		if (strcmp((char *) lfirst(lc), fname) == 0)
			refuse("A field that appears twice could be read differently by different parsers.",
				   "the %s has the field \"%.64s\" twice", kc->what, fname);
	}
	if (list_length(keys) >= MANIFEST_MAX_OBJECT_KEYS)
		refuse(NULL, "the %s has an object with more than %d fields",
			   kc->what, MANIFEST_MAX_OBJECT_KEYS);
	linitial(kc->objects) = lappend(keys, fname);
}

/*
 * Numbers: whole numbers of at most 18 digits, every number a manifest has.
 * jsonb would read any other JSON number into a numeric, and raise its own
 * error (not SC008) past numeric's range, as for 1e999999.
 */
static void
keycheck_scalar(void *state, char *token, JsonTokenType tokentype)
{
	KeyCheck   *kc = (KeyCheck *) state;
	const char *digits = token + (token[0] == '-');
	size_t		n = strspn(digits, "0123456789");

	if (tokentype == JSON_TOKEN_NUMBER && (n == 0 || n > 18 || digits[n] != '\0'))
		refuse("Numbers in a manifest are whole numbers of at most 18 digits, without a fraction or an exponent.",
			   "the %s has a malformed number", kc->what);
}

/*
 * Parse a JSON document: ASCII only, no field twice in one object, only
 * whole numbers, then into jsonb.  The error never quotes the input.
 */
static Jsonb *
json_parse(const char *data, int len, const char *what)
{
	JsonLexContext *lex;
	JsonSemAction sem;
	KeyCheck	kc;
	JsonParseErrorType rc;
	char	   *text;

	for (int i = 0; i < len; i++)
	{
		if (data[i] == '\0' || IS_HIGHBIT_SET(data[i]))
			refuse(psprintf("Byte %d of %d is not a printable 7-bit character.", i + 1, len),
				   "the %s is not ASCII", what);
	}
	text = pnstrdup(data, len);

	memset(&kc, 0, sizeof(kc));
	kc.what = what;
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &kc;
	sem.object_start = keycheck_object_start;
	sem.object_end = keycheck_object_end;
	sem.object_field_start = keycheck_field_start;
	sem.scalar = keycheck_scalar;

	lex = makeJsonLexContextCstringLen(text, len, PG_SQL_ASCII, true);
	rc = pg_parse_json(lex, &sem);
	if (rc != JSON_SUCCESS)
	{
		int			pos = lex->token_start ? (int) (lex->token_start - lex->input) : 0;

		refuse(psprintf("Parsing stops at byte %d of %d%s.", pos + 1, len,
						rc == JSON_EXPECTED_MORE || pos >= len ? ": the document ends early" : ""),
			   "the %s is not valid JSON", what);
	}
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
}

/* Check that an object has only the allowed fields */
static void
jb_check_fields(JsonbContainer *obj, const char *const *allowed, const char *where)
{
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbValue	v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		bool		known = false;

		if (tok != WJB_KEY)
			continue;
		for (const char *const *a = allowed; *a; a++)
		{
			if (strlen(*a) == (size_t) v.val.string.len &&
				memcmp(*a, v.val.string.val, v.val.string.len) == 0)
				known = true;
		}
		if (!known)
			refuse("A site refuses what it does not understand rather than ignore it.",
				   "%s has an unknown field \"%s\"", where,
				   pnstrdup(v.val.string.val, Min(v.val.string.len, 64)));
	}
}

/* A field of an object; missing is an error unless optional */
static JsonbValue *
jb_field(JsonbContainer *obj, const char *key, const char *where, bool optional)
{
	JsonbValue	k;
	JsonbValue *v;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	v = findJsonbValueFromContainer(obj, JB_FOBJECT, &k);
	if (v == NULL && !optional)
		refuse(NULL, "%s has no field \"%s\"", where, key);
	return v;
}

/* A string field (at most max_len characters) */
static char *
jb_string(JsonbContainer *obj, const char *key, const char *where, int max_len)
{
	JsonbValue *v = jb_field(obj, key, where, false);

	if (v->type != jbvString)
		refuse(NULL, "field \"%s\" of %s is not a string", key, where);
	if (v->val.string.len > max_len)
		refuse(psprintf("It has %d characters; at most %d are allowed.", v->val.string.len, max_len),
			   "field \"%s\" of %s is too long", key, where);
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* A whole number in [min, max] */
static int
jb_value_int(JsonbValue *v, const char *key, const char *where, int min, int max)
{
	char	   *s;
	long		n;
	char	   *end;

	if (v->type != jbvNumeric)
		refuse(NULL, "field \"%s\" of %s is not a number", key, where);
	s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	errno = 0;
	n = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0)
		refuse(psprintf("It is %s.", s), "field \"%s\" of %s is not a whole number", key, where);
	if (n < min || n > max)
		refuse(psprintf("It is %ld; it must be from %d to %d.", n, min, max),
			   "field \"%s\" of %s is out of range", key, where);
	return (int) n;
}

static int
jb_int(JsonbContainer *obj, const char *key, const char *where, int min, int max)
{
	return jb_value_int(jb_field(obj, key, where, false), key, where, min, max);
}

/* An object or array field, as a container */
static JsonbContainer *
jb_container(JsonbValue *v, const char *key, const char *where, bool array)
{
	if (v->type != jbvBinary ||
		(array ? !JsonContainerIsArray(v->val.binary.data) :
		 !JsonContainerIsObject(v->val.binary.data)))
		refuse(NULL, "field \"%s\" of %s is not %s", key, where, array ? "an array" : "an object");
	return v->val.binary.data;
}

/* Decode a base64url field of exactly len bytes */
static void
jb_bytes(JsonbContainer *obj, const char *key, const char *where, uint8 *out, size_t len)
{
	char	   *s = jb_string(obj, key, where, (int) (len * 4 + 2) / 3);

	if (!scor_base64url_decode(s, strlen(s), out, len))
		refuse(psprintf("Expected %zu bytes in unpadded base64url.", len),
			   "field \"%s\" of %s is malformed", key, where);
}

/* ------------------------------------------------------------ validation */

/* scor's site-name rule (keys.c): also the rule for network names */
static bool
name_ok(const char *name)
{
	size_t		len = strlen(name);

	if (len < 1 || len > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char		c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			  (i > 0 && (c == '_' || c == '-'))))
			return false;
	}
	return true;
}

static bool
chars_ok(const char *s, const char *extra)
{
	if (s[0] == '\0' || s[0] == '-')
		return false;
	for (const char *p = s; *p; p++)
	{
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || strchr(extra, *p) != NULL))
			return false;
	}
	return true;
}

static bool
hex_digest_ok(const char *s)
{
	if (strlen(s) != 2 * MANIFEST_DIGEST_BYTES)
		return false;
	for (const char *p = s; *p; p++)
	{
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	}
	return true;
}

static const char *const sslmodes[] = {
	"disable", "allow", "prefer", "require", "verify-ca", "verify-full", NULL
};

/* Parse and check one member object */
static void
parse_member(JsonbContainer *obj, int index, ManifestMember *m)
{
	static const char *const fields[] = {
		"site", "host", "port", "dbname", "sslmode", "public_key", "verify_key", "proof", NULL
	};
	char	   *where = psprintf("member %d", index + 1);
	bool		sslmode_ok = false;

	m->site = jb_string(obj, "site", where, NAME_MAX_LEN + 1);
	if (!name_ok(m->site))
		refuse("A site name has 1 to 63 characters: lowercase letters, digits, \"_\" and \"-\", starting with a letter or digit.",
			   "%s has an invalid site name \"%s\"", where, m->site);
	where = psprintf("member \"%s\"", m->site);
	jb_check_fields(obj, fields, where);

	m->host = jb_string(obj, "host", where, HOST_MAX_LEN);
	if (!chars_ok(m->host, ".-:_/"))
		refuse("A host is a host name, an IP address or a socket directory: letters, digits, \".\", \"-\", \":\", \"_\" and \"/\".",
			   "%s has an invalid host \"%s\"", where, m->host);
	m->port = jb_int(obj, "port", where, 1, 65535);
	m->dbname = jb_string(obj, "dbname", where, NAME_MAX_LEN);
	if (!chars_ok(m->dbname, "_.-"))
		refuse("A database name has letters, digits, \"_\", \".\" and \"-\".",
			   "%s has an invalid dbname \"%s\"", where, m->dbname);
	m->sslmode = jb_string(obj, "sslmode", where, 16);
	for (const char *const *s = sslmodes; *s; s++)
		if (strcmp(*s, m->sslmode) == 0)
			sslmode_ok = true;
	if (!sslmode_ok)
		refuse("It must be one of disable, allow, prefer, require, verify-ca, verify-full.",
			   "%s has an invalid sslmode \"%s\"", where, m->sslmode);

	jb_bytes(obj, "public_key", where, m->public_key, SCOR_ELEMENT_BYTES);
	jb_bytes(obj, "verify_key", where, m->verify_key, SCOR_SIGN_PUBLIC_BYTES);
	jb_bytes(obj, "proof", where, m->proof, SCOR_POP_BYTES);
	if (!scor_element_is_valid(m->public_key) || scor_element_is_identity(m->public_key))
		refuse(scor_element_is_identity(m->public_key) ?
			   "The key is the identity element, which would let anyone decrypt." :
			   "The key is not a valid ristretto255 encoding.",
			   "%s has an invalid public key", where);
	if (scor_pop_verify(m->proof, m->site, m->public_key, m->verify_key) != 0)
		refuse("A member must prove that it holds the secret of the keys it presents, for its own name.",
			   "the proof of possession of member \"%s\" does not verify", m->site);
}

/* Parse and check a payload: every field, every member's proof */
static Manifest *
parse_payload(const char *payload, int len)
{
	static const char *const fields[] = {
		"network", "version", "previous_digest", "rules", "settings", "members", NULL
	};
	static const char *const rule_fields[] = {"signers", NULL};
	static const char *const setting_fields[] = {
		"dp_honest_sites", "decode_range_bits", "protocol_version", NULL
	};
	Manifest   *m = palloc0(sizeof(Manifest));
	Jsonb	   *jb;
	JsonbContainer *root;
	JsonbContainer *c;
	JsonbValue *v;
	const char *where;

	jb = json_parse(payload, len, "payload");
	if (!JB_ROOT_IS_OBJECT(jb))
		refuse(NULL, "the payload is not a JSON object");
	root = &jb->root;
	jb_check_fields(root, fields, "the payload");

	m->payload = pnstrdup(payload, len);
	m->payload_len = len;
	crypto_hash_sha256(m->digest, (const uint8 *) payload, len);
	m->digest_hex = scor_hex(m->digest, MANIFEST_DIGEST_BYTES);

	m->network = jb_string(root, "network", "the payload", NAME_MAX_LEN + 1);
	if (!name_ok(m->network))
		refuse("A network name follows the rule for site names.",
			   "invalid network name \"%s\"", m->network);
	m->version = jb_int(root, "version", "the payload", 1, INT_MAX);
	where = psprintf("version %d", m->version);

	v = jb_field(root, "previous_digest", where, false);
	if (v->type == jbvNull)
		m->previous_digest = NULL;
	else
	{
		m->previous_digest = jb_string(root, "previous_digest", where, 2 * MANIFEST_DIGEST_BYTES);
		if (!hex_digest_ok(m->previous_digest))
			refuse("It is 64 lowercase hexadecimal digits, or null.",
				   "the previous_digest of %s is malformed", where);
	}
	if ((m->version == 1) != (m->previous_digest == NULL))
		refuse("Version 1, and only version 1, has a null previous_digest.",
			   "%s %s", where, m->version == 1 ? "has a previous_digest" : "has no previous_digest");

	/* members, before the rules and settings that are bounded by their number */
	c = jb_container(jb_field(root, "members", where, false), "members", where, true);
	m->nmembers = JsonContainerSize(c);
	if (m->nmembers < 1 || m->nmembers > MANIFEST_MAX_MEMBERS)
		refuse(psprintf("It has %d; a network has 1 to %d.", m->nmembers, MANIFEST_MAX_MEMBERS),
			   "%s has an invalid number of members", where);
	m->members = palloc0(sizeof(ManifestMember) * m->nmembers);
	for (int i = 0; i < m->nmembers; i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(c, i);

		CHECK_FOR_INTERRUPTS();
		if (e->type != jbvBinary || !JsonContainerIsObject(e->val.binary.data))
			refuse(NULL, "member %d of %s is not an object", i + 1, where);
		parse_member(e->val.binary.data, i, &m->members[i]);
		for (int j = 0; j < i; j++)
		{
			if (strcmp(m->members[j].site, m->members[i].site) == 0)
				refuse(NULL, "%s lists member \"%s\" twice", where, m->members[i].site);
			if (memcmp(m->members[j].public_key, m->members[i].public_key, SCOR_ELEMENT_BYTES) == 0 ||
				memcmp(m->members[j].verify_key, m->members[i].verify_key, SCOR_SIGN_PUBLIC_BYTES) == 0)
				refuse("Every member has keys of its own.",
					   "members \"%s\" and \"%s\" of %s have the same key",
					   m->members[j].site, m->members[i].site, where);
		}
	}

	c = jb_container(jb_field(root, "rules", where, false), "rules", where, false);
	jb_check_fields(c, rule_fields, "the rules");
	v = jb_field(c, "signers", "the rules", false);
	if (v->type == jbvString)
	{
		if (v->val.string.len != 3 || memcmp(v->val.string.val, "all", 3) != 0)
			refuse("It is \"all\" or a number of members.", "the signers rule of %s is invalid", where);
		m->signers = 0;
	}
	else
		m->signers = jb_value_int(v, "signers", "the rules", 1, m->nmembers);

	c = jb_container(jb_field(root, "settings", where, false), "settings", where, false);
	jb_check_fields(c, setting_fields, "the settings");
	m->protocol_version = jb_int(c, "protocol_version", "the settings", 1, INT_MAX);
	if (m->protocol_version != SCOR_PROTOCOL_VERSION)
		refuse(psprintf("This site speaks protocol version %d.", SCOR_PROTOCOL_VERSION),
			   "%s requires protocol version %d", where, m->protocol_version);
	m->dp_honest_sites = jb_int(c, "dp_honest_sites", "the settings", 0,
								Min(m->nmembers, SCOR_DP_MAX_T));
	m->decode_range_bits = jb_int(c, "decode_range_bits", "the settings", 1, 62);
	return m;
}

/* Parse a signatures array */
static void
parse_signatures(JsonbValue *v, const char *where, Manifest *m)
{
	static const char *const fields[] = {"site", "signature", NULL};
	JsonbContainer *c = jb_container(v, "signatures", where, true);

	m->nsignatures = JsonContainerSize(c);
	if (m->nsignatures > MANIFEST_MAX_MEMBERS)
		refuse(NULL, "%s has more than %d signatures", where, MANIFEST_MAX_MEMBERS);
	m->signatures = palloc0(sizeof(ManifestSignature) * Max(m->nsignatures, 1));
	for (int i = 0; i < m->nsignatures; i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(c, i);
		char	   *swhere = psprintf("signature %d of %s", i + 1, where);
		ManifestSignature *s = &m->signatures[i];

		if (e->type != jbvBinary || !JsonContainerIsObject(e->val.binary.data))
			refuse(NULL, "%s is not an object", swhere);
		jb_check_fields(e->val.binary.data, fields, swhere);
		s->site = jb_string(e->val.binary.data, "site", swhere, NAME_MAX_LEN + 1);
		if (!name_ok(s->site))
			refuse(NULL, "%s names an invalid site \"%s\"", swhere, s->site);
		jb_bytes(e->val.binary.data, "signature", swhere, s->signature, SCOR_SIGNATURE_BYTES);
		for (int j = 0; j < i; j++)
			if (strcmp(m->signatures[j].site, s->site) == 0)
				refuse(NULL, "%s has two signatures by \"%s\"", where, s->site);
	}
}

/* Decode a base64url payload field of any length */
static void
payload_bytes(JsonbContainer *obj, const char *where, char **out, int *len)
{
	char	   *s = jb_string(obj, "payload", where, (MaxAllocSize / 4) * 3);
	size_t		slen = strlen(s);
	size_t		n = slen * 3 / 4;

	*out = palloc(n + 1);
	if (!scor_base64url_decode(s, slen, (uint8 *) *out, n))
		refuse("Expected unpadded base64url.", "the payload of %s is malformed", where);
	(*out)[n] = '\0';
	*len = (int) n;
}

/* One signed version of an envelope: {"payload": ..., "signatures": [...]} */
static Manifest *
parse_signed(JsonbContainer *obj, const char *where)
{
	char	   *payload;
	int			len;
	Manifest   *m;

	payload_bytes(obj, where, &payload, &len);
	m = parse_payload(payload, len);
	parse_signatures(jb_field(obj, "signatures", where, false), psprintf("version %d", m->version), m);
	return m;
}

/*
 * Parse an envelope into its versions, oldest first: the chain, then the
 * top-level version.  Each one follows the one before it.
 */
static List *
parse_envelope(const char *data, int len)
{
	static const char *const fields[] = {"scor_manifest", "payload", "signatures", "chain", NULL};
	static const char *const chain_fields[] = {"payload", "signatures", NULL};
	Jsonb	   *jb = json_parse(data, len, "envelope");
	JsonbContainer *root;
	JsonbValue *v;
	List	   *versions = NIL;
	Manifest   *prev = NULL;
	ListCell   *lc;

	if (!JB_ROOT_IS_OBJECT(jb))
		refuse(NULL, "the envelope is not a JSON object");
	root = &jb->root;
	jb_check_fields(root, fields, "the envelope");
	if (jb_int(root, "scor_manifest", "the envelope", 1, INT_MAX) != MANIFEST_FORMAT)
		refuse(psprintf("This site reads format %d.", MANIFEST_FORMAT),
			   "the envelope has an unknown format");

	v = jb_field(root, "chain", "the envelope", true);
	if (v != NULL)
	{
		JsonbContainer *c = jb_container(v, "chain", "the envelope", true);
		int			n = JsonContainerSize(c);

		if (n > MANIFEST_MAX_CHAIN)
			refuse(NULL, "the chain has more than %d versions", MANIFEST_MAX_CHAIN);
		for (int i = 0; i < n; i++)
		{
			JsonbValue *e = getIthJsonbValueFromContainer(c, i);
			char	   *where = psprintf("entry %d of the chain", i + 1);

			if (e->type != jbvBinary || !JsonContainerIsObject(e->val.binary.data))
				refuse(NULL, "%s is not an object", where);
			jb_check_fields(e->val.binary.data, chain_fields, where);
			versions = lappend(versions, parse_signed(e->val.binary.data, where));
		}
	}
	versions = lappend(versions, parse_signed(root, "the envelope"));

	foreach(lc, versions)
	{
		Manifest   *m = (Manifest *) lfirst(lc);

		if (prev != NULL)
		{
			if (strcmp(m->network, prev->network) != 0)
				refuse(NULL, "version %d is for network \"%s\", version %d for network \"%s\"",
					   m->version, m->network, prev->version, prev->network);
			if (m->version <= prev->version ||
				strcmp(m->previous_digest ? m->previous_digest : "", prev->digest_hex) != 0)
				refuse("Each version of the chain follows the one before it, oldest first, and the top-level version follows the chain.",
					   "version %d does not follow version %d in the chain", m->version, prev->version);
		}
		prev = m;
	}
	return versions;
}

/* ------------------------------------------------------------ signatures */

static ManifestMember *
find_member(const Manifest *m, const char *site)
{
	for (int i = 0; i < m->nmembers; i++)
		if (strcmp(m->members[i].site, site) == 0)
			return &m->members[i];
	return NULL;
}

/* Does version m change the keys signer had in version prev? */
static bool
key_changed(const ManifestMember *before, const ManifestMember *after)
{
	return after != NULL &&
		(memcmp(before->public_key, after->public_key, SCOR_ELEMENT_BYTES) != 0 ||
		 memcmp(before->verify_key, after->verify_key, SCOR_SIGN_PUBLIC_BYTES) != 0);
}

/*
 * Check m's signatures against the rules of prev (m itself for a first
 * version): every signature is by a member of prev and verifies; a member
 * whose key m changes signs with its new key, and must sign; the others sign
 * with the key prev pins, and the rules count them ("all": every member of
 * prev; k: k members of prev whose keys do not change).
 */
static void
verify_signatures(const Manifest *m, const Manifest *prev)
{
	size_t		msg_len = strlen(MANIFEST_SIGNATURE_DOMAIN) + m->payload_len;
	uint8	   *msg = palloc(msg_len);
	bool	   *signed_by = palloc0(sizeof(bool) * prev->nmembers);
	int			counted = 0;
	bool		first = (m == prev);
	StringInfoData who;

	memcpy(msg, MANIFEST_SIGNATURE_DOMAIN, strlen(MANIFEST_SIGNATURE_DOMAIN));
	memcpy(msg + strlen(MANIFEST_SIGNATURE_DOMAIN), m->payload, m->payload_len);

	for (int i = 0; i < m->nsignatures; i++)
	{
		const ManifestSignature *s = &m->signatures[i];
		const ManifestMember *signer = find_member(prev, s->site);
		const ManifestMember *now;
		bool		changed;

		if (signer == NULL)
			refuse(psprintf("Version %d is signed by the members of %s.", m->version,
							first ? "that version itself" : psprintf("version %d", prev->version)),
				   "version %d is signed by \"%s\", which is not a member of version %d",
				   m->version, s->site, prev->version);
		now = first ? NULL : find_member(m, s->site);
		changed = !first && key_changed(signer, now);
		if (crypto_sign_verify_detached(s->signature, msg, msg_len,
										changed ? now->verify_key : signer->verify_key) != 0)
			refuse(changed ?
				   psprintf("Member \"%s\" changes its key in version %d and signs with its new key.", s->site, m->version) :
				   psprintf("It is checked against the key of \"%s\" in version %d.", s->site, prev->version),
				   "the signature of member \"%s\" on version %d does not verify", s->site, m->version);
		signed_by[signer - prev->members] = true;
		if (!changed)
			counted++;
	}

	initStringInfo(&who);
	for (int i = 0; i < prev->nmembers; i++)
	{
		const ManifestMember *signer = &prev->members[i];

		if (signed_by[i])
			appendStringInfo(&who, "%s%s", who.len ? ", " : "", signer->site);
		else if (!first && key_changed(signer, find_member(m, signer->site)))
			refuse("A member whose key changes signs the new version with its new key.",
				   "version %d changes the key of member \"%s\" but is not signed by it",
				   m->version, signer->site);
		else if (prev->signers == 0)
			refuse(psprintf("The rules of version %d require the signatures of all its %d members.",
							prev->version, prev->nmembers),
				   "version %d is not signed by member \"%s\"", m->version, signer->site);
	}
	if (prev->signers > 0 && counted < prev->signers)
		refuse(psprintf("The rules of version %d require the signatures of %d of its members whose keys do not change; signed by: %s.",
						prev->version, prev->signers, who.len ? who.data : "nobody"),
			   "version %d has %d of the %d signatures it needs", m->version, counted, prev->signers);
}

/* The index of this site in m, whose keys must be this site's */
static int
check_self(const Manifest *m, const char *site, const uint8 *pk, const uint8 *vk)
{
	for (int i = 0; i < m->nmembers; i++)
	{
		if (strcmp(m->members[i].site, site) != 0)
			continue;
		if (memcmp(m->members[i].public_key, pk, SCOR_ELEMENT_BYTES) != 0 ||
			memcmp(m->members[i].verify_key, vk, SCOR_SIGN_PUBLIC_BYTES) != 0)
		{
			uint8		fpr[SCOR_FINGERPRINT_BYTES];
			uint8		own[SCOR_FINGERPRINT_BYTES];

			scor_key_fingerprint(fpr, m->members[i].public_key);
			scor_key_fingerprint(own, pk);
			refuse(psprintf("It lists key %s; this site's key is %s.",
							fingerprint_to_text(fpr), fingerprint_to_text(own)),
				   "version %d lists this site (\"%s\") with another key", m->version, site);
		}
		return i;
	}
	refuse("A site applies only a manifest that lists it.",
		   "this site (\"%s\") is not a member of version %d", site, m->version);
	return -1;					/* keep compiler quiet */
}

/* ----------------------------------------------------------------- fetch */

typedef struct FetchBuffer
{
	char	   *data;			/* malloc'd */
	size_t		len;
	size_t		cap;
	size_t		max;
	bool		too_large;
	bool		out_of_memory;
} FetchBuffer;

/* libcurl write callback: keep at most max bytes; never raises */
static size_t
fetch_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	FetchBuffer *buf = (FetchBuffer *) userdata;
	size_t		n = size * nmemb;

	if (n > buf->max - buf->len)
	{
		buf->too_large = true;
		return 0;
	}
	if (buf->len + n > buf->cap)
	{
		size_t		cap = Max(buf->cap * 2, 16384);
		char	   *bigger;

		while (cap < buf->len + n)
			cap *= 2;
		cap = Min(cap, buf->max);
		bigger = realloc(buf->data, cap);
		if (bigger == NULL)
		{
			buf->out_of_memory = true;
			return 0;
		}
		buf->data = bigger;
		buf->cap = cap;
	}
	memcpy(buf->data + buf->len, ptr, n);
	buf->len += n;
	return n;
}

/* libcurl progress callback: abort on a query cancel; never raises */
static int
fetch_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
			   curl_off_t ultotal, curl_off_t ulnow)
{
	return (QueryCancelPending || ProcDiePending) ? 1 : 0;
}

/* Refuse URLs other than https:// and file://; file:// reads the server's files */
static void
check_url(const char *url)
{
	size_t		len = strlen(url);

	if (len > MANIFEST_MAX_URL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("manifest URL is longer than %d characters", MANIFEST_MAX_URL)));
	for (size_t i = 0; i < len; i++)
		if ((unsigned char) url[i] <= ' ' || (unsigned char) url[i] >= 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("manifest URL contains white space or a non-ASCII character")));
	if (pg_strncasecmp(url, "https://", 8) == 0)
		return;
	if (pg_strncasecmp(url, "file://", 7) == 0)
	{
		if (!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to read a network manifest from a file"),
					 errdetail("A file:// URL reads a file of the database server: only roles with privileges of pg_read_server_files may use one."),
					 errhint("Use an https:// URL, or have a superuser grant pg_read_server_files.")));
		return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unsupported manifest URL \"%s\"", url),
			 errhint("A manifest is fetched over https://, with certificate verification, or read from a file:// URL.")));
}

/*
 * Raise a fetch failure of url; errbuf is libcurl's message, if any.
 * fetch_failed(url, errbuf, fmt, ...) formats the message with psprintf.
 */
#define fetch_failed(url, errbuf, ...) \
	fetch_failed_message((url), (errbuf), psprintf(__VA_ARGS__))

static void
fetch_failed_message(const char *url, const char *errbuf, const char *message)
{
	ereport(ERROR,
			(errcode(ERRCODE_SCOR_MANIFEST_FETCH_FAILED),
			 errmsg("could not fetch the network manifest: %s", message),
			 errdetail("URL \"%s\"%s%s.", url, errbuf && errbuf[0] ? ": " : "",
					   errbuf ? errbuf : "")));
}

/*
 * Fetch a manifest with libcurl: https:// (certificate and host name always
 * verified) or file://, within the timeouts and the size limit, and
 * interruptible.  Returns the bytes, palloc'd.
 */
static char *
fetch_manifest(const char *url, int *len_out)
{
	CURL	   *curl;
	CURLcode	rc;
	FetchBuffer buf;
	char		errbuf[CURL_ERROR_SIZE];
	long		http_code = 0;
	curl_off_t	connect_time = 0;
	char	   *result;
	bool		is_https = pg_strncasecmp(url, "https://", 8) == 0;

	check_url(url);
	if (!curl_initialized)
	{
		if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("could not initialize libcurl")));
		curl_initialized = true;
	}
	curl = curl_easy_init();
	if (curl == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle")));

	memset(&buf, 0, sizeof(buf));
	buf.max = (size_t) manifest_max_bytes;
	errbuf[0] = '\0';

#define SETOPT(opt, val) \
	do { if (rc == CURLE_OK) rc = curl_easy_setopt(curl, opt, val); } while (0)
	rc = CURLE_OK;
	SETOPT(CURLOPT_URL, url);
	SETOPT(CURLOPT_ERRORBUFFER, errbuf);
	SETOPT(CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	SETOPT(CURLOPT_PROTOCOLS_STR, "https,file");
	SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "https");
#else
	SETOPT(CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTPS | CURLPROTO_FILE));
	SETOPT(CURLOPT_REDIR_PROTOCOLS, (long) CURLPROTO_HTTPS);
#endif
	SETOPT(CURLOPT_FOLLOWLOCATION, 1L);
	SETOPT(CURLOPT_MAXREDIRS, 5L);
	SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	SETOPT(CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2);
	if (manifest_ca_file && manifest_ca_file[0] != '\0')
		SETOPT(CURLOPT_CAINFO, manifest_ca_file);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long) manifest_connect_timeout_ms);
	SETOPT(CURLOPT_TIMEOUT_MS, (long) manifest_timeout_ms);
	SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) manifest_max_bytes);
	SETOPT(CURLOPT_WRITEFUNCTION, fetch_write);
	SETOPT(CURLOPT_WRITEDATA, &buf);
	SETOPT(CURLOPT_NOPROGRESS, 0L);
	SETOPT(CURLOPT_XFERINFOFUNCTION, fetch_progress);
	SETOPT(CURLOPT_USERAGENT, "scor");
#undef SETOPT
	if (rc != CURLE_OK)
	{
		curl_easy_cleanup(curl);
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not configure libcurl: %s", curl_easy_strerror(rc))));
	}

	rc = curl_easy_perform(curl);
	(void) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http_code);
	(void) curl_easy_getinfo(curl, CURLINFO_CONNECT_TIME_T, &connect_time);
	curl_easy_cleanup(curl);

	if (rc != CURLE_OK || (is_https && http_code != 200))
	{
		free(buf.data);
		if (rc == CURLE_ABORTED_BY_CALLBACK)
			CHECK_FOR_INTERRUPTS();
		switch (rc)
		{
			case CURLE_OK:
				fetch_failed(url, NULL, "the server answered with HTTP status %ld", http_code);
				break;
			case CURLE_WRITE_ERROR:
			case CURLE_FILESIZE_EXCEEDED:
				if (buf.out_of_memory)
					fetch_failed(url, NULL, "out of memory");
				fetch_failed(url, NULL, "manifest larger than %d bytes (scor.manifest_max_bytes)",
							 manifest_max_bytes);
				break;
			case CURLE_OPERATION_TIMEDOUT:
				if (connect_time == 0 && is_https)
					fetch_failed(url, errbuf, "timed out after %d ms (scor.manifest_connect_timeout)",
								 Min(manifest_connect_timeout_ms, manifest_timeout_ms));
				fetch_failed(url, errbuf, "timed out after %d ms (scor.manifest_timeout)",
							 manifest_timeout_ms);
				break;
			case CURLE_PEER_FAILED_VERIFICATION:
				fetch_failed(url, errbuf, "certificate verification failed");
				break;
			case CURLE_SSL_CACERT_BADFILE:
				fetch_failed(url, errbuf, "could not read the CA file (scor.manifest_ca_file)");
				break;
			case CURLE_SSL_CONNECT_ERROR:
				fetch_failed(url, errbuf, "TLS handshake failed");
				break;
			case CURLE_COULDNT_RESOLVE_HOST:
			case CURLE_COULDNT_CONNECT:
				fetch_failed(url, errbuf, "could not connect");
				break;
			case CURLE_FILE_COULDNT_READ_FILE:
				fetch_failed(url, errbuf, "could not read the file");
				break;
			case CURLE_UNSUPPORTED_PROTOCOL:
				fetch_failed(url, errbuf, "unsupported protocol (only https:// and file://)");
				break;
			case CURLE_TOO_MANY_REDIRECTS:
				fetch_failed(url, errbuf, "too many redirects");
				break;
			case CURLE_ABORTED_BY_CALLBACK:
				fetch_failed(url, NULL, "canceled");
				break;
			default:
				fetch_failed(url, errbuf, "%s", curl_easy_strerror(rc));
				break;
		}
	}

	result = palloc(buf.len + 1);
	if (buf.len > 0)
		memcpy(result, buf.data, buf.len);
	result[buf.len] = '\0';
	free(buf.data);
	*len_out = (int) buf.len;
	return result;
}

/* ------------------------------------------------------------------ state */

/* This site's name and public keys */
static char *
own_site(uint8 *pk, uint8 *vk)
{
	MemoryContext caller = CurrentMemoryContext;
	ScorOwnerScope scope;
	char	   *site = NULL;

	scor_become_owner(&scope, "pg_catalog, pg_temp");
	SPI_connect();
	if (SPI_execute("SELECT site_name, public_key, verify_key FROM scor.site", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read scor.site");
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		site = MemoryContextStrdup(caller, SPI_getvalue(tup, desc, 1));
		memcpy(pk, VARDATA_ANY(DatumGetByteaPP(SPI_getbinval(tup, desc, 2, &isnull))), SCOR_ELEMENT_BYTES);
		memcpy(vk, VARDATA_ANY(DatumGetByteaPP(SPI_getbinval(tup, desc, 3, &isnull))), SCOR_SIGN_PUBLIC_BYTES);
	}
	SPI_finish();
	scor_end_owner(&scope);
	if (site == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this site has no key"),
				 errhint("A scor_admin creates it with SELECT scor.init_site('site_name').")));
	return site;
}

/*
 * Read scor.network and the applied version's payload; with lock, first
 * take the lock that serializes joins and syncs until the transaction ends.
 */
static NetworkState *
load_state(bool lock)
{
	MemoryContext caller = CurrentMemoryContext;
	NetworkState *st = palloc0(sizeof(NetworkState));
	ScorOwnerScope scope;
	char	   *payload = NULL;

	scor_become_owner(&scope, "pg_catalog, pg_temp");
	SPI_connect();
	if (lock && SPI_execute("LOCK TABLE scor.network IN SHARE ROW EXCLUSIVE MODE", false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not lock scor.network");
	/* not read-only: a fresh snapshot, taken after the lock */
	if (SPI_execute("SELECT n.network, n.url, n.version, n.digest, m.payload "
					"FROM scor.network n LEFT JOIN scor.network_manifest m "
					"ON m.version = n.version AND m.digest = n.digest", false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read scor.network");
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *p;

		st->joined = true;
		st->network = MemoryContextStrdup(caller, SPI_getvalue(tup, desc, 1));
		st->url = MemoryContextStrdup(caller, SPI_getvalue(tup, desc, 2));
		st->version = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		st->digest = MemoryContextStrdup(caller, SPI_getvalue(tup, desc, 4));
		p = SPI_getvalue(tup, desc, 5);
		if (p == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("scor.network_manifest has no version %d with digest %s", st->version, st->digest)));
		payload = MemoryContextStrdup(caller, p);
	}
	SPI_finish();
	scor_end_owner(&scope);

	if (payload != NULL)
	{
		st->current = parse_payload(payload, strlen(payload));
		if (strcmp(st->current->digest_hex, st->digest) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the stored payload of manifest version %d does not match its digest", st->version)));
	}
	return st;
}

/* The digest this site applied for a version, or NULL */
static char *
history_digest(int version)
{
	MemoryContext caller = CurrentMemoryContext;
	ScorOwnerScope scope;
	Datum		args[1] = {Int32GetDatum(version)};
	Oid			argtypes[1] = {INT4OID};
	char	   *digest = NULL;

	scor_become_owner(&scope, "pg_catalog, pg_temp");
	SPI_connect();
	if (SPI_execute_with_args("SELECT digest FROM scor.network_manifest WHERE version = $1",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read scor.network_manifest");
	if (SPI_processed == 1)
		digest = MemoryContextStrdup(caller, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	SPI_finish();
	scor_end_owner(&scope);
	return digest;
}

/* ------------------------------------------------------------------ apply */

/* Run one statement as the calling role, with a safe search_path */
static void
run_as_caller(const char *sql)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	SPI_connect();
	if (SPI_execute(sql, false, 0) < 0)
		elog(ERROR, "could not run \"%s\"", sql);
	SPI_finish();
	AtEOXact_GUC(true, nestlevel);
}

/* The value of a server's option, or NULL */
static const char *
server_option(ForeignServer *server, const char *name)
{
	ListCell   *lc;

	foreach(lc, server->options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, name) == 0)
			return defGetString(def);
	}
	return NULL;
}

/* Is the server one of the scor wrapper? */
static bool
is_scor_server(ForeignServer *server)
{
	return strcmp(GetForeignDataWrapper(server->fdwid)->fdwname, "scor") == 0;
}

/*
 * Create or update the foreign server of every other member: named after
 * the site, with the manifest's host, port, dbname and sslmode, and this
 * site's scor.peer_sslrootcert if set (options this site added itself are
 * kept, and so are its user mappings).
 */
static void
apply_server(const ManifestMember *mm)
{
	ForeignServer *server = GetForeignServerByName(mm->site, true);
	const char *names[] = {"host", "port", "dbname", "sslmode", "site", "sslrootcert"};
	const char *values[6];
	int			noptions = 5;
	StringInfoData sql;
	bool		any = false;

	values[0] = mm->host;
	values[1] = psprintf("%d", mm->port);
	values[2] = mm->dbname;
	values[3] = mm->sslmode;
	values[4] = mm->site;
	/* the manifest cannot name a file of this site: the CA bundle is local */
	if (peer_sslrootcert != NULL && peer_sslrootcert[0] != '\0')
		values[noptions++] = peer_sslrootcert;

	initStringInfo(&sql);
	if (server == NULL)
	{
		appendStringInfo(&sql, "CREATE SERVER %s FOREIGN DATA WRAPPER scor OPTIONS (",
						 quote_identifier(mm->site));
		for (int i = 0; i < noptions; i++)
			appendStringInfo(&sql, "%s%s %s", i ? ", " : "", names[i], quote_literal_cstr(values[i]));
		appendStringInfoString(&sql, ")");
		run_as_caller(sql.data);
		run_as_caller(psprintf("GRANT USAGE ON FOREIGN SERVER %s TO scor_analyst",
							   quote_identifier(mm->site)));
		return;
	}
	if (!is_scor_server(server))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("server \"%s\" exists and is not a scor server", mm->site),
				 errdetail("The network manifest lists site \"%s\", whose server has the site's name.", mm->site),
				 errhint("Rename or drop the other server.")));
	appendStringInfo(&sql, "ALTER SERVER %s OPTIONS (", quote_identifier(mm->site));
	for (int i = 0; i < noptions; i++)
	{
		const char *old = server_option(server, names[i]);

		if (old != NULL && strcmp(old, values[i]) == 0)
			continue;
		appendStringInfo(&sql, "%s%s %s %s", any ? ", " : "", old ? "SET" : "ADD",
						 names[i], quote_literal_cstr(values[i]));
		any = true;
	}
	appendStringInfoString(&sql, ")");
	if (any)
		run_as_caller(sql.data);
}

/* Record the applied versions and the network's state */
static void
record_versions(List *versions, const Manifest *final, const char *url)
{
	ScorOwnerScope scope;
	ListCell   *lc;

	scor_become_owner(&scope, "pg_catalog, pg_temp");
	SPI_connect();
	foreach(lc, versions)
	{
		Manifest   *m = (Manifest *) lfirst(lc);
		StringInfoData sigs;
		Datum		args[7];
		Oid			argtypes[7] = {INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
		char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};

		initStringInfo(&sigs);
		appendStringInfoChar(&sigs, '[');
		for (int i = 0; i < m->nsignatures; i++)
			appendStringInfo(&sigs, "%s{\"site\": \"%s\", \"signature\": \"%s\"}", i ? ", " : "",
							 m->signatures[i].site,
							 scor_base64url_encode(m->signatures[i].signature, SCOR_SIGNATURE_BYTES));
		appendStringInfoChar(&sigs, ']');

		args[0] = Int32GetDatum(m->version);
		args[1] = CStringGetTextDatum(m->network);
		args[2] = CStringGetTextDatum(m->digest_hex);
		if (m->previous_digest)
			args[3] = CStringGetTextDatum(m->previous_digest);
		else
			nulls[3] = 'n';
		args[4] = CStringGetTextDatum(m->payload);
		args[5] = CStringGetTextDatum(sigs.data);
		args[6] = CStringGetTextDatum(url);
		if (SPI_execute_with_args("INSERT INTO scor.network_manifest (version, network, digest, previous_digest, "
								  "payload, signatures, url, applied_at) "
								  "VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, pg_catalog.now())",
								  7, argtypes, args, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not record manifest version %d", m->version);
	}

	{
		Datum		args[8];
		Oid			argtypes[8] = {TEXTOID, TEXTOID, INT4OID, TEXTOID, INT4OID, INT4OID, INT4OID, INT4OID};

		args[0] = CStringGetTextDatum(final->network);
		args[1] = CStringGetTextDatum(url);
		args[2] = Int32GetDatum(final->version);
		args[3] = CStringGetTextDatum(final->digest_hex);
		args[4] = Int32GetDatum(final->signers);
		args[5] = Int32GetDatum(final->dp_honest_sites);
		args[6] = Int32GetDatum(final->decode_range_bits);
		args[7] = Int32GetDatum(final->protocol_version);
		if (SPI_execute_with_args("INSERT INTO scor.network AS n (network, url, version, digest, signers, "
								  "dp_honest_sites, decode_range_bits, protocol_version, joined_at, applied_at, synced_at) "
								  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, pg_catalog.now(), pg_catalog.now(), pg_catalog.now()) "
								  "ON CONFLICT (singleton) DO UPDATE SET network = excluded.network, url = excluded.url, "
								  "version = excluded.version, digest = excluded.digest, signers = excluded.signers, "
								  "dp_honest_sites = excluded.dp_honest_sites, decode_range_bits = excluded.decode_range_bits, "
								  "protocol_version = excluded.protocol_version, applied_at = excluded.applied_at, "
								  "synced_at = excluded.synced_at",
								  8, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not record the network's state");
	}
	SPI_finish();
	scor_end_owner(&scope);
}

/*
 * Make this site follow version final: servers, pinned keys, settings and
 * history.  old is the version applied until now (NULL on a first join):
 * the servers of its members that final drops are dropped with their user
 * mappings.  Everything happens in the caller's transaction.
 */
static void
apply_manifest(const Manifest *final, const Manifest *old, int self,
			   List *versions, const char *url)
{
	ScorOwnerScope scope;
	Datum		args[1];
	Oid			argtypes[1] = {TEXTARRAYOID};
	Datum	   *names = palloc(sizeof(Datum) * final->nmembers);
	int			nnames = 0;
	StringInfoData unmapped;

	/* servers, as the caller (who owns them) */
	for (int i = 0; i < final->nmembers; i++)
	{
		if (i == self)
			continue;
		apply_server(&final->members[i]);
		names[nnames++] = CStringGetTextDatum(final->members[i].site);
	}
	for (int i = 0; old != NULL && i < old->nmembers; i++)
	{
		const char *site = old->members[i].site;
		ForeignServer *server;

		if (find_member(final, site) != NULL || strcmp(site, final->members[self].site) == 0)
			continue;
		server = GetForeignServerByName(site, true);
		if (server != NULL && is_scor_server(server))
			run_as_caller(psprintf("DROP SERVER %s CASCADE", quote_identifier(site)));
	}

	/* the pinned member set, as the owner of scor.member */
	args[0] = PointerGetDatum(construct_array(names, nnames, TEXTOID, -1, false, TYPALIGN_INT));
	scor_become_owner(&scope, "pg_catalog, pg_temp");
	SPI_connect();
	if (SPI_execute_with_args("DELETE FROM scor.member WHERE server_name IS NOT NULL "
							  "AND NOT (site_name = ANY ($1) AND server_name = site_name)",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not update scor.member");
	SPI_finish();
	for (int i = 0; i < final->nmembers; i++)
	{
		const ManifestMember *mm = &final->members[i];

		if (i != self)
			scor_pin_member(mm->site, mm->site, mm->public_key, mm->verify_key, mm->proof);
	}
	scor_end_owner(&scope);

	record_versions(versions, final, url);

	/* what the administrator still has to do, and what the network overrides */
	initStringInfo(&unmapped);
	SPI_connect();
	if (SPI_execute_with_args("SELECT s FROM pg_catalog.unnest($1) s WHERE NOT EXISTS "
							  "(SELECT FROM pg_catalog.pg_user_mappings u WHERE u.srvname = s) ORDER BY 1",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_user_mappings");
	for (uint64 i = 0; i < SPI_processed; i++)
		appendStringInfo(&unmapped, "%s%s", i ? ", " : "",
						 SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	SPI_finish();
	if (unmapped.len > 0)
		ereport(NOTICE,
				(errmsg("these servers have no user mapping yet: %s", unmapped.data),
				 errhint("User mappings stay local: CREATE USER MAPPING FOR PUBLIC SERVER <site> OPTIONS (user '...', password '...').")));
	if (scor_dp_honest_sites != 0 && scor_dp_honest_sites != final->dp_honest_sites)
		ereport(NOTICE,
				(errmsg("the network's dp_honest_sites (%d) overrides scor.dp_honest_sites (%d)",
						final->dp_honest_sites, scor_dp_honest_sites)));
	if (scor_decode_range_bits != 40 && scor_decode_range_bits != final->decode_range_bits)
		ereport(NOTICE,
				(errmsg("the network's decode_range_bits (%d) overrides scor.decode_range_bits (%d)",
						final->decode_range_bits, scor_decode_range_bits)));
}

/* Update the time of the last successful sync (and the URL) */
static void
touch_network(const char *url)
{
	ScorOwnerScope scope;
	Datum		args[1] = {CStringGetTextDatum(url)};
	Oid			argtypes[1] = {TEXTOID};

	scor_become_owner(&scope, "pg_catalog, pg_temp");
	SPI_connect();
	if (SPI_execute_with_args("UPDATE scor.network SET synced_at = pg_catalog.now(), url = $1",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update scor.network");
	SPI_finish();
	scor_end_owner(&scope);
}

/* ----------------------------------------------------------------- status */

/* One row: the network this site follows (none while it follows none) */
static Datum
status_rows(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	NetworkState *st;
	Datum		values[9];
	bool		nulls[9];
	const ScorNetworkKey *nk;
	Datum	   *names;
	bool		matches = true;
	ScorOwnerScope scope;
	Datum		times[2];

	InitMaterializedSRF(fcinfo, 0);

	/* see what join or sync changed in this same call */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	st = load_state(false);
	if (!st->joined)
	{
		PopActiveSnapshot();
		return (Datum) 0;
	}

	names = palloc(sizeof(Datum) * st->current->nmembers);
	for (int i = 0; i < st->current->nmembers; i++)
		names[i] = CStringGetTextDatum(st->current->members[i].site);

	/* does scor.member pin exactly the manifest's members and keys? */
	scor_become_owner(&scope, "pg_catalog, pg_temp");
	SPI_connect();
	if (SPI_execute("SELECT site_name, public_key FROM scor.member", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read scor.member");
	if ((int) SPI_processed != st->current->nmembers)
		matches = false;
	for (uint64 i = 0; matches && i < SPI_processed; i++)
	{
		bool		isnull;
		ManifestMember *mm = find_member(st->current,
										 SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		bytea	   *pk = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));

		if (mm == NULL || memcmp(mm->public_key, VARDATA_ANY(pk), SCOR_ELEMENT_BYTES) != 0)
			matches = false;
	}
	if (SPI_execute("SELECT applied_at, synced_at FROM scor.network", false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read scor.network");
	{
		bool		isnull;

		times[0] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		times[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	}
	SPI_finish();
	scor_end_owner(&scope);

	nk = scor_network_key();
	memset(nulls, 0, sizeof(nulls));
	values[0] = CStringGetTextDatum(st->network);
	values[1] = Int32GetDatum(st->version);
	values[2] = CStringGetTextDatum(st->digest);
	values[3] = CStringGetTextDatum(st->url);
	values[4] = PointerGetDatum(construct_array(names, st->current->nmembers, TEXTOID, -1, false, TYPALIGN_INT));
	values[5] = CStringGetTextDatum(scor_hex(nk->network_id, SCOR_NETWORK_ID_BYTES));
	values[6] = BoolGetDatum(matches);
	values[7] = times[0];
	values[8] = times[1];
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	PopActiveSnapshot();
	return (Datum) 0;
}

/* -------------------------------------------------------------- functions */

/*
 * scor.join_network(url, digest): follow the network of the manifest at url,
 * whose payload has the digest given out of band.
 */
Datum
scor_join_network(PG_FUNCTION_ARGS)
{
	char	   *url = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *digest = text_to_cstring(PG_GETARG_TEXT_PP(1));
	uint8		pk[SCOR_ELEMENT_BYTES];
	uint8		vk[SCOR_SIGN_PUBLIC_BYTES];
	char	   *site;
	NetworkState *st;
	List	   *versions;
	Manifest   *top;
	char	   *data;
	int			len;
	int			self;

	for (char *p = digest; *p; p++)
		*p = pg_tolower((unsigned char) *p);
	if (!hex_digest_ok(digest))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid manifest digest \"%s\"", digest),
				 errdetail("A digest is 64 hexadecimal digits: the SHA-256 of the manifest's payload, as scor.manifest_digest() prints it.")));
	check_url(url);
	site = own_site(pk, vk);
	st = load_state(true);

	data = fetch_manifest(url, &len);
	versions = parse_envelope(data, len);
	top = (Manifest *) llast(versions);

	if (strcmp(top->digest_hex, digest) != 0)
		refuse(psprintf("The manifest's version %d has digest %s; the digest given is %s.",
						top->version, top->digest_hex, digest),
			   "its digest does not match the digest given");
	if (st->joined)
	{
		if (strcmp(top->network, st->network) != 0)
			refuse(NULL, "it is for network \"%s\"; this site is in network \"%s\"",
				   top->network, st->network);
		if (strcmp(top->digest_hex, st->digest) == 0)
		{
			touch_network(url);
			ereport(NOTICE,
					(errmsg("this site already follows version %d of network \"%s\"", st->version, st->network)));
			return status_rows(fcinfo);
		}
		if (top->version <= st->version)
			refuse(psprintf("This site follows version %d; a manifest is never rolled back.", st->version),
				   "version %d is not newer than this site's version %d", top->version, st->version);
	}
	self = check_self(top, site, pk, vk);
	/* a first version is signed by its own members, as its own rules say */
	if (top->previous_digest == NULL)
		verify_signatures(top, top);

	apply_manifest(top, st->current, self, list_make1(top), url);
	return status_rows(fcinfo);
}

/*
 * scor.sync_network(): fetch the manifest again from the URL this site
 * joined with, and apply every newer version it carries, in order.
 */
Datum
scor_sync_network(PG_FUNCTION_ARGS)
{
	uint8		pk[SCOR_ELEMENT_BYTES];
	uint8		vk[SCOR_SIGN_PUBLIC_BYTES];
	char	   *site;
	NetworkState *st;
	List	   *versions;
	List	   *newer = NIL;
	Manifest   *top;
	const Manifest *prev;
	char	   *data;
	int			len;
	int			self;
	ListCell   *lc;

	site = own_site(pk, vk);
	st = load_state(true);
	if (!st->joined)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this site follows no network manifest"),
				 errhint("Join one with scor.join_network(url, digest).")));

	data = fetch_manifest(st->url, &len);
	versions = parse_envelope(data, len);
	top = (Manifest *) llast(versions);
	if (strcmp(top->network, st->network) != 0)
		refuse(NULL, "it is for network \"%s\"; this site is in network \"%s\"",
			   top->network, st->network);
	if (top->version < st->version)
		refuse(psprintf("This site follows version %d; a manifest is never rolled back.", st->version),
			   "its newest version %d is older than this site's version %d", top->version, st->version);

	foreach(lc, versions)
	{
		Manifest   *m = (Manifest *) lfirst(lc);

		if (m->version > st->version)
			newer = lappend(newer, m);
		else
		{
			char	   *applied = history_digest(m->version);

			if (applied != NULL && strcmp(applied, m->digest_hex) != 0)
				refuse(psprintf("This site applied version %d with digest %s; the manifest's has digest %s.",
								m->version, applied, m->digest_hex),
					   "its version %d differs from the version %d this site applied", m->version, m->version);
		}
	}
	if (newer == NIL)
	{
		touch_network(st->url);
		ereport(NOTICE,
				(errmsg("this site already follows the newest version %d of network \"%s\"",
						st->version, st->network)));
		return status_rows(fcinfo);
	}

	prev = st->current;
	foreach(lc, newer)
	{
		Manifest   *m = (Manifest *) lfirst(lc);

		if (m->previous_digest == NULL || strcmp(m->previous_digest, prev->digest_hex) != 0)
			refuse(m->version > prev->version + 1 ?
				   psprintf("This site follows version %d; the manifest must carry the versions in between in its chain.", prev->version) :
				   psprintf("Its previous_digest is %s; version %d has digest %s.",
							m->previous_digest ? m->previous_digest : "null", prev->version, prev->digest_hex),
				   "version %d does not follow version %d", m->version, prev->version);
		verify_signatures(m, prev);
		prev = m;
	}
	self = check_self(top, site, pk, vk);

	apply_manifest(top, st->current, self, newer, st->url);
	return status_rows(fcinfo);
}

/* scor.network_status(): the network this site follows */
Datum
scor_network_status(PG_FUNCTION_ARGS)
{
	return status_rows(fcinfo);
}

/*
 * scor.leave_network(): stop following the manifest: drop the servers of its
 * members (with their user mappings), unpin them, and forget the manifest
 */
Datum
scor_leave_network(PG_FUNCTION_ARGS)
{
	uint8		pk[SCOR_ELEMENT_BYTES];
	uint8		vk[SCOR_SIGN_PUBLIC_BYTES];
	char	   *site = own_site(pk, vk);
	NetworkState *st = load_state(true);
	Datum	   *names;
	Datum		args[1];
	Oid			argtypes[1] = {TEXTARRAYOID};
	ScorOwnerScope scope;

	if (!st->joined)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this site follows no network manifest")));

	names = palloc(sizeof(Datum) * st->current->nmembers);
	for (int i = 0; i < st->current->nmembers; i++)
	{
		const char *member = st->current->members[i].site;
		ForeignServer *server;

		names[i] = CStringGetTextDatum(member);
		if (strcmp(member, site) == 0)
			continue;
		server = GetForeignServerByName(member, true);
		if (server != NULL && is_scor_server(server))
			run_as_caller(psprintf("DROP SERVER %s CASCADE", quote_identifier(member)));
	}
	args[0] = PointerGetDatum(construct_array(names, st->current->nmembers, TEXTOID, -1, false, TYPALIGN_INT));

	scor_become_owner(&scope, "pg_catalog, pg_temp");
	SPI_connect();
	if (SPI_execute_with_args("DELETE FROM scor.member WHERE server_name IS NOT NULL AND site_name = ANY ($1)",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_DELETE ||
		SPI_execute("DELETE FROM scor.network", false, 0) != SPI_OK_DELETE ||
		SPI_execute("DELETE FROM scor.network_manifest", false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not leave the network");
	SPI_finish();
	scor_end_owner(&scope);

	ereport(NOTICE,
			(errmsg("this site no longer follows network \"%s\"", st->network)));
	PG_RETURN_VOID();
}

/* scor.manifest_digest(payload): the hex SHA-256 of the payload's bytes */
Datum
scor_manifest_digest(PG_FUNCTION_ARGS)
{
	text	   *payload = PG_GETARG_TEXT_PP(0);
	uint8		digest[MANIFEST_DIGEST_BYTES];

	crypto_hash_sha256(digest, (const uint8 *) VARDATA_ANY(payload), VARSIZE_ANY_EXHDR(payload));
	PG_RETURN_TEXT_P(cstring_to_text(scor_hex(digest, MANIFEST_DIGEST_BYTES)));
}

/*
 * scor.manifest_sign(payload): this site's signature over a payload, after
 * checking it as every site will
 */
Datum
scor_manifest_sign(PG_FUNCTION_ARGS)
{
	text	   *payload = PG_GETARG_TEXT_PP(0);
	int			len = VARSIZE_ANY_EXHDR(payload);
	Manifest   *m = parse_payload(VARDATA_ANY(payload), len);
	const char *site;
	scor_site_keys *keys;
	size_t		msg_len = strlen(MANIFEST_SIGNATURE_DOMAIN) + len;
	uint8	   *msg = palloc(msg_len);
	uint8		sig[SCOR_SIGNATURE_BYTES];
	int			rc;

	memcpy(msg, MANIFEST_SIGNATURE_DOMAIN, strlen(MANIFEST_SIGNATURE_DOMAIN));
	memcpy(msg + strlen(MANIFEST_SIGNATURE_DOMAIN), VARDATA_ANY(payload), len);
	keys = scor_load_site_keys(&site);
	rc = crypto_sign_detached(sig, NULL, msg, msg_len, keys->sign_secret);
	scor_free_site_keys(keys);
	if (rc != 0)
		elog(ERROR, "could not sign the manifest");
	ereport(NOTICE,
			(errmsg("site \"%s\" signed version %d of network \"%s\" (digest %s)",
					site, m->version, m->network, m->digest_hex)));
	PG_RETURN_TEXT_P(cstring_to_text(scor_base64url_encode(sig, SCOR_SIGNATURE_BYTES)));
}

/* Append the fields of one signed version: "payload": ..., "signatures": [...] */
static void
append_signed(StringInfo out, const char *payload, int len, const Manifest *sigs)
{
	appendStringInfo(out, "\"payload\": \"%s\", \"signatures\": [",
					 scor_base64url_encode((const uint8 *) payload, len));
	for (int i = 0; i < sigs->nsignatures; i++)
		appendStringInfo(out, "%s{\"site\": \"%s\", \"signature\": \"%s\"}", i ? ", " : "",
						 sigs->signatures[i].site,
						 scor_base64url_encode(sigs->signatures[i].signature, SCOR_SIGNATURE_BYTES));
	appendStringInfoChar(out, ']');
}

/*
 * scor.manifest_envelope(payload, signatures, previous, keep): the file to
 * publish.  previous is the envelope of the version before, whose chain and
 * top-level version become this envelope's chain (its newest keep entries).
 * Nothing is verified here: every site checks everything when it fetches.
 */
Datum
scor_manifest_envelope(PG_FUNCTION_ARGS)
{
	text	   *payload;
	Jsonb	   *sigs;
	int			keep;
	StringInfoData out;
	List	   *chain = NIL;
	int			skip;
	ListCell   *lc;
	int			n = 0;
	Manifest	given;
	JsonbValue	v;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("payload, signatures and keep must not be null")));
	payload = PG_GETARG_TEXT_PP(0);
	sigs = PG_GETARG_JSONB_P(1);
	keep = PG_GETARG_INT32(3);
	if (keep < 0 || keep > MANIFEST_MAX_CHAIN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("keep must be from 0 to %d", MANIFEST_MAX_CHAIN)));
	if (!JB_ROOT_IS_ARRAY(sigs) || JB_ROOT_IS_SCALAR(sigs))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("signatures must be a JSON array of {\"site\": ..., \"signature\": ...} objects")));
	for (int i = 0; i < (int) VARSIZE_ANY_EXHDR(payload); i++)
		if (IS_HIGHBIT_SET(VARDATA_ANY(payload)[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the payload is not ASCII")));
	if (!PG_ARGISNULL(2))
	{
		text	   *prev = PG_GETARG_TEXT_PP(2);

		chain = parse_envelope(VARDATA_ANY(prev), VARSIZE_ANY_EXHDR(prev));
	}

	/* the signatures, checked for form only */
	memset(&given, 0, sizeof(given));
	v.type = jbvBinary;
	v.val.binary.data = &sigs->root;
	v.val.binary.len = VARSIZE(sigs) - VARHDRSZ;
	parse_signatures(&v, "the signatures given", &given);

	initStringInfo(&out);
	appendStringInfo(&out, "{\"scor_manifest\": %d, ", MANIFEST_FORMAT);
	append_signed(&out, VARDATA_ANY(payload), VARSIZE_ANY_EXHDR(payload), &given);
	if (chain != NIL && keep > 0)
	{
		skip = Max(list_length(chain) - keep, 0);
		appendStringInfoString(&out, ", \"chain\": [");
		foreach(lc, chain)
		{
			Manifest   *m = (Manifest *) lfirst(lc);

			if (foreach_current_index(lc) < skip)
				continue;
			appendStringInfo(&out, "%s{", n++ ? ", " : "");
			append_signed(&out, m->payload, m->payload_len, m);
			appendStringInfoChar(&out, '}');
		}
		appendStringInfoChar(&out, ']');
	}
	appendStringInfoChar(&out, '}');
	PG_RETURN_TEXT_P(cstring_to_text(out.data));
}
