/*
 * test_noise.c
 *	  Statistical and edge-case tests of src/noise.c, the exact samplers of
 *	  scor's distributed DP noise.  Everything runs from a fixed seed, so the
 *	  outcome is deterministic; the thresholds are the OpenDP conventions
 *	  (z = 6 Wilson intervals, chi-square critical value df + 6 sqrt(2 df),
 *	  6 standard errors for moments), which a correct sampler fails with
 *	  probability around 1e-6 per check for a random seed.
 *
 *	  1. the RNG: seeded streams are deterministic ChaCha20, the system RNG
 *		 is not a seeded one;
 *	  2. epsilon_rational: rounding down to 10^-12, rejections;
 *	  3. uniform, Bernoulli(p), Bernoulli(exp(-gamma)) for gamma in
 *		 {0, 1/3, 1, 5/2, 7} (Wilson), geometric (chi-square);
 *	  4. a site's NB(1/t, 1 - e^{-x}) half-share against its exact pmf
 *		 (chi-square, N_CHI = 200k samples) for t in {2, 3}, x in {1, 1/10},
 *		 plus the general-eta and small-x paths;
 *	  5. the sum of t shares against the exact discrete Laplace pmf
 *		 (chi-square, 200k samples, mean, variance, mean |noise|) for
 *		 (t, eps) in {(3, 1), (2, 0.5)} and (1, 1);
 *	  6. negative controls: shares for eps' = 1.25 eps, or for t + 1 sites,
 *		 must FAIL the same chi-square check;
 *	  7. argument checks, huge epsilon, the display helpers.
 *
 * The expected distributions use long double exp/log/sqrt written here (the
 * unit tests do not link libm), independent of noise.c's display helpers,
 * and checked against known constants first.
 *
 * TEST_NOISE_VERBOSE=1 prints the statistics and timings; TEST_NOISE_SEED=n
 * (a number) changes the seed, to check that a pass is not a lucky seed.
 *
 * Build: cc -O2 -g -Wall -Wextra -Werror -std=gnu11 -Isrc test/unit/test_noise.c \
 *		  src/noise.c -lsodium -lgmp
 */
#include <stdint.h>
#include <time.h>

#include <gmp.h>
#include <sodium.h>

#include "noise.h"
#include "unit.h"

#define Z 6.0L					/* Wilson / standard-error multiplier */
#define N_CHI 200000			/* samples per main chi-square check (>= 100k) */

