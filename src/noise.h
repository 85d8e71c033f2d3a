/*
 * noise.h
 *	  Exact samplers for scor's distributed differential-privacy noise.
 *
 * Every site adds one integer noise share to its (encrypted) contribution:
 *
 *		share = NB(1/t, 1 - e^{-a}) - NB(1/t, 1 - e^{-a}),	a = epsilon / Delta
 *
 * where NB(eta, p) is the negative binomial (Polya) distribution counting
 * failures before the eta-th success, pmf
 * Gamma(k + eta) / (k! Gamma(eta)) * p^eta * (1 - p)^k.  NB is closed under
 * summation in eta, so any t shares sum to NB(1, p) - NB(1, p) = Geo - Geo,
 * which is exactly the discrete Laplace distribution DLap(a), pmf
 * (1 - q)/(1 + q) * q^|x| with q = e^{-a}: pure epsilon-DP for sensitivity
 * Delta.  More honest shares only add noise, and sites that collude with the
 * analyst can subtract only their own shares, so the guarantee holds as long
 * as at least t sites are honest.  All n shares together are the generalized
 * discrete Laplace GDL(n/t, a), variance (n/t) * 2q/(1 - q)^2.
 *
 * Exactness.  On the sampling path there is no floating point: parameters
 * are GMP rationals, all arithmetic is mpz/mpq or uint64, and every random
 * decision is a comparison of a uniform integer drawn from libsodium bytes
 * with a rational threshold (Canonne, Kamath & Steinke 2020, "The Discrete
 * Gaussian for Differential Privacy", Algorithms 1 and 2).  The output
 * distributions are exactly the stated ones.  The one conversion from a
 * double, scor_epsilon_rational(), rounds DOWN (see there), which can only
 * add noise.  The floating-point helpers at the end are for display only.
 *
 * Secrecy.  A noise share is secret-ish: with it, the site's own encrypted
 * contribution would be less protected if it were ever decrypted alone.  It
 * never is (only sums over all sites are decrypted), and the un-noised value
 * never leaves the site, so no special wiping is done for GMP temporaries
 * (they are freed with mpz_clear); the RNG's buffered bytes and seed are
 * wiped by scor_rng_clear().  The samplers are not constant-time: like any
 * rejection sampler, the time a draw takes depends on the value drawn.  For
 * a share that is microseconds (see SCOR_DP_MIN_RATE_INV for the slow end)
 * inside a query that takes milliseconds, but it is a timing signal.
 *
 * Rational arguments must be canonical mpq_t values (as GMP keeps them);
 * outputs must not alias inputs.  Functions returning int return 0 on
 * success and -1 on invalid arguments unless stated otherwise.
 *
 * No PostgreSQL headers: unit tests and benchmarks call this directly.
 */
#ifndef SCOR_NOISE_H
#define SCOR_NOISE_H

#include <stddef.h>
#include <stdint.h>

#include <gmp.h>

#define SCOR_RNG_SEED_BYTES 32
#define SCOR_RNG_BUFFER_BYTES 256

/*
 * scor_epsilon_rational() rounds epsilon down to a multiple of
 * 10^-SCOR_EPSILON_DENOMINATOR_DIGITS and accepts
 * [SCOR_EPSILON_MIN, SCOR_EPSILON_MAX], the lower bound after rounding.
 */
#define SCOR_EPSILON_DENOMINATOR_DIGITS 12	/* 10^12 */
#define SCOR_EPSILON_MIN 1e-6
#define SCOR_EPSILON_MAX 1000.0

/* Largest t (honest sites the noise is calibrated for) a share accepts */
#define SCOR_DP_MAX_T 65536

/*
 * Smallest epsilon/Delta a share accepts is 1/SCOR_DP_MIN_RATE_INV.  The
 * sampler's expected work grows like (epsilon/Delta)^{-(1 - 1/t)}: at
 * epsilon/Delta = 1e-6 a share takes about 3 ms at t = 2, 20 ms at t = 3,
 * 0.2 s at t = 10, 0.4 s at t = 50 (one core); its noise is then ~10^6.
 */
#define SCOR_DP_MIN_RATE_INV 1000000

/*
 * A source of uniform random bytes.  scor_rng_system() reads libsodium's
 * randombytes_buf() (call sodium_init() first); scor_rng_seeded() is a
 * deterministic ChaCha20 keystream keyed by a 32-byte seed, for tests and
 * benchmarks ONLY: noise from a known seed gives no privacy.  Bytes are
 * drawn in blocks of SCOR_RNG_BUFFER_BYTES, so a scor_rng is meant to live
 * for one operation: never copy one or keep one across fork(); wipe it
 * with scor_rng_clear() when done.
 */
