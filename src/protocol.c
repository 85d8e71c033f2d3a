/*
 * protocol.c
 *	  Building, parsing and verifying the messages of a federated query.
 *
 * Every parser checks every length before it reads, and every error names
 * the site whose message was malformed: a bad message is an ERROR, never a
 * crash or a silently dropped contribution.
 */
#include "postgres.h"

#include <math.h>

#include "executor/spi.h"
#include "foreign/foreign.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "protocol.h"

#define ANSWER_MAGIC "SCA1"
#define BUNDLE_MAGIC "SCB1"
#define ANSWER_SIGNATURE_DOMAIN "scor-answer-signature-v1"

/* Bounds-checked reader over a received message */
typedef struct MsgReader
{
	const uint8 *data;
	size_t		len;
	size_t		pos;
	const char *what;			/* "answer", "bundle", ... */
	const char *site;			/* who sent it */
} MsgReader;

/* Hex form of bytes, palloc'd */
char *
scor_hex(const uint8 *data, size_t len)
{
	char	   *out = palloc(2 * len + 1);

	sodium_bin2hex(out, 2 * len + 1, data, len);
	return out;
}

/* Report a malformed message, naming the site that sent it */
static void
malformed(const MsgReader *r, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROTOCOL_VIOLATION),
			 errmsg("malformed %s from site \"%s\"", r->what, r->site),
			 errdetail("%s (at byte %zu of %zu).", detail, r->pos, r->len)));
}

static const uint8 *
read_bytes(MsgReader *r, size_t n)
{
	const uint8 *p;

	if (n > r->len - r->pos)
		malformed(r, "The message ends early");
	p = r->data + r->pos;
	r->pos += n;
	return p;
}

static uint32
read_u32(MsgReader *r)
{
	const uint8 *p = read_bytes(r, 4);

	return ((uint32) p[0] << 24) | ((uint32) p[1] << 16) | ((uint32) p[2] << 8) | p[3];
}

static uint16
read_u16(MsgReader *r)
{
	const uint8 *p = read_bytes(r, 2);

	return (uint16) ((p[0] << 8) | p[1]);
}

static uint8
read_u8(MsgReader *r)
{
	return *read_bytes(r, 1);
}

/* A length-prefixed string, without embedded NULs, palloc'd */
static char *
read_string(MsgReader *r, size_t max_len)
{
	uint32		n = read_u32(r);
	const uint8 *p;

	if (n > max_len)
		malformed(r, "A string is too long");
	p = read_bytes(r, n);
	if (memchr(p, '\0', n) != NULL)
		malformed(r, "A string contains a zero byte");
	return pnstrdup((const char *) p, n);
}

static void
append_u32(StringInfo buf, uint32 v)
{
	uint8		b[4] = {v >> 24, v >> 16, v >> 8, v};

	appendBinaryStringInfo(buf, (char *) b, 4);
}

static void
append_u16(StringInfo buf, uint16 v)
{
	uint8		b[2] = {v >> 8, v};

	appendBinaryStringInfo(buf, (char *) b, 2);
}

static void
append_u64(StringInfo buf, uint64 v)
{
	append_u32(buf, (uint32) (v >> 32));
	append_u32(buf, (uint32) v);
}

static uint64
read_u64(MsgReader *r)
{
	uint64		hi = read_u32(r);

	return (hi << 32) | read_u32(r);
}

static void
append_string(StringInfo buf, const char *s)
{
	size_t		n = strlen(s);

	append_u32(buf, (uint32) n);
	appendBinaryStringInfo(buf, s, n);
}

/* Digest of a shipped query's text: answers and proofs are bound to it */
void
scor_query_digest(uint8 *digest, const char *sql)
{
	scor_transcript t;
	uint8		full[crypto_hash_sha512_BYTES];

	scor_transcript_init(&t, "scor-query", SCOR_PROTOCOL_VERSION);
	scor_transcript_append_str(&t, "sql", sql);
	crypto_hash_sha512_final(&t.state, full);
	memcpy(digest, full, SCOR_DIGEST_BYTES);
}

/*
 * The statement a contribution proof is bound to: network, query, site,
 * column, group and the ciphertext itself, so that a proof is valid for
 * exactly one slot of one answer.
 */
