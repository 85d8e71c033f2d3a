/*
 * test_ristretto.c
 *	  Unit tests of src/ristretto.c: RFC 9496 vectors, field arithmetic
 *	  against GMP, and differential tests against libsodium.
 *
 * Build: cc -O2 -Wall -Wextra -Werror -std=gnu11 -Isrc test/unit/test_ristretto.c \
 *		  src/ristretto.c -lsodium -lgmp
 */
#include <gmp.h>
#include <sodium.h>

#include "ristretto.h"
#include "unit.h"

/* RFC 9496 appendix A.1: encodings of i B for i = 0..15 */
static const char *const small_multiples[16] = {
	"0000000000000000000000000000000000000000000000000000000000000000",
	"e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76",
	"6a493210f7499cd17fecb510ae0cea23a110e8d5b901f8acadd3095c73a3b919",
	"94741f5d5d52755ece4f23f044ee27d5d1ea1e2bd196b462166b16152a9d0259",
	"da80862773358b466ffadfe0b3293ab3d9fd53c5ea6c955358f568322daf6a57",
	"e882b131016b52c1d3337080187cf768423efccbb517bb495ab812c4160ff44e",
	"f64746d3c92b13050ed8d80236a7f0007c3b3f962f5ba793d19a601ebb1df403",
	"44f53520926ec81fbd5a387845beb7df85a96a24ece18738bdcfa6a7822a176d",
	"903293d8f2287ebe10e2374dc1a53e0bc887e592699f02d077d5263cdd55601c",
	"02622ace8f7303a31cafc63f8fc48fdc16e1c8c8d234b2f0d6685282a9076031",
	"20706fd788b2720a1ed2a5dad4952b01f413bcf0e7564de8cdc816689e2db95f",
	"bce83f8ba5dd2fa572864c24ba1810f9522bc6004afe95877ac73241cafdab42",
	"e4549ee16b9aa03099ca208c67adafcafa4c3f3e4e5303de6026e3ca8ff84460",
	"aa52e000df2e16f55fb1032fc33bc42742dad6bd5a8fc0be0167436c5948501f",
	"46376b80f409b29dc2b5f6f0c52591990896e5716f41477cd30085ab7f10301e",
	"e0c418f7c8d9c4cdd7395b93ea124f3ad99021bb681dfc3302a9d99a2e53e64e",
};

/* RFC 9496 appendix A.2: encodings every decoder must reject */
static const char *const bad_encodings[29] = {
	/* non-canonical field encodings */
	"00ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"f3ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	/* negative field elements */
	"0100000000000000000000000000000000000000000000000000000000000000",
	"01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"ed57ffd8c914fb201471d1c3d245ce3c746fcbe63a3679d51b6a516ebebe0e20",
	"c34c4e1826e5d403b78e246e88aa051c36ccf0aafebffe137d148a2bf9104562",
	"c940e5a4404157cfb1628b108db051a8d439e1a421394ec4ebccb9ec92a8ac78",
	"47cfc5497c53dc8e61c91d17fd626ffb1c49e2bca94eed052281b510b1117a24",
	"f1c6165d33367351b0da8f6e4511010c68174a03b6581212c71c0e1d026c3c72",
	"87260f7a2f12495118360f02c26a470f450dadf34a413d21042b43b9d93e1309",
	/* non-square x^2 */
	"26948d35ca62e643e26a83177332e6b6afeb9d08e4268b650f1f5bbd8d81d371",
	"4eac077a713c57b4f4397629a4145982c661f48044dd3f96427d40b147d9742f",
	"de6a7b00deadc788eb6b6c8d20c0ae96c2f2019078fa604fee5b87d6e989ad7b",
	"bcab477be20861e01e4a0e295284146a510150d9817763caf1a6f4b422d67042",
	"2a292df7e32cababbd9de088d1d1abec9fc0440f637ed2fba145094dc14bea08",
	"f4a9e534fc0d216c44b218fa0c42d99635a0127ee2e53c712f70609649fdff22",
	"8268436f8c4126196cf64b3c7ddbda90746a378625f9813dd9b8457077256731",
	"2810e5cbc2cc4d4eece54f61c6f69758e289aa7ab440b3cbeaa21995c2f4232b",
	/* negative x y */
	"3eb858e78f5a7254d8c9731174a94f76755fd3941c0ac93735c07ba14579630e",
	"a45fdc55c76448c049a1ab33f17023edfb2be3581e9c7aade8a6125215e04220",
	"d483fe813c6ba647ebbfd3ec41adca1c6130c2beeee9d9bf065c8d151c5f396e",
	"8a2e1d30050198c65a54483123960ccc38aef6848e1ec8f5f780e8523769ba32",
	"32888462f8b486c68ad7dd9610be5192bbeaf3b443951ac1a8118419d9fa097b",
	"227142501b9d4355ccba290404bde41575b037693cef1f438c47f8fbf35d1165",
	"5c37cc491da847cfeb9281d407efc41e15144c876e0170b499a96a22ed31e01e",
	"445425117cb8c90edcbc7c1cc0e74f747f2c1efa5630a967c64f287792a48a4b",
	/* s = -1, which gives y = 0 */
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
};

