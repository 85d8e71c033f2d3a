/*
 * fuzz_bundle.c
 *	  The BUNDLE parser of src/protocol.c (scor_bundle_parse) and, as
 *	  scor_bundle_combine does, the parsing and verification of every answer
 *	  it holds.  Linked with pgstub.c instead of the backend.
 *
 * Input: the bundle.  Oracles: only protocol violations are raised; a
 * parsed bundle rebuilds (scor_bundle_build) to exactly the input; each
 * answer parses or is refused as a protocol violation, and verifies or is
 * refused with one of scor's refusal codes; the answers that verify alone
 * also verify together in one batch, as scor_bundle_combine checks them.
 */
#include "postgres.h"

#include "fuzz_msg.h"

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A bundle of the given answers, malloc'd, in the layout scor_bundle_build writes */
static uint8 *
make_bundle(uint8 **answers, size_t *lens, int n, size_t *out_len)
{
	size_t		len = 6;
	uint8	   *b;
	size_t		off;

	for (int i = 0; i < n; i++)
		len += 4 + lens[i];
	b = malloc(len);
	memcpy(b, "SCB1", 4);
	b[4] = (uint8) (n >> 8);
	b[5] = (uint8) n;
	off = 6;
	for (int i = 0; i < n; i++)
	{
		b[off] = (uint8) (lens[i] >> 24);
		b[off + 1] = (uint8) (lens[i] >> 16);
		b[off + 2] = (uint8) (lens[i] >> 8);
		b[off + 3] = (uint8) lens[i];
		memcpy(b + off + 4, answers[i], lens[i]);
		off += 4 + lens[i];
	}
	*out_len = len;
	return b;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_msg_init();
	if (fuzz_seed_dir())
	{
		uint8	   *answers[3];
		size_t		lens[3];
		uint8	   *b;
		size_t		len;

		for (int v = 0; v < 3; v++)
			answers[v] = fuzz_build_answer(v, &lens[v], NULL);
		b = make_bundle(answers, lens, 3, &len);
		fuzz_write_seed("bundle-3", -1, b, len);
		free(b);
		b = make_bundle(answers + 2, lens + 2, 1, &len);
		fuzz_write_seed("bundle-1", -1, b, len);
		free(b);
		b = make_bundle(NULL, NULL, 0, &len);
		fuzz_write_seed("bundle-0", -1, b, len);
		free(b);
		exit(0);
	}
	return 0;
}

typedef struct Args
{
	const uint8 *data;
	size_t		len;
	bytea	  **answers;
	int			n;
	ScorAnswer *answer;
} Args;

static void
do_bundle_parse(void *arg)
{
	Args	   *a = arg;

	a->answers = scor_bundle_parse(a->data, a->len, &a->n);
}

static void
do_answer_parse(void *arg)
{
	Args	   *a = arg;

	a->answer = scor_answer_parse(a->data, a->len, "site in the bundle");
}

/* Verify one answer, adding its proofs to the bundle's batch */
static scor_batch *bundle_batch;

static void
do_verify(void *arg)
{
	scor_answer_verify((const ScorAnswer *) arg, &fuzz_member, fuzz_network_id,
					   fuzz_query_id, fuzz_query_digest, bundle_batch);
}

static void
do_verify_alone(void *arg)
{
	scor_answer_verify((const ScorAnswer *) arg, &fuzz_member, fuzz_network_id,
					   fuzz_query_id, fuzz_query_digest, NULL);
}

static void
run(const uint8 *data, size_t size)
{
	Args		b = {data, size, NULL, 0, NULL};
	bytea	   *rebuilt;

	if (!pgstub_try(do_bundle_parse, &b))
	{
		pgstub_expect_sqlstate("scor_bundle_parse", "08P01", NULL);
		return;
	}
	rebuilt = scor_bundle_build(b.answers, b.n);
	if (VARSIZE(rebuilt) - VARHDRSZ != size || memcmp(VARDATA(rebuilt), data, size) != 0)
		pgstub_finding("a parsed bundle does not rebuild to the message");

	/* as scor_bundle_combine: every answer's proofs in one batch */
	scor_batch	batch;
	bool		any_added = false;

	scor_batch_init(&batch);
	bundle_batch = &batch;
	for (int i = 0; i < b.n; i++)
	{
		Args		a = {(const uint8 *) VARDATA_ANY(b.answers[i]),
		VARSIZE_ANY_EXHDR(b.answers[i]), NULL, 0, NULL};

		if (!pgstub_try(do_answer_parse, &a))
		{
			pgstub_expect_sqlstate("scor_answer_parse", "08P01", NULL);
			continue;
		}
		if (!pgstub_try(do_verify_alone, a.answer))
		{
			pgstub_expect_sqlstate("scor_answer_verify", "08P01", "SC001", "SC002", "SC003", NULL);
			continue;
		}
		if (!pgstub_try(do_verify, a.answer))
			pgstub_finding("an answer that verifies alone is refused when batched: %s",
						   pgstub_message());
		any_added = true;
	}
	/* the answers that verified alone must verify together */
	if (any_added && scor_batch_verify(&batch) != 0)
		pgstub_finding("answers that each verify fail as a batch");
	scor_batch_free(&batch);
	bundle_batch = NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pgstub_begin();
	run(data, size);
	pgstub_end();
	return 0;
}
