/*
 * noise.c
 *	  Exact samplers for scor's distributed differential-privacy noise.
 *
 * The ladder, each rung exact given the one below (see noise.h for the
 * distribution a site's share follows and why t shares give epsilon-DP):
 *
 *	- uniform integers in [0, n): bytes from the RNG, masked to the bit
 *	  length of n - 1, rejected while >= n (fewer than 2 draws expected);
 *	- Bernoulli(num/den): a uniform U in [0, den), return U < num;
 *	- Bernoulli(exp(-g)), g in [0, 1]: CKS20 Algorithm 1 (K = 1; while
 *	  Bernoulli(g/K), K++; return K odd), and for g > 1 the AND of floor(g)
 *	  Bernoulli(exp(-1)) and one Bernoulli(exp(-(g - floor(g))));
 *	- Geometric(1 - e^{-s/t}): CKS20 Algorithm 2 ("fast" geometric): U
 *	  uniform in [0, t) until Bernoulli(exp(-U/t)) succeeds, V the number of
 *	  Bernoulli(exp(-1)) successes before a failure, return
 *	  floor((U + t V) / s);
 *	- NB(eta, 1 - e^{-x}): rejection from NB(m, .) with m = ceil(eta) (a sum
 *	  of m geometrics), as in OpenDP's negative_binomial sampler, but with a
 *	  cheaper acceptance test (below).
 *
 * The acceptance test.  The target over the proposal is proportional to
 *
 *		A(k) = prod_{i<k} (eta + i) / (m + i) = prod_{j=m}^{m+k-1} (1 - alpha/j),
 *
 * alpha = m - eta in [0, 1), which is at most 1, so accepting a proposal k
 * with probability A(k) is exact.  A(k) is the probability that a chain of
 * independent events "step j fails", each of probability alpha/j, has no
 * failure at steps m .. m+k-1.  Drawing the chain step by step (OpenDP)
 * costs about k^eta Bernoullis per proposal, which for small x (large
 * k ~ 1/x) becomes slow: some 10^7 Bernoullis per sample at x = 1e-7.
 * Instead, thin the *records* of the chain: let step j be a "record" with
 * probability 1/j, independently, and let a record fail with probability
 * alpha, independently; then step j fails with probability alpha/j,
 * independently, as required.  After a record at step n, the next record
 * n' satisfies P(n' > M) = prod_{j=n+1}^{M} (1 - 1/j) = n/M, so
 *
 *	- "no record in (n, K]" is Bernoulli(n/K), and
 *	- given n' in (lo, hi], P(n' > mid) = lo (hi - mid) / (mid (hi - lo)),
 *	  so n' itself comes from bisecting (n, K] with rational Bernoullis.
 *
 * Starting from n = m - 1 (step m - 1 is outside the window and only sets
 * the record law; for m = 1, step 1 is a record with probability 1), walk
 * the records in (m - 1, K], K = m + k - 1, and reject at the first one
 * that fails.  With alpha >= 1/2 (eta = 1/t, t >= 2) fewer than 2 records
 * are visited on average, each costing at most log2(K) Bernoullis.  The
 * expected number of proposals is 1 / E[A(k)] = (1 - e^{-x})^{eta - m}
 * (about 1.6 at x = 1, eta = 1/2; x^{-(1 - eta)} for small x).
 *
 * Rationals and integers only: no floating point is used on the sampling
 * path.  The display helpers at the end use long double; they never feed a
 * sample.  No PostgreSQL headers.
 */
#include "noise.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* The seeded stream is ChaCha20 (djb, 64-bit counter) under this nonce */
static const uint8_t scor_rng_nonce[crypto_stream_chacha20_NONCEBYTES] = {
	's', 'c', 'o', 'r', '-', 'd', 'p', '1'
};

/* ------------------------------------------------------------ randomness */

void
scor_rng_system(scor_rng *rng)
{
	memset(rng, 0, sizeof(*rng));
	rng->seeded = 0;
	rng->pos = SCOR_RNG_BUFFER_BYTES;	/* empty: refill on first use */
}

void
scor_rng_seeded(scor_rng *rng, const uint8_t seed[SCOR_RNG_SEED_BYTES])
{
	memset(rng, 0, sizeof(*rng));
	rng->seeded = 1;
	rng->block = 0;
	memcpy(rng->key, seed, SCOR_RNG_SEED_BYTES);
	rng->pos = SCOR_RNG_BUFFER_BYTES;
}

