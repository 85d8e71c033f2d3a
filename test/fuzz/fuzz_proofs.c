/*
 * fuzz_proofs.c
 *	  The proof verifiers of src/crypto.c on arbitrary bytes: Schnorr
 *	  (scor_schnorr_verify), Chaum-Pedersen DLEQ (scor_dleq_verify) and
 *	  proof of possession (scor_pop_verify), plus the hash-to-field helpers.
 *
 * Input: a mode byte, then the mode's fields (missing bytes read as zero).
 *	0 schnorr  proof(64) P(32) context(rest)        raw verify
 *	1 dleq     proof(96) X(32) C1(32) D(32) context  raw verify
 *	2 pop      pop(128) X(32) sign_public(32) site   raw verify
 *	3 schnorr  xor mask over (proof || P), context   a valid proof, altered
 *	4 dleq     xor mask over (proof || X || C1 || D)  a valid proof, altered
 *	5 pop      xor mask over (pop || X || sign_pub)   a valid proof, altered
 *	6 expand   out_len(2) dst_len(1) dst msg          expand_message_xmd,
 *				 hash_to_group, hash_to_scalar
 *	7 batch    up to 8 items of: kind(1) mask(...)   a batch (scor_batch_*)
 *				 of valid Schnorr/DLEQ proofs, each altered by its mask
 *				 (kind bit 0: DLEQ; bit 1: use the raw bytes instead of
 *				 the valid proof), verified after every addition
 * The oracle is soundness: nobody but the fixed test site knows a secret
 * key, so a raw proof may only verify for the test site's own statement
 * (the seeds hold such proofs), with D = x·C1 for a DLEQ; an altered valid
 * proof must never verify; a batch verifies exactly when each of its
 * proofs verifies alone.  Any other outcome is a finding.
 */
#include "fuzz_common.h"

#define CONTEXT_TAG "scor-fuzz-proof"
#define FIXED_CONTEXT "fuzz-statement"

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Offsets of X, C1 and D after a DLEQ proof */
#define DQ_X SCOR_DLEQ_PROOF_BYTES
#define DQ_C1 (DQ_X + SCOR_ELEMENT_BYTES)
#define DQ_D (DQ_C1 + SCOR_ELEMENT_BYTES)

/* The valid proofs this process made, for modes 3-5 and 7 */
static uint8_t schnorr_ok[SCOR_PROOF_BYTES + SCOR_ELEMENT_BYTES];
static uint8_t dleq_ok[SCOR_DLEQ_PROOF_BYTES + 3 * SCOR_ELEMENT_BYTES];
static uint8_t pop_ok[SCOR_POP_BYTES + SCOR_ELEMENT_BYTES + SCOR_SIGN_PUBLIC_BYTES];

_Static_assert(sizeof(pop_ok) <= 256 && sizeof(dleq_ok) <= 256, "mask buffers");

static void
make_transcript(scor_transcript *t, const uint8_t *ctx, size_t len)
{
	scor_transcript_init(t, CONTEXT_TAG, 1);
	scor_transcript_append(t, "context", ctx, len);
}

