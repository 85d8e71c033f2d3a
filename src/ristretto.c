/*
 * ristretto.c
 *	  ristretto255 over GF(2^255-19) with 51-bit limbs, for PUBLIC data only.
 *
 * Field elements are five unsigned 64-bit limbs of 51 bits each, multiplied
 * with unsigned __int128 products.  Points are extended twisted Edwards
 * coordinates (X:Y:Z:T) on -x^2 + y^2 = 1 + d x^2 y^2 with x = X/Z,
 * y = Y/Z, x y = T/Z.  Encoding, decoding and equality follow RFC 9496
 * section 4.3 step by step.
 *
 * Limb bounds.  A "carried" element has every limb below 2^52; mul, sq,
 * sub, neg and frombytes produce carried elements.  add produces limbs below
 * 2^53 and does not carry.  mul and sq accept limbs below 2^54, sub accepts
 * a first operand below 2^54 and a second operand below 2^53.  The callers
 * below respect these bounds by construction (every add feeds a mul, sq or
 * the first operand of a sub, or adds two carried values before a sub).
 *
 * Nothing here is constant time: branches and table indices depend on the
 * values processed.  Never pass secrets to this module.
 */
#include <stdlib.h>
#include <string.h>

#include "ristretto.h"

typedef unsigned __int128 scor_u128;

#define MASK51 ((uint64_t) 0x7ffffffffffffULL)

/* Curve and RFC 9496 constants, as 51-bit limbs of their canonical values */
static const scor_fe fe_d = {{
		0x34dca135978a3ULL, 0x1a8283b156ebdULL, 0x5e7a26001c029ULL,
		0x739c663a03cbbULL, 0x52036cee2b6ffULL
}};
static const scor_fe fe_d2 = {{
		0x69b9426b2f159ULL, 0x35050762add7aULL, 0x3cf44c0038052ULL,
		0x6738cc7407977ULL, 0x2406d9dc56dffULL
}};
static const scor_fe fe_sqrt_m1 = {{
		0x61b274a0ea0b0ULL, 0x0d5a5fc8f189dULL, 0x7ef5e9cbd0c60ULL,
		0x78595a6804c9eULL, 0x2b8324804fc1dULL
}};
static const scor_fe fe_invsqrt_a_minus_d = {{
		0x0fdaa805d40eaULL, 0x2eb482e57d339ULL, 0x007610274bc58ULL,
		0x6510b613dc8ffULL, 0x786c8905cfaffULL
}};

/* The generator: the Ed25519 base point (x, 4/5), with Z = 1 and T = x y */
static const scor_point point_base = {
	{{
			0x62d608f25d51aULL, 0x412a4b4f6592aULL, 0x75b7171a4b31dULL,
			0x1ff60527118feULL, 0x216936d3cd6e5ULL
	}},
	{{
			0x6666666666658ULL, 0x4ccccccccccccULL, 0x1999999999999ULL,
			0x3333333333333ULL, 0x6666666666666ULL
	}},
	{{1, 0, 0, 0, 0}},
	{{
			0x68ab3a5b7dda3ULL, 0x00eea2a5eadbbULL, 0x2af8df483c27eULL,
			0x332b375274732ULL, 0x67875f0fd78b7ULL
	}}
};

/* ---------------------------------------------------------------------
 * Field arithmetic
 * --------------------------------------------------------------------- */

/* h = 0 */
static inline void
fe_zero(scor_fe *h)
{
	memset(h, 0, sizeof(*h));
}

/* h = 1 */
static inline void
fe_one(scor_fe *h)
{
	fe_zero(h);
	h->v[0] = 1;
}

/* h = f + g without carrying: limbs of carried inputs stay below 2^53 */
static inline void
fe_add(scor_fe *h, const scor_fe *f, const scor_fe *g)
{
	for (int i = 0; i < 5; i++)
		h->v[i] = f->v[i] + g->v[i];
}

/*
 * Propagate carries once around the limbs (the carry out of the top limb
 * re-enters the bottom one times 19, since 2^255 = 19 mod p).  With limbs
 * below 2^64 - 2^13 on entry, limbs 1..4 end below 2^51 and limb 0 below
 * 2^51 + 19 * 2^13.
 */