void
scor_contribution_transcript(scor_transcript *t, const uint8 *network_id,
							 const uint8 *query_id, const char *site_name,
							 int column, const StringInfo group_key,
							 const uint8 *wire)
{
	scor_transcript_init(t, "scor-contribution", SCOR_PROTOCOL_VERSION);
	scor_transcript_append(t, "network", network_id, SCOR_NETWORK_ID_BYTES);
	scor_transcript_append(t, "query", query_id, SCOR_QUERY_ID_BYTES);
	scor_transcript_append_str(t, "site", site_name);
	scor_transcript_append_u64(t, "column", (uint64) column);
	scor_transcript_append(t, "group", (const uint8 *) group_key->data, group_key->len);
	scor_transcript_append(t, "ciphertext", wire, CIPHERTEXT_WIRE_BYTES);
}

/* The context of a partial decryption's DLEQ proof (the proof adds G, X, C1, D) */
void
scor_share_transcript(scor_transcript *t, const uint8 *network_id,
					  const uint8 *query_id, const char *site_name,
					  int column, const StringInfo group_key)
{
	scor_transcript_init(t, "scor-partial-decryption", SCOR_PROTOCOL_VERSION);
	scor_transcript_append(t, "network", network_id, SCOR_NETWORK_ID_BYTES);
	scor_transcript_append(t, "query", query_id, SCOR_QUERY_ID_BYTES);
	scor_transcript_append_str(t, "site", site_name);
	scor_transcript_append_u64(t, "column", (uint64) column);
	scor_transcript_append(t, "group", (const uint8 *) group_key->data, group_key->len);
}

/* Append one key value (NULL for SQL NULL) to a group's canonical key */
void
scor_group_key_append(StringInfo key, const char *value)
{
	if (value == NULL)
		appendStringInfoChar(key, 0);
	else
	{
		appendStringInfoChar(key, 1);
		append_string(key, value);
	}
}

/* Start an ANSWER: header and column descriptions */
void
scor_answer_begin(StringInfo buf, const char *site_name,
				  const uint8 *network_id, const uint8 *query_id,
				  const uint8 *query_digest, int32 min_cell,
				  int32 release_rounding,
				  const ScorColumn *columns, int ncolumns, int ngroups)
{
	initStringInfo(buf);
	appendBinaryStringInfo(buf, ANSWER_MAGIC, 4);
	appendStringInfoChar(buf, SCOR_PROTOCOL_VERSION);
	appendBinaryStringInfo(buf, (const char *) network_id, SCOR_NETWORK_ID_BYTES);
	appendBinaryStringInfo(buf, (const char *) query_id, SCOR_QUERY_ID_BYTES);
	append_string(buf, site_name);
	appendBinaryStringInfo(buf, (const char *) query_digest, SCOR_DIGEST_BYTES);
	append_u32(buf, (uint32) min_cell);
	append_u32(buf, (uint32) release_rounding);
	append_u16(buf, (uint16) ncolumns);
	for (int i = 0; i < ncolumns; i++)
	{
		uint64		eps_bits;

		appendStringInfoChar(buf, columns[i].kind);
		appendStringInfoChar(buf, columns[i].scale);
		append_string(buf, columns[i].name);
		appendStringInfoChar(buf, columns[i].noise.noised ? 1 : 0);
		memcpy(&eps_bits, &columns[i].noise.epsilon, sizeof(eps_bits));
		append_u64(buf, columns[i].noise.noised ? eps_bits : 0);
		append_u64(buf, columns[i].noise.noised ? (uint64) columns[i].noise.sensitivity : 0);
		append_u32(buf, columns[i].noise.noised ? (uint32) columns[i].noise.honest_sites : 0);
	}
	append_u32(buf, (uint32) ngroups);
}

/* The message an answer's signature covers */
static uint8 *
signature_message(const uint8 *signed_part, size_t len, size_t *msg_len)
{
	size_t		dlen = strlen(ANSWER_SIGNATURE_DOMAIN);
	uint8	   *msg = palloc(dlen + len);

	memcpy(msg, ANSWER_SIGNATURE_DOMAIN, dlen);
	memcpy(msg + dlen, signed_part, len);
	*msg_len = dlen + len;
	return msg;
}

/* Finish an ANSWER: sign everything so far with the site's signing key */
void
scor_answer_sign(StringInfo buf, const scor_site_keys *keys)
{
	size_t		msg_len;
	uint8	   *msg = signature_message((uint8 *) buf->data, buf->len, &msg_len);
	uint8		sig[SCOR_SIGNATURE_BYTES];

	crypto_sign_detached(sig, NULL, msg, msg_len, keys->sign_secret);
	appendBinaryStringInfo(buf, (char *) sig, SCOR_SIGNATURE_BYTES);
	pfree(msg);
}