static uint8_t test_seed[SCOR_RNG_SEED_BYTES] = {
	0x73, 0x63, 0x6f, 0x72, 0x2d, 0x6e, 0x6f, 0x69,
	0x73, 0x65, 0x2d, 0x74, 0x65, 0x73, 0x74, 0x00,
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------ test-side long double math */

static long double
t_fabs(long double x)
{
	return x < 0 ? -x : x;
}

/* exp by halving until tiny, Taylor, then squaring back */
static long double
t_exp(long double x)
{
	int			m = 0;
	long double s = 0;
	long double term = 1;

	while (t_fabs(x) > 1e-3L)
	{
		x /= 2;
		m++;
	}
	for (int i = 1; i < 12; i++)
	{
		s += term;
		term *= x / i;
	}
	while (m-- > 0)
		s *= s;
	return s;
}

static long double
t_sqrt(long double y)
{
	long double r = y > 1 ? y : 1;

	if (y <= 0)
		return 0;
	for (int i = 0; i < 200; i++)
		r = (r + y / r) / 2;
	return r;
}

/* log by Halley's iteration on exp, from the binary exponent */
static long double
t_log(long double y)
{
	long double z = 0;

	while (y > 2)
	{
		y /= 2;
		z += 0.693147180559945309417232121458176568L;
	}
	while (y < 0.5L)
	{
		y *= 2;
		z -= 0.693147180559945309417232121458176568L;
	}
	{
		long double w = 0;

		for (int i = 0; i < 30; i++)
		{
			long double e = t_exp(w);

			w += 2 * (y - e) / (y + e);
		}
		return z + w;
	}
}

static void
test_math(void)
{
	/* relative 1e-14 is ample: the pmfs need far less */
	CHECK(t_fabs(t_exp(1) / 2.718281828459045235360287L - 1) < 1e-14L, "t_exp(1)");
	CHECK(t_fabs(t_exp(-7) / 9.1188196555451620800313608e-4L - 1) < 1e-14L,
		  "t_exp(-7)");
	CHECK(t_fabs(t_exp(-2.5L) / 0.0820849986238987951695286744671598L - 1) < 1e-14L,
		  "t_exp(-2.5)");
	CHECK(t_fabs(t_log(2) / 0.693147180559945309417232121458176568L - 1) < 1e-14L,
		  "t_log(2)");
	CHECK(t_fabs(t_log(10) / 2.302585092994045684017991454684364208L - 1) < 1e-14L,
		  "t_log(10)");
	CHECK(t_fabs(t_log(1e-9L) / -20.72326583694641115616192309215927786L - 1) < 1e-14L,
		  "t_log(1e-9)");
	CHECK(t_fabs(t_sqrt(2) / 1.414213562373095048801688724209698079L - 1) < 1e-14L,
		  "t_sqrt(2)");
}

/* -------------------------------------------------------- statistics */

/* z-Wilson interval for k successes in n trials contains p */
static int
wilson_ok(long k, long n, long double p)
{
	long double z2 = Z * Z;
	long double center = (k + z2 / 2) / (n + z2);
	long double half = Z / (n + z2) * t_sqrt((long double) k * (n - k) / n + z2 / 4);

	/* (slack for rounding: at k = n, p = 1 sits exactly on the edge) */
	return t_fabs(p - center) <= half * (1 + 1e-12L);
}

static double
chi2_critical(int df)
{
	return df + 6.0 * (double) t_sqrt(2.0L * df);
}

/*
 * Pearson's chi-square of xs[0..n) against the pmf pm[k - lo], k in
 * [lo, hi].  Consecutive values are merged into bins of expected count
 * >= max(10, n/100); the mass outside [lo, hi] goes to the edge bins
 * (split evenly if two_sided, else all above hi), as do the samples there.
 */
static double
chi2(const int64_t *xs, long n, long lo, long hi, const long double *pm,
	 int two_sided, int *df_out)
{
	long		width = hi - lo + 1;
	int		   *binof = malloc(sizeof(int) * width);
	long double *expct = malloc(sizeof(long double) * width);
	long	   *obs = calloc(width, sizeof(long));
	long double minexp = n / 100 > 10 ? n / 100 : 10;
	long double acc = 0;
	long double inside = 0;
	long double tail;
	int			nb = 0;
	double		stat = 0;

	for (long i = 0; i < width; i++)
	{
		binof[i] = nb;
		acc += n * pm[i];
		inside += pm[i];
		if (acc >= minexp)
		{
			expct[nb++] = acc;
			acc = 0;
		}
	}
	if (acc > 0 || nb == 0)
	{
		if (nb == 0)
			expct[nb++] = acc;
		else
		{
			/* the leftover joins the last bin */
			for (long i = width - 1; i >= 0 && binof[i] == nb; i--)
				binof[i] = nb - 1;
			expct[nb - 1] += acc;
		}
	}
	tail = 1 - inside;
	if (tail < 0)
		tail = 0;
	if (two_sided)
	{
		expct[0] += n * tail / 2;
		expct[nb - 1] += n * tail / 2;
	}
	else
		expct[nb - 1] += n * tail;
	for (long i = 0; i < n; i++)
	{
		int			b = xs[i] < lo ? 0 : xs[i] > hi ? nb - 1 : binof[xs[i] - lo];

		obs[b]++;
	}
	for (int b = 0; b < nb; b++)
	{
		long double d = obs[b] - expct[b];

		stat += (double) (d * d / expct[b]);
	}
	*df_out = nb - 1;
	free(binof);
	free(expct);
	free(obs);
	return stat;
}

/* pmf tables */
static void
pmf_nb(long double *pm, long hi, long double beta, long double x)
{
	long double q = t_exp(-x);
	long double f = t_exp(beta * t_log(1 - q));	/* (1 - q)^beta */

	for (long k = 0; k <= hi; k++)
	{
		pm[k] = f;
		f *= (k + beta) / (k + 1) * q;	/* Gamma(k+b)/(k! Gamma(b)) ratio */
	}
}

static void
pmf_dlap(long double *pm, long lo, long hi, long double a)
{
	long double q = t_exp(-a);

	for (long k = lo; k <= hi; k++)
		pm[k - lo] = (1 - q) / (1 + q) * t_exp(-a * (k < 0 ? -k : k));
}

/* ------------------------------------------------------------ helpers */

static void
q_set(mpq_t q, long num, unsigned long den)
{
	mpq_set_si(q, num, den);
	mpq_canonicalize(q);
}

/* ------------------------------------------------------------------- RNG */

static void
test_rng(void)
{
	scor_rng	a;
	scor_rng	b;
	uint8_t		x[1000];
	uint8_t		y[1000];
	uint8_t		ks[64];
	uint8_t		zeros[64] = {0};
	static const uint8_t nonce[8] = {'s', 'c', 'o', 'r', '-', 'd', 'p', '1'};
	uint8_t		seed2[SCOR_RNG_SEED_BYTES];
	int			allzero = 1;

	scor_rng_seeded(&a, test_seed);
	scor_rng_seeded(&b, test_seed);
	scor_rng_bytes(&a, x, sizeof(x));
	/* the same stream read in odd pieces across buffer boundaries */
	scor_rng_bytes(&b, y, 1);
	scor_rng_bytes(&b, y + 1, 300);
	scor_rng_bytes(&b, y + 301, 699);
	CHECK(memcmp(x, y, sizeof(x)) == 0, "seeded RNG is deterministic");

	/* it is the documented ChaCha20 keystream */
	crypto_stream_chacha20_xor_ic(ks, zeros, sizeof(ks), nonce, 0, test_seed);
	CHECK(memcmp(ks, x, sizeof(ks)) == 0, "seeded RNG is ChaCha20(seed, \"scor-dp1\")");

	memcpy(seed2, test_seed, sizeof(seed2));
	seed2[31] ^= 1;
	scor_rng_seeded(&b, seed2);
	scor_rng_bytes(&b, y, sizeof(y));
	CHECK(memcmp(x, y, sizeof(x)) != 0, "another seed gives another stream");

	/* the system RNG: not a seeded stream, and never the same twice */
	scor_rng_system(&a);
	scor_rng_system(&b);
	CHECK(a.seeded == 0, "system RNG is not seeded");
	scor_rng_bytes(&a, x, 64);
	scor_rng_bytes(&b, y, 64);
	CHECK(memcmp(x, y, 64) != 0, "two system RNGs differ");
	scor_rng_seeded(&b, zeros);
	scor_rng_bytes(&b, y, 64);
	CHECK(memcmp(x, y, 64) != 0, "system RNG is not the zero-seeded stream");
	scor_rng_seeded(&b, test_seed);
	scor_rng_bytes(&b, y, 64);
	CHECK(memcmp(x, y, 64) != 0, "system RNG is not the test-seeded stream");

	scor_rng_clear(&a);
	for (size_t i = 0; i < sizeof(a); i++)
		allzero &= ((uint8_t *) &a)[i] == 0;
	CHECK(allzero, "scor_rng_clear wipes the state");
	scor_rng_clear(&b);
}

/* --------------------------------------------------------------- epsilon */

static void
test_epsilon(void)
{
	mpq_t		q;
	mpq_t		e;
	mpq_t		d;
	mpq_t		step;
	const double bad[] = {0.0, -1.0, -0.0, 1e-7, 9.9e-7, 1000.5, 1e308};
	int			ok = 1;
	scor_rng	rng;

	mpq_init(q);
	mpq_init(e);
	mpq_init(d);
	mpq_init(step);

	CHECK(scor_epsilon_rational(q, __builtin_nan("")) == -1, "NaN rejected");
	CHECK(scor_epsilon_rational(q, __builtin_inf()) == -1, "+inf rejected");
	CHECK(scor_epsilon_rational(q, -__builtin_inf()) == -1, "-inf rejected");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		mpq_set_ui(q, 5, 1);
		CHECK(scor_epsilon_rational(q, bad[i]) == -1 && mpq_sgn(q) == 0,
			  "epsilon %g rejected, output zeroed", bad[i]);
	}

	/* decimals whose double is at or above them come out exact */
	CHECK(scor_epsilon_rational(q, 1.0) == 0 && mpq_cmp_ui(q, 1, 1) == 0, "1 -> 1");
	CHECK(scor_epsilon_rational(q, 0.5) == 0 && mpq_cmp_ui(q, 1, 2) == 0, "0.5 -> 1/2");
	CHECK(scor_epsilon_rational(q, 0.1) == 0 && mpq_cmp_ui(q, 1, 10) == 0, "0.1 -> 1/10");
	CHECK(scor_epsilon_rational(q, 1000.0) == 0 && mpq_cmp_ui(q, 1000, 1) == 0,
		  "1000 accepted");
	/*
	 * The boundary: the double nearest 1e-6 is just below 10^-6 and would
	 * round to 999999/10^12, which no share accepts: it is rejected.  The
	 * next double above it rounds to exactly 10^-6, and a share is drawn.
	 */
	{
		double		below = 1e-6;
		double		above = __builtin_nextafter(1e-6, 1.0);
		int64_t		v = 0;
		scor_rng	brng;

		mpq_set_d(e, below);
		CHECK(mpq_cmp_ui(e, 1, 1000000) < 0, "the double 1e-6 is below 10^-6");
		CHECK(scor_epsilon_rational(q, below) == -1 && mpq_sgn(q) == 0,
			  "1e-6 (its double) rejected: it would round below the sampler's minimum");
		CHECK(scor_epsilon_rational(q, above) == 0 && mpq_cmp_ui(q, 1, 1000000) == 0,
			  "the next double above 1e-6 -> exactly 1/10^6");
		scor_rng_seeded(&brng, test_seed);
		CHECK(scor_sample_dp_share(&v, 2, q, 1, &brng) == 0,
			  "a share is drawn at the smallest epsilon accepted");
		scor_rng_clear(&brng);
	}
	/* 0.3 as a double is 0.29999999999999998889...: one step below 3/10 */
	mpq_set_ui(e, 299999999999UL, 1000000000000UL);
	mpq_canonicalize(e);
	CHECK(scor_epsilon_rational(q, 0.3) == 0 && mpq_equal(q, e),
		  "0.3 -> 299999999999/10^12 (never above the double)");

	/* in general: out <= epsilon < out + 10^-12, out a multiple of 10^-12 */
	mpq_set_ui(step, 1, 1000000000000UL);
	scor_rng_seeded(&rng, test_seed);
	for (int i = 0; i < 2000; i++)
	{
		uint64_t	r;
		double		eps;

		scor_rng_bytes(&rng, (uint8_t *) &r, sizeof(r));
		/* log-uniform-ish over [1e-6, 1000] */
		eps = 1e-6 * (double) t_exp((long double) (r >> 11) / 9007199254740992.0L *
									20.72326583694641115616L);
		if (eps > 1000)
			eps = 1000;
		if (scor_epsilon_rational(q, eps) != 0)
		{
			ok = 0;
			break;
		}
		mpq_set_d(e, eps);
		mpq_sub(d, e, q);
		if (mpq_sgn(d) < 0 || mpq_cmp(d, step) >= 0)
			ok = 0;
		mpq_div(d, q, step);
		if (mpz_cmp_ui(mpq_denref(d), 1) != 0)
			ok = 0;
	}
	CHECK(ok, "epsilon_rational rounds down to the 10^-12 grid");
	scor_rng_clear(&rng);
	mpq_clear(q);
	mpq_clear(e);
	mpq_clear(d);
	mpq_clear(step);
}

