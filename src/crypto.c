/*
 * crypto.c
 *	  scor's crypto core: exponential EC-ElGamal over ristretto255, site keys,
 *	  Fiat-Shamir transcripts, Schnorr and Chaum-Pedersen (DLEQ) proofs.
 *
 * libsodium does every secret-dependent group and scalar operation and
 * draws all randomness.  The code here only frames data for hashing,
 * validates public inputs and glues libsodium calls together; where it
 * touches a secret (the sign of a plaintext, a scalar that may be a key)
 * it does so without secret-dependent branches or table lookups.
 *
 * Two libsodium conventions matter throughout:
 *	- crypto_scalarmult_ristretto255 and its _base variant return -1 when the
 *	  result is the identity (as well as, for the former, when the input
 *	  point does not decode).  scor treats an identity result as a value, not
 *	  an error: see mul_base() and mul_point().
 *	- Both clear the top bit of the scalar, so scalars must already be
 *	  reduced mod L; every scalar that crosses this interface is checked with
 *	  scor_scalar_is_canonical() first.
 *
 * Hash framing.  Transcripts frame every item with 8-byte big-endian
 * lengths, so no two different sequences of (label, data) pairs hash the
 * same.  Fixed derivations (key fingerprint, site key derivation) hash a
 * fixed ASCII tag followed by fixed-length input, which is unambiguous
 * without framing.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "ristretto.h"

/* L = 2^252 + 27742317777372353535851937790883648493, little-endian */
static const uint8_t scor_group_order[SCOR_SCALAR_BYTES] = {
	0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
	0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10
};

/* The ristretto255 generator G (RFC 9496 section 4.4, A.1 entry 1) */
static const uint8_t scor_generator[SCOR_ELEMENT_BYTES] = {
	0xe2, 0xf2, 0xae, 0x0a, 0x6a, 0xbc, 0x4e, 0x71,
	0xa8, 0x84, 0xa9, 0x61, 0xc5, 0x00, 0x51, 0x5f,
	0x58, 0xe3, 0x0b, 0x6a, 0xa5, 0x82, 0xdd, 0x8d,
	0xb6, 0xa6, 0x59, 0x45, 0xe0, 0x8d, 0x2d, 0x76
};

#define SHA512_BYTES crypto_hash_sha512_BYTES	/* b_in_bytes = 64 */
#define SHA512_BLOCK_BYTES 128	/* s_in_bytes */
#define XMD_MAX_ELL 255

#define ELGAMAL_KEY_TAG "scor-elgamal-key-v1"
#define SIGN_KEY_TAG "scor-sign-key-v1"
#define FINGERPRINT_TAG "scor-key-fingerprint-v1"
#define POP_TRANSCRIPT_TAG "scor-pop"
#define POP_TRANSCRIPT_VERSION 1
#define POP_SIGNATURE_TAG "scor-pop-sig-v1"
#define OVERSIZE_DST_TAG "H2C-OVERSIZE-DST-"

/*
 * Initialise libsodium.  sodium_init() returns 1 when it was already
 * initialised, which is success too.
 */
