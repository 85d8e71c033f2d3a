/*
 * fuzz_federate.c
 *	  The coordinator's parsers of what peers send back, from
 *	  src/federate.c: the bytea reply decoder (bytea_from_text), the SHARES
 *	  message (verify_shares: its length check, then a DLEQ proof per share)
 *	  and a peer's public key row (peer_field, then the checks of
 *	  scor.add_peer: a valid non-identity key and the proof of possession).
 *
 * Those functions are static, so this file includes federate.c itself; the
 * rest of federate.c is unreachable from here and the linker drops it
 * (--gc-sections), with the backend symbols it needs.  Linked with
 * pgstub.c instead of the backend.
 *
 * Input: a mode byte, then
 *	0 reply    a C string, as libpq returns a bytea column in text form
 *	1 shares   a context byte (one of 9 layouts and group counts), then
 *			   the SHARES message of the fixed site for that context, checked
 *			   by verify_shares alone and by verify_all_shares (one batch of
 *			   DLEQ proofs, with PG_TRY, as scor.federate does)
 *	2 key row  site name, public key, verify key and proof (base64url), each
 *			   ended by a zero byte (a missing field is SQL NULL)
 * Oracles: only protocol violations and bad-proof errors are raised; a
 * decoded reply is exactly its hex text; SHARES verify alone exactly when
 * they verify in a batch; accepted SHARES hold exactly
 * D = x·C1 for the fixed site's x in every slot (anything else would be a
 * forged DLEQ proof); an accepted key row is the fixed site's own (anything
 * else would be a forged proof of possession); an accepted base64url field
 * re-encodes to its text.
 */
#include "../../src/federate.c"

#include <strings.h>

#include "fuzz_msg.h"

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NCONTEXTS 9

typedef struct SharesContext
{
	ScorCombined c;
	uint8	   *expected_d;		/* per slot */
	uint8	   *valid;			/* a valid SHARES message */
	size_t		valid_len;
} SharesContext;

static SharesContext contexts[NCONTEXTS];

/* Context i: layout i / 3 ([ct], [key, ct, ct], [ct, key, ct, key]), i % 3 -> 0, 1, 3 groups */
static void
build_context(SharesContext *sc, int i)
{
	static const uint8 layouts[3][4] = {
		{COLUMN_CIPHERTEXT},
		{COLUMN_KEY, COLUMN_CIPHERTEXT, COLUMN_CIPHERTEXT},
		{COLUMN_CIPHERTEXT, COLUMN_KEY, COLUMN_CIPHERTEXT, COLUMN_KEY}
	};
	static const int ncols[3] = {1, 3, 4};
	static const int ngroups[3] = {0, 1, 3};
	ScorCombined *c = &sc->c;
	ScorAnswer *layout = palloc0(sizeof(ScorAnswer));
	int			l = i / 3;
	int			nslots;
	StringInfoData msg;

	layout->ncolumns = ncols[l];
	layout->columns = palloc0(sizeof(ScorColumn) * layout->ncolumns);
	for (int k = 0; k < layout->ncolumns; k++)
	{
		layout->columns[k].kind = layouts[l][k];
		layout->columns[k].name = psprintf("col%d", k);
		if (layouts[l][k] == COLUMN_CIPHERTEXT)
			layout->nciphertexts++;
	}
	c->layout = layout;
	c->nciphertexts = layout->nciphertexts;
	c->ngroups = ngroups[i % 3];
	nslots = c->ngroups * c->nciphertexts;
	c->groups = palloc0(sizeof(ScorGroup *) * Max(c->ngroups, 1));
	c->sums = palloc0(sizeof(scor_point) * 2 * Max(nslots, 1));
	sc->expected_d = palloc0(SCOR_ELEMENT_BYTES * Max(nslots, 1));

	initStringInfo(&msg);
	appendBinaryStringInfo(&msg, "SCS1", 4);
	for (int g = 0; g < c->ngroups; g++)
	{
		ScorGroup  *grp = palloc0(sizeof(ScorGroup));
		int			k = 0;

		initStringInfo(&grp->slot_key);
		scor_group_key_append(&grp->slot_key, g == 1 ? NULL : psprintf("group %d", g));
		c->groups[g] = grp;
		for (int col = 0; col < layout->ncolumns; col++)
		{
			uint8		c1[SCOR_ELEMENT_BYTES];
			uint8	   *d = sc->expected_d + SCOR_ELEMENT_BYTES * (g * c->nciphertexts + k);
			uint8		proof[SCOR_DLEQ_PROOF_BYTES];
			char	   *label;
			scor_transcript t;

			if (layout->columns[col].kind != COLUMN_CIPHERTEXT)
				continue;
			/* a deterministic ΣC1, so D = x·C1 is the same in every process */
			label = psprintf("fuzz-sum %d %d %d", i, g, k);
			scor_hash_to_group(c1, (const uint8 *) label, strlen(label),
							   (const uint8 *) "scor-fuzz", 9);
			if (scor_point_decode(&c->sums[g * 2 * c->nciphertexts + 2 * k], c1) != 0)
				abort();
			scor_point_identity(&c->sums[g * 2 * c->nciphertexts + 2 * k + 1]);
			if (scor_partial_decrypt(d, fuzz_site_keys.elgamal_secret, c1) != 0)
				abort();
			scor_share_transcript(&t, fuzz_network_id, fuzz_query_id, FUZZ_SITE_NAME,
								  col, &grp->slot_key);
			if (scor_dleq_prove(proof, fuzz_site_keys.elgamal_secret,
								fuzz_site_keys.elgamal_public, c1, d, &t) != 0)
				abort();
			appendBinaryStringInfo(&msg, (char *) d, SCOR_ELEMENT_BYTES);
			appendBinaryStringInfo(&msg, (char *) proof, SCOR_DLEQ_PROOF_BYTES);
			k++;
		}
	}
	sc->valid = (uint8 *) msg.data;
	sc->valid_len = msg.len;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_msg_init();
	pgstub_begin();
	pgstub_persistent(true);
	for (int i = 0; i < NCONTEXTS; i++)
		build_context(&contexts[i], i);

	if (fuzz_seed_dir())
	{
		uint8		pop[SCOR_POP_BYTES];
		StringInfoData s;
		char		name[32];

		for (int i = 0; i < NCONTEXTS; i++)
		{
			initStringInfo(&s);
			appendStringInfoChar(&s, (char) i);
			appendBinaryStringInfo(&s, (char *) contexts[i].valid, contexts[i].valid_len);
			snprintf(name, sizeof(name), "shares-%d", i);
			fuzz_write_seed(name, 1, s.data, s.len);
		}

		initStringInfo(&s);
		appendStringInfoString(&s, "\\x");
		appendStringInfoString(&s, scor_hex(contexts[4].valid, contexts[4].valid_len));
		fuzz_write_seed("reply", 0, s.data, s.len);

		if (scor_pop_create(pop, FUZZ_SITE_NAME, &fuzz_site_keys) != 0)
			abort();
		initStringInfo(&s);
		appendBinaryStringInfo(&s, FUZZ_SITE_NAME, strlen(FUZZ_SITE_NAME) + 1);
		appendBinaryStringInfo(&s, scor_base64url_encode(fuzz_site_keys.elgamal_public, 32), 43 + 1);
		appendBinaryStringInfo(&s, scor_base64url_encode(fuzz_site_keys.sign_public, 32), 43 + 1);
		appendStringInfoString(&s, scor_base64url_encode(pop, sizeof(pop)));
		fuzz_write_seed("key-row", 2, s.data, s.len);
		exit(0);
	}
	pgstub_persistent(false);
	pgstub_end();
	return 0;
}