/* Parse an ANSWER received from (or said to be from) from_site */
ScorAnswer *
scor_answer_parse(const uint8 *data, size_t len, const char *from_site)
{
	MsgReader	r = {data, len, 0, "answer", from_site};
	ScorAnswer *a = palloc0(sizeof(ScorAnswer));
	uint8		version;

	if (memcmp(read_bytes(&r, 4), ANSWER_MAGIC, 4) != 0)
		malformed(&r, "It does not start with the answer marker");
	version = read_u8(&r);
	if (version != SCOR_PROTOCOL_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("site \"%s\" speaks scor protocol version %d", from_site, version),
				 errdetail("This site speaks version %d.", SCOR_PROTOCOL_VERSION)));
	memcpy(a->network_id, read_bytes(&r, SCOR_NETWORK_ID_BYTES), SCOR_NETWORK_ID_BYTES);
	memcpy(a->query_id, read_bytes(&r, SCOR_QUERY_ID_BYTES), SCOR_QUERY_ID_BYTES);
	a->site_name = read_string(&r, NAMEDATALEN);
	memcpy(a->query_digest, read_bytes(&r, SCOR_DIGEST_BYTES), SCOR_DIGEST_BYTES);
	a->min_cell = (int32) read_u32(&r);
	if (a->min_cell < 0)
		malformed(&r, "The small-cell threshold is out of range");
	a->release_rounding = (int32) read_u32(&r);
	if (a->release_rounding < 1)
		malformed(&r, "The rounding of released totals is out of range");

	a->ncolumns = read_u16(&r);
	if (a->ncolumns == 0 || a->ncolumns > MaxTupleAttributeNumber)
		malformed(&r, "The number of columns is out of range");
	a->columns = palloc0(sizeof(ScorColumn) * a->ncolumns);
	for (int i = 0; i < a->ncolumns; i++)
	{
		a->columns[i].kind = read_u8(&r);
		a->columns[i].scale = read_u8(&r);
		a->columns[i].name = read_string(&r, NAMEDATALEN);
		{
			ScorNoiseInfo *n = &a->columns[i].noise;
			uint8		noised = read_u8(&r);
			uint64		eps_bits = read_u64(&r);

			if (noised > 1)
				malformed(&r, "A column has a bad noise marker");
			n->noised = noised == 1;
			memcpy(&n->epsilon, &eps_bits, sizeof(eps_bits));
			n->sensitivity = (int64) read_u64(&r);
			n->honest_sites = (int32) read_u32(&r);
			if (n->noised && (!(n->epsilon > 0) || isinf(n->epsilon) ||
							  n->sensitivity < 1 || n->honest_sites < 1))
				malformed(&r, "A column has invalid noise parameters");
		}
		if (a->columns[i].kind == COLUMN_CIPHERTEXT)
			a->nciphertexts++;
		else if (a->columns[i].kind != COLUMN_KEY)
			malformed(&r, "A column has an unknown kind");
		else if (a->columns[i].scale != 0 || a->columns[i].noise.noised)
			malformed(&r, "A group key column has a scale or noise");
		if (a->columns[i].scale > CIPHERTEXT_MAX_SCALE)
			malformed(&r, "A column has a scale out of range");
	}
	if (a->nciphertexts == 0)
		malformed(&r, "No column is a ciphertext");

	a->ngroups = (int) read_u32(&r);
	/* each group takes at least one ciphertext and proof */
	if ((size_t) a->ngroups > (len - r.pos) / (CIPHERTEXT_WIRE_BYTES + SCOR_PROOF_BYTES))
		malformed(&r, "The number of groups exceeds the message");
	a->groups = palloc0(sizeof(ScorGroup) * Max(a->ngroups, 1));
	for (int g = 0; g < a->ngroups; g++)
	{
		ScorGroup  *grp = &a->groups[g];
		int			ct = 0;

		initStringInfo(&grp->key);
		grp->site_name = a->site_name;
		grp->key_values = palloc0(sizeof(char *) * a->ncolumns);
		grp->wires = palloc(CIPHERTEXT_WIRE_BYTES * a->nciphertexts);
		grp->proofs = palloc(SCOR_PROOF_BYTES * a->nciphertexts);
		for (int i = 0; i < a->ncolumns; i++)
		{
			if (a->columns[i].kind == COLUMN_KEY)
			{
				uint8		present = read_u8(&r);

				if (present > 1)
					malformed(&r, "A key value has a bad null marker");
				grp->key_values[i] = present ? read_string(&r, MaxAllocSize) : NULL;
				scor_group_key_append(&grp->key, grp->key_values[i]);
			}
			else
			{
				memcpy(grp->wires + ct * CIPHERTEXT_WIRE_BYTES,
					   read_bytes(&r, CIPHERTEXT_WIRE_BYTES), CIPHERTEXT_WIRE_BYTES);
				memcpy(grp->proofs + ct * SCOR_PROOF_BYTES,
					   read_bytes(&r, SCOR_PROOF_BYTES), SCOR_PROOF_BYTES);
				ct++;
			}
		}
	}
	a->signed_part = data;
	a->signed_len = r.pos;
	memcpy(a->signature, read_bytes(&r, SCOR_SIGNATURE_BYTES), SCOR_SIGNATURE_BYTES);
	if (r.pos != r.len)
		malformed(&r, "There are bytes after the signature");
	return a;
}

