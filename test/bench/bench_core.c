/*
 * bench_core.c
 *	  Micro-benchmarks of the public-data crypto core (src/ristretto.c,
 *	  src/dlog.c), with libsodium's public API for comparison.  Every figure
 *	  is the median of several timed runs.
 *
 * Build and run from the top of the tree:
 *	 cc -O2 -Wall -Wextra -Werror -std=gnu11 -Isrc -o test/bench/bench_core \
 *		test/bench/bench_core.c src/ristretto.c src/dlog.c -lsodium
 *	 ./test/bench/bench_core [log2_entries]		(default 21)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "dlog.h"
#include "ristretto.h"

#define RUNS 21

static volatile uint64_t sink;

/* Seconds on the monotonic clock */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* qsort comparator for doubles */
static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

/* Median of n values (sorts them) */
static double
median(double *v, int n)
{
	qsort(v, n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Fold a field element into the sink so the compiler keeps the work */
static void
consume_fe(const scor_fe *f)
{
	sink ^= f->v[0] ^ f->v[4];
}

/* Fold a point into the sink */
static void
consume_point(const scor_point *p)
{
	consume_fe(&p->X);
	consume_fe(&p->Z);
}

/* A uniformly random integer in [-r, r] */
static int64_t
random_signed(int64_t r)
{
	uint64_t	x;

	randombytes_buf(&x, sizeof(x));
	return (int64_t) (x % (uint64_t) (2 * r + 1)) - r;
}

/* m·G via libsodium, decoded (m = 0 is the identity) */
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
	if (crypto_scalarmult_ristretto255_base(s, n) != 0 ||
		(m < 0 && crypto_core_ristretto255_sub(s, zero, s) != 0) ||
		scor_point_decode(p, s) != 0)
	{
		fprintf(stderr, "point_of failed\n");
		exit(1);
	}
}

#define BATCH 1024

int
main(int argc, char **argv)
{
	unsigned	log2 = argc > 1 ? (unsigned) atoi(argv[1]) : 21;
	double		t[RUNS];
	scor_fe		f,
				g;
	scor_point	p,
				q;
	uint8_t		s[32],
				s2[32],
				s3[32];
	static scor_point pts[BATCH];
	static scor_affine aff[BATCH];
	size_t		table_bytes;
	void	   *table;
	int			iters;

	if (sodium_init() < 0)
		return 1;

	crypto_core_ristretto255_random(s);
	crypto_core_ristretto255_random(s2);
	scor_point_decode(&p, s);
	scor_point_decode(&q, s2);
	f = p.Y;
	g = q.Y;

	/* field multiplication: a dependent chain */
	iters = 1000000;
	for (int r = 0; r < RUNS; r++)
	{
		double		t0 = now();

		for (int i = 0; i < iters; i++)
			scor_fe_mul(&f, &f, &g);
		t[r] = (now() - t0) / iters * 1e9;
	}
	consume_fe(&f);
	printf("field mul:               %8.1f ns\n", median(t, RUNS));

	for (int r = 0; r < RUNS; r++)
	{
		double		t0 = now();

		for (int i = 0; i < iters; i++)
			scor_fe_sq(&f, &f);
		t[r] = (now() - t0) / iters * 1e9;
	}
	consume_fe(&f);
	printf("field sq:                %8.1f ns\n", median(t, RUNS));

	iters = 20000;
	for (int r = 0; r < RUNS; r++)
	{
		double		t0 = now();

		for (int i = 0; i < iters; i++)
			scor_fe_invert(&f, &f);
		t[r] = (now() - t0) / iters * 1e9;
	}
	consume_fe(&f);
	printf("field invert:            %8.1f ns\n", median(t, RUNS));

	/* point addition and doubling */
	iters = 200000;
	for (int r = 0; r < RUNS; r++)
	{
		double		t0 = now();

		for (int i = 0; i < iters; i++)
			scor_point_add(&p, &p, &q);
		t[r] = (now() - t0) / iters * 1e9;
	}
	consume_point(&p);
	printf("point add:               %8.1f ns\n", median(t, RUNS));

	for (int r = 0; r < RUNS; r++)
	{
		double		t0 = now();

		for (int i = 0; i < iters; i++)
			scor_point_dbl(&p, &p);
		t[r] = (now() - t0) / iters * 1e9;
	}
	consume_point(&p);
	printf("point dbl:               %8.1f ns\n", median(t, RUNS));

	/* encode and decode */
	iters = 20000;
	for (int r = 0; r < RUNS; r++)
	{
		double		t0 = now();

		for (int i = 0; i < iters; i++)
		{
			scor_point_encode(s3, &p);
			sink ^= s3[0];
		}
		t[r] = (now() - t0) / iters * 1e9;
	}
	printf("point encode:            %8.1f ns\n", median(t, RUNS));

	for (int r = 0; r < RUNS; r++)
	{
		double		t0 = now();

		for (int i = 0; i < iters; i++)
		{
			if (scor_point_decode(&q, s) != 0)
				return 1;
			consume_fe(&q.X);
		}
		t[r] = (now() - t0) / iters * 1e9;
	}
	printf("point decode:            %8.1f ns\n", median(t, RUNS));

	/* affine: single and batched */
	for (int i = 0; i < BATCH; i++)
		scor_point_add(&pts[i], i ? &pts[i - 1] : &p, &q);
	for (int r = 0; r < RUNS; r++)
	{
		double		t0 = now();

		for (int i = 0; i < BATCH; i++)
			scor_point_to_affine(&aff[i], &pts[i]);
		t[r] = (now() - t0) / BATCH * 1e9;
	}
	sink ^= aff[7].x[0];
	printf("to_affine (single):      %8.1f ns/point\n", median(t, RUNS));
	for (int r = 0; r < RUNS; r++)
	{
		double		t0 = now();

		scor_point_to_affine_batch(aff, pts, BATCH);
		t[r] = (now() - t0) / BATCH * 1e9;
	}
	sink ^= aff[7].x[0];
	printf("to_affine_batch (%d):  %8.1f ns/point\n", BATCH, median(t, RUNS));
	for (int r = 0; r < RUNS; r++)
	{
		double		t0 = now();

		for (int i = 0; i < BATCH; i++)
			scor_point_from_affine(&pts[i], &aff[i]);
		t[r] = (now() - t0) / BATCH * 1e9;
	}
	consume_point(&pts[3]);
	printf("from_affine:             %8.1f ns/point\n", median(t, RUNS));

	/* 64-bit scalar multiplication */
	iters = 2000;
	for (int r = 0; r < RUNS; r++)
	{
		double		t0 = now();

		for (int i = 0; i < iters; i++)
			scor_point_mul_u64(&q, &p, UINT64_C(0xd3b1a5c7e9f10243) ^ (uint64_t) i);
		t[r] = (now() - t0) / iters * 1e9;
	}
	consume_point(&q);
	printf("mul_u64 (64-bit k):      %8.1f ns\n", median(t, RUNS));

	/* libsodium for comparison */
	iters = 5000;
	for (int r = 0; r < RUNS; r++)
	{
		double		t0 = now();

		for (int i = 0; i < iters; i++)
			crypto_core_ristretto255_add(s3, s, s2);
		t[r] = (now() - t0) / iters * 1e9;
	}
	sink ^= s3[0];
	printf("libsodium ristretto add: %8.1f ns (decode x2 + add + encode)\n",
		   median(t, RUNS));

	/* discrete-log table */
	table_bytes = scor_dlog_table_size(log2);
	if (table_bytes == 0)
	{
		fprintf(stderr, "log2_entries out of range\n");
		return 1;
	}
	table = aligned_alloc(64, (table_bytes + 63) / 64 * 64);
	{
		double		b[3];

		for (int r = 0; r < 3; r++)
		{
			double		t0 = now();

			if (scor_dlog_table_build(table, table_bytes, log2) != 0)
				return 1;
			b[r] = now() - t0;
		}
		printf("dlog table 2^%u:         %zu bytes (%.1f MiB), build %.3f s (median of 3)\n",
			   log2, table_bytes, table_bytes / 1048576.0, median(b, 3));
	}
	{
		double		t0 = now();

		if (scor_dlog_table_check(table, table_bytes) != 0)
			return 1;
		printf("dlog table check:        %8.1f us\n", (now() - t0) * 1e6);
	}

	{
		int64_t		ranges[] = {scor_dlog_table_reach(table), INT64_C(1) << 32,
		INT64_C(1) << 40};
		const char *names[] = {"|m| <= N", "|m| < 2^32", "|m| < 2^40"};

		for (int k = 0; k < 3; k++)
		{
			for (int r = 0; r < RUNS; r++)
			{
				int64_t		m = random_signed(ranges[k]),
							got;
				double		t0;

				point_of(&p, m);
				t0 = now();
				if (scor_dlog_solve(table, &p, ranges[k], &got, NULL) != SCOR_DLOG_FOUND ||
					got != m)
				{
					fprintf(stderr, "dlog failed for %lld\n", (long long) m);
					return 1;
				}
				t[r] = (now() - t0) * 1e3;
			}
			{
				double		med = median(t, RUNS);	/* sorts t */

				printf("dlog solve %-11s   median %9.3f ms, max %9.3f ms (%d samples)\n",
					   names[k], med, t[RUNS - 1], RUNS);
			}
		}
	}
	free(table);
	return (int) (sink & 0);
}
