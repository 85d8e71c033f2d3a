/*
 * ristretto.h
 *	  Fast ristretto255 arithmetic for PUBLIC data only.
 *
 * scor keeps every secret-dependent operation in libsodium.  Homomorphic
 * sums, ciphertext storage and discrete-log decoding only ever touch public
 * points, and libsodium's public API re-encodes after every addition (about
 * 13 us a call), so this module keeps points decoded, in extended twisted
 * Edwards coordinates over GF(2^255-19) with 51-bit limbs.  Nothing here is
 * constant time, and nothing here may be handed a secret.
 *
 * No PostgreSQL headers: unit tests and fuzzers call this directly.
 */
#ifndef SCOR_RISTRETTO_H
#define SCOR_RISTRETTO_H

#include <stddef.h>
#include <stdint.h>

#define SCOR_POINT_BYTES 32

/* An element of GF(2^255-19), five 51-bit limbs, not necessarily reduced */
typedef struct scor_fe
{
	uint64_t	v[5];
} scor_fe;

/* A ristretto255 element, represented by an extended Edwards point (X:Y:Z:T) */
typedef struct scor_point
{
	scor_fe		X;
	scor_fe		Y;
	scor_fe		Z;
	scor_fe		T;
} scor_point;

/*
 * Affine form of one representative, as stored inside ciphertext datums:
 * canonical little-endian x and y.  Loading it is a few multiplications,
 * whereas decoding a ristretto encoding costs an inverse square root.
 */
typedef struct scor_affine
{
	uint8_t		x[32];
	uint8_t		y[32];
} scor_affine;

/* Field arithmetic (exposed for the discrete-log decoder and tests) */
extern void scor_fe_frombytes(scor_fe *h, const uint8_t s[32]);
extern void scor_fe_tobytes(uint8_t s[32], const scor_fe *h);	/* canonical */
extern void scor_fe_mul(scor_fe *h, const scor_fe *f, const scor_fe *g);
extern void scor_fe_sq(scor_fe *h, const scor_fe *f);
extern void scor_fe_invert(scor_fe *out, const scor_fe *z);
/* out[i] = 1/in[i] for n elements (Montgomery's trick); in may alias out */
extern void scor_fe_batch_invert(scor_fe *out, const scor_fe *in, size_t n);

/* Points */
extern void scor_point_identity(scor_point *p);
extern void scor_point_base(scor_point *p);
/* RFC 9496 section 4.3.1; returns 0, or -1 for an invalid encoding */
extern int	scor_point_decode(scor_point *p, const uint8_t s[32]);
/* RFC 9496 section 4.3.2; canonical */
extern void scor_point_encode(uint8_t s[32], const scor_point *p);
extern void scor_point_add(scor_point *r, const scor_point *a, const scor_point *b);
extern void scor_point_sub(scor_point *r, const scor_point *a, const scor_point *b);
extern void scor_point_neg(scor_point *r, const scor_point *a);
extern void scor_point_dbl(scor_point *r, const scor_point *a);
/* RFC 9496 section 4.3.3 equality of ristretto elements; 1 if equal */
extern int	scor_point_equal(const scor_point *a, const scor_point *b);
extern int	scor_point_is_identity(const scor_point *a);
/* k·P for a public, non-negative 64-bit k (double and add) */
extern void scor_point_mul_u64(scor_point *r, const scor_point *p, uint64_t k);

/* sum of scalars[i] points[i], public scalars below 2^255; 0, or -1 without memory */
extern int	scor_point_msm(scor_point *r, const uint8_t (*scalars)[32],
						   const scor_point *points, size_t n);

extern void scor_point_to_affine(scor_affine *out, const scor_point *p);
extern void scor_point_to_affine_batch(scor_affine *out, const scor_point *p, size_t n);
/* Trusts its input: only for affine forms this module produced */
extern void scor_point_from_affine(scor_point *p, const scor_affine *a);

#endif							/* SCOR_RISTRETTO_H */