typedef struct scor_rng
{
	int			seeded;			/* 0: randombytes_buf, 1: ChaCha20(seed) */
	uint64_t	block;			/* seeded: next ChaCha20 block counter */
	size_t		pos;			/* next unread byte of buf */
	uint8_t		key[SCOR_RNG_SEED_BYTES];
	uint8_t		buf[SCOR_RNG_BUFFER_BYTES];
} scor_rng;

extern void scor_rng_system(scor_rng *rng);
extern void scor_rng_seeded(scor_rng *rng, const uint8_t seed[SCOR_RNG_SEED_BYTES]);
extern void scor_rng_bytes(scor_rng *rng, uint8_t *out, size_t len);
extern void scor_rng_clear(scor_rng *rng);

/*
 * epsilon as an exact rational: floor(epsilon * 10^12) / 10^12, computed
 * exactly from the double's exact binary value (mpq_set_d), so out <= epsilon
 * always.  A decimal with at most 12 fractional digits comes out exactly
 * when the double nearest to it is at or above it (0.1 -> 1/10), and one
 * grid step (10^-12) below it otherwise (0.3 -> 299999999999/10^12):
 * never above what the user wrote.  Rejects NaN, infinities and values
 * outside [SCOR_EPSILON_MIN, SCOR_EPSILON_MAX] (-1, out set to 0); the
 * lower bound applies to the rounded value, which a share must accept
 * (>= 1/SCOR_DP_MIN_RATE_INV): the double nearest 1e-6 lies just below
 * 10^-6 and is rejected, the next double above it is accepted.
 */
extern int	scor_epsilon_rational(mpq_t out, double epsilon);

/* Uniform integer in [0, n), n >= 1, by rejection (unbiased) */
extern int	scor_sample_uniform(mpz_t out, const mpz_t n, scor_rng *rng);

/* Bernoulli(p) for rational p in [0, 1]: 1 or 0; -1 if p is out of range */
extern int	scor_sample_bernoulli(const mpq_t p, scor_rng *rng);

/* Bernoulli(exp(-gamma)) for rational gamma >= 0: 1 or 0; -1 if gamma < 0 */
extern int	scor_sample_bernoulli_exp(const mpq_t gamma, scor_rng *rng);

/*
 * Geometric: the number of failures before the first success, success
 * probability 1 - e^{-x}, rational x > 0 (P(k) = (1 - e^{-x}) e^{-kx}).
 */
extern int	scor_sample_geometric(mpz_t out, const mpq_t x, scor_rng *rng);

/*
 * Negative binomial NB(eta, 1 - e^{-x}) (Polya) for rational eta > 0 with
 * ceil(eta) <= SCOR_DP_MAX_T, and rational x > 0: see noise.c for the
 * rejection sampler and its cost.
 */
extern int	scor_sample_polya(mpz_t out, const mpq_t eta, const mpq_t x,
							  scor_rng *rng);

/*
 * One site's noise share for t honest sites, sensitivity Delta:
 * NB(1/t, 1 - e^{-epsilon/Delta}) - NB(1/t, 1 - e^{-epsilon/Delta}).
 * -1 if t is outside [1, SCOR_DP_MAX_T], sensitivity < 1, epsilon <= 0,
 * epsilon/Delta < 1/SCOR_DP_MIN_RATE_INV, or the share does not fit int64
 * (*out is then 0).
 */
extern int	scor_sample_dp_share(int64_t *out, int t, const mpq_t epsilon,
								 int64_t sensitivity, scor_rng *rng);

/*
 * Display only (floating point, never on the sampling path), for the total
 * noise of nsites shares calibrated for t, i.e. GDL(nsites/t, epsilon/Delta):
 * its expected absolute value, computed from the exact pmf (see noise.c),
 * and its variance (nsites/t) * 2q/(1 - q)^2, q = e^{-epsilon/Delta}.
 * Both return -1.0 on invalid arguments (nsites < 1, t outside
 * [1, SCOR_DP_MAX_T], epsilon not finite and > 0, sensitivity < 1).
 */
extern double scor_dp_expected_abs_error(int nsites, int t, double epsilon,
										 int64_t sensitivity);
extern double scor_dp_variance(int nsites, int t, double epsilon,
							   int64_t sensitivity);

#endif							/* SCOR_NOISE_H */