/* SQRT_M1 (RFC 9496 section 4.1), little-endian */
static const char *const sqrt_m1_hex =
"b0a00e4a271beec478e42fad0618432fa7d7fb3d99004d2b0bdfc14f8024832b";

static mpz_t p_mpz;

/* Little-endian 32 bytes to an mpz */
static void
bytes_to_mpz(mpz_t r, const uint8_t s[32])
{
	mpz_import(r, 32, -1, 1, 0, 0, s);
}

/* mpz in [0, 2^256) to little-endian 32 bytes */
static void
mpz_to_bytes(uint8_t s[32], const mpz_t a)
{
	size_t		count = 0;

	memset(s, 0, 32);
	mpz_export(s, &count, -1, 1, 0, 0, a);
}

/* The value of a field element as an mpz, reduced mod p through tobytes */
static void
fe_to_mpz(mpz_t r, const scor_fe *f)
{
	uint8_t		s[32];

	scor_fe_tobytes(s, f);
	bytes_to_mpz(r, s);
}

/* The exact (unreduced) integer a limb vector stands for */
static void
fe_limbs_to_mpz(mpz_t r, const scor_fe *f)
{
	mpz_t		t;

	mpz_init(t);
	mpz_set_ui(r, 0);
	for (int i = 4; i >= 0; i--)
	{
		mpz_mul_2exp(r, r, 51);
		mpz_set_ui(t, f->v[i]);
		mpz_add(r, r, t);
	}
	mpz_clear(t);
}

/* A random field element whose limbs are each below 2^bits */
static void
random_fe(scor_fe *f, int bits)
{
	uint64_t	r[5];

	randombytes_buf(r, sizeof(r));
	for (int i = 0; i < 5; i++)
		f->v[i] = bits >= 64 ? r[i] : r[i] & ((UINT64_C(1) << bits) - 1);
}

/* A random ristretto255 point, as bytes and decoded */
static void
random_point(uint8_t s[32], scor_point *p)
{
	crypto_core_ristretto255_random(s);
	if (scor_point_decode(p, s) != 0)
	{
		fprintf(stderr, "decode of a libsodium random point failed\n");
		exit(1);
	}
}

/* Encoding of a point, compared with expected bytes */
static int
encodes_to(const scor_point *p, const uint8_t expect[32])
{
	uint8_t		s[32];

	scor_point_encode(s, p);
	return memcmp(s, expect, 32) == 0;
}