int
scor_crypto_init(void)
{
	return sodium_init() < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------- scalars */

/*
 * 1 if s is the canonical encoding of a scalar (s < L, so the top three
 * bits are zero too), else 0.  Runs in constant time: s may be a secret.
 */
int
scor_scalar_is_canonical(const uint8_t s[SCOR_SCALAR_BYTES])
{
	unsigned int borrow = 0;
	unsigned int top_clear;
	int			i;

	/* Compute s - L byte by byte; a final borrow means s < L. */
	for (i = 0; i < SCOR_SCALAR_BYTES; i++)
		borrow = (((unsigned int) s[i] - scor_group_order[i] - borrow) >> 8) & 1;

	/* Implied by s < L, but checked on its own as RFC 9497 asks */
	top_clear = (((unsigned int) (s[SCOR_SCALAR_BYTES - 1] & 0xe0)) - 1) >> 8 & 1;

	return (int) (borrow & top_clear);
}

/*
 * s = m mod L for any two's-complement m, including INT64_MIN.  The
 * plaintext m is secret, so the sign is handled with masks rather than a
 * branch: both |m| and -|m| are computed and one is selected.
 */
void
scor_scalar_from_int64(uint8_t s[SCOR_SCALAR_BYTES], int64_t m)
{
	uint64_t	u = (uint64_t) m;
	uint64_t	negative = u >> 63;
	uint64_t	magnitude = (u ^ (0 - negative)) + negative;	/* 2^63 for INT64_MIN */
	uint8_t		select = (uint8_t) (0 - negative);
	uint8_t		pos[SCOR_SCALAR_BYTES];
	uint8_t		neg[SCOR_SCALAR_BYTES];
	int			i;

	memset(pos, 0, sizeof(pos));
	for (i = 0; i < 8; i++)
		pos[i] = (uint8_t) (magnitude >> (8 * i));
	crypto_core_ristretto255_scalar_negate(neg, pos);

	for (i = 0; i < SCOR_SCALAR_BYTES; i++)
		s[i] = pos[i] ^ (select & (pos[i] ^ neg[i]));

	sodium_memzero(pos, sizeof(pos));
	sodium_memzero(neg, sizeof(neg));
	sodium_memzero(&magnitude, sizeof(magnitude));
}

/* 1 if s is canonical and non-zero (usable as a secret key), else 0 */
static int
scalar_is_usable_secret(const uint8_t s[SCOR_SCALAR_BYTES])
{
	return scor_scalar_is_canonical(s) && !sodium_is_zero(s, SCOR_SCALAR_BYTES);
}

/*
 * A uniformly random scalar in ]0, L[.  libsodium 1.0.18 already excludes
 * zero; the loop keeps that guarantee explicit.
 */
static void
random_nonzero_scalar(uint8_t s[SCOR_SCALAR_BYTES])
{
	do
	{
		crypto_core_ristretto255_scalar_random(s);
	} while (sodium_is_zero(s, SCOR_SCALAR_BYTES));
}

/* ------------------------------------------------------- hashing to curve */

/*
 * RFC 9380 section 5.3.1 expand_message_xmd with H = SHA-512
 * (b_in_bytes = 64, s_in_bytes = 128).
 *
 * Returns -1 when out_len is 0 or ell = ceil(out_len / 64) exceeds 255 (so
 * out_len <= 16320 < 65535), when the DST is empty (RFC 9380 section 3.1:
 * tags MUST have nonzero length), or for NULL pointers with non-zero
 * lengths.  A DST longer than 255 bytes is replaced, per section 5.3.3, by
 * SHA-512("H2C-OVERSIZE-DST-" || DST).  out must not overlap msg or dst.
 */
int
scor_expand_message_xmd_sha512(uint8_t *out, size_t out_len,
							   const uint8_t *msg, size_t msg_len,
							   const uint8_t *dst, size_t dst_len)
{
	static const uint8_t z_pad[SHA512_BLOCK_BYTES] = {0};
	crypto_hash_sha512_state st;
	uint8_t		short_dst[SHA512_BYTES];
	uint8_t		b0[SHA512_BYTES];
	uint8_t		bi[SHA512_BYTES];
	uint8_t		dst_len_byte;
	uint8_t		l_i_b_str[3];
	uint8_t		counter;
	size_t		ell;
	size_t		offset;
	size_t		i;

	if (out == NULL || out_len == 0 || out_len > XMD_MAX_ELL * SHA512_BYTES)
		return -1;
	if ((msg == NULL && msg_len > 0) || dst == NULL || dst_len == 0)
		return -1;

	if (dst_len > 255)
	{
		crypto_hash_sha512_init(&st);
		crypto_hash_sha512_update(&st, (const uint8_t *) OVERSIZE_DST_TAG,
								  strlen(OVERSIZE_DST_TAG));
		crypto_hash_sha512_update(&st, dst, dst_len);
		crypto_hash_sha512_final(&st, short_dst);
		dst = short_dst;
		dst_len = sizeof(short_dst);
	}
	dst_len_byte = (uint8_t) dst_len;
	ell = (out_len + SHA512_BYTES - 1) / SHA512_BYTES;

	/* I2OSP(len_in_bytes, 2) || I2OSP(0, 1) */
	l_i_b_str[0] = (uint8_t) (out_len >> 8);
	l_i_b_str[1] = (uint8_t) out_len;
	l_i_b_str[2] = 0;

	/* b_0 = H(Z_pad || msg || l_i_b_str || I2OSP(0, 1) || DST_prime) */
	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, z_pad, sizeof(z_pad));
	if (msg_len > 0)
		crypto_hash_sha512_update(&st, msg, msg_len);
	crypto_hash_sha512_update(&st, l_i_b_str, sizeof(l_i_b_str));
	crypto_hash_sha512_update(&st, dst, dst_len);
	crypto_hash_sha512_update(&st, &dst_len_byte, 1);
	crypto_hash_sha512_final(&st, b0);

	/* b_i = H(strxor(b_0, b_(i-1)) || I2OSP(i, 1) || DST_prime), b_1 uses b_0 */
	memcpy(bi, b0, sizeof(bi));
	offset = 0;
	for (i = 1; i <= ell; i++)
	{
		size_t		j;
		size_t		take;

		if (i > 1)
		{
			for (j = 0; j < SHA512_BYTES; j++)
				bi[j] ^= b0[j];
		}
		counter = (uint8_t) i;
		crypto_hash_sha512_init(&st);
		crypto_hash_sha512_update(&st, bi, sizeof(bi));
		crypto_hash_sha512_update(&st, &counter, 1);
		crypto_hash_sha512_update(&st, dst, dst_len);
		crypto_hash_sha512_update(&st, &dst_len_byte, 1);
		crypto_hash_sha512_final(&st, bi);

		take = out_len - offset < SHA512_BYTES ? out_len - offset : SHA512_BYTES;
		memcpy(out + offset, bi, take);
		offset += take;
	}

	sodium_memzero(&st, sizeof(st));
	sodium_memzero(b0, sizeof(b0));
	sodium_memzero(bi, sizeof(bi));
	sodium_memzero(short_dst, sizeof(short_dst));
	return 0;
}

/*
 * RFC 9380 hash_to_ristretto255 (appendix B / RFC 9496 section 4.3.4):
 * 64 bytes of expand_message_xmd(SHA-512), then the one-way map.
 */
int
scor_hash_to_group(uint8_t out[SCOR_ELEMENT_BYTES],
				   const uint8_t *msg, size_t msg_len,
				   const uint8_t *dst, size_t dst_len)
{
	uint8_t		uniform[crypto_core_ristretto255_HASHBYTES];

	if (scor_expand_message_xmd_sha512(uniform, sizeof(uniform),
									   msg, msg_len, dst, dst_len) != 0)
		return -1;
	crypto_core_ristretto255_from_hash(out, uniform);
	sodium_memzero(uniform, sizeof(uniform));
	return 0;
}

/*
 * RFC 9497 HashToScalar for ristretto255-SHA512: 64 bytes of
 * expand_message_xmd(SHA-512) read as a little-endian integer, mod L.
 */