void
scor_rng_clear(scor_rng *rng)
{
	sodium_memzero(rng, sizeof(*rng));
}

static void
rng_refill(scor_rng *rng)
{
	if (rng->seeded)
	{
		static const uint8_t zeros[SCOR_RNG_BUFFER_BYTES] = {0};

		/* keystream blocks block .. block + 3, XORed onto zeros */
		crypto_stream_chacha20_xor_ic(rng->buf, zeros, sizeof(rng->buf),
									  scor_rng_nonce, rng->block, rng->key);
		rng->block += SCOR_RNG_BUFFER_BYTES / 64;
	}
	else
		randombytes_buf(rng->buf, sizeof(rng->buf));
	rng->pos = 0;
}

void
scor_rng_bytes(scor_rng *rng, uint8_t *out, size_t len)
{
	while (len > 0)
	{
		size_t		n;

		if (rng->pos >= SCOR_RNG_BUFFER_BYTES)
			rng_refill(rng);
		n = SCOR_RNG_BUFFER_BYTES - rng->pos;
		if (n > len)
			n = len;
		memcpy(out, rng->buf + rng->pos, n);
		rng->pos += n;
		out += n;
		len -= n;
	}
}

/* -------------------------------------------------------- mpz <-> uint64 */

static int
fits_u64(const mpz_t x)
{
	return mpz_sgn(x) >= 0 && mpz_sizeinbase(x, 2) <= 64;
}

/* x must satisfy fits_u64 */
static uint64_t
get_u64(const mpz_t x)
{
#if ULONG_MAX >= UINT64_MAX
	return (uint64_t) mpz_get_ui(x);
#else
	uint64_t	v = 0;

	mpz_export(&v, NULL, -1, sizeof(v), 0, 0, x);
	return v;
#endif
}

static void
set_u64(mpz_t x, uint64_t v)
{
#if ULONG_MAX >= UINT64_MAX
	mpz_set_ui(x, (unsigned long) v);
#else
	mpz_import(x, 1, -1, sizeof(v), 0, 0, &v);
#endif
}

static void
set_i64(mpz_t x, int64_t v)
{
	/* magnitude without overflow at INT64_MIN */
	set_u64(x, v < 0 ? (uint64_t) 0 - (uint64_t) v : (uint64_t) v);
	if (v < 0)
		mpz_neg(x, x);
}

/* 0 and *out set if x fits int64, else -1 */
static int
get_i64(int64_t *out, const mpz_t x)
{
	uint64_t	mag;

	if (mpz_sizeinbase(x, 2) > 64)
		return -1;
	if (mpz_sgn(x) >= 0)
	{
		mag = get_u64(x);
		if (mag > (uint64_t) INT64_MAX)
			return -1;
		*out = (int64_t) mag;
		return 0;
	}
	else
	{
		mpz_t		a;

		mpz_init(a);
		mpz_neg(a, x);
		mag = get_u64(a);
		mpz_clear(a);
		if (mag > (uint64_t) INT64_MAX + 1)
			return -1;
		*out = mag == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) mag;
		return 0;
	}
}

/* --------------------------------------------------------------- uniform */

/* Uniform in [0, n), n >= 1 */
static uint64_t
uniform_u64(uint64_t n, scor_rng *rng)
{
	unsigned	bits;
	size_t		nbytes;
	uint64_t	mask;

	if (n <= 1)
		return 0;
	bits = 64 - (unsigned) __builtin_clzll(n - 1);
	mask = bits == 64 ? UINT64_MAX : (((uint64_t) 1 << bits) - 1);
	nbytes = (bits + 7) / 8;
	for (;;)
	{
		uint8_t		b[8];
		uint64_t	v = 0;

		scor_rng_bytes(rng, b, nbytes);
		for (size_t i = 0; i < nbytes; i++)
			v |= (uint64_t) b[i] << (8 * i);
		v &= mask;
		if (v < n)
			return v;
	}
}

