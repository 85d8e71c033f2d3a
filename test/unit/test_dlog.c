/*
 * test_dlog.c
 *	  Unit tests of src/dlog.c: baby-step giant-step decoding over signed
 *	  ranges, bounds, damaged tables and table checks.  Points m·G are built
 *	  with libsodium (crypto_scalarmult_ristretto255_base) so that the
 *	  decoder is checked against an independent implementation.
 *
 * Build: cc -O2 -Wall -Wextra -Werror -std=gnu11 -Isrc test/unit/test_dlog.c \
 *		  src/ristretto.c src/dlog.c -lsodium
 */
#include <setjmp.h>
#include <stdint.h>
#include <time.h>

#include <sodium.h>

#include "dlog.h"
#include "ristretto.h"
#include "unit.h"

/* Seconds on the monotonic clock */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A uniformly random integer in [-r, r] for 0 <= r < 2^62 */
static int64_t
random_signed(int64_t r)
{
	uint64_t	x;

	randombytes_buf(&x, sizeof(x));
	return (int64_t) (x % (uint64_t) (2 * r + 1)) - r;
}

/*
 * m·G through libsodium: the scalar |m| little-endian, then negated if m is
 * negative; m = 0 is the identity (libsodium's base mult reports -1 there).
 */
static void
point_of(scor_point *p, int64_t m)
{
	uint8_t		n[32] = {0},
				s[32],
				zero[32] = {0};
	uint64_t	a = m < 0 ? (uint64_t) 0 - (uint64_t) m : (uint64_t) m;

	if (m == 0)
	{
		scor_point_identity(p);
		return;
	}
	for (int i = 0; i < 8; i++)
		n[i] = (uint8_t) (a >> (8 * i));
	if (crypto_scalarmult_ristretto255_base(s, n) != 0)
	{
		fprintf(stderr, "crypto_scalarmult_ristretto255_base failed\n");
		exit(1);
	}
	if (m < 0 && crypto_core_ristretto255_sub(s, zero, s) != 0)
	{
		fprintf(stderr, "crypto_core_ristretto255_sub failed\n");
		exit(1);
	}
	if (scor_point_decode(p, s) != 0)
	{
		fprintf(stderr, "decode of m·G failed\n");
		exit(1);
	}
}

/* Allocate and build a table, or exit */
static void *
make_table(unsigned log2, double *secs)
{
	size_t		size = scor_dlog_table_size(log2);
	void	   *buf = aligned_alloc(64, (size + 63) / 64 * 64);
	double		t0 = now();

	if (buf == NULL || scor_dlog_table_build(buf, size, log2) != 0)
	{
		fprintf(stderr, "table build failed for log2 = %u\n", log2);
		exit(1);
	}
	if (secs)
		*secs = now() - t0;
	return buf;
}

/* Solve for m·G and check that exactly m comes back */
static int
decodes_to(const void *table, int64_t m, int64_t bound)
{
	scor_point	p;
	int64_t		got = INT64_MIN;
	int			rc;

	point_of(&p, m);
	rc = scor_dlog_solve(table, &p, bound, &got, NULL);
	if (rc != SCOR_DLOG_FOUND || got != m)
	{
		fprintf(stderr, "decode of %lld (bound %lld): rc %d, got %lld\n",
				(long long) m, (long long) bound, rc, (long long) got);
		return 0;
	}
	return 1;
}

/* Solve for m·G and check that it is reported out of range */
static int
out_of_range(const void *table, int64_t m, int64_t bound)
{
	scor_point	p;
	int64_t		got = 12345;

	point_of(&p, m);
	return scor_dlog_solve(table, &p, bound, &got, NULL) == SCOR_DLOG_OUT_OF_RANGE &&
		got == 12345;
}

/* Signed values near every window edge of a table */
static void
test_edges(const void *table, const char *name)
{
	int64_t		n = scor_dlog_table_reach(table);
	int64_t		s = 2 * n + 1;
	int64_t		vals[] = {0, 1, 2, n - 1, n, n + 1, n + 2, s - 1, s, s + 1,
		s + n - 1, s + n, s + n + 1, 2 * s, 2 * s + n, 2 * s + n + 1,
	7 * s - n, 7 * s - n - 1, 1000 * s + 17};
	int			ok = 1;

	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
	{
		ok &= decodes_to(table, vals[i], INT64_C(1) << 40);
		ok &= decodes_to(table, -vals[i], INT64_C(1) << 40);
	}
	CHECK(ok, "%s: 0, +-1, +-N, +-(N+1), +-S and other window edges", name);
}