int
scor_hash_to_scalar(uint8_t out[SCOR_SCALAR_BYTES],
					const uint8_t *msg, size_t msg_len,
					const uint8_t *dst, size_t dst_len)
{
	uint8_t		uniform[crypto_core_ristretto255_NONREDUCEDSCALARBYTES];

	if (scor_expand_message_xmd_sha512(uniform, sizeof(uniform),
									   msg, msg_len, dst, dst_len) != 0)
		return -1;
	crypto_core_ristretto255_scalar_reduce(out, uniform);
	sodium_memzero(uniform, sizeof(uniform));
	return 0;
}

/* ------------------------------------------------------------ transcripts */

/* Write v as 8 big-endian bytes */
static void
store_u64_be(uint8_t out[8], uint64_t v)
{
	int			i;

	for (i = 7; i >= 0; i--)
	{
		out[i] = (uint8_t) v;
		v >>= 8;
	}
}

/* Absorb len as 8 big-endian bytes, then the data itself */
static void
absorb_framed(crypto_hash_sha512_state *st, const uint8_t *data, size_t len)
{
	uint8_t		prefix[8];

	store_u64_be(prefix, (uint64_t) len);
	crypto_hash_sha512_update(st, prefix, sizeof(prefix));
	if (len > 0)
		crypto_hash_sha512_update(st, data, len);
}

/*
 * Start a transcript: SHA-512 over the length-prefixed domain tag and a
 * 4-byte big-endian version.
 */
void
scor_transcript_init(scor_transcript *t, const char *domain_tag,
					 uint32_t version)
{
	uint8_t		v[4];

	v[0] = (uint8_t) (version >> 24);
	v[1] = (uint8_t) (version >> 16);
	v[2] = (uint8_t) (version >> 8);
	v[3] = (uint8_t) version;

	crypto_hash_sha512_init(&t->state);
	absorb_framed(&t->state, (const uint8_t *) domain_tag, strlen(domain_tag));
	crypto_hash_sha512_update(&t->state, v, sizeof(v));
}

/* Absorb a length-prefixed label, then length-prefixed data */
void
scor_transcript_append(scor_transcript *t, const char *label,
					   const uint8_t *data, size_t len)
{
	absorb_framed(&t->state, (const uint8_t *) label, strlen(label));
	absorb_framed(&t->state, data, len);
}

/* Absorb a NUL-terminated string (without its terminator) as the data */
void
scor_transcript_append_str(scor_transcript *t, const char *label,
						   const char *s)
{
	scor_transcript_append(t, label, (const uint8_t *) s, strlen(s));
}

/* Absorb v as 8 big-endian bytes of data */
void
scor_transcript_append_u64(scor_transcript *t, const char *label, uint64_t v)
{
	uint8_t		buf[8];

	store_u64_be(buf, v);
	scor_transcript_append(t, label, buf, sizeof(buf));
}

/*
 * The challenge scalar for everything absorbed so far: finalise a copy of
 * the state and reduce the 64-byte digest mod L.  t itself is unchanged, so
 * more items may be appended later.
 */
void
scor_transcript_challenge(const scor_transcript *t,
						  uint8_t c[SCOR_SCALAR_BYTES])
{
	crypto_hash_sha512_state st = t->state;
	uint8_t		digest[SHA512_BYTES];

	crypto_hash_sha512_final(&st, digest);
	crypto_core_ristretto255_scalar_reduce(c, digest);
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(digest, sizeof(digest));
}

/* --------------------------------------------------------- group elements */

/*
 * 1 if p is the canonical encoding of a ristretto255 element (the identity
 * included), else 0.  libsodium 1.0.18 ignores bit 255, which RFC 9496
 * requires to be zero, so that bit is checked here.
 */
int
scor_element_is_valid(const uint8_t p[SCOR_ELEMENT_BYTES])
{
	if (p[SCOR_ELEMENT_BYTES - 1] & 0x80)
		return 0;
	return crypto_core_ristretto255_is_valid_point(p) == 1 ? 1 : 0;
}

/*
 * 1 if p is the identity, else 0.  The identity's only canonical encoding is
 * all zeros; non-canonical encodings fail scor_element_is_valid().
 */
int
scor_element_is_identity(const uint8_t p[SCOR_ELEMENT_BYTES])
{
	return sodium_is_zero(p, SCOR_ELEMENT_BYTES);
}

/* 1 if p is a valid element other than the identity, else 0 */
static int
element_is_usable(const uint8_t p[SCOR_ELEMENT_BYTES])
{
	return scor_element_is_valid(p) && !scor_element_is_identity(p);
}

/*
 * Force q to the identity encoding when libsodium reported an identity
 * result (rc = -1), without branching on rc: the result may depend on a
 * secret (m = 0 in an encryption).
 */
static void
identity_on_failure(uint8_t q[SCOR_ELEMENT_BYTES], int rc)
{
	uint8_t		keep = (uint8_t) (0U - (unsigned int) (rc + 1));
	int			i;

	for (i = 0; i < SCOR_ELEMENT_BYTES; i++)
		q[i] &= keep;
}

/*
 * q = n·G for a canonical scalar n.  libsodium returns -1 exactly when the
 * result is the identity (n = 0); that is a value here, not an error.
 */
static void
mul_base(uint8_t q[SCOR_ELEMENT_BYTES], const uint8_t n[SCOR_SCALAR_BYTES])
{
	identity_on_failure(q, crypto_scalarmult_ristretto255_base(q, n));
}

/*
 * q = n·P for a canonical scalar n.  Returns -1 if P does not decode.  Once
 * P is known to be valid, libsodium's -1 can only mean an identity result
 * (n = 0 or P = identity), which is returned as the identity encoding.
 * q must not alias n or P.
 */
static int
mul_point(uint8_t q[SCOR_ELEMENT_BYTES], const uint8_t n[SCOR_SCALAR_BYTES],
		  const uint8_t p[SCOR_ELEMENT_BYTES])
{
	if (!scor_element_is_valid(p))
		return -1;
	identity_on_failure(q, crypto_scalarmult_ristretto255(q, n, p));
	return 0;
}