/* Uniform in [0, n), n >= 1; out must not alias n */
static void
uniform_mpz(mpz_t out, const mpz_t n, scor_rng *rng)
{
	mpz_t		nm1;
	size_t		bits;
	size_t		nbytes;
	uint8_t		stackbuf[64];
	uint8_t    *b;

	if (fits_u64(n))
	{
		set_u64(out, uniform_u64(get_u64(n), rng));
		return;
	}
	mpz_init(nm1);
	mpz_sub_ui(nm1, n, 1);
	bits = mpz_sizeinbase(nm1, 2);
	mpz_clear(nm1);
	nbytes = (bits + 7) / 8;
	b = nbytes <= sizeof(stackbuf) ? stackbuf : malloc(nbytes);
	if (b == NULL)
		abort();
	do
	{
		scor_rng_bytes(rng, b, nbytes);
		mpz_import(out, nbytes, -1, 1, 0, 0, b);
		mpz_fdiv_r_2exp(out, out, bits);
	} while (mpz_cmp(out, n) >= 0);
	sodium_memzero(b, nbytes);
	if (b != stackbuf)
		free(b);
}

int
scor_sample_uniform(mpz_t out, const mpz_t n, scor_rng *rng)
{
	mpz_t		r;

	if (mpz_sgn(n) <= 0)
		return -1;
	mpz_init(r);
	uniform_mpz(r, n, rng);
	mpz_set(out, r);
	mpz_clear(r);
	return 0;
}

/* ------------------------------------------------------------- Bernoulli */

/* Bernoulli(num/den), 0 <= num <= den, den >= 1 */
static int
bern_ratio(const mpz_t num, const mpz_t den, scor_rng *rng)
{
	mpz_t		u;
	int			r;

	if (fits_u64(den))
		return uniform_u64(get_u64(den), rng) < get_u64(num);
	mpz_init(u);
	uniform_mpz(u, den, rng);
	r = mpz_cmp(u, num) < 0;
	mpz_clear(u);
	return r;
}

/* Bernoulli(exp(-1)) = CKS20 Algorithm 1 with gamma = 1: Bernoulli(1/K) */
static int
bern_exp_minus_one(scor_rng *rng)
{
	uint64_t	k = 1;

	while (uniform_u64(k, rng) < 1)
		k++;
	return (int) (k & 1);
}

/* Bernoulli(exp(-num/den)), 0 <= num <= den, den >= 1 (CKS20 Algorithm 1) */
static int
bern_exp_unit(const mpz_t num, const mpz_t den, scor_rng *rng)
{
	mpz_t		dk;
	uint64_t	k = 1;

	if (mpz_sgn(num) == 0)
		return 1;
	if (fits_u64(den))
	{
		uint64_t	n = get_u64(num);
		uint64_t	d = get_u64(den);
		uint64_t	dkv;

		/* the loop runs past K = 20 with probability < 1/20! */
		while (!__builtin_mul_overflow(d, k, &dkv))
		{
			if (uniform_u64(dkv, rng) >= n)
				return (int) (k & 1);
			k++;
		}
	}
	/* multi-precision (or continuing after an overflow, at the same K) */
	mpz_init(dk);
	for (;;)
	{
		mpz_mul_ui(dk, den, (unsigned long) k);
		if (!bern_ratio(num, dk, rng))
			break;
		k++;
	}
	mpz_clear(dk);
	return (int) (k & 1);
}

/* Bernoulli(exp(-num/den)) for num >= 0, den >= 1 */
static int
bern_exp(const mpz_t num, const mpz_t den, scor_rng *rng)
{
	mpz_t		whole;
	mpz_t		frac;
	int			r = 1;

	mpz_init(whole);
	mpz_init(frac);
	mpz_fdiv_qr(whole, frac, num, den);
	/* AND of floor(g) Bernoulli(exp(-1)): stops at the first 0 */
	while (mpz_sgn(whole) > 0)
	{
		if (!bern_exp_minus_one(rng))
		{
			r = 0;
			break;
		}
		mpz_sub_ui(whole, whole, 1);
	}
	if (r)
		r = bern_exp_unit(frac, den, rng);
	mpz_clear(whole);
	mpz_clear(frac);
	return r;
}

int
scor_sample_bernoulli(const mpq_t p, scor_rng *rng)
{
	if (mpq_sgn(p) < 0 || mpz_cmp(mpq_numref(p), mpq_denref(p)) > 0)
		return -1;
	return bern_ratio(mpq_numref(p), mpq_denref(p), rng);
}