/* The C1 of the fixed DLEQ statement, and D = x·C1 */
static void
fixed_dleq_statement(uint8_t *c1, uint8_t *d)
{
	static const char msg[] = "fuzz-dleq-c1";

	scor_hash_to_group(c1, (const uint8_t *) msg, strlen(msg),
					   (const uint8_t *) CONTEXT_TAG, strlen(CONTEXT_TAG));
	if (scor_partial_decrypt(d, fuzz_site_keys.elgamal_secret, c1) != 0)
		abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	scor_transcript t;
	const scor_site_keys *k = &fuzz_site_keys;

	fuzz_init_keys();
	make_transcript(&t, (const uint8_t *) FIXED_CONTEXT, strlen(FIXED_CONTEXT));

	if (scor_schnorr_prove(schnorr_ok, k->elgamal_secret, k->elgamal_public, &t) != 0)
		abort();
	memcpy(schnorr_ok + SCOR_PROOF_BYTES, k->elgamal_public, SCOR_ELEMENT_BYTES);

	memcpy(dleq_ok + DQ_X, k->elgamal_public, SCOR_ELEMENT_BYTES);
	fixed_dleq_statement(dleq_ok + DQ_C1, dleq_ok + DQ_D);
	if (scor_dleq_prove(dleq_ok, k->elgamal_secret, k->elgamal_public,
						dleq_ok + DQ_C1, dleq_ok + DQ_D, &t) != 0)
		abort();

	if (scor_pop_create(pop_ok, FUZZ_SITE_NAME, k) != 0)
		abort();
	memcpy(pop_ok + SCOR_POP_BYTES, k->elgamal_public, SCOR_ELEMENT_BYTES);
	memcpy(pop_ok + SCOR_POP_BYTES + 32, k->sign_public, SCOR_SIGN_PUBLIC_BYTES);

	if (fuzz_seed_dir())
	{
		uint8_t		buf[512];
		size_t		n;

		n = sizeof(schnorr_ok);
		memcpy(buf, schnorr_ok, n);
		memcpy(buf + n, FIXED_CONTEXT, strlen(FIXED_CONTEXT));
		fuzz_write_seed("schnorr-valid", 0, buf, n + strlen(FIXED_CONTEXT));
		n = sizeof(dleq_ok);
		memcpy(buf, dleq_ok, n);
		memcpy(buf + n, FIXED_CONTEXT, strlen(FIXED_CONTEXT));
		fuzz_write_seed("dleq-valid", 1, buf, n + strlen(FIXED_CONTEXT));
		n = sizeof(pop_ok);
		memcpy(buf, pop_ok, n);
		memcpy(buf + n, FUZZ_SITE_NAME, strlen(FUZZ_SITE_NAME));
		fuzz_write_seed("pop-valid", 2, buf, n + strlen(FUZZ_SITE_NAME));
		memset(buf, 0, sizeof(buf));
		memcpy(buf + sizeof(schnorr_ok), FIXED_CONTEXT, strlen(FIXED_CONTEXT));
		fuzz_write_seed("schnorr-altered", 3, buf, sizeof(schnorr_ok) + strlen(FIXED_CONTEXT));
		memset(buf, 0, sizeof(buf));
		fuzz_write_seed("dleq-altered", 4, buf, sizeof(dleq_ok));
		fuzz_write_seed("pop-altered", 5, buf, sizeof(pop_ok));
		buf[0] = 64;
		buf[1] = 0;
		buf[2] = 4;
		memcpy(buf + 3, "DSTxmessage", 11);
		fuzz_write_seed("expand", 6, buf, 14);
		/* a batch of a Schnorr and a DLEQ proof, unaltered */
		memset(buf, 0, sizeof(buf));
		buf[0] = 0;
		buf[1 + sizeof(schnorr_ok)] = 1;
		fuzz_write_seed("batch", 7, buf, 2 + sizeof(schnorr_ok) + sizeof(dleq_ok));
		/* the same with the DLEQ proof's s changed */
		buf[2 + sizeof(schnorr_ok) + 2 * SCOR_ELEMENT_BYTES] = 1;
		fuzz_write_seed("batch-bad", 7, buf, 2 + sizeof(schnorr_ok) + sizeof(dleq_ok));
		exit(0);
	}
	return 0;
}

/* mode 0 */
static void
raw_schnorr(fuzz_input *in)
{
	uint8_t		proof[SCOR_PROOF_BYTES];
	uint8_t		P[SCOR_ELEMENT_BYTES];
	scor_transcript t;
	const uint8_t *ctx;
	size_t		ctx_len;

	fuzz_take(in, proof, sizeof(proof));
	fuzz_take(in, P, sizeof(P));
	ctx = in->data + in->pos;
	ctx_len = in->len - in->pos;
	make_transcript(&t, ctx, ctx_len);
	if (scor_schnorr_verify(proof, P, &t) == 0 &&
		(memcmp(P, fuzz_site_keys.elgamal_public, 32) != 0 ||
		 ctx_len != strlen(FIXED_CONTEXT) || memcmp(ctx, FIXED_CONTEXT, ctx_len) != 0))
		FUZZ_FINDING("a Schnorr proof verifies for a statement nobody can prove");
}

/* mode 1 */
static void
raw_dleq(fuzz_input *in)
{
	uint8_t		proof[SCOR_DLEQ_PROOF_BYTES];
	uint8_t		X[32],
				C1[32],
				D[32],
				xC1[32];
	scor_transcript t;
	const uint8_t *ctx;
	size_t		ctx_len;

	fuzz_take(in, proof, sizeof(proof));
	fuzz_take(in, X, 32);
	fuzz_take(in, C1, 32);
	fuzz_take(in, D, 32);
	ctx = in->data + in->pos;
	ctx_len = in->len - in->pos;
	make_transcript(&t, ctx, ctx_len);
	if (scor_dleq_verify(proof, X, C1, D, &t) != 0)
		return;
	if (memcmp(X, fuzz_site_keys.elgamal_public, 32) != 0)
		FUZZ_FINDING("a DLEQ proof verifies under a key nobody holds");
	if (scor_partial_decrypt(xC1, fuzz_site_keys.elgamal_secret, C1) != 0 ||
		memcmp(xC1, D, 32) != 0)
		FUZZ_FINDING("a DLEQ proof verifies for a false statement (D != x·C1)");
	if (ctx_len != strlen(FIXED_CONTEXT) || memcmp(ctx, FIXED_CONTEXT, ctx_len) != 0)
		FUZZ_FINDING("a DLEQ proof verifies in a context it was not made for");
}