/* ------------------------------------------------------- uniform, Bernoulli */

static void
test_uniform(scor_rng *rng)
{
	mpz_t		n;
	mpz_t		v;
	mpz_t		hi;
	long		cnt[4] = {0};
	int			ok = 1;
	double		stat;

	mpz_init(n);
	mpz_init(v);
	mpz_init(hi);

	mpz_set_si(n, 0);
	CHECK(scor_sample_uniform(v, n, rng) == -1, "uniform below 0 rejected");
	mpz_set_si(n, -5);
	CHECK(scor_sample_uniform(v, n, rng) == -1, "uniform below -5 rejected");
	mpz_set_ui(n, 1);
	for (int i = 0; i < 100; i++)
		ok &= scor_sample_uniform(v, n, rng) == 0 && mpz_sgn(v) == 0;
	CHECK(ok, "uniform below 1 is 0");

	/* small n: chi-square over 6 cells */
	{
		long		c6[6] = {0};
		long		N = 60000;

		mpz_set_ui(n, 6);
		for (long i = 0; i < N; i++)
		{
			scor_sample_uniform(v, n, rng);
			c6[mpz_get_ui(v)]++;
		}
		stat = 0;
		for (int k = 0; k < 6; k++)
			stat += (c6[k] - N / 6.0) * (c6[k] - N / 6.0) / (N / 6.0);
		CHECK(stat < chi2_critical(5), "uniform [0, 6): chi2 %.2f", stat);
	}

	/* multi-precision: n = 3 * 2^64, the top part is uniform over {0, 1, 2} */
	{
		long		c3[3] = {0};
		long		N = 30000;

		mpz_set_ui(n, 3);
		mpz_mul_2exp(n, n, 64);
		ok = 1;
		for (long i = 0; i < N; i++)
		{
			scor_sample_uniform(v, n, rng);
			ok &= mpz_sgn(v) >= 0 && mpz_cmp(v, n) < 0;
			mpz_fdiv_q_2exp(hi, v, 64);
			c3[mpz_get_ui(hi)]++;
		}
		stat = 0;
		for (int k = 0; k < 3; k++)
			stat += (c3[k] - N / 3.0) * (c3[k] - N / 3.0) / (N / 3.0);
		CHECK(ok, "uniform below 3*2^64 in range");
		CHECK(stat < chi2_critical(2), "uniform [0, 3*2^64): chi2 %.2f", stat);
	}

	/* n = 2^64 - 1 (largest fast-path bound): top two bits uniform */
	{
		long		N = 40000;

		mpz_set_ui(n, 1);
		mpz_mul_2exp(n, n, 64);
		mpz_sub_ui(n, n, 1);
		ok = 1;
		for (long i = 0; i < N; i++)
		{
			scor_sample_uniform(v, n, rng);
			ok &= mpz_cmp(v, n) < 0;
			mpz_fdiv_q_2exp(hi, v, 62);
			cnt[mpz_get_ui(hi)]++;
		}
		stat = 0;
		for (int k = 0; k < 4; k++)
			stat += (cnt[k] - N / 4.0) * (cnt[k] - N / 4.0) / (N / 4.0);
		CHECK(ok, "uniform below 2^64-1 in range");
		CHECK(stat < chi2_critical(3), "uniform [0, 2^64-1): chi2 %.2f", stat);
	}
	mpz_clear(n);
	mpz_clear(v);
	mpz_clear(hi);
}