/* Raise the error for an answer that fails a check, naming its site */
static void
answer_refused(const ScorAnswer *a, int sqlstate, const char *detail)
{
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg("the answer of site \"%s\" was refused", a->site_name),
			 errdetail("%s", detail)));
}

/*
 * Check an answer completely: who it is from, which query and network it
 * answers, its signature, and for every ciphertext its key, its form and
 * the proof that the site knows its randomness (so it was not copied,
 * negated or combined from another site's answer).
 */
void
scor_answer_verify(const ScorAnswer *a, const ScorMember *member,
				   const uint8 *network_id, const uint8 *query_id,
				   const uint8 *query_digest, scor_batch *batch)
{
	const ScorNetworkKey *nk = scor_network_key();
	size_t		msg_len;
	uint8	   *msg;

	if (strcmp(a->site_name, member->site_name) != 0)
		answer_refused(a, ERRCODE_SCOR_BAD_PROOF,
					   psprintf("It claims to come from site \"%s\", but was received for site \"%s\".",
								a->site_name, member->site_name));
	if (memcmp(a->network_id, network_id, SCOR_NETWORK_ID_BYTES) != 0)
		answer_refused(a, ERRCODE_SCOR_MEMBER_SET_MISMATCH,
					   "It answers for another member set.");
	if (memcmp(a->query_id, query_id, SCOR_QUERY_ID_BYTES) != 0)
		answer_refused(a, ERRCODE_SCOR_REPLAY,
					   "It answers another query.");
	if (memcmp(a->query_digest, query_digest, SCOR_DIGEST_BYTES) != 0)
		answer_refused(a, ERRCODE_SCOR_BAD_PROOF,
					   "It answers another query text.");

	msg = signature_message(a->signed_part, a->signed_len, &msg_len);
	if (crypto_sign_verify_detached(a->signature, msg, msg_len, member->verify_key) != 0)
		answer_refused(a, ERRCODE_SCOR_BAD_PROOF,
					   "Its signature does not verify under the site's pinned signing key.");
	pfree(msg);

	for (int g = 0; g < a->ngroups; g++)
	{
		const ScorGroup *grp = &a->groups[g];
		int			ct = 0;

		for (int i = 0; i < a->ncolumns; i++)
		{
			const uint8 *wire;
			scor_transcript t;
			scor_point	p;

			if (a->columns[i].kind != COLUMN_CIPHERTEXT)
				continue;
			wire = grp->wires + ct * CIPHERTEXT_WIRE_BYTES;
			if (wire[0] != CIPHERTEXT_VERSION || wire[1] != a->columns[i].scale)
				answer_refused(a, ERRCODE_PROTOCOL_VIOLATION,
							   psprintf("Column \"%s\" of group %d has a bad ciphertext header.",
										a->columns[i].name, g + 1));
			if (memcmp(wire + 2, nk->fingerprint, SCOR_FINGERPRINT_BYTES) != 0)
				answer_refused(a, ERRCODE_SCOR_MEMBER_SET_MISMATCH,
							   psprintf("Column \"%s\" of group %d is not encrypted under the network key.",
										a->columns[i].name, g + 1));
			if (scor_point_decode(&p, wire + 2 + SCOR_FINGERPRINT_BYTES) != 0 ||
				scor_point_decode(&p, wire + 2 + SCOR_FINGERPRINT_BYTES + SCOR_ELEMENT_BYTES) != 0)
				answer_refused(a, ERRCODE_PROTOCOL_VIOLATION,
							   psprintf("Column \"%s\" of group %d is not a valid ciphertext.",
										a->columns[i].name, g + 1));
			scor_contribution_transcript(&t, network_id, query_id, a->site_name, i,
										 (StringInfo) &grp->key, wire);
			/* with a batch, only malformed proofs fail here; the batch checks the rest */
			if ((batch != NULL ?
				 scor_batch_add_schnorr(batch, grp->proofs + ct * SCOR_PROOF_BYTES,
										wire + 2 + SCOR_FINGERPRINT_BYTES, &t) :
				 scor_schnorr_verify(grp->proofs + ct * SCOR_PROOF_BYTES,
									 wire + 2 + SCOR_FINGERPRINT_BYTES, &t)) != 0)
				answer_refused(a, ERRCODE_SCOR_BAD_PROOF,
							   psprintf("The proof for column \"%s\" of group %d does not verify: the ciphertext was not freshly encrypted by this site for this query.",
										a->columns[i].name, g + 1));
			ct++;
		}
	}
}