/* tobytes canonical forms, frombytes masking, and arithmetic against GMP */
static void
test_field(void)
{
	uint8_t		s[32],
				out[32],
				expect[32];
	scor_fe		f,
				g,
				h;
	mpz_t		a,
				b,
				c,
				d;
	int			ok;

	mpz_inits(a, b, c, d, NULL);

	/* p + k for k = 0..18 is 2^255 - 19 + k < 2^255: must encode as k */
	ok = 1;
	for (int k = 0; k <= 18; k++)
	{
		mpz_add_ui(a, p_mpz, k);
		mpz_to_bytes(s, a);
		scor_fe_frombytes(&f, s);
		scor_fe_tobytes(out, &f);
		memset(expect, 0, 32);
		expect[0] = (uint8_t) k;
		if (memcmp(out, expect, 32) != 0)
			ok = 0;
	}
	CHECK(ok, "tobytes of p + k must be k");

	/* p - 1 and 2^255 - 20 stay as they are */
	mpz_sub_ui(a, p_mpz, 1);
	mpz_to_bytes(s, a);
	scor_fe_frombytes(&f, s);
	scor_fe_tobytes(out, &f);
	CHECK(memcmp(out, s, 32) == 0, "tobytes of p - 1");

	/* the top bit is ignored: 2^255 + 5 loads as 5 */
	memset(s, 0, 32);
	s[0] = 5;
	s[31] = 0x80;
	scor_fe_frombytes(&f, s);
	scor_fe_tobytes(out, &f);
	memset(expect, 0, 32);
	expect[0] = 5;
	CHECK(memcmp(out, expect, 32) == 0, "frombytes ignores bit 255");

	/* all ones: 2^255 - 1 = p + 18 */
	memset(s, 0xff, 32);
	scor_fe_frombytes(&f, s);
	scor_fe_tobytes(out, &f);
	memset(expect, 0, 32);
	expect[0] = 18;
	CHECK(memcmp(out, expect, 32) == 0, "tobytes of 2^256 - 1 (top bit dropped)");

	/* tobytes of limb vectors far from reduced, incl. limbs near 2^54 */
	ok = 1;
	for (int i = 0; i < 100000; i++)
	{
		random_fe(&f, i % 4 == 0 ? 54 : (i % 4 == 1 ? 52 : 51));
		if (i % 97 == 0)
			for (int k = 0; k < 5; k++)
				f.v[k] = (UINT64_C(1) << 54) - 1;
		fe_limbs_to_mpz(a, &f);
		mpz_mod(a, a, p_mpz);
		mpz_to_bytes(expect, a);
		scor_fe_tobytes(out, &f);
		if (memcmp(out, expect, 32) != 0)
			ok = 0;
	}
	CHECK(ok, "tobytes agrees with GMP on unreduced limbs");

	/* frombytes(tobytes(x)) round trip and value of random 256-bit strings */
	ok = 1;
	for (int i = 0; i < 100000; i++)
	{
		randombytes_buf(s, 32);
		scor_fe_frombytes(&f, s);
		s[31] &= 0x7f;
		bytes_to_mpz(a, s);
		mpz_mod(a, a, p_mpz);
		mpz_to_bytes(expect, a);
		scor_fe_tobytes(out, &f);
		if (memcmp(out, expect, 32) != 0)
			ok = 0;
		for (int k = 0; k < 5; k++)
			if (f.v[k] >> 51)
				ok = 0;
	}
	CHECK(ok, "frombytes agrees with GMP");

	/* mul and sq against GMP, with inputs up to 2^54 per limb */
	ok = 1;
	for (int i = 0; i < 200000; i++)
	{
		int			bits = (i % 3 == 0) ? 54 : (i % 3 == 1 ? 53 : 51);

		random_fe(&f, bits);
		random_fe(&g, bits);
		if (i % 101 == 0)
			for (int k = 0; k < 5; k++)
				f.v[k] = g.v[k] = (UINT64_C(1) << 54) - 1;
		fe_limbs_to_mpz(a, &f);
		fe_limbs_to_mpz(b, &g);

		scor_fe_mul(&h, &f, &g);
		mpz_mul(c, a, b);
		mpz_mod(c, c, p_mpz);
		fe_to_mpz(d, &h);
		if (mpz_cmp(c, d) != 0)
			ok = 0;
		for (int k = 0; k < 5; k++)
			if (h.v[k] >= (UINT64_C(1) << 52))
				ok = 0;

		scor_fe_sq(&h, &f);
		mpz_mul(c, a, a);
		mpz_mod(c, c, p_mpz);
		fe_to_mpz(d, &h);
		if (mpz_cmp(c, d) != 0)
			ok = 0;
		for (int k = 0; k < 5; k++)
			if (h.v[k] >= (UINT64_C(1) << 52))
				ok = 0;

		/* aliasing output and input */
		h = f;
		scor_fe_mul(&h, &h, &g);
		mpz_mul(c, a, b);
		mpz_mod(c, c, p_mpz);
		fe_to_mpz(d, &h);
		if (mpz_cmp(c, d) != 0)
			ok = 0;
	}
	CHECK(ok, "mul and sq agree with GMP and output carried limbs");

	/* invert: x * (1/x) = 1, and agrees with GMP */
	ok = 1;
	for (int i = 0; i < 10000; i++)
	{
		random_fe(&f, 51);
		if (i == 0)
		{
			memset(&f, 0, sizeof(f));
			f.v[0] = 1;
		}
		fe_to_mpz(a, &f);
		if (mpz_sgn(a) == 0)
			continue;
		scor_fe_invert(&g, &f);
		scor_fe_mul(&h, &g, &f);
		fe_to_mpz(d, &h);
		if (mpz_cmp_ui(d, 1) != 0)
			ok = 0;
		mpz_invert(c, a, p_mpz);
		fe_to_mpz(d, &g);
		if (mpz_cmp(c, d) != 0)
			ok = 0;
	}
	CHECK(ok, "invert(x) * x == 1");

	/* 1/0 = 0, including for p itself */
	memset(&f, 0, sizeof(f));
	scor_fe_invert(&g, &f);
	scor_fe_tobytes(out, &g);
	memset(expect, 0, 32);
	CHECK(memcmp(out, expect, 32) == 0, "invert(0) == 0");
	mpz_to_bytes(s, p_mpz);
	scor_fe_frombytes(&f, s);
	scor_fe_invert(&g, &f);
	scor_fe_tobytes(out, &g);
	CHECK(memcmp(out, expect, 32) == 0, "invert(p) == 0");

	mpz_clears(a, b, c, d, NULL);
}