static void
test_bernoulli(scor_rng *rng)
{
	mpq_t		p;
	long		k = 0;
	long		N = 100000;
	int			ok = 1;

	mpq_init(p);
	q_set(p, 3, 2);
	CHECK(scor_sample_bernoulli(p, rng) == -1, "Bernoulli(3/2) rejected");
	q_set(p, -1, 2);
	CHECK(scor_sample_bernoulli(p, rng) == -1, "Bernoulli(-1/2) rejected");
	q_set(p, 0, 1);
	for (int i = 0; i < 1000; i++)
		ok &= scor_sample_bernoulli(p, rng) == 0;
	CHECK(ok, "Bernoulli(0) is 0");
	ok = 1;
	q_set(p, 1, 1);
	for (int i = 0; i < 1000; i++)
		ok &= scor_sample_bernoulli(p, rng) == 1;
	CHECK(ok, "Bernoulli(1) is 1");

	q_set(p, 1, 3);
	for (long i = 0; i < N; i++)
		k += scor_sample_bernoulli(p, rng);
	CHECK(wilson_ok(k, N, 1.0L / 3), "Bernoulli(1/3): %ld of %ld", k, N);

	/* multi-precision p = (2^100 + 1) / (3 * 2^100) */
	mpz_set_ui(mpq_numref(p), 1);
	mpz_mul_2exp(mpq_numref(p), mpq_numref(p), 100);
	mpz_mul_ui(mpq_denref(p), mpq_numref(p), 3);
	mpz_add_ui(mpq_numref(p), mpq_numref(p), 1);
	mpq_canonicalize(p);
	k = 0;
	N = 50000;
	for (long i = 0; i < N; i++)
		k += scor_sample_bernoulli(p, rng);
	CHECK(wilson_ok(k, N, 1.0L / 3), "Bernoulli(~1/3, 102-bit): %ld of %ld", k, N);
	mpq_clear(p);
}