static inline void
fe_carry(scor_fe *h)
{
	uint64_t	c;

	c = h->v[0] >> 51;
	h->v[0] &= MASK51;
	h->v[1] += c;
	c = h->v[1] >> 51;
	h->v[1] &= MASK51;
	h->v[2] += c;
	c = h->v[2] >> 51;
	h->v[2] &= MASK51;
	h->v[3] += c;
	c = h->v[3] >> 51;
	h->v[3] &= MASK51;
	h->v[4] += c;
	c = h->v[4] >> 51;
	h->v[4] &= MASK51;
	h->v[0] += c * 19;
}

/*
 * h = f - g.  Adds 4p (limbwise) before subtracting so that no limb
 * underflows for g limbs below 2^53, then carries.
 */
static inline void
fe_sub(scor_fe *h, const scor_fe *f, const scor_fe *g)
{
	h->v[0] = (f->v[0] + 0x1fffffffffffb4ULL) - g->v[0];
	h->v[1] = (f->v[1] + 0x1ffffffffffffcULL) - g->v[1];
	h->v[2] = (f->v[2] + 0x1ffffffffffffcULL) - g->v[2];
	h->v[3] = (f->v[3] + 0x1ffffffffffffcULL) - g->v[3];
	h->v[4] = (f->v[4] + 0x1ffffffffffffcULL) - g->v[4];
	fe_carry(h);
}

/* h = -f */
static inline void
fe_neg(scor_fe *h, const scor_fe *f)
{
	scor_fe		z;

	fe_zero(&z);
	fe_sub(h, &z, f);
}

/*
 * Reduce the 128-bit column sums r[0..4] of a product into h.  The column
 * sums are below 2^115 and r[4] below 2^111, so every carry fits in 64 bits
 * and 19 times the top carry too.
 */
static inline void
fe_reduce128(scor_fe *h, scor_u128 r0, scor_u128 r1, scor_u128 r2,
			 scor_u128 r3, scor_u128 r4)
{
	uint64_t	h0,
				h1,
				h2,
				h3,
				h4,
				c;

	h0 = (uint64_t) r0 & MASK51;
	r1 += (uint64_t) (r0 >> 51);
	h1 = (uint64_t) r1 & MASK51;
	r2 += (uint64_t) (r1 >> 51);
	h2 = (uint64_t) r2 & MASK51;
	r3 += (uint64_t) (r2 >> 51);
	h3 = (uint64_t) r3 & MASK51;
	r4 += (uint64_t) (r3 >> 51);
	h4 = (uint64_t) r4 & MASK51;
	c = (uint64_t) (r4 >> 51);
	h0 += c * 19;
	h1 += h0 >> 51;
	h0 &= MASK51;

	h->v[0] = h0;
	h->v[1] = h1;
	h->v[2] = h2;
	h->v[3] = h3;
	h->v[4] = h4;
}

/* h = f * g; inputs with limbs below 2^54, output carried */
void
scor_fe_mul(scor_fe *h, const scor_fe *f, const scor_fe *g)
{
	uint64_t	f0 = f->v[0],
				f1 = f->v[1],
				f2 = f->v[2],
				f3 = f->v[3],
				f4 = f->v[4];
	uint64_t	g0 = g->v[0],
				g1 = g->v[1],
				g2 = g->v[2],
				g3 = g->v[3],
				g4 = g->v[4];
	uint64_t	g1_19 = 19 * g1,
				g2_19 = 19 * g2,
				g3_19 = 19 * g3,
				g4_19 = 19 * g4;
	scor_u128	r0,
				r1,
				r2,
				r3,
				r4;

	r0 = (scor_u128) f0 * g0 + (scor_u128) f1 * g4_19 +
		(scor_u128) f2 * g3_19 + (scor_u128) f3 * g2_19 +
		(scor_u128) f4 * g1_19;
	r1 = (scor_u128) f0 * g1 + (scor_u128) f1 * g0 +
		(scor_u128) f2 * g4_19 + (scor_u128) f3 * g3_19 +
		(scor_u128) f4 * g2_19;
	r2 = (scor_u128) f0 * g2 + (scor_u128) f1 * g1 +
		(scor_u128) f2 * g0 + (scor_u128) f3 * g4_19 +
		(scor_u128) f4 * g3_19;
	r3 = (scor_u128) f0 * g3 + (scor_u128) f1 * g2 +
		(scor_u128) f2 * g1 + (scor_u128) f3 * g0 +
		(scor_u128) f4 * g4_19;
	r4 = (scor_u128) f0 * g4 + (scor_u128) f1 * g3 +
		(scor_u128) f2 * g2 + (scor_u128) f3 * g1 +
		(scor_u128) f4 * g0;

	fe_reduce128(h, r0, r1, r2, r3, r4);
}

