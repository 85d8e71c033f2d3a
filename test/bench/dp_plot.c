/*
 * dp_plot.c
 *	  Accuracy of scor's distributed DP noise, measured with the real sampler
 *	  (src/noise.c): for each epsilon and number of sites n, sum one noise
 *	  share per site (each calibrated for t = ceil(n/2) honest sites,
 *	  sensitivity 1), many times, and compare the mean |total noise| with
 *	  scor_dp_expected_abs_error() (exact, from the GDL(n/t) pmf).
 *
 * Prints a table and writes a data file for test/bench/dp_plot.sh.
 *
 * Build and run from the top of the tree:
 *	 cc -O2 -Wall -Wextra -Werror -std=gnu11 -Isrc -o test/bench/dp_plot \
 *		test/bench/dp_plot.c src/noise.c -lsodium -lgmp
 *	 ./test/bench/dp_plot [-n trials] [-s seed] [data.tsv]
 *
 * Defaults: 20000 trials per cell, the system RNG (libsodium), data to
 * dp-error.tsv.  -s N uses the deterministic test stream seeded with N
 * instead (reproducible numbers; never for real noise).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gmp.h>
#include <sodium.h>

#include "noise.h"

static const double epsilons[] = {0.1, 0.25, 0.5, 1, 2};
static const int sites[] = {3, 10};

#define NEPS (sizeof(epsilons) / sizeof(epsilons[0]))
#define NSITES (sizeof(sites) / sizeof(sites[0]))

static int
cmp_i64(const void *a, const void *b)
{
	int64_t		x = *(const int64_t *) a;
	int64_t		y = *(const int64_t *) b;

	return (x > y) - (x < y);
}

/* The proposed default: an honest majority, as src/dp.c uses */
static int
default_t(int n)
{
	return (n + 1) / 2;
}

int
main(int argc, char **argv)
{
	long		trials = 20000;
	const char *path = "dp-error.tsv";
	scor_rng	rng;
	FILE	   *out;
	int64_t    *abs_total;
	int			opt;
	int			seeded = 0;
	unsigned long seed = 0;
	struct timespec t0,
				t1;

	while ((opt = getopt(argc, argv, "n:s:")) != -1)
	{
		if (opt == 'n')
			trials = atol(optarg);
		else if (opt == 's')
		{
			seeded = 1;
			seed = strtoul(optarg, NULL, 10);
		}
		else
		{
			fprintf(stderr, "usage: dp_plot [-n trials] [-s seed] [data.tsv]\n");
			return 2;
		}
	}
	if (optind < argc)
		path = argv[optind];
	if (trials < 100 || sodium_init() < 0)
	{
		fprintf(stderr, "dp_plot: need at least 100 trials and libsodium\n");
		return 1;
	}
	if (seeded)
	{
		uint8_t		s[SCOR_RNG_SEED_BYTES] = {0};

		memcpy(s, &seed, sizeof(seed));
		scor_rng_seeded(&rng, s);
	}
	else
		scor_rng_system(&rng);
	out = fopen(path, "w");
	abs_total = malloc(sizeof(int64_t) * trials);
	if (out == NULL || abs_total == NULL)
	{
		fprintf(stderr, "dp_plot: cannot write %s\n", path);
		return 1;
	}

	printf("Total noise of n sites, one share each, calibrated for t honest sites, sensitivity 1\n");
	printf("(%ld trials per row, %s RNG)\n\n", trials, seeded ? "seeded test" : "system");
	printf("  n   t   eps   E|err| measured (+-SE)   predicted   p95|err|   sd predicted   central E|err|   ms/share\n");
	fprintf(out, "# dp_plot: %ld trials per row, %s RNG\n", trials, seeded ? "seeded" : "system");
	fprintf(out, "# block 0 (measured): n\tt\tepsilon\tmeasured_mean_abs\tse\tpredicted_mean_abs\tp95_abs\tpredicted_sd\tcentral_mean_abs\tt1_mean_abs\n");
	for (size_t i = 0; i < NSITES; i++)
	{
		int			n = sites[i];
		int			t = default_t(n);

		for (size_t j = 0; j < NEPS; j++)
		{
			double		eps = epsilons[j];
			mpq_t		q;
			double		sum = 0;
			double		sum2 = 0;
			double		mean;
			double		se;
			double		ms;

			mpq_init(q);
			if (scor_epsilon_rational(q, eps) != 0)
				return 1;
			clock_gettime(CLOCK_MONOTONIC, &t0);
			for (long k = 0; k < trials; k++)
			{
				int64_t		total = 0;

				for (int s = 0; s < n; s++)
				{
					int64_t		share;

					if (scor_sample_dp_share(&share, t, q, 1, &rng) != 0)
						return 1;
					total += share;
				}
				abs_total[k] = total < 0 ? -total : total;
				sum += (double) abs_total[k];
				sum2 += (double) abs_total[k] * (double) abs_total[k];
			}
			clock_gettime(CLOCK_MONOTONIC, &t1);
			ms = ((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) * 1e-6) /
				((double) trials * n);
			mpq_clear(q);
			mean = sum / trials;
			se = 0;
			if (sum2 / trials > mean * mean)
			{
				/* sqrt without libm: Newton */
				double		v = (sum2 / trials - mean * mean) / trials;
				double		r = v > 1 ? v : 1;

				for (int it = 0; it < 100; it++)
					r = (r + v / r) / 2;
				se = r;
			}
			qsort(abs_total, trials, sizeof(int64_t), cmp_i64);
			{
				double		pred = scor_dp_expected_abs_error(n, t, eps, 1);
				double		var = scor_dp_variance(n, t, eps, 1);
				double		sd = var > 1 ? var : 1;
				double		central = scor_dp_expected_abs_error(1, 1, eps, 1);
				double		t1abs = scor_dp_expected_abs_error(n, 1, eps, 1);
				int64_t		p95 = abs_total[(long) (0.95 * (trials - 1))];

				for (int it = 0; it < 100; it++)
					sd = (sd + var / sd) / 2;
				printf("%3d %3d %5.2f   %10.3f (+-%6.3f)       %9.3f   %8lld   %12.3f   %14.3f   %8.4f\n",
					   n, t, eps, mean, se, pred, (long long) p95, sd, central, ms);
				fprintf(out, "%d\t%d\t%g\t%.6f\t%.6f\t%.6f\t%lld\t%.6f\t%.6f\t%.6f\n",
						n, t, eps, mean, se, pred, (long long) p95, sd, central, t1abs);
			}
		}
	}

	/* block 1: smooth predicted curves over epsilon in [0.05, 4] */
	fprintf(out, "\n\n# block 1 (predicted): epsilon\tcentral\tn3_default_t\tn10_default_t\tn3_t1\tn10_t1\n");
	for (int k = 0; k <= 100; k++)
	{
		/* 0.05 * 80^(k/100), without libm: repeated multiplication */
		double		eps = 0.05;

		for (int m = 0; m < k; m++)
			eps *= 1.044792;	/* 80^(1/100) */
		fprintf(out, "%.6f\t%.6f\t%.6f\t%.6f\t%.6f\t%.6f\n", eps,
				scor_dp_expected_abs_error(1, 1, eps, 1),
				scor_dp_expected_abs_error(3, default_t(3), eps, 1),
				scor_dp_expected_abs_error(10, default_t(10), eps, 1),
				scor_dp_expected_abs_error(3, 1, eps, 1),
				scor_dp_expected_abs_error(10, 1, eps, 1));
	}
	fclose(out);
	free(abs_total);
	scor_rng_clear(&rng);
	printf("\ndata written to %s\n", path);
	return 0;
}