static void
test_bernoulli_exp(scor_rng *rng)
{
	static const long num[] = {0, 1, 1, 5, 7};
	static const unsigned long den[] = {1, 3, 1, 2, 1};
	mpq_t		g;
	long		N = 1000000;

	mpq_init(g);
	q_set(g, -1, 3);
	CHECK(scor_sample_bernoulli_exp(g, rng) == -1, "Bernoulli(exp(1/3)) rejected");
	for (int c = 0; c < 5; c++)
	{
		long		k = 0;
		long double p = t_exp(-(long double) num[c] / den[c]);

		q_set(g, num[c], den[c]);
		for (long i = 0; i < N; i++)
			k += scor_sample_bernoulli_exp(g, rng);
		if (num[c] == 0)
			CHECK(k == N, "Bernoulli(exp(0)) is always 1");
		CHECK(wilson_ok(k, N, p), "Bernoulli(exp(-%ld/%lu)): %ld of %ld, expected %.1Lf",
			  num[c], den[c], k, N, p * N);
	}
	/* an integer part far beyond any loop: exp(-10^6) is 0 in practice */
	{
		int			ok = 1;

		q_set(g, 1000000, 1);
		for (int i = 0; i < 1000; i++)
			ok &= scor_sample_bernoulli_exp(g, rng) == 0;
		CHECK(ok, "Bernoulli(exp(-10^6)) is 0");
	}
	mpq_clear(g);
}

static void
test_geometric(scor_rng *rng)
{
	static const long num[] = {1, 7, 1};
	static const unsigned long den[] = {1, 3, 10};
	mpq_t		x;
	mpz_t		v;
	long		N = 50000;
	int64_t    *xs = calloc(N, sizeof(int64_t));
	long double pm[2001];

	mpq_init(x);
	mpz_init(v);
	q_set(x, 0, 1);
	CHECK(scor_sample_geometric(v, x, rng) == -1, "geometric(x = 0) rejected");
	q_set(x, -1, 2);
	CHECK(scor_sample_geometric(v, x, rng) == -1, "geometric(x < 0) rejected");
	for (int c = 0; c < 3; c++)
	{
		int			df;
		double		stat;

		q_set(x, num[c], den[c]);
		for (long i = 0; i < N; i++)
		{
			scor_sample_geometric(v, x, rng);
			xs[i] = mpz_get_si(v);
		}
		/* Geo = NB(1, .) */
		pmf_nb(pm, 2000, 1, (long double) num[c] / den[c]);
		stat = chi2(xs, N, 0, 2000, pm, 0, &df);
		CHECK(stat < chi2_critical(df), "geometric(x = %ld/%lu): chi2 %.1f, df %d",
			  num[c], den[c], stat, df);
	}
	mpq_clear(x);
	mpz_clear(v);
	free(xs);
}

/* ----------------------------------------------------- negative binomial */

/* chi-square of N NB(eta, 1 - e^{-x}) samples against the exact pmf */
static void
check_polya(scor_rng *rng, long etan, unsigned long etad, long xn,
			unsigned long xd, long N, long hi)
{
	mpq_t		eta;
	mpq_t		x;
	mpz_t		v;
	int64_t    *xs = calloc(N, sizeof(int64_t));
	long double *pm = malloc(sizeof(long double) * (hi + 1));
	int			df;
	int			ok = 1;
	double		stat;
	double		t0 = now();

	mpq_init(eta);
	mpq_init(x);
	mpz_init(v);
	q_set(eta, etan, etad);
	q_set(x, xn, xd);
	for (long i = 0; i < N; i++)
	{
		ok &= scor_sample_polya(v, eta, x, rng) == 0 && mpz_sgn(v) >= 0;
		xs[i] = mpz_get_si(v);
	}
	pmf_nb(pm, hi, (long double) etan / etad, (long double) xn / xd);
	stat = chi2(xs, N, 0, hi, pm, 0, &df);
	CHECK(ok, "polya samples");
	CHECK(stat < chi2_critical(df),
		  "NB(%ld/%lu, 1-e^-(%ld/%lu)): chi2 %.1f, df %d, critical %.1f",
		  etan, etad, xn, xd, stat, df, chi2_critical(df));
	if (getenv("TEST_NOISE_VERBOSE"))
		printf("  NB(%ld/%lu, x=%ld/%lu) N=%ld: chi2 %.1f df %d (%.2fs)\n",
			   etan, etad, xn, xd, N, stat, df, now() - t0);
	mpq_clear(eta);
	mpq_clear(x);
	mpz_clear(v);
	free(xs);
	free(pm);
}