/* h = f^2; input limbs below 2^54, output carried */
void
scor_fe_sq(scor_fe *h, const scor_fe *f)
{
	uint64_t	f0 = f->v[0],
				f1 = f->v[1],
				f2 = f->v[2],
				f3 = f->v[3],
				f4 = f->v[4];
	uint64_t	f0_2 = 2 * f0,
				f1_2 = 2 * f1,
				f2_2 = 2 * f2,
				f3_2 = 2 * f3;
	uint64_t	f3_19 = 19 * f3,
				f4_19 = 19 * f4;
	scor_u128	r0,
				r1,
				r2,
				r3,
				r4;

	r0 = (scor_u128) f0 * f0 + (scor_u128) f1_2 * f4_19 +
		(scor_u128) f2_2 * f3_19;
	r1 = (scor_u128) f0_2 * f1 + (scor_u128) f2_2 * f4_19 +
		(scor_u128) f3 * f3_19;
	r2 = (scor_u128) f0_2 * f2 + (scor_u128) f1 * f1 +
		(scor_u128) f3_2 * f4_19;
	r3 = (scor_u128) f0_2 * f3 + (scor_u128) f1_2 * f2 +
		(scor_u128) f4 * f4_19;
	r4 = (scor_u128) f0_2 * f4 + (scor_u128) f1_2 * f3 +
		(scor_u128) f2 * f2;

	fe_reduce128(h, r0, r1, r2, r3, r4);
}

/* h = f^(2^n) for n >= 1 */
static void
fe_sqn(scor_fe *h, const scor_fe *f, int n)
{
	scor_fe_sq(h, f);
	while (--n > 0)
		scor_fe_sq(h, h);
}

/*
 * Load 32 little-endian bytes, ignoring the top bit (RFC 9496 masks it off
 * too, and the decoder checks canonicity separately).  The result may be a
 * non-canonical representative in [p, 2^255).
 */
void
scor_fe_frombytes(scor_fe *h, const uint8_t s[32])
{
	uint64_t	w[4];

	for (int i = 0; i < 4; i++)
	{
		uint64_t	x = 0;

		for (int j = 7; j >= 0; j--)
			x = (x << 8) | s[8 * i + j];
		w[i] = x;
	}
	h->v[0] = w[0] & MASK51;
	h->v[1] = ((w[0] >> 51) | (w[1] << 13)) & MASK51;
	h->v[2] = ((w[1] >> 38) | (w[2] << 26)) & MASK51;
	h->v[3] = ((w[2] >> 25) | (w[3] << 39)) & MASK51;
	h->v[4] = (w[3] >> 12) & MASK51;
}

/*
 * Store the canonical encoding (the unique representative in [0, p)).
 *
 * Two carry passes bring every limb below 2^51 (the value is then below
 * 2^255, but may still be in [p, 2^255)).  Adding 19 and looking at the
 * carry out of bit 255 tells whether the value is at least p; if so, adding
 * 19 and dropping bit 255 subtracts p.
 */
void
scor_fe_tobytes(uint8_t s[32], const scor_fe *f)
{
	scor_fe		h = *f;
	uint64_t	q,
				w[4];

	fe_carry(&h);
	fe_carry(&h);

	q = (h.v[0] + 19) >> 51;
	q = (h.v[1] + q) >> 51;
	q = (h.v[2] + q) >> 51;
	q = (h.v[3] + q) >> 51;
	q = (h.v[4] + q) >> 51;

	h.v[0] += 19 * q;
	h.v[1] += h.v[0] >> 51;
	h.v[0] &= MASK51;
	h.v[2] += h.v[1] >> 51;
	h.v[1] &= MASK51;
	h.v[3] += h.v[2] >> 51;
	h.v[2] &= MASK51;
	h.v[4] += h.v[3] >> 51;
	h.v[3] &= MASK51;
	h.v[4] &= MASK51;

	w[0] = h.v[0] | (h.v[1] << 51);
	w[1] = (h.v[1] >> 13) | (h.v[2] << 38);
	w[2] = (h.v[2] >> 26) | (h.v[3] << 25);
	w[3] = (h.v[3] >> 39) | (h.v[4] << 12);
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 8; j++)
			s[8 * i + j] = (uint8_t) (w[i] >> (8 * j));
}

