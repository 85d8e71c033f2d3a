/*
 * fuzz_answer.c
 *	  The ANSWER parser and verifier of src/protocol.c (scor_answer_parse,
 *	  scor_answer_verify), compiled against the PostgreSQL 15 headers and
 *	  linked with pgstub.c instead of the backend.
 *
 * Input: a mode byte, then
 *	0 raw      the message: parse, then verify against the fixed member
 *	1 resign   the message, re-signed with the fixed site's key before it is
 *			   verified: a malicious but correctly signing site, so the
 *			   checks after the signature are reached
 *	2 edit     a valid answer built by this process, altered by up to 32
 *			   edits (offset u16, xor byte), re-signed, verified
 * Oracles: the parser raises only protocol violations; a parsed answer
 * re-serialises (scor_answer_begin and the group layout) to exactly the
 * input; the verifier raises only scor's refusal codes, and decides the same
 * with each proof checked alone and with the proofs in a batch
 * (scor_batch_*); in mode 2 an answer
 * whose protected bytes (everything the proofs bind, see fuzz_msg.h) were
 * changed is never accepted.
 */
#include "postgres.h"

#include "access/htup_details.h"

#include "fuzz_msg.h"

#define MAX_EDITS 32

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8 *template;
static size_t template_len;
static uint8 *template_protect;
static bool noncanonical_noted;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_msg_init();
	template = fuzz_build_answer(0, &template_len, &template_protect);
	if (fuzz_seed_dir())
	{
		for (int v = 0; v < 3; v++)
		{
			size_t		len;
			uint8	   *a = fuzz_build_answer(v, &len, NULL);
			char		name[32];

			snprintf(name, sizeof(name), "raw-%d", v);
			fuzz_write_seed(name, 0, a, len);
			snprintf(name, sizeof(name), "resign-%d", v);
			fuzz_write_seed(name, 1, a, len);
			free(a);
		}
		fuzz_write_seed("edit-none", 2, NULL, 0);
		fuzz_write_seed("edit-min-cell", 2, "\x63\x00\x01", 3);
		exit(0);
	}
	return 0;
}

typedef struct ParseArgs
{
	const uint8 *data;
	size_t		len;
	ScorAnswer *answer;
} ParseArgs;

static void
do_parse(void *arg)
{
	ParseArgs  *p = arg;

	p->answer = scor_answer_parse(p->data, p->len, FUZZ_SITE_NAME);
}

typedef struct VerifyArgs
{
	const ScorAnswer *answer;
	scor_batch *batch;
} VerifyArgs;

static void
do_verify(void *arg)
{
	VerifyArgs *v = arg;

	scor_answer_verify(v->answer, &fuzz_member, fuzz_network_id,
					   fuzz_query_id, fuzz_query_digest, v->batch);
}

/* A parsed answer must be exactly the bytes it was parsed from */
static void
check_round_trip(const ScorAnswer *a, const uint8 *data, size_t len)
{
	StringInfoData buf;

	if (a->signed_part != data || a->signed_len + SCOR_SIGNATURE_BYTES != len)
		pgstub_finding("the signed part of a parsed answer is not the message");
	if (a->ncolumns < 1 || a->ncolumns > MaxTupleAttributeNumber ||
		a->nciphertexts < 1 || a->nciphertexts > a->ncolumns || a->ngroups < 0)
		pgstub_finding("a parsed answer has impossible counts");

	for (int i = 0; i < a->ncolumns; i++)
	{
		const ScorNoiseInfo *n = &a->columns[i].noise;
		uint64		eps_bits;

		memcpy(&eps_bits, &n->epsilon, sizeof(eps_bits));
		if (!n->noised && (eps_bits != 0 || n->sensitivity != 0 || n->honest_sites != 0))
		{
			/* accepted, but scor_answer_begin would write zeros here */
			if (!noncanonical_noted)
				fprintf(stderr, "fuzz_answer: note: the parser accepts non-zero noise fields in a column without noise\n");
			noncanonical_noted = true;
			return;
		}
	}

	scor_answer_begin(&buf, a->site_name, a->network_id, a->query_id, a->query_digest,
					  a->min_cell, a->release_rounding, a->columns, a->ncolumns, a->ngroups);
	for (int g = 0; g < a->ngroups; g++)
	{
		const ScorGroup *grp = &a->groups[g];
		StringInfoData key;
		int			ct = 0;

		initStringInfo(&key);
		for (int i = 0; i < a->ncolumns; i++)
		{
			if (a->columns[i].kind == COLUMN_KEY)
			{
				scor_group_key_append(&buf, grp->key_values[i]);
				scor_group_key_append(&key, grp->key_values[i]);
				continue;
			}
			appendBinaryStringInfo(&buf, (char *) grp->wires + ct * CIPHERTEXT_WIRE_BYTES,
								   CIPHERTEXT_WIRE_BYTES);
			appendBinaryStringInfo(&buf, (char *) grp->proofs + ct * SCOR_PROOF_BYTES,
								   SCOR_PROOF_BYTES);
			ct++;
		}
		if (key.len != grp->key.len || memcmp(key.data, grp->key.data, key.len) != 0)
			pgstub_finding("group %d's canonical key does not match its values", g);
	}
	appendBinaryStringInfo(&buf, (char *) a->signature, SCOR_SIGNATURE_BYTES);
	if ((size_t) buf.len != len || memcmp(buf.data, data, len) != 0)
		pgstub_finding("a parsed answer does not re-serialise to the message");
}

