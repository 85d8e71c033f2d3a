/*
 * fuzz_point_decode.c
 *	  Differential fuzzing of scor's ristretto255 decoder (src/ristretto.c)
 *	  against libsodium.
 *
 * Input: an 8-byte scalar k, then up to 8 candidate encodings of 32 bytes
 * (the last one zero-padded).  For every candidate:
 *	- scor_point_decode accepts it exactly when libsodium's
 *	  crypto_core_ristretto255_is_valid_point does and its top bit is clear
 *	  (libsodium ignores the top bit; RFC 9496 rejects it);
 *	- an accepted encoding re-encodes to itself, survives the affine round
 *	  trip, and is the identity exactly when it is all zeros.
 * For consecutive valid candidates a, b: a + b, a - b, -a, 2a and a == b
 * agree with libsodium's add and sub; for the first such a, k·a agrees with
 * libsodium's scalarmult; and scor_point_msm over up to 4 valid points, with
 * 255-bit scalars taken from the candidates themselves, agrees with the sum
 * of libsodium's scalarmults.
 */
#include "fuzz_common.h"
#include "ristretto.h"

#define MAX_POINTS 8

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t zero32[32];

static void
check_same(const char *what, const scor_point *p, const uint8_t *expected)
{
	uint8_t		got[32];

	scor_point_encode(got, p);
	if (memcmp(got, expected, 32) != 0)
		FUZZ_FINDING("%s: scor and libsodium disagree", what);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init_keys();
	if (fuzz_seed_dir())
	{
		/* k = 3, then G, a key, the identity, an invalid and a top-bit one */
		uint8_t		s[8 + 5 * 32];

		memset(s, 0, sizeof(s));
		s[0] = 3;
		crypto_core_ristretto255_from_hash(s + 8, (const uint8_t *) "fuzz-point-decode-seed-0123456789abcdef0123456789abcdef0123456789");
		memcpy(s + 40, fuzz_site_keys.elgamal_public, 32);
		memset(s + 104, 0xff, 32);
		memcpy(s + 136, fuzz_site_keys.elgamal_public, 32);
		s[136 + 31] |= 0x80;
		fuzz_write_seed("points", -1, s, sizeof(s));
		exit(0);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_input	in = {data, size, 0};
	uint64_t	k = fuzz_u64(&in);
	uint8_t		enc[MAX_POINTS][32];
	scor_point	pts[MAX_POINTS];
	int			ok[MAX_POINTS];
	int			n = 0;
	int			scalarmult_done = 0;

	while (n < MAX_POINTS && in.pos < in.len)
	{
		scor_affine aff;
		scor_point	back;
		int			ref;

		fuzz_take(&in, enc[n], 32);
		ok[n] = scor_point_decode(&pts[n], enc[n]) == 0;
		ref = (enc[n][31] & 0x80) == 0 &&
			crypto_core_ristretto255_is_valid_point(enc[n]) == 1;
		if (ok[n] != ref)
			FUZZ_FINDING("scor_point_decode says %s, libsodium (with the top-bit rule) says %s",
						 ok[n] ? "valid" : "invalid", ref ? "valid" : "invalid");
		if (ok[n])
		{
			check_same("re-encoding", &pts[n], enc[n]);
			scor_point_to_affine(&aff, &pts[n]);
			scor_point_from_affine(&back, &aff);
			check_same("affine round trip", &back, enc[n]);
			if (scor_point_is_identity(&pts[n]) != (memcmp(enc[n], zero32, 32) == 0))
				FUZZ_FINDING("scor_point_is_identity is wrong");
		}
		n++;
	}

	for (int i = 0; i + 1 < n; i++)
	{
		scor_point	r;
		uint8_t		ref[32];
		uint8_t		kb[32];

		if (!ok[i] || !ok[i + 1])
			continue;
		scor_point_add(&r, &pts[i], &pts[i + 1]);
		if (crypto_core_ristretto255_add(ref, enc[i], enc[i + 1]) != 0)
			FUZZ_FINDING("libsodium refused to add two valid points");
		check_same("a + b", &r, ref);

		scor_point_sub(&r, &pts[i], &pts[i + 1]);
		crypto_core_ristretto255_sub(ref, enc[i], enc[i + 1]);
		check_same("a - b", &r, ref);

		scor_point_neg(&r, &pts[i]);
		crypto_core_ristretto255_sub(ref, zero32, enc[i]);
		check_same("-a", &r, ref);

		scor_point_dbl(&r, &pts[i]);
		crypto_core_ristretto255_add(ref, enc[i], enc[i]);
		check_same("2a", &r, ref);

		if (scor_point_equal(&pts[i], &pts[i + 1]) != (memcmp(enc[i], enc[i + 1], 32) == 0))
			FUZZ_FINDING("scor_point_equal disagrees with the encodings");

		/* k < 2^64 < L is a canonical scalar; libsodium gives -1 for an identity result */
		if (scalarmult_done++)
			continue;			/* the slowest check: once per input */
		scor_point_mul_u64(&r, &pts[i], k);
		memset(kb, 0, sizeof(kb));
		for (int b = 0; b < 8; b++)
			kb[b] = (uint8_t) (k >> (8 * b));
		if (crypto_scalarmult_ristretto255(ref, kb, enc[i]) != 0)
			memset(ref, 0, sizeof(ref));
		check_same("k·a", &r, ref);
	}

	/* multi-scalar multiplication (batch verification's core) */
	{
		uint8_t		scalars[4][32];
		scor_point	msm_pts[4];
		uint8_t		ref[32],
					term[32];
		scor_point	r;
		size_t		m = 0;

		memset(ref, 0, sizeof(ref));
		for (int i = 0; i < n && m < 4; i++)
		{
			if (!ok[i])
				continue;
			memcpy(scalars[m], enc[(i + 1) % n], 32);
			scalars[m][31] &= 0x7f;		/* the contract: below 2^255 */
			if ((k >> m) & 1)
				scalars[m][31] &= 0x0f; /* sometimes below L, too */
			msm_pts[m] = pts[i];
			if (crypto_scalarmult_ristretto255(term, scalars[m], enc[i]) != 0)
				memset(term, 0, sizeof(term));
			crypto_core_ristretto255_add(ref, ref, term);
			m++;
		}
		if (scor_point_msm(&r, (const uint8_t (*)[32]) scalars, msm_pts, m) != 0)
			FUZZ_FINDING("scor_point_msm failed");
		check_same("msm", &r, ref);
	}
	return 0;
}