/* 1 if f = 0 mod p */
static int
fe_iszero(const scor_fe *f)
{
	uint8_t		s[32];
	uint8_t		acc = 0;

	scor_fe_tobytes(s, f);
	for (int i = 0; i < 32; i++)
		acc |= s[i];
	return acc == 0;
}

/* 1 if f = g mod p */
static int
fe_equal(const scor_fe *f, const scor_fe *g)
{
	uint8_t		a[32],
				b[32];

	scor_fe_tobytes(a, f);
	scor_fe_tobytes(b, g);
	return memcmp(a, b, 32) == 0;
}

/* RFC 9496 IS_NEGATIVE: the least significant bit of the canonical form */
static int
fe_isnegative(const scor_fe *f)
{
	uint8_t		s[32];

	scor_fe_tobytes(s, f);
	return s[0] & 1;
}

/* RFC 9496 CT_ABS (not constant time here): h = |f| */
static void
fe_abs(scor_fe *h, const scor_fe *f)
{
	if (fe_isnegative(f))
		fe_neg(h, f);
	else
		*h = *f;
}

/*
 * z^(2^250 - 1), shared by inversion and the square root exponent.  Also
 * returns z^11 in *z11.
 */
static void
fe_pow2_250_1(scor_fe *out, scor_fe *z11, const scor_fe *z)
{
	scor_fe		z2,
				z9,
				t,
				z_5_0,
				z_10_0,
				z_20_0,
				z_50_0,
				z_100_0;

	scor_fe_sq(&z2, z);			/* z^2 */
	fe_sqn(&t, &z2, 2);			/* z^8 */
	scor_fe_mul(&z9, &t, z);	/* z^9 */
	scor_fe_mul(z11, &z9, &z2); /* z^11 */
	scor_fe_sq(&t, z11);		/* z^22 */
	scor_fe_mul(&z_5_0, &t, &z9);	/* z^(2^5 - 1) */

	fe_sqn(&t, &z_5_0, 5);
	scor_fe_mul(&z_10_0, &t, &z_5_0);	/* z^(2^10 - 1) */
	fe_sqn(&t, &z_10_0, 10);
	scor_fe_mul(&z_20_0, &t, &z_10_0);	/* z^(2^20 - 1) */
	fe_sqn(&t, &z_20_0, 20);
	scor_fe_mul(&t, &t, &z_20_0);	/* z^(2^40 - 1) */
	fe_sqn(&t, &t, 10);
	scor_fe_mul(&z_50_0, &t, &z_10_0);	/* z^(2^50 - 1) */
	fe_sqn(&t, &z_50_0, 50);
	scor_fe_mul(&z_100_0, &t, &z_50_0); /* z^(2^100 - 1) */
	fe_sqn(&t, &z_100_0, 100);
	scor_fe_mul(&t, &t, &z_100_0);	/* z^(2^200 - 1) */
	fe_sqn(&t, &t, 50);
	scor_fe_mul(out, &t, &z_50_0);	/* z^(2^250 - 1) */
}

/* out = 1/z = z^(p-2) = z^(2^255 - 21); 1/0 gives 0 */
void
scor_fe_invert(scor_fe *out, const scor_fe *z)
{
	scor_fe		t,
				z11;

	fe_pow2_250_1(&t, &z11, z);
	fe_sqn(&t, &t, 5);			/* z^(2^255 - 32) */
	scor_fe_mul(out, &t, &z11);	/* z^(2^255 - 21) */
}

/* out = z^((p-5)/8) = z^(2^252 - 3), the exponent used for square roots */
static void
fe_pow22523(scor_fe *out, const scor_fe *z)
{
	scor_fe		t,
				z11;

	fe_pow2_250_1(&t, &z11, z);
	fe_sqn(&t, &t, 2);			/* z^(2^252 - 4) */
	scor_fe_mul(out, &t, z);	/* z^(2^252 - 3) */
}

/*
 * Montgomery's trick on one run: out[i] = 1/in[i].  pre must hold n
 * elements and may be out itself only when out does not alias in.  Zero
 * inputs give zero outputs (as scor_fe_invert does), at the price of a
 * second pass that is only taken when the product of the run is zero.
 */