int
scor_sample_bernoulli_exp(const mpq_t gamma, scor_rng *rng)
{
	if (mpq_sgn(gamma) < 0)
		return -1;
	return bern_exp(mpq_numref(gamma), mpq_denref(gamma), rng);
}

/* ------------------------------------------------------------- geometric */

/* Geometric(1 - e^{-s/t}), s, t >= 1 (CKS20 Algorithm 2); out != s, t */
static void
geometric(mpz_t out, const mpz_t s, const mpz_t t, scor_rng *rng)
{
	mpz_t		u;
	uint64_t	v = 0;

	mpz_init(u);
	do
		uniform_mpz(u, t, rng);
	while (!bern_exp_unit(u, t, rng));
	while (bern_exp_minus_one(rng))
		v++;
	set_u64(out, v);
	mpz_mul(out, out, t);
	mpz_add(out, out, u);
	mpz_fdiv_q(out, out, s);
	mpz_clear(u);
}

int
scor_sample_geometric(mpz_t out, const mpq_t x, scor_rng *rng)
{
	mpz_t		r;

	if (mpq_sgn(x) <= 0)
		return -1;
	mpz_init(r);
	geometric(r, mpq_numref(x), mpq_denref(x), rng);
	mpz_set(out, r);
	mpz_clear(r);
	return 0;
}

/* ----------------------------------------------------- negative binomial */

/*
 * 1 with probability prod_{j=m}^{K} (1 - (anum/aden)/j), else 0, for
 * m >= 1, K >= m - 1 (an empty product is 1), 0 < anum < aden: the record
 * walk described at the top of the file.
 */
static int
no_failure_in_window(uint64_t m, const mpz_t K, const mpz_t anum,
					 const mpz_t aden, scor_rng *rng)
{
	mpz_t		n;
	mpz_t		lo;
	mpz_t		hi;
	mpz_t		mid;
	mpz_t		pn;
	mpz_t		pd;
	int			accept = -1;

	mpz_init(n);
	mpz_init(lo);
	mpz_init(hi);
	mpz_init(mid);
	mpz_init(pn);
	mpz_init(pd);
	set_u64(n, m - 1);
	if (mpz_cmp(K, n) <= 0)
		accept = 1;				/* empty window */
	else if (m == 1)
	{
		/* step 1 is a record for sure */
		mpz_set_ui(n, 1);
		if (bern_ratio(anum, aden, rng))
			accept = 0;
	}
	while (accept < 0)
	{
		/* no further record in (n, K]: probability n/K */
		if (bern_ratio(n, K, rng))
		{
			accept = 1;
			break;
		}
		/* the next record n' is in (n, K]: bisect */
		mpz_set(lo, n);
		mpz_set(hi, K);
		for (;;)
		{
			mpz_sub(pd, hi, lo);
			if (mpz_cmp_ui(pd, 1) <= 0)
				break;
			mpz_fdiv_q_2exp(mid, pd, 1);
			mpz_add(mid, mid, lo);
			/* P(n' > mid | n' in (lo, hi]) = lo (hi - mid) / (mid (hi - lo)) */
			mpz_mul(pd, pd, mid);
			mpz_sub(pn, hi, mid);
			mpz_mul(pn, pn, lo);
			if (bern_ratio(pn, pd, rng))
				mpz_set(lo, mid);
			else
				mpz_set(hi, mid);
		}
		mpz_set(n, hi);
		/* the record at n fails with probability alpha */
		if (bern_ratio(anum, aden, rng))
			accept = 0;
	}
	mpz_clear(n);
	mpz_clear(lo);
	mpz_clear(hi);
	mpz_clear(mid);
	mpz_clear(pn);
	mpz_clear(pd);
	return accept;
}