/* Montgomery batch inversion: n = 0, 1, runs, aliasing, zeros */
static void
test_batch_invert(void)
{
	static scor_fe in[1000],
				out[1000],
				copy[1000];
	size_t		sizes[] = {0, 1, 2, 255, 256, 257, 1000};
	uint8_t		a[32],
				b[32];
	int			ok;

	/* n = 0 must not touch anything */
	memset(out, 0xab, sizeof(out));
	scor_fe_batch_invert(out, in, 0);
	CHECK(out[0].v[0] == UINT64_C(0xabababababababab), "batch invert n = 0");

	for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++)
	{
		size_t		n = sizes[si];

		for (int with_zero = 0; with_zero < 2; with_zero++)
		{
			for (size_t i = 0; i < n; i++)
			{
				random_fe(&in[i], 51);
				if (with_zero && (i % 7 == 3 || i == n - 1))
					memset(&in[i], 0, sizeof(scor_fe));
			}
			memcpy(copy, in, sizeof(scor_fe) * n);

			/* separate output */
			scor_fe_batch_invert(out, in, n);
			ok = 1;
			for (size_t i = 0; i < n; i++)
			{
				scor_fe		single;

				scor_fe_invert(&single, &in[i]);
				scor_fe_tobytes(a, &single);
				scor_fe_tobytes(b, &out[i]);
				if (memcmp(a, b, 32) != 0)
					ok = 0;
			}
			CHECK(ok, "batch invert n=%zu zero=%d", n, with_zero);
			CHECK(memcmp(copy, in, sizeof(scor_fe) * n) == 0,
				  "batch invert leaves its input alone");

			/* in place */
			scor_fe_batch_invert(in, in, n);
			ok = 1;
			for (size_t i = 0; i < n; i++)
			{
				scor_fe_tobytes(a, &in[i]);
				scor_fe_tobytes(b, &out[i]);
				if (memcmp(a, b, 32) != 0)
					ok = 0;
			}
			CHECK(ok, "in-place batch invert n=%zu zero=%d", n, with_zero);
		}
	}
}

/* RFC 9496 A.1 (small multiples) and A.2 (bad encodings) */
static void
test_rfc_vectors(void)
{
	scor_point	base,
				acc,
				q,
				r;
	uint8_t		s[32],
				expect[32];

	scor_point_base(&base);
	scor_point_identity(&acc);
	for (int i = 0; i < 16; i++)
	{
		CHECK(unit_hex(expect, 32, small_multiples[i]) == 0, "hex");

		/* by repeated addition */
		CHECK(encodes_to(&acc, expect), "A.1: %d B by addition", i);

		/* by double and add */
		scor_point_mul_u64(&q, &base, (uint64_t) i);
		CHECK(encodes_to(&q, expect), "A.1: %d B by mul_u64", i);
		CHECK(scor_point_equal(&q, &acc), "A.1: %d B equal", i);

		/* libsodium agrees with the vector (scalar 0 reports -1) */
		{
			uint8_t		n[32] = {0};

			n[0] = (uint8_t) i;
			if (i == 0)
				CHECK(crypto_scalarmult_ristretto255_base(s, n) == -1,
					  "libsodium base mult by 0");
			else
				CHECK(crypto_scalarmult_ristretto255_base(s, n) == 0 &&
					  memcmp(s, expect, 32) == 0,
					  "A.1: libsodium %d B", i);
		}

		/* decode and re-encode */
		CHECK(scor_point_decode(&r, expect) == 0, "A.1: decode %d B", i);
		CHECK(scor_point_equal(&r, &acc), "A.1: decoded %d B equal", i);
		CHECK(encodes_to(&r, expect), "A.1: re-encode %d B", i);
		CHECK(scor_point_is_identity(&r) == (i == 0), "A.1: is_identity %d", i);

		scor_point_add(&acc, &acc, &base);
	}

	for (int i = 0; i < 29; i++)
	{
		CHECK(unit_hex(s, 32, bad_encodings[i]) == 0, "hex");
		CHECK(crypto_core_ristretto255_is_valid_point(s) == 0,
			  "A.2: libsodium accepts %s", bad_encodings[i]);
		CHECK(scor_point_decode(&r, s) == -1,
			  "A.2: accepted %s", bad_encodings[i]);
	}
}