static void
fe_batch_invert_run(scor_fe *out, const scor_fe *in, size_t n, scor_fe *pre)
{
	scor_fe		acc,
				inv,
				t;
	int			has_zero;

	fe_one(&acc);
	for (size_t i = 0; i < n; i++)
	{
		pre[i] = acc;
		scor_fe_mul(&acc, &acc, &in[i]);
	}
	has_zero = fe_iszero(&acc);
	if (has_zero)
	{
		fe_one(&acc);
		for (size_t i = 0; i < n; i++)
		{
			pre[i] = acc;
			if (!fe_iszero(&in[i]))
				scor_fe_mul(&acc, &acc, &in[i]);
		}
	}

	scor_fe_invert(&inv, &acc);
	for (size_t i = n; i-- > 0;)
	{
		if (has_zero && fe_iszero(&in[i]))
		{
			fe_zero(&out[i]);
			continue;
		}
		/* read pre[i] and in[i] before out[i] is written */
		scor_fe_mul(&t, &inv, &pre[i]);
		scor_fe_mul(&inv, &inv, &in[i]);
		out[i] = t;
	}
}

#define FE_BATCH_RUN 256

/*
 * out[i] = 1/in[i] for n elements with one field inversion per run
 * (Montgomery's trick).  If in and out are the same array, prefix products
 * go to a stack buffer in runs of FE_BATCH_RUN elements; otherwise out
 * holds them (so in and out must be either identical or disjoint, never
 * partially overlapping).  n = 0 does nothing.
 */
void
scor_fe_batch_invert(scor_fe *out, const scor_fe *in, size_t n)
{
	if (n == 0)
		return;
	if (out != in)
	{
		fe_batch_invert_run(out, in, n, out);
		return;
	}
	for (size_t off = 0; off < n; off += FE_BATCH_RUN)
	{
		scor_fe		pre[FE_BATCH_RUN];
		size_t		len = n - off < FE_BATCH_RUN ? n - off : FE_BATCH_RUN;

		fe_batch_invert_run(out + off, in + off, len, pre);
	}
}

/*
 * RFC 9496 section 4.2 SQRT_RATIO_M1(u, v): sets r to the non-negative
 * square root of u/v if that is a square, else of SQRT_M1 * u/v, and
 * returns whether u/v was a square (1) or not (0).
 */
static int
fe_sqrt_ratio_m1(scor_fe *r_out, const scor_fe *u, const scor_fe *v)
{
	scor_fe		v3,
				v7,
				t,
				r,
				check,
				neg_u,
				neg_u_i;
	int			correct_sign,
				flipped_sign,
				flipped_sign_i;

	scor_fe_sq(&t, v);
	scor_fe_mul(&v3, &t, v);	/* v^3 */
	scor_fe_sq(&t, &v3);
	scor_fe_mul(&v7, &t, v);	/* v^7 */

	scor_fe_mul(&t, u, &v7);	/* u v^7 */
	fe_pow22523(&t, &t);		/* (u v^7)^((p-5)/8) */
	scor_fe_mul(&r, u, &v3);
	scor_fe_mul(&r, &r, &t);	/* r = (u v^3) (u v^7)^((p-5)/8) */

	scor_fe_sq(&t, &r);
	scor_fe_mul(&check, v, &t); /* check = v r^2 */

	fe_neg(&neg_u, u);
	scor_fe_mul(&neg_u_i, &neg_u, &fe_sqrt_m1);

	correct_sign = fe_equal(&check, u);
	flipped_sign = fe_equal(&check, &neg_u);
	flipped_sign_i = fe_equal(&check, &neg_u_i);

	if (flipped_sign || flipped_sign_i)
		scor_fe_mul(&r, &r, &fe_sqrt_m1);
	fe_abs(r_out, &r);
	return correct_sign | flipped_sign;
}

/* ---------------------------------------------------------------------
 * Points
 * --------------------------------------------------------------------- */

/* p = the identity (0 : 1 : 1 : 0) */
void
scor_point_identity(scor_point *p)
{
	fe_zero(&p->X);
	fe_one(&p->Y);
	fe_one(&p->Z);
	fe_zero(&p->T);
}

/* p = the ristretto255 generator (encoding e2f2ae0a...2d76) */
void
scor_point_base(scor_point *p)
{
	*p = point_base;
}

/*
 * RFC 9496 section 4.3.1.  Rejects exactly what the RFC rejects: s >= p or
 * the top bit set (non-canonical), s odd (negative), v u2^2 not a square,
 * t = x y negative, and y = 0.
 */