/* Random values in [-r, r] */
static void
test_random(const void *table, const char *name, int64_t r, int count)
{
	int			ok = 1;

	for (int i = 0; i < count; i++)
		ok &= decodes_to(table, random_signed(r), r);
	CHECK(ok, "%s: %d random values in +-%lld", name, count, (long long) r);
}

/* Every m in [-3000, 3000] with a tiny table, and bounds inside that range */
static void
test_exhaustive(void)
{
	void	   *table = make_table(SCOR_DLOG_MIN_BITS, NULL);
	scor_point	g,
				p;
	int			ok = 1,
				ok_oor = 1;

	CHECK(scor_dlog_table_reach(table) == 256, "reach of a 2^8 table");
	scor_point_base(&g);
	scor_point_mul_u64(&p, &g, 3000);
	scor_point_neg(&p, &p);
	for (int64_t m = -3000; m <= 3000; m++)
	{
		int64_t		got = INT64_MIN;
		int			rc;

		rc = scor_dlog_solve(table, &p, 3000, &got, NULL);
		if (rc != SCOR_DLOG_FOUND || got != m)
			ok = 0;
		rc = scor_dlog_solve(table, &p, 1999, &got, NULL);
		if ((m >= -1999 && m <= 1999) ? (rc != SCOR_DLOG_FOUND || got != m) :
			rc != SCOR_DLOG_OUT_OF_RANGE)
			ok_oor = 0;
		if (m % 500 == 0)
		{
			scor_point	q;

			point_of(&q, m);
			if (!scor_point_equal(&p, &q))
				ok = 0;
		}
		scor_point_add(&p, &p, &g);
	}
	CHECK(ok, "every m in [-3000, 3000] decodes (2^8 table)");
	CHECK(ok_oor, "bound 1999 splits [-3000, 3000] exactly");
	free(table);
}

/* Bounds: found at the bound, out of range just beyond, clamping, negative */
static void
test_bounds(const void *table)
{
	int64_t		n = scor_dlog_table_reach(table);
	int64_t		s = 2 * n + 1;
	int64_t		b;
	scor_point	p;
	int64_t		got;

	CHECK(decodes_to(table, 1000, 1000), "m = bound");
	CHECK(decodes_to(table, -1000, 1000), "m = -bound");
	CHECK(out_of_range(table, 1001, 1000), "m = bound + 1");
	CHECK(out_of_range(table, -1001, 1000), "m = -bound - 1");

	b = 3 * s + 5;
	CHECK(decodes_to(table, b, b), "m = 3S + 5 = bound");
	CHECK(decodes_to(table, -b, b), "m = -(3S + 5) = -bound");
	CHECK(out_of_range(table, b + 1, b), "m = bound + 1 beyond a giant step");
	CHECK(out_of_range(table, -b - 1, b), "m = -bound - 1 beyond a giant step");
	CHECK(out_of_range(table, b + n + 1, b), "m in the next window");
	CHECK(out_of_range(table, 40 * s, b), "m far beyond the bound");

	b = 5 * s - n;				/* window edge */
	CHECK(decodes_to(table, b, b), "bound on a window edge");
	CHECK(out_of_range(table, b + 1, b), "bound + 1 on a window edge");
	CHECK(out_of_range(table, -b - 1, b), "-bound - 1 on a window edge");

	CHECK(decodes_to(table, 0, 0), "bound 0, m = 0");
	CHECK(out_of_range(table, 1, 0), "bound 0, m = 1");
	CHECK(out_of_range(table, -1, 0), "bound 0, m = -1");
	CHECK(out_of_range(table, 0, -1), "negative bound");
	CHECK(out_of_range(table, 5, INT64_MIN), "INT64_MIN bound");

	/* bounds above 2^62 are clamped, not overflowed */
	CHECK(decodes_to(table, 5, INT64_MAX), "bound INT64_MAX, m = 5");
	CHECK(decodes_to(table, -5, INT64_MAX), "bound INT64_MAX, m = -5");
	CHECK(decodes_to(table, 77 * s + 3, INT64_MAX), "bound INT64_MAX, m = 77S + 3");
	CHECK(decodes_to(table, -(77 * s + 3), SCOR_DLOG_MAX_BOUND),
		  "bound 2^62, m = -(77S + 3)");

	/* a random element has no small discrete log */
	{
		uint8_t		r[32];

		crypto_core_ristretto255_random(r);
		CHECK(scor_point_decode(&p, r) == 0, "decode random");
		got = 12345;
		CHECK(scor_dlog_solve(table, &p, INT64_C(1) << 22, &got, NULL) ==
			  SCOR_DLOG_OUT_OF_RANGE && got == 12345,
			  "random element is out of range");
	}
}