/* ------------------------------------------------------------ mode 0 */

typedef struct ReplyArgs
{
	const char *text;
	bytea	   *result;
} ReplyArgs;

static void
do_reply(void *arg)
{
	ReplyArgs  *r = arg;

	r->result = bytea_from_text(r->text, FUZZ_SITE_NAME);
}

static void
reply(const uint8 *data, size_t len)
{
	ReplyArgs	r = {pnstrdup((const char *) data, len), NULL};
	char	   *hex;

	if (!pgstub_try(do_reply, &r))
	{
		pgstub_expect_sqlstate("bytea_from_text", "08P01", NULL);
		return;
	}
	hex = scor_hex((const uint8 *) VARDATA(r.result), VARSIZE(r.result) - VARHDRSZ);
	if (strncmp(r.text, "\\x", 2) != 0 || strcasecmp(hex, r.text + 2) != 0)
		pgstub_finding("a decoded reply is not its hex text");
}

/* ------------------------------------------------------------ mode 1 */

typedef struct SharesArgs
{
	const SharesContext *sc;
	bytea	   *shares;
	scor_point *dsum;
} SharesArgs;

/* One member's shares, each proof checked alone */
static void
do_shares(void *arg)
{
	SharesArgs *s = arg;

	verify_shares(&fuzz_member, s->shares, &s->sc->c, fuzz_network_id, fuzz_query_id,
				  s->dsum, NULL);
}

/* What scor.federate runs: all members' proofs in one batch (PG_TRY inside) */
static void
do_all_shares(void *arg)
{
	SharesArgs *s = arg;

	verify_all_shares(&fuzz_member, 1, &s->shares, &s->sc->c, fuzz_network_id,
					  fuzz_query_id, s->dsum);
}