/* Point operations against libsodium on random points */
static void
test_points_random(void)
{
	int			n = 10000;
	int			ok_rt = 1,
				ok_add = 1,
				ok_sub = 1,
				ok_neg = 1,
				ok_dbl = 1,
				ok_eq = 1,
				ok_repr = 1,
				ok_aff = 1,
				ok_ident = 1;
	uint8_t		zero[32] = {0};
	scor_fe		sqrt_m1,
				minus_one,
				sq;
	uint8_t		sqrt_m1_bytes[32],
				m1_bytes[32],
				got[32];
	mpz_t		m1;

	/* SQRT_M1 and -1 as field elements, for building other representatives */
	CHECK(unit_hex(sqrt_m1_bytes, 32, sqrt_m1_hex) == 0, "hex");
	scor_fe_frombytes(&sqrt_m1, sqrt_m1_bytes);
	mpz_init(m1);
	mpz_sub_ui(m1, p_mpz, 1);
	mpz_to_bytes(m1_bytes, m1);
	mpz_clear(m1);
	scor_fe_frombytes(&minus_one, m1_bytes);
	scor_fe_sq(&sq, &sqrt_m1);
	scor_fe_tobytes(got, &sq);
	CHECK(memcmp(got, m1_bytes, 32) == 0, "SQRT_M1^2 == -1");

	for (int i = 0; i < n; i++)
	{
		uint8_t		sa[32],
					sb[32],
					ss[32],
					out[32];
		scor_point	a,
					b,
					r,
					t,
					u;
		scor_affine aff;

		random_point(sa, &a);
		random_point(sb, &b);

		scor_point_encode(out, &a);
		if (memcmp(out, sa, 32) != 0)
			ok_rt = 0;

		scor_point_add(&r, &a, &b);
		crypto_core_ristretto255_add(ss, sa, sb);
		if (!encodes_to(&r, ss))
			ok_add = 0;

		scor_point_sub(&r, &a, &b);
		crypto_core_ristretto255_sub(ss, sa, sb);
		if (!encodes_to(&r, ss))
			ok_sub = 0;

		scor_point_neg(&r, &a);
		crypto_core_ristretto255_sub(ss, zero, sa);
		if (!encodes_to(&r, ss))
			ok_neg = 0;

		scor_point_dbl(&r, &a);
		crypto_core_ristretto255_add(ss, sa, sa);
		if (!encodes_to(&r, ss))
			ok_dbl = 0;
		scor_point_add(&t, &a, &a);
		if (!scor_point_equal(&r, &t))
			ok_dbl = 0;

		/* (a + b) - b is a, as a different representative */
		scor_point_add(&t, &a, &b);
		scor_point_sub(&t, &t, &b);
		if (!scor_point_equal(&t, &a) || !encodes_to(&t, sa))
			ok_eq = 0;
		if (scor_point_equal(&a, &b) || scor_point_equal(&t, &b))
			ok_eq = 0;
		/* a is not -a */
		scor_point_neg(&u, &a);
		if (scor_point_equal(&u, &a))
			ok_eq = 0;

		/* 4-torsion shifts and projective scaling: same element */
		{
			scor_point	q;
			scor_fe		lambda;

			/* + (0, -1): (-X : -Y : Z : T) */
			scor_fe_mul(&q.X, &a.X, &minus_one);
			scor_fe_mul(&q.Y, &a.Y, &minus_one);
			q.Z = a.Z;
			q.T = a.T;
			if (!scor_point_equal(&q, &a) || !encodes_to(&q, sa))
				ok_repr = 0;

			/* + (i, 0): (i Y : i X : Z : -T) */
			scor_fe_mul(&q.X, &a.Y, &sqrt_m1);
			scor_fe_mul(&q.Y, &a.X, &sqrt_m1);
			q.Z = a.Z;
			scor_fe_mul(&q.T, &a.T, &minus_one);
			if (!scor_point_equal(&q, &a) || !encodes_to(&q, sa))
				ok_repr = 0;

			/* (l X : l Y : l Z : l T) for a random l */
			random_fe(&lambda, 51);
			scor_fe_mul(&r.X, &q.X, &lambda);
			scor_fe_mul(&r.Y, &q.Y, &lambda);
			scor_fe_mul(&r.Z, &q.Z, &lambda);
			scor_fe_mul(&r.T, &q.T, &lambda);
			if (!scor_point_equal(&r, &a) || !encodes_to(&r, sa))
				ok_repr = 0;

			/* arithmetic on the odd representative still agrees */
			scor_point_add(&t, &r, &b);
			crypto_core_ristretto255_add(ss, sa, sb);
			if (!encodes_to(&t, ss))
				ok_repr = 0;

			/* affine round trip from a representative with Z != 1 */
			scor_point_to_affine(&aff, &r);
			scor_point_from_affine(&u, &aff);
			if (!encodes_to(&u, sa) || !scor_point_equal(&u, &a))
				ok_aff = 0;
			scor_point_add(&t, &u, &b);
			crypto_core_ristretto255_add(ss, sa, sb);
			if (!encodes_to(&t, ss))
				ok_aff = 0;
		}

		/* a - a is the identity, a is not */
		scor_point_sub(&t, &a, &a);
		if (!scor_point_is_identity(&t) || !encodes_to(&t, zero) ||
			scor_point_is_identity(&a))
			ok_ident = 0;
	}
	CHECK(ok_rt, "decode/encode round trip of random points");
	CHECK(ok_add, "add agrees with libsodium");
	CHECK(ok_sub, "sub agrees with libsodium");
	CHECK(ok_neg, "neg agrees with libsodium");
	CHECK(ok_dbl, "dbl agrees with libsodium and add");
	CHECK(ok_eq, "equality across representatives");
	CHECK(ok_repr, "torsion-shifted and scaled representatives");
	CHECK(ok_aff, "to_affine/from_affine round trip");
	CHECK(ok_ident, "identity detection");
}