/* mode 2 */
static void
raw_pop(fuzz_input *in)
{
	uint8_t		pop[SCOR_POP_BYTES];
	uint8_t		X[32],
				S[32];
	char	   *site;
	size_t		n;

	fuzz_take(in, pop, sizeof(pop));
	fuzz_take(in, X, 32);
	fuzz_take(in, S, 32);
	n = in->len - in->pos;
	site = malloc(n + 1);
	memcpy(site, in->data + in->pos, n);
	site[n] = '\0';
	if (scor_pop_verify(pop, site, X, S) == 0 &&
		(strcmp(site, FUZZ_SITE_NAME) != 0 ||
		 memcmp(X, fuzz_site_keys.elgamal_public, 32) != 0 ||
		 memcmp(S, fuzz_site_keys.sign_public, 32) != 0))
		FUZZ_FINDING("a proof of possession verifies for keys or a name nobody can prove");
	free(site);
}

/* Apply the input as an xor mask; 1 if anything changed */
static int
apply_mask(fuzz_input *in, uint8_t *buf, size_t len)
{
	uint8_t		mask[256];
	int			changed = 0;

	fuzz_take(in, mask, len);
	for (size_t i = 0; i < len; i++)
	{
		buf[i] ^= mask[i];
		changed |= mask[i];
	}
	return changed != 0;
}

/* modes 3-5 */
static void
altered(fuzz_input *in, int mode)
{
	uint8_t		buf[256];
	scor_transcript t;
	const uint8_t *ctx;
	size_t		ctx_len;
	int			changed;
	int			rc;

	switch (mode)
	{
		case 3:
			memcpy(buf, schnorr_ok, sizeof(schnorr_ok));
			changed = apply_mask(in, buf, sizeof(schnorr_ok));
			ctx = in->data + in->pos;
			ctx_len = in->len - in->pos;
			changed |= ctx_len != strlen(FIXED_CONTEXT) || memcmp(ctx, FIXED_CONTEXT, ctx_len) != 0;
			make_transcript(&t, ctx, ctx_len);
			rc = scor_schnorr_verify(buf, buf + SCOR_PROOF_BYTES, &t);
			break;
		case 4:
			memcpy(buf, dleq_ok, sizeof(dleq_ok));
			changed = apply_mask(in, buf, sizeof(dleq_ok));
			make_transcript(&t, (const uint8_t *) FIXED_CONTEXT, strlen(FIXED_CONTEXT));
			rc = scor_dleq_verify(buf, buf + DQ_X, buf + DQ_C1, buf + DQ_D, &t);
			break;
		default:
			memcpy(buf, pop_ok, sizeof(pop_ok));
			changed = apply_mask(in, buf, sizeof(pop_ok));
			rc = scor_pop_verify(buf, FUZZ_SITE_NAME, buf + SCOR_POP_BYTES,
								 buf + SCOR_POP_BYTES + 32);
			break;
	}
	if (!changed && rc != 0)
		FUZZ_FINDING("mode %d: a valid proof does not verify", mode);
	if (changed && rc == 0)
		FUZZ_FINDING("mode %d: an altered proof or statement still verifies", mode);
}

/* mode 6: the hash-to-field helpers never fail on valid lengths */
static void
expand(fuzz_input *in)
{
	size_t		out_len = fuzz_u16(in);
	size_t		dst_len = fuzz_u8(in);
	uint8_t    *dst = malloc(dst_len + 1);
	uint8_t    *out = malloc(out_len + 1);
	uint8_t		e[32];
	int			rc;

	fuzz_take(in, dst, dst_len);
	rc = scor_expand_message_xmd_sha512(out, out_len, in->data + in->pos,
										in->len - in->pos, dst, dst_len);
	if ((rc == 0) != (out_len > 0 && out_len <= 255 * 64 && dst_len > 0))
		FUZZ_FINDING("expand_message_xmd returned %d for out_len %zu, dst_len %zu",
					 rc, out_len, dst_len);
	if (dst_len > 0)
	{
		if (scor_hash_to_group(e, in->data + in->pos, in->len - in->pos, dst, dst_len) != 0 ||
			crypto_core_ristretto255_is_valid_point(e) != 1)
			FUZZ_FINDING("hash_to_group failed or gave an invalid point");
		if (scor_hash_to_scalar(e, in->data + in->pos, in->len - in->pos, dst, dst_len) != 0 ||
			!scor_scalar_is_canonical(e))
			FUZZ_FINDING("hash_to_scalar failed or gave a non-canonical scalar");
	}
	free(dst);
	free(out);
}