/*
 * out = m·G for any int64 m: 0 gives the identity, negative m the negation
 * of |m|·G.  Always returns 0.
 */
int
scor_element_mul_base_int64(uint8_t out[SCOR_ELEMENT_BYTES], int64_t m)
{
	uint8_t		s[SCOR_SCALAR_BYTES];

	scor_scalar_from_int64(s, m);
	mul_base(out, s);
	sodium_memzero(s, sizeof(s));
	return 0;
}

/* out = a + b; -1 if either input does not decode (identity results are fine) */
int
scor_element_add(uint8_t out[SCOR_ELEMENT_BYTES],
				 const uint8_t a[SCOR_ELEMENT_BYTES],
				 const uint8_t b[SCOR_ELEMENT_BYTES])
{
	return crypto_core_ristretto255_add(out, a, b) == 0 ? 0 : -1;
}

/*
 * A short public identifier for a key, for logs and catalogs: the first 8
 * bytes of SHA-512("scor-key-fingerprint-v1" || key).  The tag and the key
 * both have fixed lengths, so plain concatenation is unambiguous.
 */
void
scor_key_fingerprint(uint8_t fp[SCOR_FINGERPRINT_BYTES],
					 const uint8_t key[SCOR_ELEMENT_BYTES])
{
	crypto_hash_sha512_state st;
	uint8_t		digest[SHA512_BYTES];

	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, (const uint8_t *) FINGERPRINT_TAG,
							  strlen(FINGERPRINT_TAG));
	crypto_hash_sha512_update(&st, key, SCOR_ELEMENT_BYTES);
	crypto_hash_sha512_final(&st, digest);
	memcpy(fp, digest, SCOR_FINGERPRINT_BYTES);
}

/* -------------------------------------------------------------- site keys */

/* digest = SHA-512(tag || seed); tag is a fixed ASCII literal */
static void
hash_seed(uint8_t digest[SHA512_BYTES], const char *tag,
		  const uint8_t seed[SCOR_SEED_BYTES])
{
	crypto_hash_sha512_state st;

	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, (const uint8_t *) tag, strlen(tag));
	crypto_hash_sha512_update(&st, seed, SCOR_SEED_BYTES);
	crypto_hash_sha512_final(&st, digest);
	sodium_memzero(&st, sizeof(st));
}

/*
 * Derive a site's keys from its 32-byte seed, deterministically:
 *	x = SHA-512("scor-elgamal-key-v1" || seed) mod L, X = xG;
 *	Ed25519 key pair from the seed SHA-512("scor-sign-key-v1" || seed)[0..32).
 * Returns -1 (keys wiped) in the negligible case x = 0.
 */
int
scor_site_keys_derive(scor_site_keys *keys, const uint8_t seed[SCOR_SEED_BYTES])
{
	uint8_t		digest[SHA512_BYTES];
	int			rc = -1;

	hash_seed(digest, ELGAMAL_KEY_TAG, seed);
	crypto_core_ristretto255_scalar_reduce(keys->elgamal_secret, digest);
	if (sodium_is_zero(keys->elgamal_secret, SCOR_SCALAR_BYTES))
		goto done;
	mul_base(keys->elgamal_public, keys->elgamal_secret);

	/* crypto_sign_seed_keypair reads the first 32 bytes as the seed */
	hash_seed(digest, SIGN_KEY_TAG, seed);
	if (crypto_sign_seed_keypair(keys->sign_public, keys->sign_secret,
								 digest) != 0)
		goto done;
	rc = 0;

done:
	sodium_memzero(digest, sizeof(digest));
	if (rc != 0)
		sodium_memzero(keys, sizeof(*keys));
	return rc;
}

/* ---------------------------------------------------- batch verification */

/*
 * Proofs are verified as equations sum_j a_j Q_j = 0 over public points.
 * A batch gathers the equations of many proofs, each scaled by a fresh
 * 128-bit random weight, and checks their sum with one multi-scalar
 * multiplication (src/ristretto.c: public data only).  A batch with any
 * false equation passes with probability below 2^-125.
 */
void
scor_batch_init(scor_batch *b)
{
	memset(b, 0, sizeof(*b));
}

void
scor_batch_free(scor_batch *b)
{
	free(b->scalars);
	free(b->points);
	memset(b, 0, sizeof(*b));
}

/* Append the term a·Q; -1 without memory */
static int
batch_term(scor_batch *b, const uint8_t a[SCOR_SCALAR_BYTES], const scor_point *Q)
{
	if (b->failed)
		return -1;
	if (b->n == b->cap)
	{
		size_t		cap = b->cap ? 2 * b->cap : 16;
		uint8_t		(*scalars)[SCOR_SCALAR_BYTES] = realloc(b->scalars, cap * SCOR_SCALAR_BYTES);
		scor_point *points;

		if (scalars == NULL)
		{
			b->failed = 1;
			return -1;
		}
		b->scalars = scalars;
		points = realloc(b->points, cap * sizeof(scor_point));
		if (points == NULL)
		{
			b->failed = 1;
			return -1;
		}
		b->points = points;
		b->cap = cap;
	}
	memcpy(b->scalars[b->n], a, SCOR_SCALAR_BYTES);
	b->points[b->n] = *Q;
	b->n++;
	return 0;
}

/* A fresh random weight below 2^128 */
static void
batch_weight(uint8_t z[SCOR_SCALAR_BYTES])
{
	memset(z, 0, SCOR_SCALAR_BYTES);
	randombytes_buf(z, 16);
	z[0] |= 1;					/* never zero */
}