static void
test_polya(scor_rng *rng)
{
	mpq_t		eta;
	mpq_t		x;
	mpz_t		v;
	mpz_t		w;
	scor_rng	r1;
	scor_rng	r2;
	int			same = 1;

	mpq_init(eta);
	mpq_init(x);
	mpz_init(v);
	mpz_init(w);
	q_set(x, 1, 1);
	q_set(eta, 0, 1);
	CHECK(scor_sample_polya(v, eta, x, rng) == -1, "polya(eta = 0) rejected");
	q_set(eta, -1, 2);
	CHECK(scor_sample_polya(v, eta, x, rng) == -1, "polya(eta < 0) rejected");
	q_set(eta, SCOR_DP_MAX_T + 1, 1);
	CHECK(scor_sample_polya(v, eta, x, rng) == -1, "polya(eta > max) rejected");
	q_set(eta, 1, 2);
	q_set(x, 0, 1);
	CHECK(scor_sample_polya(v, eta, x, rng) == -1, "polya(x = 0) rejected");

	/* NB(1, .) is the geometric: same draws from the same stream */
	q_set(eta, 1, 1);
	q_set(x, 2, 3);
	scor_rng_seeded(&r1, test_seed);
	scor_rng_seeded(&r2, test_seed);
	for (int i = 0; i < 1000; i++)
	{
		scor_sample_polya(v, eta, x, &r1);
		scor_sample_geometric(w, x, &r2);
		same &= mpz_cmp(v, w) == 0;
	}
	CHECK(same, "NB(1, p) = Geo(p) draw for draw");
	scor_rng_clear(&r1);
	scor_rng_clear(&r2);

	/* the half-share NB(1/t, 1 - e^{-x}): the required checks */
	check_polya(rng, 1, 2, 1, 1, N_CHI, 200);
	check_polya(rng, 1, 3, 1, 1, N_CHI, 200);
	check_polya(rng, 1, 2, 1, 10, N_CHI, 1000);
	check_polya(rng, 1, 3, 1, 10, N_CHI, 1000);
	/* eta > 1 (two geometrics, alpha = 1/2), and a long record walk */
	check_polya(rng, 3, 2, 1, 2, 50000, 300);
	check_polya(rng, 1, 2, 1, 500, 20000, 40000);

	mpq_clear(eta);
	mpq_clear(x);
	mpz_clear(v);
	mpz_clear(w);
}

/* ----------------------------------------------- sums of t shares: DLap */

/*
 * N sums of `nshares` shares, each calibrated for (t_share, eps_share)
 * with sensitivity 1; returns the chi-square against DLap(a) in *stat.
 */
static void
sum_shares(scor_rng *rng, int64_t *xs, long N, int nshares, int t_share,
		   const mpq_t eps_share, int *ok)
{
	for (long i = 0; i < N; i++)
	{
		int64_t		s = 0;

		for (int j = 0; j < nshares; j++)
		{
			int64_t		v;

			*ok &= scor_sample_dp_share(&v, t_share, eps_share, 1, rng) == 0;
			s += v;
		}
		xs[i] = s;
	}
}

static double
dlap_chi2(const int64_t *xs, long N, long double a, int *df)
{
	long		R = 600;
	long double *pm = malloc(sizeof(long double) * (2 * R + 1));
	double		stat;

	pmf_dlap(pm, -R, R, a);
	stat = chi2(xs, N, -R, R, pm, 1, df);
	free(pm);
	return stat;
}