/* -f as a field element, via the negation of a point whose X is f */
static void
fe_negate(scor_fe *out, const scor_fe *f)
{
	scor_point	t;

	scor_point_identity(&t);
	t.X = *f;
	scor_point_neg(&t, &t);
	*out = t.X;
}

/* Other representatives of m·G (and of -m·G) decode to the same m */
static void
test_representatives(const void *table)
{
	int			ok = 1;
	scor_fe		sqrt_m1;
	uint8_t		sqrt_m1_bytes[32];

	/* SQRT_M1 of RFC 9496, little-endian */
	CHECK(unit_hex(sqrt_m1_bytes, 32,
				   "b0a00e4a271beec478e42fad0618432fa7d7fb3d99004d2b0bdfc14f8024832b") == 0,
		  "hex");
	scor_fe_frombytes(&sqrt_m1, sqrt_m1_bytes);

	for (int i = 0; i < 200; i++)
	{
		int64_t		m = random_signed(INT64_C(1) << 24);
		int64_t		bound = INT64_C(1) << 24;
		scor_point	p,
					q,
					r;
		uint8_t		rb[32];
		int64_t		got;

		point_of(&p, m);

		/* (P + R) - R: same element, unrelated Z */
		crypto_core_ristretto255_random(rb);
		if (scor_point_decode(&r, rb) != 0)
			ok = 0;
		scor_point_add(&q, &p, &r);
		scor_point_sub(&q, &q, &r);
		if (scor_dlog_solve(table, &q, bound, &got, NULL) != SCOR_DLOG_FOUND ||
			got != m)
			ok = 0;

		/* P + (0, -1) = (-X : -Y : Z : T) */
		fe_negate(&r.X, &q.X);
		fe_negate(&r.Y, &q.Y);
		r.Z = q.Z;
		r.T = q.T;
		if (scor_dlog_solve(table, &r, bound, &got, NULL) != SCOR_DLOG_FOUND ||
			got != m)
			ok = 0;

		/* P + (i, 0) = (i Y : i X : Z : -T) */
		scor_fe_mul(&r.X, &q.Y, &sqrt_m1);
		scor_fe_mul(&r.Y, &q.X, &sqrt_m1);
		r.Z = q.Z;
		fe_negate(&r.T, &q.T);
		if (!scor_point_equal(&r, &p) ||
			scor_dlog_solve(table, &r, bound, &got, NULL) != SCOR_DLOG_FOUND ||
			got != m)
			ok = 0;

		/* its negation */
		scor_point_neg(&r, &r);
		if (scor_dlog_solve(table, &r, bound, &got, NULL) != SCOR_DLOG_FOUND ||
			got != -m)
			ok = 0;
	}
	CHECK(ok, "torsion-shifted and rescaled representatives decode");
}

static int	interrupt_calls;
static int	interrupt_limit;
static jmp_buf interrupt_jmp;

/* Counts calls; longjmps out after interrupt_limit calls if set */
static void
fake_check_interrupts(void)
{
	interrupt_calls++;
	if (interrupt_limit > 0 && interrupt_calls >= interrupt_limit)
		longjmp(interrupt_jmp, 1);
}

/* check_interrupts is called during long searches and may longjmp */
static void
test_interrupts(const void *table)
{
	int64_t		n = scor_dlog_table_reach(table);
	int64_t		m = 5000 * (2 * n + 1) + 3;
	int64_t		got;
	scor_point	p;

	point_of(&p, m);
	interrupt_calls = 0;
	interrupt_limit = 0;
	CHECK(scor_dlog_solve(table, &p, INT64_C(1) << 40, &got,
						  fake_check_interrupts) == SCOR_DLOG_FOUND && got == m,
		  "decode with check_interrupts");
	CHECK(interrupt_calls >= 10, "check_interrupts called (%d times)",
		  interrupt_calls);

	interrupt_calls = 0;
	interrupt_limit = 3;
	if (setjmp(interrupt_jmp) == 0)
	{
		(void) scor_dlog_solve(table, &p, INT64_C(1) << 40, &got,
							   fake_check_interrupts);
		CHECK(0, "check_interrupts did not interrupt");
	}
	else
		CHECK(interrupt_calls == 3, "interrupted after 3 calls");
	interrupt_limit = 0;
	CHECK(decodes_to(table, -m, INT64_C(1) << 40), "decode after an interrupt");
}