/* g += a·b (scalars mod L) */
static void
scalar_muladd(uint8_t g[SCOR_SCALAR_BYTES], const uint8_t a[SCOR_SCALAR_BYTES],
			  const uint8_t b[SCOR_SCALAR_BYTES])
{
	uint8_t		ab[SCOR_SCALAR_BYTES];

	crypto_core_ristretto255_scalar_mul(ab, a, b);
	crypto_core_ristretto255_scalar_add(g, g, ab);
}

/* Add the term -(a·b)·Q */
static int
batch_neg_term(scor_batch *b, const uint8_t a[SCOR_SCALAR_BYTES],
			   const uint8_t *c, const scor_point *Q)
{
	uint8_t		ab[SCOR_SCALAR_BYTES];

	if (c != NULL)
		crypto_core_ristretto255_scalar_mul(ab, a, c);
	else
		memcpy(ab, a, SCOR_SCALAR_BYTES);
	crypto_core_ristretto255_scalar_negate(ab, ab);
	return batch_term(b, ab, Q);
}

/* Decode a point that must not be the identity */
static int
decode_usable(scor_point *p, const uint8_t enc[SCOR_ELEMENT_BYTES])
{
	return scor_point_decode(p, enc) == 0 && !scor_point_is_identity(p) ? 0 : -1;
}

/* Check every equation of the batch at once: 0 if all hold */
int
scor_batch_verify(scor_batch *b)
{
	scor_point	G;
	scor_point	sum;

	if (b->failed)
		return -1;
	scor_point_base(&G);
	if (batch_term(b, b->g_scalar, &G) != 0)
		return -1;
	if (scor_point_msm(&sum, (const uint8_t (*)[SCOR_SCALAR_BYTES]) b->scalars,
					   b->points, b->n) != 0)
		return -1;
	b->n--;						/* the G term: the batch can grow again */
	return scor_point_is_identity(&sum) ? 0 : -1;
}

/* ---------------------------------------------------------------- Schnorr */

/* c = challenge(t || "schnorr-P" P || "schnorr-R" R) */
static void
schnorr_challenge(uint8_t c[SCOR_SCALAR_BYTES], const scor_transcript *t,
				  const uint8_t P[SCOR_ELEMENT_BYTES],
				  const uint8_t R[SCOR_ELEMENT_BYTES])
{
	scor_transcript tc = *t;

	scor_transcript_append(&tc, "schnorr-P", P, SCOR_ELEMENT_BYTES);
	scor_transcript_append(&tc, "schnorr-R", R, SCOR_ELEMENT_BYTES);
	scor_transcript_challenge(&tc, c);
}

/*
 * Prove knowledge of w with P = wG: k random, R = kG, c = H(t, P, R),
 * s = k + c·w; proof = R || s.  Refuses (-1) a non-canonical or zero w and
 * an invalid or identity P.
 */
int
scor_schnorr_prove(uint8_t proof[SCOR_PROOF_BYTES],
				   const uint8_t w[SCOR_SCALAR_BYTES],
				   const uint8_t P[SCOR_ELEMENT_BYTES],
				   const scor_transcript *t)
{
	uint8_t		k[SCOR_SCALAR_BYTES];
	uint8_t		cw[SCOR_SCALAR_BYTES];
	uint8_t		s[SCOR_SCALAR_BYTES];
	uint8_t		c[SCOR_SCALAR_BYTES];
	uint8_t		R[SCOR_ELEMENT_BYTES];
	int			rc = -1;

	memset(k, 0, sizeof(k));
	memset(cw, 0, sizeof(cw));
	memset(s, 0, sizeof(s));

	if (!scalar_is_usable_secret(w) || !element_is_usable(P))
		goto done;

	random_nonzero_scalar(k);
	mul_base(R, k);
	schnorr_challenge(c, t, P, R);
	crypto_core_ristretto255_scalar_mul(cw, c, w);
	crypto_core_ristretto255_scalar_add(s, k, cw);

	memcpy(proof, R, SCOR_ELEMENT_BYTES);
	memcpy(proof + SCOR_ELEMENT_BYTES, s, SCOR_SCALAR_BYTES);
	rc = 0;

done:
	sodium_memzero(k, sizeof(k));
	sodium_memzero(cw, sizeof(cw));
	sodium_memzero(s, sizeof(s));
	if (rc != 0)
		memset(proof, 0, SCOR_PROOF_BYTES);
	return rc;
}

/*
 * Add a Schnorr proof R || s for P under transcript t to a batch: the
 * equation sG - R - cP = 0 with c = H(t, P, R).  -1 at once for a
 * non-canonical s, an invalid R, or an invalid or identity P.
 */
int
scor_batch_add_schnorr(scor_batch *b, const uint8_t proof[SCOR_PROOF_BYTES],
					   const uint8_t P[SCOR_ELEMENT_BYTES],
					   const scor_transcript *t)
{
	const uint8_t *R = proof;
	const uint8_t *s = proof + SCOR_ELEMENT_BYTES;
	uint8_t		c[SCOR_SCALAR_BYTES];
	uint8_t		z[SCOR_SCALAR_BYTES];
	scor_point	Pp,
				Rp;

	if (!scor_scalar_is_canonical(s) || decode_usable(&Pp, P) != 0 ||
		scor_point_decode(&Rp, R) != 0)
		return -1;
	schnorr_challenge(c, t, P, R);
	batch_weight(z);
	scalar_muladd(b->g_scalar, z, s);
	if (batch_neg_term(b, z, NULL, &Rp) != 0 || batch_neg_term(b, z, c, &Pp) != 0)
		return -1;
	return 0;
}