static void
test_dlap(scor_rng *rng)
{
	static const int ts[] = {3, 2, 1};
	static const long en[] = {1, 1, 1};
	static const unsigned long ed[] = {1, 2, 1};
	long		N = N_CHI;
	int64_t    *xs = calloc(N, sizeof(int64_t));
	mpq_t		eps;
	mpq_t		eps_wrong;

	mpq_init(eps);
	mpq_init(eps_wrong);
	for (int c = 0; c < 3; c++)
	{
		long double a = (long double) en[c] / ed[c];
		long double q = t_exp(-a);
		long double var = 2 * q / ((1 - q) * (1 - q));
		long double m4 = 0;
		long double mean = 0;
		long double m2 = 0;
		long double mabs = 0;
		long double eabs;
		int			ok = 1;
		int			df;
		double		stat;
		double		t0 = now();

		/* fourth moment of DLap from its pmf */
		for (long k = 1; k < 4000; k++)
			m4 += 2 * (long double) k * k * k * k * (1 - q) / (1 + q) * t_exp(-a * k);

		q_set(eps, en[c], ed[c]);
		sum_shares(rng, xs, N, ts[c], ts[c], eps, &ok);
		CHECK(ok, "dp shares (t=%d)", ts[c]);
		stat = dlap_chi2(xs, N, a, &df);
		CHECK(stat < chi2_critical(df),
			  "sum of %d shares (t=%d, eps=%ld/%lu) vs DLap: chi2 %.1f, df %d, critical %.1f",
			  ts[c], ts[c], en[c], ed[c], stat, df, chi2_critical(df));
		for (long i = 0; i < N; i++)
		{
			mean += xs[i];
			m2 += (long double) xs[i] * xs[i];
			mabs += xs[i] < 0 ? -xs[i] : xs[i];
		}
		mean /= N;
		m2 /= N;
		mabs /= N;
		CHECK(t_fabs(mean) < Z * t_sqrt(var / N), "mean %.4Lf (t=%d, eps=%ld/%lu)",
			  mean, ts[c], en[c], ed[c]);
		CHECK(t_fabs(m2 - var) < Z * t_sqrt((m4 - var * var) / N),
			  "E[X^2] %.4Lf vs variance %.4Lf (t=%d, eps=%ld/%lu)",
			  m2, var, ts[c], en[c], ed[c]);
		/* the display helpers agree with the measurement and the formulas */
		eabs = scor_dp_expected_abs_error(ts[c], ts[c], (double) a, 1);
		CHECK(t_fabs(eabs - 2 * q / (1 - q * q)) < 1e-12L,
			  "expected |error| = 2q/(1-q^2): %.15Lf", eabs);
		CHECK(t_fabs(mabs - eabs) < Z * t_sqrt((var - eabs * eabs) / N),
			  "mean |noise| %.4Lf vs predicted %.4Lf", mabs, eabs);
		CHECK(t_fabs(scor_dp_variance(ts[c], ts[c], (double) a, 1) / var - 1) < 1e-12L,
			  "scor_dp_variance");
		if (getenv("TEST_NOISE_VERBOSE"))
			printf("  DLap t=%d eps=%ld/%lu: chi2 %.1f df %d, mean %.4Lf, E[X^2] %.4Lf/%.4Lf (%.2fs)\n",
				   ts[c], en[c], ed[c], stat, df, mean, m2, var, now() - t0);

		if (ts[c] == 1)
			continue;

		/* negative control 1: shares for eps' = 1.25 eps */
		q_set(eps_wrong, 5 * en[c], 4 * ed[c]);
		sum_shares(rng, xs, N, ts[c], ts[c], eps_wrong, &ok);
		stat = dlap_chi2(xs, N, a, &df);
		CHECK(stat > chi2_critical(df),
			  "NEGATIVE CONTROL eps'=1.25eps must fail: chi2 %.1f, df %d, critical %.1f",
			  stat, df, chi2_critical(df));
		if (getenv("TEST_NOISE_VERBOSE"))
			printf("  control eps'=1.25eps: chi2 %.1f df %d\n", stat, df);

		/* negative control 2: shares calibrated for t + 1 sites, t of them */
		sum_shares(rng, xs, N, ts[c], ts[c] + 1, eps, &ok);
		stat = dlap_chi2(xs, N, a, &df);
		CHECK(stat > chi2_critical(df),
			  "NEGATIVE CONTROL t'=t+1 must fail: chi2 %.1f, df %d, critical %.1f",
			  stat, df, chi2_critical(df));
		if (getenv("TEST_NOISE_VERBOSE"))
			printf("  control t'=t+1: chi2 %.1f df %d\n", stat, df);
	}
	mpq_clear(eps);
	mpq_clear(eps_wrong);
	free(xs);
}

/* -------------------------------------------------------------- edge cases */

static void
test_share_edges(scor_rng *rng)
{
	mpq_t		eps;
	mpq_t		eps2;
	int64_t		v = 7;
	int			ok = 1;
	scor_rng	r1;
	scor_rng	r2;

	mpq_init(eps);
	mpq_init(eps2);
	q_set(eps, 1, 1);
	CHECK(scor_sample_dp_share(&v, 0, eps, 1, rng) == -1 && v == 0, "t = 0 rejected");
	CHECK(scor_sample_dp_share(&v, -3, eps, 1, rng) == -1, "t < 0 rejected");
	CHECK(scor_sample_dp_share(&v, SCOR_DP_MAX_T + 1, eps, 1, rng) == -1,
		  "t > SCOR_DP_MAX_T rejected");
	CHECK(scor_sample_dp_share(&v, SCOR_DP_MAX_T, eps, 1, rng) == 0,
		  "t = SCOR_DP_MAX_T accepted");
	CHECK(scor_sample_dp_share(&v, 2, eps, 0, rng) == -1, "sensitivity 0 rejected");
	CHECK(scor_sample_dp_share(&v, 2, eps, -1, rng) == -1, "sensitivity < 0 rejected");
	CHECK(scor_sample_dp_share(&v, 2, eps, INT64_MIN, rng) == -1,
		  "sensitivity INT64_MIN rejected");
	q_set(eps, 0, 1);
	CHECK(scor_sample_dp_share(&v, 2, eps, 1, rng) == -1, "epsilon 0 rejected");
	q_set(eps, -1, 2);
	CHECK(scor_sample_dp_share(&v, 2, eps, 1, rng) == -1, "epsilon < 0 rejected");
	/* epsilon / Delta below 1e-6 */
	q_set(eps, 1, 1);
	v = 7;
	CHECK(scor_sample_dp_share(&v, 2, eps, 1000001, rng) == -1 && v == 0,
		  "epsilon/Delta < 1e-6 rejected");
	CHECK(scor_sample_dp_share(&v, 1, eps, 1000000, rng) == 0,
		  "epsilon/Delta = 1e-6 accepted");

	/* huge epsilon: no noise at all in practice (P(nonzero) ~ e^-1000) */
	scor_epsilon_rational(eps, 1000.0);
	for (int i = 0; i < 2000; i++)
	{
		ok &= scor_sample_dp_share(&v, 3, eps, 1, rng) == 0 && v == 0;
		ok &= scor_sample_dp_share(&v, 1, eps, 1, rng) == 0 && v == 0;
	}
	CHECK(ok, "epsilon = 1000: shares are 0");
	/* epsilon = 50 with sensitivity 2: a = 25, P(nonzero) ~ 2e-11 */
	ok = 1;
	q_set(eps, 50, 1);
	for (int i = 0; i < 2000; i++)
		ok &= scor_sample_dp_share(&v, 2, eps, 2, rng) == 0 && v == 0;
	CHECK(ok, "epsilon/Delta = 25: shares are 0");

	/* only epsilon/Delta matters: (2, 2) and (1, 1) give the same draws */
	q_set(eps, 2, 1);
	q_set(eps2, 1, 1);
	scor_rng_seeded(&r1, test_seed);
	scor_rng_seeded(&r2, test_seed);
	ok = 1;
	for (int i = 0; i < 2000; i++)
	{
		int64_t		a;
		int64_t		b;

		scor_sample_dp_share(&a, 3, eps, 2, &r1);
		scor_sample_dp_share(&b, 3, eps2, 1, &r2);
		ok &= a == b;
	}
	CHECK(ok, "shares depend on epsilon/Delta only");

	/* the seeded generator makes whole share sequences reproducible */
	scor_rng_seeded(&r1, test_seed);
	scor_rng_seeded(&r2, test_seed);
	ok = 1;
	{
		int			nonzero = 0;

		for (int i = 0; i < 2000; i++)
		{
			int64_t		a;
			int64_t		b;

			scor_sample_dp_share(&a, 2, eps2, 1, &r1);
			scor_sample_dp_share(&b, 2, eps2, 1, &r2);
			ok &= a == b;
			nonzero += a != 0;
		}
		CHECK(ok && nonzero > 100, "same seed, same shares (%d nonzero)", nonzero);
	}
	scor_rng_clear(&r1);
	scor_rng_clear(&r2);
	mpq_clear(eps);
	mpq_clear(eps2);
}