/*
 * The digest a round-1 request's signature covers: a transcript of
 * everything the member asked acts on, and of who asks whom.
 */
static void
request_digest(uint8 *digest, const ScorRequest *req)
{
	scor_transcript t;

	scor_transcript_init(&t, "scor-request", SCOR_PROTOCOL_VERSION);
	scor_transcript_append(&t, "network", req->network_id, SCOR_NETWORK_ID_BYTES);
	scor_transcript_append(&t, "query", req->query_id, SCOR_QUERY_ID_BYTES);
	scor_transcript_append_str(&t, "coordinator", req->coordinator);
	scor_transcript_append_str(&t, "site", req->site);
	scor_transcript_append_str(&t, "analyst", req->analyst);
	scor_transcript_append_str(&t, "sql", req->sql);
	scor_transcript_append_u64(&t, "per-site", req->per_site ? 1 : 0);
	scor_transcript_append_str(&t, "template", req->template_name);
	scor_transcript_append_u64(&t, "params", (uint64) req->nparams);
	for (int i = 0; i < req->nparams; i++)
	{
		if (req->params[i] == NULL)
			scor_transcript_append(&t, "param-null", (const uint8 *) "", 0);
		else
			scor_transcript_append_str(&t, "param", req->params[i]);
	}
	crypto_hash_sha512_final(&t.state, digest);
}

/* Sign a round-1 request with this site's (the coordinator's) signing key */
void
scor_request_sign(uint8 *signature, const ScorRequest *req,
				  const scor_site_keys *keys)
{
	uint8		digest[crypto_hash_sha512_BYTES];

	request_digest(digest, req);
	if (crypto_sign_detached(signature, NULL, digest, sizeof(digest),
							 keys->sign_secret) != 0)
		elog(ERROR, "could not sign a federated query request");
}

/*
 * Check, before anything else is done for it, that a round-1 request comes
 * from the member it names as its coordinator: its signature must verify
 * under that member's pinned signing key, for this site.  Fills in
 * req->site with this site's name.  A request that names no member, or
 * does not verify, is refused naming the claimed coordinator.
 */
void
scor_request_authenticate(ScorRequest *req, const uint8 *signature,
						  size_t signature_len)
{
	ScorMember *members;
	int			nmembers;
	int			self;
	const ScorMember *from = NULL;
	uint8		digest[crypto_hash_sha512_BYTES];

	members = scor_members(&nmembers, &self);
	for (int i = 0; i < nmembers && from == NULL; i++)
	{
		if (strcmp(members[i].site_name, req->coordinator) == 0)
			from = &members[i];
	}
	if (from == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SCOR_MEMBER_SET_MISMATCH),
				 errmsg("request from \"%s\" is for another member set", req->coordinator),
				 errdetail("Site \"%s\" is not a member of the network of site \"%s\".",
						   req->coordinator, members[self].site_name)));

	req->site = members[self].site_name;
	if (signature_len != SCOR_SIGNATURE_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_SCOR_BAD_PROOF),
				 errmsg("the request from site \"%s\" does not verify", req->coordinator),
				 errdetail("Its signature has %zu bytes, not %d.",
						   signature_len, SCOR_SIGNATURE_BYTES)));
	request_digest(digest, req);
	if (crypto_sign_verify_detached(signature, digest, sizeof(digest),
									from->verify_key) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_SCOR_BAD_PROOF),
				 errmsg("the request from site \"%s\" does not verify", req->coordinator),
				 errdetail("Its signature does not verify under the site's pinned signing key, for a request to site \"%s\".",
						   req->site),
				 errhint("Only the site a request names as its coordinator can make it.")));
}