/* NB(eta, 1 - e^{-x}) with eta, x > 0 and ceil(eta) <= SCOR_DP_MAX_T */
static void
polya(mpz_t out, const mpq_t eta, const mpq_t x, scor_rng *rng)
{
	mpz_t		mz;
	mpz_t		anum;
	mpz_t		g;
	mpz_t		K;
	uint64_t	m;

	mpz_init(mz);
	mpz_init(anum);
	mpz_init(g);
	mpz_init(K);
	mpz_cdiv_q(mz, mpq_numref(eta), mpq_denref(eta));
	m = get_u64(mz);
	/* alpha = m - eta = (m * den - num) / den, in [0, 1) */
	mpz_mul(anum, mz, mpq_denref(eta));
	mpz_sub(anum, anum, mpq_numref(eta));
	for (;;)
	{
		mpz_set_ui(out, 0);
		for (uint64_t j = 0; j < m; j++)
		{
			geometric(g, mpq_numref(x), mpq_denref(x), rng);
			mpz_add(out, out, g);
		}
		if (mpz_sgn(anum) == 0 || mpz_sgn(out) == 0)
			break;				/* eta is an integer, or k = 0: A(k) = 1 */
		/* window of steps m .. K = m + k - 1 */
		set_u64(K, m - 1);
		mpz_add(K, K, out);
		if (no_failure_in_window(m, K, anum, mpq_denref(eta), rng))
			break;
	}
	mpz_clear(mz);
	mpz_clear(anum);
	mpz_clear(g);
	mpz_clear(K);
}

int
scor_sample_polya(mpz_t out, const mpq_t eta, const mpq_t x, scor_rng *rng)
{
	mpz_t		r;
	mpz_t		m;
	int			ok;

	if (mpq_sgn(eta) <= 0 || mpq_sgn(x) <= 0)
		return -1;
	mpz_init(m);
	mpz_cdiv_q(m, mpq_numref(eta), mpq_denref(eta));
	ok = mpz_cmp_ui(m, SCOR_DP_MAX_T) <= 0;
	mpz_clear(m);
	if (!ok)
		return -1;
	mpz_init(r);
	polya(r, eta, x, rng);
	mpz_set(out, r);
	mpz_clear(r);
	return 0;
}

/* -------------------------------------------------------------- DP share */

int
scor_sample_dp_share(int64_t *out, int t, const mpq_t epsilon,
					 int64_t sensitivity, scor_rng *rng)
{
	mpq_t		x;
	mpq_t		eta;
	mpz_t		a;
	mpz_t		b;
	int			rc;

	*out = 0;
	if (t < 1 || t > SCOR_DP_MAX_T || sensitivity < 1 || mpq_sgn(epsilon) <= 0)
		return -1;
	mpq_init(x);
	mpq_init(eta);
	mpz_init(a);
	mpz_init(b);
	/* x = epsilon / Delta, eta = 1/t */
	set_i64(mpq_numref(x), sensitivity);
	mpq_canonicalize(x);
	mpq_div(x, epsilon, x);
	/* x >= 1/SCOR_DP_MIN_RATE_INV, i.e. num * SCOR_DP_MIN_RATE_INV >= den */
	mpz_mul_ui(a, mpq_numref(x), SCOR_DP_MIN_RATE_INV);
	if (mpz_cmp(a, mpq_denref(x)) < 0)
		rc = -1;
	else
	{
		mpq_set_ui(eta, 1, (unsigned long) t);
		polya(a, eta, x, rng);
		polya(b, eta, x, rng);
		mpz_sub(a, a, b);
		rc = get_i64(out, a);
		if (rc != 0)
			*out = 0;
	}
	mpq_clear(x);
	mpq_clear(eta);
	mpz_clear(a);
	mpz_clear(b);
	return rc;
}

/* --------------------------------------------------------------- epsilon */

int
scor_epsilon_rational(mpq_t out, double epsilon)
{
	mpq_t		exact;
	mpz_t		grid;

	int			rc = 0;

	mpq_set_ui(out, 0, 1);
	/* also false for NaN */
	if (!(epsilon >= SCOR_EPSILON_MIN && epsilon <= SCOR_EPSILON_MAX))
		return -1;
	mpq_init(exact);
	mpz_init(grid);
	mpq_set_d(exact, epsilon);	/* exact: a finite double is dyadic */
	mpz_ui_pow_ui(grid, 10, SCOR_EPSILON_DENOMINATOR_DIGITS);
	/* floor(exact * grid) / grid */
	mpz_mul(mpq_numref(out), mpq_numref(exact), grid);
	mpz_fdiv_q(mpq_numref(out), mpq_numref(out), mpq_denref(exact));

	/*
	 * The range applies to the value used: the double nearest 1e-6 is just
	 * below it and would round to 999999/10^12, below what a share accepts.
	 * out >= 1/SCOR_DP_MIN_RATE_INV iff numerator * MIN_RATE_INV >= grid.
	 */
	mpz_mul_ui(mpq_numref(exact), mpq_numref(out), SCOR_DP_MIN_RATE_INV);
	if (mpz_cmp(mpq_numref(exact), grid) < 0)
	{
		mpq_set_ui(out, 0, 1);
		rc = -1;
	}
	else
	{
		mpz_set(mpq_denref(out), grid);
		mpq_canonicalize(out);
	}
	mpq_clear(exact);
	mpz_clear(grid);
	return rc;
}