static void
test_display(void)
{
	/* argument checks */
	CHECK(scor_dp_expected_abs_error(0, 1, 1.0, 1) == -1.0, "nsites 0");
	CHECK(scor_dp_expected_abs_error(3, 0, 1.0, 1) == -1.0, "t 0");
	CHECK(scor_dp_expected_abs_error(3, 2, 0.0, 1) == -1.0, "epsilon 0");
	CHECK(scor_dp_expected_abs_error(3, 2, __builtin_nan(""), 1) == -1.0, "epsilon NaN");
	CHECK(scor_dp_expected_abs_error(3, 2, __builtin_inf(), 1) == -1.0, "epsilon inf");
	CHECK(scor_dp_expected_abs_error(3, 2, 1.0, 0) == -1.0, "sensitivity 0");
	CHECK(scor_dp_variance(3, 2, -1.0, 1) == -1.0, "variance: epsilon < 0");

	/* variance (n/t) 2q/(1-q)^2; sensitivity scales like 1/epsilon */
	{
		long double q = t_exp(-0.5L);
		long double v = 1.5L * 2 * q / ((1 - q) * (1 - q));

		CHECK(t_fabs(scor_dp_variance(3, 2, 1.0, 2) / v - 1) < 1e-12L,
			  "variance of GDL(3/2, 1/2)");
	}
	/* E|GDL(beta, a)| for beta = 2: X - Y, X, Y NB(2): check by direct sum */
	{
		long double a = 0.7L;
		long double q = t_exp(-a);
		long double p = 1 - q;
		long double e = 0;

		for (long x = 0; x < 400; x++)
			for (long y = 0; y < 400; y++)
				e += (long double) (x > y ? x - y : y - x) *
					(x + 1) * p * p * t_exp(-a * x) * (y + 1) * p * p * t_exp(-a * y);
		CHECK(t_fabs(scor_dp_expected_abs_error(10, 5, 1.4, 2) / e - 1) < 1e-10L,
			  "E|GDL(2, 0.7)| %.12f vs %.12Lf",
			  scor_dp_expected_abs_error(10, 5, 1.4, 2), e);
	}
	/* tiny epsilon: continuous limit, ~1/a for one full DLap */
	CHECK(t_fabs(scor_dp_expected_abs_error(1, 1, 1e-6, 1) / 1e6L - 1) < 1e-5L,
		  "E|DLap(1e-6)| ~ 1e6");
}

int
main(void)
{
	scor_rng	rng;
	double		t0 = now();

	if (sodium_init() < 0)
	{
		fprintf(stderr, "sodium_init failed\n");
		return 1;
	}
	/* TEST_NOISE_SEED=n varies the seed, to explore; the default is fixed */
	if (getenv("TEST_NOISE_SEED"))
	{
		unsigned long n = strtoul(getenv("TEST_NOISE_SEED"), NULL, 10);

		memcpy(test_seed + 16, &n, sizeof(n));
	}
	scor_rng_seeded(&rng, test_seed);

	test_math();
	test_rng();
	test_epsilon();
	test_uniform(&rng);
	test_bernoulli(&rng);
	test_bernoulli_exp(&rng);
	test_geometric(&rng);
	test_polya(&rng);
	test_dlap(&rng);
	test_share_edges(&rng);
	test_display();

	scor_rng_clear(&rng);
	if (getenv("TEST_NOISE_VERBOSE"))
		printf("  total %.2fs\n", now() - t0);
	UNIT_DONE("test_noise");
}