/* BUNDLE: every member's answer, for the second phase */
bytea *
scor_bundle_build(bytea **answers, int nanswers)
{
	StringInfoData buf;
	bytea	   *result;

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, BUNDLE_MAGIC, 4);
	append_u16(&buf, (uint16) nanswers);
	for (int i = 0; i < nanswers; i++)
	{
		append_u32(&buf, VARSIZE_ANY_EXHDR(answers[i]));
		appendBinaryStringInfo(&buf, VARDATA_ANY(answers[i]), VARSIZE_ANY_EXHDR(answers[i]));
	}
	result = palloc(VARHDRSZ + buf.len);
	SET_VARSIZE(result, VARHDRSZ + buf.len);
	memcpy(VARDATA(result), buf.data, buf.len);
	pfree(buf.data);
	return result;
}

/* Split a BUNDLE into its answers (still to be parsed and verified) */
bytea **
scor_bundle_parse(const uint8 *data, size_t len, int *nanswers)
{
	MsgReader	r = {data, len, 0, "bundle", "coordinator"};
	bytea	  **answers;
	int			n;

	if (memcmp(read_bytes(&r, 4), BUNDLE_MAGIC, 4) != 0)
		malformed(&r, "It does not start with the bundle marker");
	n = read_u16(&r);
	answers = palloc0(sizeof(bytea *) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		uint32		alen = read_u32(&r);
		const uint8 *p = read_bytes(&r, alen);

		answers[i] = palloc(VARHDRSZ + alen);
		SET_VARSIZE(answers[i], VARHDRSZ + alen);
		memcpy(VARDATA(answers[i]), p, alen);
	}
	if (r.pos != r.len)
		malformed(&r, "There are bytes after the last answer");
	*nanswers = n;
	return answers;
}

/* The network's members as pinned here, sorted by site name; exactly one is this site */
ScorMember *
scor_members(int *nmembers, int *self_index)
{
	MemoryContext caller = CurrentMemoryContext;
	ScorMember *members;
	int			n;
	ScorOwnerScope scope;

	*self_index = -1;
	scor_become_owner(&scope, "pg_catalog, pg_temp");
	SPI_connect();
	if (SPI_execute("SELECT site_name, server_name, public_key, verify_key FROM scor.member "
					"ORDER BY site_name COLLATE \"C\"", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read scor.member");
	n = (int) SPI_processed;
	members = MemoryContextAllocZero(caller, sizeof(ScorMember) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *server;
		bytea	   *pk = DatumGetByteaPP(SPI_getbinval(tup, desc, 3, &isnull));
		bytea	   *vk = DatumGetByteaPP(SPI_getbinval(tup, desc, 4, &isnull));

		members[i].site_name = MemoryContextStrdup(caller, SPI_getvalue(tup, desc, 1));
		server = SPI_getvalue(tup, desc, 2);
		memcpy(members[i].public_key, VARDATA_ANY(pk), SCOR_ELEMENT_BYTES);
		memcpy(members[i].verify_key, VARDATA_ANY(vk), SCOR_SIGN_PUBLIC_BYTES);
		if (server == NULL)
		{
			if (*self_index >= 0)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("scor.member lists more than one member without a server")));
			*self_index = i;
		}
		else
		{
			members[i].server_name = MemoryContextStrdup(caller, server);
			members[i].serverid = GetForeignServerByName(server, false)->serverid;
		}
	}
	SPI_finish();
	scor_end_owner(&scope);
	if (*self_index < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this site has no key"),
				 errhint("A scor_admin creates it with SELECT scor.init_site('site_name').")));
	*nmembers = n;
	return members;
}

/* Refuse a request made for any member set other than this site's own */
void
scor_check_network_id(const uint8 *requested, const char *requester)
{
	const ScorNetworkKey *nk = scor_network_key();

	if (memcmp(requested, nk->network_id, SCOR_NETWORK_ID_BYTES) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_SCOR_MEMBER_SET_MISMATCH),
				 errmsg("request from \"%s\" is for another member set", requester),
				 errdetail("The request names network %s; this site's network of %d members is %s.",
						   scor_hex(requested, 8), nk->members, scor_hex(nk->network_id, 8)),
				 errhint("Every site must pin the same members; compare SELECT * FROM scor.network_key() and the table scor.member at each site.")));
}