/* ------------------------------------------- display only: floating point */

/*
 * The display helpers need exp, log and sqrt.  They are implemented here in
 * long double (range reduction plus Taylor / atanh series, Newton for sqrt,
 * relative error ~1e-18) so that the crypto core does not need libm, which
 * the unit tests and tools do not link.  None of this is on a sampling path.
 */
#define LD_LN2 0.693147180559945309417232121458176568L

/* 2^k */
static long double
ld_pow2(long k)
{
	long double r = 1;
	long double b = k < 0 ? 0.5L : 2.0L;
	unsigned long n = k < 0 ? (unsigned long) -k : (unsigned long) k;

	while (n > 0)
	{
		if (n & 1)
			r *= b;
		b *= b;
		n >>= 1;
	}
	return r;
}

static long double
ld_exp(long double x)
{
	long		k;
	long double r;
	long double term;
	long double sum;

	if (x < -11400)
		return 0;
	if (x > 11350)
		x = 11350;
	k = (long) (x / LD_LN2 + (x >= 0 ? 0.5L : -0.5L));
	r = x - (long double) k * LD_LN2;	/* |r| <= ln2/2 */
	term = 1;
	sum = 1;
	for (int i = 1; i < 40; i++)
	{
		term *= r / i;
		sum += term;
		if (term < 1e-22L * sum && term > -1e-22L * sum)
			break;
	}
	return sum * ld_pow2(k);
}

/* e^x - 1, accurate for small |x| */
static long double
ld_expm1(long double x)
{
	long double term;
	long double sum;

	if (x > 0.5L || x < -0.5L)
		return ld_exp(x) - 1;
	term = x;
	sum = x;
	for (int i = 2; i < 40; i++)
	{
		term *= x / i;
		sum += term;
		if (term < 1e-22L * (sum < 0 ? -sum : sum) &&
			term > -1e-22L * (sum < 0 ? -sum : sum))
			break;
	}
	return sum;
}

/* natural log, y > 0 */
static long double
ld_log(long double y)
{
	long		e = 0;
	long double s;
	long double s2;
	long double term;
	long double sum;

	while (y >= 0x1p64L)
	{
		y *= 0x1p-64L;
		e += 64;
	}
	while (y < 0x1p-64L)
	{
		y *= 0x1p64L;
		e -= 64;
	}
	while (y > 1.41421356237309504880L)
	{
		y *= 0.5L;
		e++;
	}
	while (y < 0.70710678118654752440L)
	{
		y *= 2;
		e--;
	}
	/* log y = 2 atanh(s), s = (y - 1)/(y + 1), |s| <= 0.172 */
	s = (y - 1) / (y + 1);
	s2 = s * s;
	term = s;
	sum = s;
	for (int i = 3; i < 80; i += 2)
	{
		term *= s2;
		sum += term / i;
		if (term < 1e-22L && term > -1e-22L)
			break;
	}
	return 2 * sum + (long double) e * LD_LN2;
}

static long double
ld_sqrt(long double y)
{
	long double r;

	if (y <= 0)
		return 0;
	r = ld_exp(ld_log(y) / 2);
	for (int i = 0; i < 3; i++)
		r = (r + y / r) / 2;
	return r;
}

/*
 * Gamma(b + 1/2) / Gamma(b), b > 0: shift b up to z >= 40 with
 * ratio(b) = ratio(b + 1) b / (b + 1/2), then the asymptotic series
 * sqrt(z) (1 - 1/(8z) + 1/(128z^2) + 5/(1024z^3) - 21/(32768z^4)).
 */