/* Identity handling and encode/decode of the identity */
static void
test_identity(void)
{
	scor_point	id,
				base,
				r;
	uint8_t		zero[32] = {0},
				s[32];

	scor_point_identity(&id);
	scor_point_base(&base);
	CHECK(scor_point_is_identity(&id), "identity is identity");
	CHECK(encodes_to(&id, zero), "identity encodes to zeros");
	CHECK(scor_point_decode(&r, zero) == 0 && scor_point_is_identity(&r),
		  "zeros decode to the identity");
	CHECK(!scor_point_is_identity(&base), "base is not the identity");
	scor_point_add(&r, &base, &id);
	CHECK(scor_point_equal(&r, &base), "B + 0 == B");
	scor_point_dbl(&r, &id);
	CHECK(scor_point_is_identity(&r), "2 * 0 == 0");
	scor_point_neg(&r, &id);
	CHECK(scor_point_is_identity(&r), "-0 == 0");
	scor_point_mul_u64(&r, &base, 0);
	CHECK(scor_point_is_identity(&r), "0 B == 0");
	scor_point_mul_u64(&r, &id, UINT64_MAX);
	CHECK(scor_point_is_identity(&r), "k 0 == 0");
	CHECK(!scor_point_equal(&id, &base), "0 != B");
	scor_point_encode(s, &base);
	CHECK(crypto_core_ristretto255_is_valid_point(s) == 1, "base valid");

	/*
	 * The four representatives of the identity, (0, 1), (0, -1), (i, 0) and
	 * (-i, 0): all encode to zeros, test as identity and equal each other.
	 */
	{
		scor_fe		sqrt_m1,
					minus_one;
		uint8_t		b[32];
		mpz_t		a;
		scor_point	reps[4];

		CHECK(unit_hex(b, 32, sqrt_m1_hex) == 0, "hex");
		scor_fe_frombytes(&sqrt_m1, b);
		mpz_init(a);
		mpz_sub_ui(a, p_mpz, 1);
		mpz_to_bytes(b, a);
		mpz_clear(a);
		scor_fe_frombytes(&minus_one, b);

		for (int k = 0; k < 4; k++)
			scor_point_identity(&reps[k]);
		reps[1].Y = minus_one;
		reps[2].X = sqrt_m1;
		memset(&reps[2].Y, 0, sizeof(scor_fe));
		scor_fe_mul(&reps[3].X, &sqrt_m1, &minus_one);
		memset(&reps[3].Y, 0, sizeof(scor_fe));
		for (int k = 0; k < 4; k++)
		{
			CHECK(encodes_to(&reps[k], zero), "identity representative %d encodes to 0", k);
			CHECK(scor_point_is_identity(&reps[k]), "identity representative %d", k);
			CHECK(scor_point_equal(&reps[k], &id), "identity representative %d equal", k);
			scor_point_add(&r, &reps[k], &base);
			CHECK(scor_point_equal(&r, &base), "B + identity representative %d", k);
		}

		/* s = SQRT_M1 (even) makes 1 + s^2 = 0: must be rejected */
		CHECK(unit_hex(b, 32, sqrt_m1_hex) == 0, "hex");
		CHECK(scor_point_decode(&r, b) == -1, "s = SQRT_M1 rejected");
		CHECK(crypto_core_ristretto255_is_valid_point(b) == 0,
			  "libsodium rejects s = SQRT_M1");
	}
}