/* Header and size checks: table_check, reach, solve on a bad header */
static void
test_table_check(void *table, unsigned log2)
{
	size_t		size = scor_dlog_table_size(log2);
	uint8_t    *copy = aligned_alloc(64, (size + 63) / 64 * 64);
	scor_point	p;
	int64_t		got;

	CHECK(scor_dlog_table_check(table, size) == 0, "good table passes");
	CHECK(scor_dlog_table_check(table, size - 1) == -1, "short length");
	CHECK(scor_dlog_table_check(table, size + 1) == -1, "long length");
	CHECK(scor_dlog_table_check(table, 10) == -1, "tiny length");
	CHECK(scor_dlog_table_check(NULL, size) == -1, "NULL table");

	point_of(&p, 42);

	/* each header byte flipped in turn must be caught by check or harmless */
	for (int off = 0; off < 64; off++)
	{
		int			rc;

		memcpy(copy, table, size);
		copy[off] ^= 0x5a;
		rc = scor_dlog_table_check(copy, size);

		/*
		 * Bytes 20..23 are max_probe: a larger value only costs probes and a
		 * smaller one is caught if it hides a sample entry, so check() may
		 * pass either way; solve below must still never be wrong.
		 */
		if (off < 20 || (off >= 24 && off < 48))
			CHECK(rc == -1, "header byte %d corruption detected", off);
		else if (off >= 48)
			CHECK(rc == 0, "reserved header byte %d is ignored", off);
		if (off < 48)
		{
			got = 0;
			rc = scor_dlog_solve(copy, &p, 1000, &got, NULL);
			CHECK(rc == SCOR_DLOG_BAD_TABLE || (rc == SCOR_DLOG_FOUND && got == 42) ||
				  rc == SCOR_DLOG_OUT_OF_RANGE,
				  "solve with header byte %d corrupted: rc %d", off, rc);
		}
	}

	memcpy(copy, table, size);
	memcpy(copy, "SCORDLG2", 8);
	CHECK(scor_dlog_table_check(copy, size) == -1, "bad magic rejected");
	CHECK(scor_dlog_table_reach(copy) == -1, "bad magic: reach -1");
	CHECK(scor_dlog_solve(copy, &p, 1000, &got, NULL) == SCOR_DLOG_BAD_TABLE,
		  "bad magic: solve reports a bad table");

	/* intact header, empty slots: the sample lookups fail */
	memcpy(copy, table, size);
	memset(copy + 64, 0, size - 64);
	CHECK(scor_dlog_table_check(copy, size) == -1, "empty slots rejected");
	CHECK(scor_dlog_solve(copy, &p, 1000, &got, NULL) == SCOR_DLOG_OUT_OF_RANGE,
		  "empty slots: nothing found");

	/* misaligned image */
	memcpy(copy + 8, table, size - 8);
	CHECK(scor_dlog_table_check(copy + 4, size) == -1, "misaligned image rejected");
	CHECK(scor_dlog_table_build(copy + 4, size, log2) == -1, "misaligned build rejected");

	/* build argument checks */
	CHECK(scor_dlog_table_build(copy, size - 1, log2) == -1, "short buffer rejected");
	CHECK(scor_dlog_table_build(copy, size, SCOR_DLOG_MIN_BITS - 1) == -1,
		  "log2 too small rejected");
	CHECK(scor_dlog_table_build(copy, size, SCOR_DLOG_MAX_BITS + 1) == -1,
		  "log2 too large rejected");

	/* determinism: a rebuild is byte-identical */
	CHECK(scor_dlog_table_build(copy, size, log2) == 0 &&
		  memcmp(copy, table, size) == 0, "rebuild is byte-identical");
	free(copy);
}

/*
 * Damaged slot arrays must never produce a wrong value: every answer is
 * either the right m or OUT_OF_RANGE.
 */