/* Parse and check; NULL if the parser refused it */
static ScorAnswer *
parse(const uint8 *data, size_t len)
{
	ParseArgs	p = {data, len, NULL};

	if (!pgstub_try(do_parse, &p))
	{
		pgstub_expect_sqlstate("scor_answer_parse", "08P01", NULL);
		return NULL;
	}
	check_round_trip(p.answer, data, len);
	return p.answer;
}

/*
 * true if the answer is accepted: verified alone (each proof checked), then
 * with its proofs gathered in a batch; both ways must agree
 */
static bool
verify(const ScorAnswer *a)
{
	VerifyArgs	v = {a, NULL};
	scor_batch	batch;
	bool		alone,
				together;

	alone = pgstub_try(do_verify, &v);
	/* protocol violation, member set mismatch, replay, bad proof */
	if (!alone)
		pgstub_expect_sqlstate("scor_answer_verify", "08P01", "SC001", "SC002", "SC003", NULL);

	scor_batch_init(&batch);
	v.batch = &batch;
	together = pgstub_try(do_verify, &v);
	if (!together)
		pgstub_expect_sqlstate("scor_answer_verify (batch)", "08P01", "SC001", "SC002", "SC003", NULL);
	else
		together = scor_batch_verify(&batch) == 0;
	scor_batch_free(&batch);
	if (alone != together)
		pgstub_finding("an answer %s alone but %s in a batch",
					   alone ? "verifies" : "fails", together ? "verifies" : "fails");
	return alone;
}

/* Replace the signature of a parsed message by the fixed site's own */
static void
resign(uint8 *msg, size_t signed_len)
{
	static const char domain[] = "scor-answer-signature-v1";
	size_t		dlen = strlen(domain);
	uint8	   *m = malloc(dlen + signed_len);

	memcpy(m, domain, dlen);
	memcpy(m + dlen, msg, signed_len);
	crypto_sign_detached(msg + signed_len, NULL, m, dlen + signed_len,
						 fuzz_site_keys.sign_secret);
	free(m);
}

static void
run(fuzz_input *in, int mode)
{
	const uint8 *body = in->data + in->pos;
	size_t		len = in->len - in->pos;
	ScorAnswer *a;

	if (mode == 0)
	{
		if ((a = parse(body, len)) != NULL)
			verify(a);
		return;
	}
	if (mode == 1)
	{
		uint8	   *copy;

		if ((a = parse(body, len)) == NULL)
			return;
		copy = palloc(len);
		memcpy(copy, body, len);
		resign(copy, a->signed_len);
		if ((a = parse(copy, len)) == NULL)
			pgstub_finding("a re-signed answer no longer parses");
		verify(a);
		return;
	}

	/* mode 2: edits of a valid answer */
	{
		uint8	   *copy = palloc(template_len);
		bool		protected_changed = false;

		memcpy(copy, template, template_len);
		for (int e = 0; e < MAX_EDITS && in->pos < in->len; e++)
		{
			size_t		off = fuzz_u16(in) % template_len;
			uint8		x = fuzz_u8(in);

			copy[off] ^= x;
		}
		for (size_t i = 0; i + SCOR_SIGNATURE_BYTES < template_len; i++)
			if (copy[i] != template[i] && template_protect[i])
				protected_changed = true;
		if ((a = parse(copy, template_len)) == NULL)
			return;
		resign(copy, a->signed_len);
		if ((a = parse(copy, template_len)) == NULL)
			pgstub_finding("a re-signed answer no longer parses");
		if (verify(a) && protected_changed)
			pgstub_finding("an answer with altered identities, keys, ciphertexts or proofs is accepted");
		if (!protected_changed && !verify(a))
			pgstub_finding("an answer with only free fields changed is refused: %s", pgstub_message());
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_input	in = {data, size, 0};
	int			mode = fuzz_u8(&in) % 3;

	pgstub_begin();
	run(&in, mode);
	pgstub_end();
	return 0;
}