/* mode 7: a batch verifies exactly when each proof in it does */
static void
batch(fuzz_input *in)
{
	scor_batch	b;
	scor_transcript t;
	int			all_ok = 1;

	make_transcript(&t, (const uint8_t *) FIXED_CONTEXT, strlen(FIXED_CONTEXT));
	scor_batch_init(&b);
	for (int item = 0; item < 8 && in->pos < in->len; item++)
	{
		uint8_t		kind = fuzz_u8(in);
		int			dleq = kind & 1;
		uint8_t		buf[sizeof(dleq_ok)];
		size_t		len = dleq ? sizeof(dleq_ok) : sizeof(schnorr_ok);
		int			alone,
					added,
					together,
					altered = 0;

		if (kind & 2)
			fuzz_take(in, buf, len);
		else
		{
			memcpy(buf, dleq ? dleq_ok : schnorr_ok, len);
			altered = apply_mask(in, buf, len);
		}
		alone = dleq ?
			scor_dleq_verify(buf, buf + DQ_X, buf + DQ_C1, buf + DQ_D, &t) :
			scor_schnorr_verify(buf, buf + SCOR_PROOF_BYTES, &t);
		added = dleq ?
			scor_batch_add_dleq(&b, buf, buf + DQ_X, buf + DQ_C1, buf + DQ_D, &t) :
			scor_batch_add_schnorr(&b, buf, buf + SCOR_PROOF_BYTES, &t);
		if (altered && alone == 0)
			FUZZ_FINDING("an altered proof or statement verifies (batch item %d)", item);
		if (!altered && !(kind & 2) && alone != 0)
			FUZZ_FINDING("a valid proof does not verify (batch item %d)", item);
		if (added != 0 && alone == 0)
			FUZZ_FINDING("a proof that verifies alone cannot be added to a batch");
		if (added != 0)
			continue;			/* refused at once: the batch is unchanged */
		all_ok &= alone == 0;
		together = scor_batch_verify(&b);
		if ((together == 0) != all_ok)
			FUZZ_FINDING("a batch %s, but its proofs %s alone",
						 together == 0 ? "verifies" : "fails",
						 all_ok ? "all verify" : "do not all verify");
		if (alone == 0 && memcmp(buf, dleq ? dleq_ok : schnorr_ok, len) != 0 &&
			memcmp(buf + (dleq ? DQ_X : SCOR_PROOF_BYTES),
				   (dleq ? dleq_ok + DQ_X : schnorr_ok + SCOR_PROOF_BYTES),
				   len - (dleq ? DQ_X : SCOR_PROOF_BYTES)) != 0)
			FUZZ_FINDING("an altered statement verifies");
	}
	scor_batch_free(&b);
}

/* Reference: s < L, comparing from the most significant byte */
static int
ref_is_canonical(const uint8_t *s)
{
	static const uint8_t L[32] = {
		0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
		0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10
	};

	for (int i = 31; i >= 0; i--)
		if (s[i] != L[i])
			return s[i] < L[i];
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_input	in = {data, size, 0};
	int			mode = fuzz_u8(&in) % 8;

	/* the two scalars of any proof field: the canonical check itself */
	if (size >= 65 && (scor_scalar_is_canonical(data + 1) != ref_is_canonical(data + 1) ||
					   scor_scalar_is_canonical(data + 33) != ref_is_canonical(data + 33)))
		FUZZ_FINDING("scor_scalar_is_canonical disagrees with s < L");

	switch (mode)
	{
		case 0:
			raw_schnorr(&in);
			break;
		case 1:
			raw_dleq(&in);
			break;
		case 2:
			raw_pop(&in);
			break;
		case 3:
		case 4:
		case 5:
			altered(&in, mode);
			break;
		case 6:
			expand(&in);
			break;
		default:
			batch(&in);
			break;
	}
	return 0;
}