/* Verify one Schnorr proof R || s for P under transcript t */
int
scor_schnorr_verify(const uint8_t proof[SCOR_PROOF_BYTES],
					const uint8_t P[SCOR_ELEMENT_BYTES],
					const scor_transcript *t)
{
	scor_batch	b;
	int			rc;

	scor_batch_init(&b);
	rc = scor_batch_add_schnorr(&b, proof, P, t);
	if (rc == 0)
		rc = scor_batch_verify(&b);
	scor_batch_free(&b);
	return rc;
}

/* ------------------------------------------------------------------- DLEQ */

/*
 * c = challenge(t || G || X || C1 || D || A1 || A2), each element under its
 * own label, so the whole statement and both commitments are bound.
 */
static void
dleq_challenge(uint8_t c[SCOR_SCALAR_BYTES], const scor_transcript *t,
			   const uint8_t X[SCOR_ELEMENT_BYTES],
			   const uint8_t c1[SCOR_ELEMENT_BYTES],
			   const uint8_t D[SCOR_ELEMENT_BYTES],
			   const uint8_t A1[SCOR_ELEMENT_BYTES],
			   const uint8_t A2[SCOR_ELEMENT_BYTES])
{
	scor_transcript tc = *t;

	scor_transcript_append(&tc, "dleq-G", scor_generator, SCOR_ELEMENT_BYTES);
	scor_transcript_append(&tc, "dleq-X", X, SCOR_ELEMENT_BYTES);
	scor_transcript_append(&tc, "dleq-C1", c1, SCOR_ELEMENT_BYTES);
	scor_transcript_append(&tc, "dleq-D", D, SCOR_ELEMENT_BYTES);
	scor_transcript_append(&tc, "dleq-A1", A1, SCOR_ELEMENT_BYTES);
	scor_transcript_append(&tc, "dleq-A2", A2, SCOR_ELEMENT_BYTES);
	scor_transcript_challenge(&tc, c);
}

/*
 * Chaum-Pedersen proof that log_G X = log_C1 D (= x): k random, A1 = kG,
 * A2 = k·C1, c = H(t, G, X, C1, D, A1, A2), s = k + c·x; proof =
 * A1 || A2 || s.  Refuses (-1) a bad x and an invalid or identity X, C1 or D.
 */
int
scor_dleq_prove(uint8_t proof[SCOR_DLEQ_PROOF_BYTES],
				const uint8_t x[SCOR_SCALAR_BYTES],
				const uint8_t X[SCOR_ELEMENT_BYTES],
				const uint8_t c1[SCOR_ELEMENT_BYTES],
				const uint8_t D[SCOR_ELEMENT_BYTES],
				const scor_transcript *t)
{
	uint8_t		k[SCOR_SCALAR_BYTES];
	uint8_t		cx[SCOR_SCALAR_BYTES];
	uint8_t		s[SCOR_SCALAR_BYTES];
	uint8_t		c[SCOR_SCALAR_BYTES];
	uint8_t		A1[SCOR_ELEMENT_BYTES];
	uint8_t		A2[SCOR_ELEMENT_BYTES];
	int			rc = -1;

	memset(k, 0, sizeof(k));
	memset(cx, 0, sizeof(cx));
	memset(s, 0, sizeof(s));

	if (!scalar_is_usable_secret(x))
		goto done;
	if (!element_is_usable(X) || !element_is_usable(c1) || !element_is_usable(D))
		goto done;

	random_nonzero_scalar(k);
	mul_base(A1, k);
	if (mul_point(A2, k, c1) != 0)
		goto done;
	dleq_challenge(c, t, X, c1, D, A1, A2);
	crypto_core_ristretto255_scalar_mul(cx, c, x);
	crypto_core_ristretto255_scalar_add(s, k, cx);

	memcpy(proof, A1, SCOR_ELEMENT_BYTES);
	memcpy(proof + SCOR_ELEMENT_BYTES, A2, SCOR_ELEMENT_BYTES);
	memcpy(proof + 2 * SCOR_ELEMENT_BYTES, s, SCOR_SCALAR_BYTES);
	rc = 0;

done:
	sodium_memzero(k, sizeof(k));
	sodium_memzero(cx, sizeof(cx));
	sodium_memzero(s, sizeof(s));
	if (rc != 0)
		memset(proof, 0, SCOR_DLEQ_PROOF_BYTES);
	return rc;
}

/*
 * Add a DLEQ proof A1 || A2 || s to a batch: the equations sG - A1 - cX = 0
 * and s·C1 - A2 - c·D = 0 with c = H(t, G, X, C1, D, A1, A2), each with its
 * own weight.  -1 at once for a non-canonical s, invalid commitments, or an
 * invalid or identity X, C1 or D (C1 = identity would let anyone "decrypt").
 */
int
scor_batch_add_dleq(scor_batch *b, const uint8_t proof[SCOR_DLEQ_PROOF_BYTES],
					const uint8_t X[SCOR_ELEMENT_BYTES],
					const uint8_t c1[SCOR_ELEMENT_BYTES],
					const uint8_t D[SCOR_ELEMENT_BYTES],
					const scor_transcript *t)
{
	const uint8_t *A1 = proof;
	const uint8_t *A2 = proof + SCOR_ELEMENT_BYTES;
	const uint8_t *s = proof + 2 * SCOR_ELEMENT_BYTES;
	uint8_t		c[SCOR_SCALAR_BYTES];
	uint8_t		z[SCOR_SCALAR_BYTES];
	uint8_t		y[SCOR_SCALAR_BYTES];
	uint8_t		ys[SCOR_SCALAR_BYTES];
	scor_point	Xp,
				C1p,
				Dp,
				A1p,
				A2p;

	if (!scor_scalar_is_canonical(s) || decode_usable(&Xp, X) != 0 ||
		decode_usable(&C1p, c1) != 0 || decode_usable(&Dp, D) != 0 ||
		scor_point_decode(&A1p, A1) != 0 || scor_point_decode(&A2p, A2) != 0)
		return -1;
	dleq_challenge(c, t, X, c1, D, A1, A2);
	batch_weight(z);
	batch_weight(y);
	scalar_muladd(b->g_scalar, z, s);
	crypto_core_ristretto255_scalar_mul(ys, y, s);
	if (batch_neg_term(b, z, NULL, &A1p) != 0 || batch_neg_term(b, z, c, &Xp) != 0 ||
		batch_term(b, ys, &C1p) != 0 ||
		batch_neg_term(b, y, NULL, &A2p) != 0 || batch_neg_term(b, y, c, &Dp) != 0)
		return -1;
	return 0;
}