static void
shares(fuzz_input *in)
{
	const SharesContext *sc = &contexts[fuzz_u8(in) % NCONTEXTS];
	size_t		len = in->len - in->pos;
	int			nslots = sc->c.ngroups * sc->c.nciphertexts;
	SharesArgs	s = {sc, palloc(VARHDRSZ + len), palloc(sizeof(scor_point) * Max(nslots, 1))};

	SET_VARSIZE(s.shares, VARHDRSZ + len);
	memcpy(VARDATA(s.shares), in->data + in->pos, len);
	SharesArgs	all = {sc, s.shares, palloc(sizeof(scor_point) * Max(nslots, 1))};
	bool		alone,
				together;

	for (int i = 0; i < nslots; i++)
	{
		scor_point_identity(&s.dsum[i]);
		scor_point_identity(&all.dsum[i]);
	}
	alone = pgstub_try(do_shares, &s);
	if (!alone)
		pgstub_expect_sqlstate("verify_shares", "08P01", "SC003", NULL);
	together = pgstub_try(do_all_shares, &all);
	if (!together)
		pgstub_expect_sqlstate("verify_all_shares", "08P01", "SC003", NULL);
	if (alone != together)
		pgstub_finding("SHARES %s alone but %s in a batch",
					   alone ? "verify" : "fail", together ? "verify" : "fail");
	if (!alone)
		return;
	if (len != 4 + (size_t) nslots * SHARE_BYTES)
		pgstub_finding("SHARES of the wrong length were accepted");
	for (int i = 0; i < nslots; i++)
	{
		uint8		d[SCOR_ELEMENT_BYTES];

		if (memcmp(in->data + in->pos + 4 + i * SHARE_BYTES,
				   sc->expected_d + i * SCOR_ELEMENT_BYTES, SCOR_ELEMENT_BYTES) != 0)
			pgstub_finding("a share D != x·C1 was accepted: a forged DLEQ proof");
		scor_point_encode(d, &s.dsum[i]);
		if (memcmp(d, sc->expected_d + i * SCOR_ELEMENT_BYTES, SCOR_ELEMENT_BYTES) != 0)
			pgstub_finding("the accumulated share is not the share");
		scor_point_encode(d, &all.dsum[i]);
		if (memcmp(d, sc->expected_d + i * SCOR_ELEMENT_BYTES, SCOR_ELEMENT_BYTES) != 0)
			pgstub_finding("the accumulated share (batch) is not the share");
	}
}

/* ------------------------------------------------------------ mode 2 */

typedef struct FieldArgs
{
	uint8	   *out;
	size_t		len;
	const char *text;
	const char *field;
} FieldArgs;

static void
do_field(void *arg)
{
	FieldArgs  *f = arg;

	peer_field(f->out, f->len, f->text, f->field, "fuzzserver");
}

/* One base64url field; false if refused */
static bool
field(uint8 *out, size_t len, const char *text, const char *name)
{
	FieldArgs	f = {out, len, text, name};

	if (!pgstub_try(do_field, &f))
	{
		pgstub_expect_sqlstate("peer_field", "08P01", NULL);
		return false;
	}
	if (strcmp(scor_base64url_encode(out, len), text) != 0)
		pgstub_finding("an accepted %s is not the canonical text of its bytes", name);
	return true;
}

static void
key_row(const uint8 *data, size_t len)
{
	const char *fields[4] = {NULL, NULL, NULL, NULL};
	char	   *copy = palloc(len + 1);
	size_t		start = 0;
	int			n = 0;
	uint8		pk[SCOR_ELEMENT_BYTES];
	uint8		vk[SCOR_SIGN_PUBLIC_BYTES];
	uint8		pop[SCOR_POP_BYTES];
	const char *site;

	memcpy(copy, data, len);
	copy[len] = '\0';
	for (size_t i = 0; i <= len && n < 4; i++)
		if (copy[i] == '\0')
		{
			if (i > start || i < len)
				fields[n++] = copy + start;
			start = i + 1;
		}
	site = fields[0];

	/* scor.add_peer's checks, in its order */
	if (site == NULL || site[0] == '\0' || strlen(site) >= NAMEDATALEN)
		return;
	if (!field(pk, sizeof(pk), fields[1], "public key") ||
		!field(vk, sizeof(vk), fields[2], "signing key") ||
		!field(pop, sizeof(pop), fields[3], "proof of possession"))
		return;
	if (!scor_element_is_valid(pk) || scor_element_is_identity(pk))
		return;
	if (scor_pop_verify(pop, site, pk, vk) != 0)
		return;
	if (strcmp(site, FUZZ_SITE_NAME) != 0 ||
		memcmp(pk, fuzz_site_keys.elgamal_public, SCOR_ELEMENT_BYTES) != 0 ||
		memcmp(vk, fuzz_site_keys.sign_public, SCOR_SIGN_PUBLIC_BYTES) != 0)
		pgstub_finding("a key row nobody can prove was accepted: a forged proof of possession");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_input	in = {data, size, 0};
	int			mode = fuzz_u8(&in) % 3;

	pgstub_begin();
	if (mode == 0)
		reply(data + in.pos, size - in.pos);
	else if (mode == 1)
		shares(&in);
	else
		key_row(data + in.pos, size - in.pos);
	pgstub_end();
	return 0;
}