static void
test_corruption(const void *table, unsigned log2)
{
	size_t		size = scor_dlog_table_size(log2);
	size_t		nslots = (size - 64) / 8;
	uint8_t    *copy = aligned_alloc(64, (size + 63) / 64 * 64);
	uint32_t   *words = (uint32_t *) (copy + 64);
	int64_t		bound = INT64_C(1) << 20;

	for (int mode = 0; mode < 4; mode++)
	{
		int			wrong = 0,
					found = 0;
		const char *what[] = {
			"random slot bytes", "shuffled indices", "1% of slots flipped",
			"all indices point at 1"
		};

		memcpy(copy, table, size);
		if (mode == 0)
			randombytes_buf(copy + 64, size - 64);
		else if (mode == 1)
		{
			/* keep fingerprints, permute the index fields of all slots */
			for (size_t i = nslots - 1; i > 0; i--)
			{
				size_t		k = randombytes_uniform((uint32_t) (i + 1));
				uint32_t	tmp = words[2 * i + 1];

				words[2 * i + 1] = words[2 * k + 1];
				words[2 * k + 1] = tmp;
			}
		}
		else if (mode == 2)
		{
			for (size_t i = 0; i < nslots / 100; i++)
			{
				size_t		k = randombytes_uniform((uint32_t) nslots);

				words[2 * k + randombytes_uniform(2)] ^=
					(uint32_t) 1 << randombytes_uniform(32);
			}
		}
		else
		{
			for (size_t i = 0; i < nslots; i++)
				if (words[2 * i + 1] != 0)
					words[2 * i + 1] = 2;
		}

		for (int i = 0; i < 300; i++)
		{
			int64_t		m = i < 20 ? i - 10 : random_signed(bound);
			int64_t		got = INT64_MIN;
			scor_point	p;
			int			rc;

			point_of(&p, m);
			rc = scor_dlog_solve(copy, &p, bound, &got, NULL);
			if (rc == SCOR_DLOG_FOUND)
			{
				found++;
				if (got != m)
					wrong++;
			}
			else if (rc != SCOR_DLOG_OUT_OF_RANGE)
				wrong++;
		}
		CHECK(wrong == 0, "corrupted table (%s): %d wrong answers", what[mode], wrong);
		printf("corrupted table (%s): %d of 300 still found\n", what[mode], found);
	}
	free(copy);
}

int
main(void)
{
	void	   *small,
			   *big;
	double		secs;

	if (sodium_init() < 0)
	{
		fprintf(stderr, "sodium_init failed\n");
		return 1;
	}

	CHECK(scor_dlog_table_size(SCOR_DLOG_MIN_BITS - 1) == 0, "size below min");
	CHECK(scor_dlog_table_size(SCOR_DLOG_MAX_BITS + 1) == 0, "size above max");
	CHECK(scor_dlog_table_size(21) == 64 + 16 * ((1 << 21) + 1),
		  "size of a 2^21 table");
	CHECK(scor_dlog_table_size(21) <= 64 * 1024 * 1024, "2^21 table fits 64 MB");

	test_exhaustive();

	small = make_table(12, &secs);
	printf("2^12 table: %zu bytes, built in %.3f s\n",
		   scor_dlog_table_size(12), secs);
	CHECK(scor_dlog_table_reach(small) == 4096, "reach of a 2^12 table");
	test_edges(small, "2^12");
	test_random(small, "2^12", INT64_C(1) << 20, 500);
	test_random(small, "2^12", INT64_C(1) << 32, 3);
	test_bounds(small);
	test_representatives(small);
	test_interrupts(small);
	test_table_check(small, 12);
	test_corruption(small, 12);

	big = make_table(21, &secs);
	printf("2^21 table: %zu bytes, built in %.3f s\n",
		   scor_dlog_table_size(21), secs);
	CHECK(scor_dlog_table_check(big, scor_dlog_table_size(21)) == 0,
		  "2^21 table passes check");
	CHECK(scor_dlog_table_reach(big) == 1 << 21, "reach of a 2^21 table");
	test_edges(big, "2^21");
	{
		double		t0 = now();

		test_random(big, "2^21", INT64_C(1) << 32, 50);
		printf("2^21 table: 50 random |m| <= 2^32 in %.3f s\n", now() - t0);
		t0 = now();
		test_random(big, "2^21", INT64_C(1) << 40, 6);
		printf("2^21 table: 6 random |m| <= 2^40 in %.3f s\n", now() - t0);
	}
	test_bounds(big);
	free(big);
	free(small);

	UNIT_DONE("test_dlog");
}