int
scor_point_decode(scor_point *p, const uint8_t s_bytes[32])
{
	scor_fe		s,
				ss,
				u1,
				u2,
				u2_sqr,
				v,
				t,
				one,
				invsqrt,
				den_x,
				den_y,
				x,
				y;
	uint8_t		check[32];
	int			was_square;

	/* canonical (s < p and top bit clear) and non-negative */
	scor_fe_frombytes(&s, s_bytes);
	scor_fe_tobytes(check, &s);
	if (memcmp(check, s_bytes, 32) != 0 || (s_bytes[0] & 1) != 0)
		return -1;

	scor_fe_sq(&ss, &s);
	fe_one(&one);
	fe_sub(&u1, &one, &ss);		/* u1 = 1 + a s^2 = 1 - s^2 */
	fe_add(&u2, &one, &ss);		/* u2 = 1 - a s^2 = 1 + s^2 */
	scor_fe_sq(&u2_sqr, &u2);

	/* v = -(D u1^2) - u2^2 */
	scor_fe_sq(&t, &u1);
	scor_fe_mul(&t, &t, &fe_d);
	fe_neg(&t, &t);
	fe_sub(&v, &t, &u2_sqr);

	scor_fe_mul(&t, &v, &u2_sqr);
	was_square = fe_sqrt_ratio_m1(&invsqrt, &one, &t);

	scor_fe_mul(&den_x, &invsqrt, &u2);
	scor_fe_mul(&den_y, &invsqrt, &den_x);
	scor_fe_mul(&den_y, &den_y, &v);

	/* x = |2 s den_x| */
	fe_add(&t, &s, &s);
	scor_fe_mul(&t, &t, &den_x);
	fe_abs(&x, &t);
	scor_fe_mul(&y, &u1, &den_y);
	scor_fe_mul(&t, &x, &y);

	if (!was_square || fe_isnegative(&t) || fe_iszero(&y))
		return -1;

	p->X = x;
	p->Y = y;
	fe_one(&p->Z);
	p->T = t;
	return 0;
}

/* RFC 9496 section 4.3.2: the canonical encoding of the element */
void
scor_point_encode(uint8_t s_bytes[32], const scor_point *p)
{
	scor_fe		u1,
				u2,
				t,
				one,
				invsqrt,
				den1,
				den2,
				z_inv,
				ix0,
				iy0,
				enchanted,
				x,
				y,
				den_inv,
				s;

	/* u1 = (z0 + y0)(z0 - y0), u2 = x0 y0 */
	fe_add(&t, &p->Z, &p->Y);
	fe_sub(&u1, &p->Z, &p->Y);
	scor_fe_mul(&u1, &u1, &t);
	scor_fe_mul(&u2, &p->X, &p->Y);

	/* invsqrt = 1/sqrt(u1 u2^2); always a square for a valid point */
	scor_fe_sq(&t, &u2);
	scor_fe_mul(&t, &t, &u1);
	fe_one(&one);
	(void) fe_sqrt_ratio_m1(&invsqrt, &one, &t);

	scor_fe_mul(&den1, &invsqrt, &u1);
	scor_fe_mul(&den2, &invsqrt, &u2);
	scor_fe_mul(&z_inv, &den1, &den2);
	scor_fe_mul(&z_inv, &z_inv, &p->T);

	scor_fe_mul(&ix0, &p->X, &fe_sqrt_m1);
	scor_fe_mul(&iy0, &p->Y, &fe_sqrt_m1);
	scor_fe_mul(&enchanted, &den1, &fe_invsqrt_a_minus_d);

	/* rotate = IS_NEGATIVE(t0 z_inv) */
	scor_fe_mul(&t, &p->T, &z_inv);
	if (fe_isnegative(&t))
	{
		x = iy0;
		y = ix0;
		den_inv = enchanted;
	}
	else
	{
		x = p->X;
		y = p->Y;
		den_inv = den2;
	}

	/* y = CT_NEG(y, IS_NEGATIVE(x z_inv)) */
	scor_fe_mul(&t, &x, &z_inv);
	if (fe_isnegative(&t))
		fe_neg(&y, &y);

	/* s = |den_inv (z - y)| */
	fe_sub(&t, &p->Z, &y);
	scor_fe_mul(&t, &den_inv, &t);
	fe_abs(&s, &t);
	scor_fe_tobytes(s_bytes, &s);
}