/* Verify one DLEQ proof A1 || A2 || s */
int
scor_dleq_verify(const uint8_t proof[SCOR_DLEQ_PROOF_BYTES],
				 const uint8_t X[SCOR_ELEMENT_BYTES],
				 const uint8_t c1[SCOR_ELEMENT_BYTES],
				 const uint8_t D[SCOR_ELEMENT_BYTES],
				 const scor_transcript *t)
{
	scor_batch	b;
	int			rc;

	scor_batch_init(&b);
	rc = scor_batch_add_dleq(&b, proof, X, c1, D, t);
	if (rc == 0)
		rc = scor_batch_verify(&b);
	scor_batch_free(&b);
	return rc;
}

/* ----------------------------------------------------- proof of possession */

/* The Schnorr transcript of a PoP: site name, ElGamal key, signing key */
static void
pop_transcript(scor_transcript *t, const char *site_name,
			   const uint8_t X[SCOR_ELEMENT_BYTES],
			   const uint8_t sign_public[SCOR_SIGN_PUBLIC_BYTES])
{
	scor_transcript_init(t, POP_TRANSCRIPT_TAG, POP_TRANSCRIPT_VERSION);
	scor_transcript_append_str(t, "site", site_name);
	scor_transcript_append(t, "elgamal-public", X, SCOR_ELEMENT_BYTES);
	scor_transcript_append(t, "sign-public", sign_public, SCOR_SIGN_PUBLIC_BYTES);
}

/*
 * The message a PoP signature covers, in malloc'd memory (NULL on
 * allocation failure):
 *	be64(len(tag)) || "scor-pop-sig-v1" || be64(len(site)) || site ||
 *	X || sign_public || schnorr proof
 * Only the site name has a variable length, and it is length-prefixed.
 */
static uint8_t *
pop_message(size_t *len_out, const char *site_name,
			const uint8_t X[SCOR_ELEMENT_BYTES],
			const uint8_t sign_public[SCOR_SIGN_PUBLIC_BYTES],
			const uint8_t schnorr[SCOR_PROOF_BYTES])
{
	size_t		tag_len = strlen(POP_SIGNATURE_TAG);
	size_t		site_len = strlen(site_name);
	size_t		fixed = 8 + tag_len + 8 + SCOR_ELEMENT_BYTES +
		SCOR_SIGN_PUBLIC_BYTES + SCOR_PROOF_BYTES;
	uint8_t    *msg;
	uint8_t    *p;

	if (site_len > SIZE_MAX - fixed)
		return NULL;
	msg = malloc(fixed + site_len);
	if (msg == NULL)
		return NULL;

	p = msg;
	store_u64_be(p, (uint64_t) tag_len);
	p += 8;
	memcpy(p, POP_SIGNATURE_TAG, tag_len);
	p += tag_len;
	store_u64_be(p, (uint64_t) site_len);
	p += 8;
	memcpy(p, site_name, site_len);
	p += site_len;
	memcpy(p, X, SCOR_ELEMENT_BYTES);
	p += SCOR_ELEMENT_BYTES;
	memcpy(p, sign_public, SCOR_SIGN_PUBLIC_BYTES);
	p += SCOR_SIGN_PUBLIC_BYTES;
	memcpy(p, schnorr, SCOR_PROOF_BYTES);

	*len_out = fixed + site_len;
	return msg;
}

/*
 * Proof of possession of a site's keys, against rogue-key attacks on the
 * collective key: a Schnorr proof of x bound to the site name, X and the
 * signing key, then an Ed25519 signature over all of that and the Schnorr
 * proof.  pop = schnorr (64) || signature (64).
 */
int
scor_pop_create(uint8_t pop[SCOR_POP_BYTES], const char *site_name,
				const scor_site_keys *keys)
{
	scor_transcript t;
	uint8_t    *msg;
	size_t		msg_len;
	uint8_t		check[SCOR_ELEMENT_BYTES];
	int			rc = -1;

	if (site_name == NULL)
		goto done;
	/* libsodium's Ed25519 secret key is seed || public key */
	if (sodium_memcmp(keys->sign_secret + 32, keys->sign_public,
					  SCOR_SIGN_PUBLIC_BYTES) != 0)
		goto done;
	/* nor a proof for an ElGamal key that is not the secret's */
	mul_base(check, keys->elgamal_secret);
	if (sodium_memcmp(check, keys->elgamal_public, SCOR_ELEMENT_BYTES) != 0)
		goto done;

	pop_transcript(&t, site_name, keys->elgamal_public, keys->sign_public);
	if (scor_schnorr_prove(pop, keys->elgamal_secret, keys->elgamal_public,
						   &t) != 0)
		goto done;

	msg = pop_message(&msg_len, site_name, keys->elgamal_public,
					  keys->sign_public, pop);
	if (msg == NULL)
		goto done;
	rc = crypto_sign_detached(pop + SCOR_PROOF_BYTES, NULL, msg, msg_len,
							  keys->sign_secret) == 0 ? 0 : -1;
	free(msg);

done:
	if (rc != 0)
		memset(pop, 0, SCOR_POP_BYTES);
	return rc;
}