static long double
ld_gamma_half_ratio(long double b)
{
	long double f = 1;
	long double z = b;
	long double w;

	while (z < 40)
	{
		f *= z / (z + 0.5L);
		z += 1;
	}
	w = 1 / z;
	return f * ld_sqrt(z) *
		(1 - w / 8 + w * w / 128 + 5 * w * w * w / 1024 -
		 21 * w * w * w * w / 32768);
}

static int
display_args_ok(int nsites, int t, double epsilon, int64_t sensitivity)
{
	/* epsilon > 0 and finite; false for NaN */
	return nsites >= 1 && t >= 1 && t <= SCOR_DP_MAX_T && sensitivity >= 1 &&
		epsilon > 0 && epsilon <= 1e300;
}

double
scor_dp_variance(int nsites, int t, double epsilon, int64_t sensitivity)
{
	long double a;
	long double q;
	long double p;

	if (!display_args_ok(nsites, t, epsilon, sensitivity))
		return -1.0;
	a = (long double) epsilon / (long double) sensitivity;
	q = ld_exp(-a);
	p = -ld_expm1(-a);			/* 1 - q, accurate for small a */
	return (double) ((long double) nsites / t * 2 * q / (p * p));
}

/*
 * E|Z| for Z = X - Y, X, Y iid NB(beta, 1 - q), beta = nsites/t: for iid
 * integer variables E|X - Y| = 2 sum_k F(k) (1 - F(k)), F the cdf.  The sum
 * runs down from K = mean + 20 standard deviations + 60/a, beyond which the
 * tail is negligible (below e^{-60} relative).  The pmf f comes from
 * f(0) = (1 - q)^beta and
 * the ratio f(k + 1) = f(k) (k + beta) q / (k + 1), run up to f(K) and back
 * down, and the survival function S(k) = P(X > k) is summed from the top,
 * so it stays accurate when small.
 *
 * Two limits replace the sum where it would be too long or underflow:
 *	- K > 2e7 (a below about 3e-6): NB(beta, 1 - q) -> Gamma(beta, q/(1 - q)),
 *	  E|Z| = (q/(1 - q)) 2 Gamma(beta + 1/2) / (sqrt(pi) Gamma(beta)),
 *	  relative error O(a);
 *	- (1 - q)^beta < e^{-11000} (beta in the thousands): Z is then close
 *	  to normal, E|Z| = sqrt(2 Var / pi), relative error O(1/beta).
 */
double
scor_dp_expected_abs_error(int nsites, int t, double epsilon, int64_t sensitivity)
{
	long double a;
	long double q;
	long double p;
	long double beta;
	long double kmax;
	long double logf0;
	long double f;
	long double s;
	long double sum;
	uint64_t	K;

	if (!display_args_ok(nsites, t, epsilon, sensitivity))
		return -1.0;
	a = (long double) epsilon / (long double) sensitivity;
	q = ld_exp(-a);
	p = -ld_expm1(-a);
	beta = (long double) nsites / t;
	/* mean beta q/p, standard deviation sqrt(beta q)/p */
	kmax = (beta * q + 20 * ld_sqrt(beta * q)) / p + 60 / a + 3;
	logf0 = beta * ld_log(p);
	if (logf0 < -11000)
		return (double) ld_sqrt(2 * beta * 2 * q / (p * p) /
								3.14159265358979323846264338327950288L);
	if (kmax > 2e7L)
		return (double) (q / p * 2 * ld_gamma_half_ratio(beta) /
						 ld_sqrt(3.14159265358979323846264338327950288L));
	K = (uint64_t) kmax;
	f = ld_exp(logf0);
	for (uint64_t k = 0; k < K; k++)
		f = f * ((long double) k + beta) * q / (long double) (k + 1);
	s = 0;						/* S(K) ~ 0 */
	sum = 0;
	for (uint64_t k = K;; k--)
	{
		/* here f = f(k), s = S(k) = P(X > k) */
		sum += (1 - s) * s;
		if (k == 0)
			break;
		s += f;					/* S(k - 1) */
		f = f * (long double) k / (((long double) (k - 1) + beta) * q);
	}
	return (double) (2 * sum);
}