/*
 * r = a + b, unified addition in extended coordinates for a = -1
 * ("add-2008-hwcd-3", k = 2d): complete, so no special cases.
 */
void
scor_point_add(scor_point *r, const scor_point *a, const scor_point *b)
{
	scor_fe		A,
				B,
				C,
				D,
				E,
				F,
				G,
				H,
				t;

	fe_sub(&A, &a->Y, &a->X);
	fe_sub(&t, &b->Y, &b->X);
	scor_fe_mul(&A, &A, &t);	/* (Y1 - X1)(Y2 - X2) */
	fe_add(&B, &a->Y, &a->X);
	fe_add(&t, &b->Y, &b->X);
	scor_fe_mul(&B, &B, &t);	/* (Y1 + X1)(Y2 + X2) */
	scor_fe_mul(&C, &a->T, &b->T);
	scor_fe_mul(&C, &C, &fe_d2);	/* 2d T1 T2 */
	scor_fe_mul(&D, &a->Z, &b->Z);
	fe_add(&D, &D, &D);			/* 2 Z1 Z2 */

	fe_sub(&E, &B, &A);
	fe_sub(&F, &D, &C);
	fe_add(&G, &D, &C);
	fe_add(&H, &B, &A);

	scor_fe_mul(&r->X, &E, &F);
	scor_fe_mul(&r->Y, &G, &H);
	scor_fe_mul(&r->T, &E, &H);
	scor_fe_mul(&r->Z, &F, &G);
}

/* r = -a: (-X : Y : Z : -T) */
void
scor_point_neg(scor_point *r, const scor_point *a)
{
	fe_neg(&r->X, &a->X);
	r->Y = a->Y;
	r->Z = a->Z;
	fe_neg(&r->T, &a->T);
}

/* r = a - b */
void
scor_point_sub(scor_point *r, const scor_point *a, const scor_point *b)
{
	scor_point	nb;

	scor_point_neg(&nb, b);
	scor_point_add(r, a, &nb);
}

/* r = 2a ("dbl-2008-hwcd" with a = -1) */
void
scor_point_dbl(scor_point *r, const scor_point *a)
{
	scor_fe		A,
				B,
				C,
				E,
				F,
				G,
				H,
				t;

	scor_fe_sq(&A, &a->X);
	scor_fe_sq(&B, &a->Y);
	scor_fe_sq(&C, &a->Z);
	fe_add(&C, &C, &C);			/* C = 2 Z1^2 */

	/* E = (X1 + Y1)^2 - A - B */
	fe_add(&t, &a->X, &a->Y);
	scor_fe_sq(&t, &t);
	fe_add(&H, &A, &B);
	fe_sub(&E, &t, &H);
	/* with D = a A = -A: G = D + B = B - A, F = G - C, H = D - B = -(A + B) */
	fe_sub(&G, &B, &A);
	fe_sub(&F, &G, &C);
	fe_neg(&H, &H);

	scor_fe_mul(&r->X, &E, &F);
	scor_fe_mul(&r->Y, &G, &H);
	scor_fe_mul(&r->T, &E, &H);
	scor_fe_mul(&r->Z, &F, &G);
}

/*
 * RFC 9496 section 4.3.3 equality for a = -1: the elements are equal iff
 * X1 Y2 = Y1 X2 or Y1 Y2 = X1 X2 (the second case is a 4-torsion rotation).
 */
int
scor_point_equal(const scor_point *a, const scor_point *b)
{
	scor_fe		l,
				r;

	scor_fe_mul(&l, &a->X, &b->Y);
	scor_fe_mul(&r, &a->Y, &b->X);
	if (fe_equal(&l, &r))
		return 1;
	scor_fe_mul(&l, &a->Y, &b->Y);
	scor_fe_mul(&r, &a->X, &b->X);
	return fe_equal(&l, &r);
}

/* 1 if a is the identity element: X = 0 or Y = 0 (equality with (0:1:1:0)) */
int
scor_point_is_identity(const scor_point *a)
{
	return fe_iszero(&a->X) || fe_iszero(&a->Y);
}

/* r = k p for a public k, left-to-right double and add */
void
scor_point_mul_u64(scor_point *r, const scor_point *p, uint64_t k)
{
	scor_point	acc,
				base = *p;
	int			bit;

	scor_point_identity(&acc);
	if (k == 0)
	{
		*r = acc;
		return;
	}
	bit = 63 - __builtin_clzll(k);
	acc = base;
	while (--bit >= 0)
	{
		scor_point_dbl(&acc, &acc);
		if ((k >> bit) & 1)
			scor_point_add(&acc, &acc, &base);
	}
	*r = acc;
}