/*
 * Verify a proof of possession, check by check: the form of the site name,
 * the keys and the proof's scalars and commitment, then the Schnorr
 * proof, then the signature.  The challenge c is never transmitted (it is
 * recomputed from the transcript), so it needs no check of its own.
 */
scor_pop_status
scor_pop_check(const uint8_t pop[SCOR_POP_BYTES], const char *site_name,
			   const uint8_t elgamal_public[SCOR_ELEMENT_BYTES],
			   const uint8_t sign_public[SCOR_SIGN_PUBLIC_BYTES])
{
	scor_transcript t;
	uint8_t    *msg;
	size_t		msg_len;
	int			ok;

	if (site_name == NULL)
		return SCOR_POP_NO_SITE_NAME;
	if (!scor_element_is_valid(elgamal_public))
		return SCOR_POP_KEY_NOT_CANONICAL;
	if (scor_element_is_identity(elgamal_public))
		return SCOR_POP_KEY_IDENTITY;
	/* canonical, on the curve, not of small order, in the prime-order subgroup */
	if (crypto_core_ed25519_is_valid_point(sign_public) != 1)
		return SCOR_POP_VERIFY_KEY_INVALID;
	if (!scor_element_is_valid(pop))
		return SCOR_POP_COMMITMENT_NOT_CANONICAL;
	if (!scor_scalar_is_canonical(pop + SCOR_ELEMENT_BYTES))
		return SCOR_POP_RESPONSE_NOT_CANONICAL;
	/* Ed25519's group order is ristretto255's L */
	if (!scor_scalar_is_canonical(pop + SCOR_PROOF_BYTES + 32))
		return SCOR_POP_SIGNATURE_NOT_CANONICAL;

	pop_transcript(&t, site_name, elgamal_public, sign_public);
	if (scor_schnorr_verify(pop, elgamal_public, &t) != 0)
		return SCOR_POP_SCHNORR_FAILED;

	msg = pop_message(&msg_len, site_name, elgamal_public, sign_public, pop);
	if (msg == NULL)
		return SCOR_POP_SIGNATURE_FAILED;
	ok = crypto_sign_verify_detached(pop + SCOR_PROOF_BYTES, msg, msg_len,
									 sign_public) == 0;
	free(msg);
	return ok ? SCOR_POP_OK : SCOR_POP_SIGNATURE_FAILED;
}

/* Verify a proof of possession: 0 if it holds, else -1 */
int
scor_pop_verify(const uint8_t pop[SCOR_POP_BYTES], const char *site_name,
				const uint8_t elgamal_public[SCOR_ELEMENT_BYTES],
				const uint8_t sign_public[SCOR_SIGN_PUBLIC_BYTES])
{
	return scor_pop_check(pop, site_name, elgamal_public, sign_public) == SCOR_POP_OK ? 0 : -1;
}

/* ---------------------------------------------------------------- ElGamal */

/*
 * Exponential ElGamal under X: r random non-zero, C1 = rG, C2 = mG + rX.
 * X must be valid and not the identity (which would leave mG in the clear).
 * r goes to r_out when that is not NULL (for proofs about the ciphertext);
 * otherwise it is wiped with the other intermediates.  On failure the
 * outputs are zeroed.
 */
int
scor_elgamal_encrypt(uint8_t c1[SCOR_ELEMENT_BYTES],
					 uint8_t c2[SCOR_ELEMENT_BYTES],
					 int64_t m, const uint8_t X[SCOR_ELEMENT_BYTES],
					 uint8_t r_out[SCOR_SCALAR_BYTES])
{
	uint8_t		r[SCOR_SCALAR_BYTES];
	uint8_t		rX[SCOR_ELEMENT_BYTES];
	uint8_t		mG[SCOR_ELEMENT_BYTES];
	int			rc = -1;

	memset(r, 0, sizeof(r));
	memset(rX, 0, sizeof(rX));
	memset(mG, 0, sizeof(mG));

	if (!element_is_usable(X))
		goto done;

	random_nonzero_scalar(r);
	mul_base(c1, r);
	if (mul_point(rX, r, X) != 0)
		goto done;
	scor_element_mul_base_int64(mG, m);
	if (crypto_core_ristretto255_add(c2, mG, rX) != 0)
		goto done;
	if (r_out != NULL)
		memcpy(r_out, r, SCOR_SCALAR_BYTES);
	rc = 0;

done:
	sodium_memzero(r, sizeof(r));
	sodium_memzero(rX, sizeof(rX));
	sodium_memzero(mG, sizeof(mG));
	if (rc != 0)
	{
		memset(c1, 0, SCOR_ELEMENT_BYTES);
		memset(c2, 0, SCOR_ELEMENT_BYTES);
		if (r_out != NULL)
			memset(r_out, 0, SCOR_SCALAR_BYTES);
	}
	return rc;
}

/*
 * A site's partial decryption share D = x·C1.  Refuses (-1, D zeroed) a
 * non-canonical or zero x and an invalid or identity C1; with those
 * excluded, D can never be the identity.
 */
int
scor_partial_decrypt(uint8_t D[SCOR_ELEMENT_BYTES],
					 const uint8_t x[SCOR_SCALAR_BYTES],
					 const uint8_t c1[SCOR_ELEMENT_BYTES])
{
	if (!scalar_is_usable_secret(x) || !element_is_usable(c1) ||
		crypto_scalarmult_ristretto255(D, x, c1) != 0)
	{
		memset(D, 0, SCOR_ELEMENT_BYTES);
		return -1;
	}
	return 0;
}