/* mul_u64 against crypto_scalarmult_ristretto255 */
static void
test_mul_u64(void)
{
	int			ok = 1;
	uint64_t	special[] = {1, 2, 3, 255, 256, UINT32_MAX, (uint64_t) 1 << 32,
	(uint64_t) 1 << 63, UINT64_MAX, UINT64_MAX - 1};
	int			nspecial = sizeof(special) / sizeof(special[0]);

	for (int i = 0; i < 10000 + nspecial; i++)
	{
		uint8_t		sp[32],
					sr[32],
					n[32] = {0};
		scor_point	p,
					r;
		uint64_t	k;

		random_point(sp, &p);
		if (i < nspecial)
			k = special[i];
		else
		{
			randombytes_buf(&k, sizeof(k));
			/* vary the bit length too */
			k >>= (i % 64);
			if (k == 0)
				k = 1;
		}
		for (int j = 0; j < 8; j++)
			n[j] = (uint8_t) (k >> (8 * j));
		scor_point_mul_u64(&r, &p, k);
		if (crypto_scalarmult_ristretto255(sr, n, sp) != 0 ||
			!encodes_to(&r, sr))
		{
			ok = 0;
			fprintf(stderr, "mul_u64 mismatch for k = %llu\n",
					(unsigned long long) k);
		}
	}
	CHECK(ok, "mul_u64 agrees with crypto_scalarmult_ristretto255");
}

/* to_affine_batch agrees with to_affine, across run boundaries */
static void
test_affine_batch(void)
{
	static scor_point pts[300];
	static scor_affine batch[300];
	size_t		sizes[] = {0, 1, 127, 128, 129, 300};
	int			ok = 1;

	for (int i = 0; i < 300; i++)
	{
		uint8_t		s[32];
		scor_point	q;

		random_point(s, &q);
		/* a representative with a non-trivial Z */
		scor_point_add(&pts[i], &q, &q);
		scor_point_sub(&pts[i], &pts[i], &q);
	}
	for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++)
	{
		size_t		n = sizes[si];

		memset(batch, 0, sizeof(batch));
		scor_point_to_affine_batch(batch, pts, n);
		for (size_t i = 0; i < n; i++)
		{
			scor_affine one;

			scor_point_to_affine(&one, &pts[i]);
			if (memcmp(&one, &batch[i], sizeof(one)) != 0)
				ok = 0;
		}
		for (size_t i = n; i < 300; i++)
		{
			static const scor_affine zero_aff;

			if (memcmp(&zero_aff, &batch[i], sizeof(zero_aff)) != 0)
				ok = 0;
		}
	}
	CHECK(ok, "to_affine_batch agrees with to_affine");
}

/*
 * libsodium's verdict on an encoding, corrected for a known deviation of
 * libsodium 1.0.18: its is_valid_point ignores bit 255 (the check was added
 * in later releases), whereas RFC 9496 rejects any s >= p, so a set top bit
 * must be rejected.
 */