/*
 * Signed radix-16 digits of a scalar below 2^255: 64 digits in [-8, 8),
 * the last in [-8, 8], with s = sum e[i] 16^i.
 */
static void
scalar_radix16(int8_t e[64], const uint8_t s[32])
{
	int			carry = 0;

	for (int i = 0; i < 32; i++)
	{
		e[2 * i] = s[i] & 15;
		e[2 * i + 1] = (s[i] >> 4) & 15;
	}
	for (int i = 0; i < 63; i++)
	{
		e[i] += carry;
		carry = (e[i] + 8) >> 4;
		e[i] -= carry * 16;
	}
	e[63] += carry;
}

/*
 * r = sum scalars[i] points[i] for public 32-byte little-endian scalars
 * below 2^255 (Straus' method, signed 4-bit windows: 64 windows of four
 * doublings shared by all terms, and at most one addition per term each).
 * Returns -1 if scratch memory cannot be had.
 */
int
scor_point_msm(scor_point *r, const uint8_t (*scalars)[32], const scor_point *points,
			   size_t n)
{
	scor_point *table;
	int8_t	   *digits;
	scor_point	acc;

	scor_point_identity(&acc);
	if (n == 0)
	{
		*r = acc;
		return 0;
	}
	table = malloc(sizeof(scor_point) * 8 * n);
	digits = malloc(64 * n);
	if (table == NULL || digits == NULL)
	{
		free(table);
		free(digits);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
	{
		scor_point *t = &table[8 * i];

		scalar_radix16(&digits[64 * i], scalars[i]);
		t[0] = points[i];
		scor_point_dbl(&t[1], &t[0]);
		for (int j = 2; j < 8; j++)
			scor_point_add(&t[j], &t[j - 1], &t[0]);
	}
	for (int w = 63; w >= 0; w--)
	{
		if (w < 63)
			for (int d = 0; d < 4; d++)
				scor_point_dbl(&acc, &acc);
		for (size_t i = 0; i < n; i++)
		{
			int			e = digits[64 * i + w];

			if (e > 0)
				scor_point_add(&acc, &acc, &table[8 * i + e - 1]);
			else if (e < 0)
				scor_point_sub(&acc, &acc, &table[8 * i - e - 1]);
		}
	}
	free(table);
	free(digits);
	*r = acc;
	return 0;
}

/* Canonical affine x = X/Z, y = Y/Z of this representative */
void
scor_point_to_affine(scor_affine *out, const scor_point *p)
{
	scor_fe		zinv,
				t;

	scor_fe_invert(&zinv, &p->Z);
	scor_fe_mul(&t, &p->X, &zinv);
	scor_fe_tobytes(out->x, &t);
	scor_fe_mul(&t, &p->Y, &zinv);
	scor_fe_tobytes(out->y, &t);
}

#define AFFINE_BATCH 128

/*
 * Affine forms of n points with one field inversion per AFFINE_BATCH points
 * (Montgomery's trick on the Z coordinates).
 */
void
scor_point_to_affine_batch(scor_affine *out, const scor_point *p, size_t n)
{
	scor_fe		z[AFFINE_BATCH],
				zinv[AFFINE_BATCH],
				t;

	for (size_t off = 0; off < n; off += AFFINE_BATCH)
	{
		size_t		len = n - off < AFFINE_BATCH ? n - off : AFFINE_BATCH;

		for (size_t i = 0; i < len; i++)
			z[i] = p[off + i].Z;
		scor_fe_batch_invert(zinv, z, len);
		for (size_t i = 0; i < len; i++)
		{
			scor_fe_mul(&t, &p[off + i].X, &zinv[i]);
			scor_fe_tobytes(out[off + i].x, &t);
			scor_fe_mul(&t, &p[off + i].Y, &zinv[i]);
			scor_fe_tobytes(out[off + i].y, &t);
		}
	}
}

/* (x : y : 1 : x y); trusts that (x, y) is on the curve */
void
scor_point_from_affine(scor_point *p, const scor_affine *a)
{
	scor_fe_frombytes(&p->X, a->x);
	scor_fe_frombytes(&p->Y, a->y);
	fe_one(&p->Z);
	scor_fe_mul(&p->T, &p->X, &p->Y);
}