static int
sodium_accepts(const uint8_t s[32])
{
	return crypto_core_ristretto255_is_valid_point(s) == 1 &&
		(s[31] & 0x80) == 0;
}

/*
 * Decode random and structured byte strings: must accept exactly what
 * libsodium accepts (modulo bit 255, see sodium_accepts), and accepted
 * strings re-encode to themselves.
 */
static void
test_decode_differential(void)
{
	static const char *const mode_name[] = {
		"raw", "top bit clear", "top and low bits clear"
	};
	int			total_valid = 0;

	for (int mode = 0; mode < 3; mode++)
	{
		int			agree = 1,
					reenc = 1,
					valid = 0;

		for (int i = 0; i < 1000000; i++)
		{
			uint8_t		s[32],
						out[32];
			scor_point	p;
			int			ours,
						theirs;

			randombytes_buf(s, 32);
			if (mode >= 1)
				s[31] &= 0x7f;
			if (mode >= 2)
				s[0] &= 0xfe;
			ours = scor_point_decode(&p, s) == 0;
			theirs = sodium_accepts(s);
			if (ours != theirs && agree)
			{
				agree = 0;
				fprintf(stderr, "decode disagrees (ours %d)\n", ours);
			}
			if (ours)
			{
				valid++;
				scor_point_encode(out, &p);
				if (memcmp(out, s, 32) != 0)
					reenc = 0;
			}
		}
		CHECK(agree, "decode agrees with libsodium on 10^6 strings (%s)",
			  mode_name[mode]);
		CHECK(reenc, "accepted strings re-encode to themselves (%s)",
			  mode_name[mode]);
		CHECK(valid > 0, "some valid strings (%s)", mode_name[mode]);
		total_valid += valid;
	}
	printf("decode differential: %d valid encodings among 3 x 10^6 strings\n",
		   total_valid);

	/*
	 * Structured strings: small integers, p - k, 2^255 - k, and these with
	 * the top bit set.
	 */
	{
		int			agree = 1;
		mpz_t		a;

		mpz_init(a);
		for (int k = 0; k < 20000; k++)
		{
			uint8_t		s[4][32];

			mpz_set_ui(a, k);
			mpz_to_bytes(s[0], a);
			mpz_sub_ui(a, p_mpz, k);
			mpz_to_bytes(s[1], a);
			mpz_set_ui(a, 1);
			mpz_mul_2exp(a, a, 255);
			mpz_sub_ui(a, a, k + 1);
			mpz_to_bytes(s[2], a);
			memcpy(s[3], s[0], 32);
			s[3][31] |= 0x80;
			for (int v = 0; v < 4; v++)
			{
				scor_point	p;
				int			ours = scor_point_decode(&p, s[v]) == 0;
				int			theirs = sodium_accepts(s[v]);

				if (ours != theirs)
					agree = 0;
				if (ours && !encodes_to(&p, s[v]))
					agree = 0;
			}
		}
		CHECK(agree, "decode agrees with libsodium near 0, p and 2^255");
		mpz_clear(a);
	}

	/* every valid encoding with its top bit set is rejected */
	{
		int			ok = 1;
		uint8_t		s[32];

		crypto_core_ristretto255_random(s);
		s[31] |= 0x80;
		if (crypto_core_ristretto255_is_valid_point(s) == 1)
			printf("note: libsodium %s ignores bit 255 of ristretto255 encodings\n",
				   sodium_version_string());

		for (int i = 0; i < 10000; i++)
		{
			scor_point	p;

			crypto_core_ristretto255_random(s);
			s[31] |= 0x80;
			if (scor_point_decode(&p, s) == 0)
				ok = 0;
		}
		CHECK(ok, "valid encodings with bit 255 set are rejected");
	}
}

int
main(void)
{
	if (sodium_init() < 0)
	{
		fprintf(stderr, "sodium_init failed\n");
		return 1;
	}
	mpz_init(p_mpz);
	mpz_set_ui(p_mpz, 1);
	mpz_mul_2exp(p_mpz, p_mpz, 255);
	mpz_sub_ui(p_mpz, p_mpz, 19);

	test_field();
	test_batch_invert();
	test_rfc_vectors();
	test_identity();
	test_points_random();
	test_mul_u64();
	test_affine_batch();
	test_decode_differential();

	mpz_clear(p_mpz);
	UNIT_DONE("test_ristretto");
}
