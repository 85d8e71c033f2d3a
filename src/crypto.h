/*
 * crypto.h
 *	  scor's crypto core: exponential EC-ElGamal over ristretto255, site keys,
 *	  Fiat-Shamir transcripts, Schnorr and Chaum-Pedersen (DLEQ) proofs.
 *
 * Every secret-dependent operation and all randomness go through libsodium.
 * Points and scalars cross this interface as 32-byte canonical encodings.
 * Functions return 0 on success and -1 on invalid input (an encoding that is
 * not a canonical point, a scalar >= L, a proof that does not verify); the
 * predicates (*_is_*) return 1 or 0.  On failure, proof, ciphertext, share
 * and key outputs are zeroed.
 *
 * No PostgreSQL headers: unit tests and fuzzers call this directly.
 */
#ifndef SCOR_CRYPTO_H
#define SCOR_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#define SCOR_SCALAR_BYTES 32
#define SCOR_ELEMENT_BYTES 32
#define SCOR_SEED_BYTES 32
#define SCOR_FINGERPRINT_BYTES 8
#define SCOR_PROOF_BYTES 64		/* Schnorr: commitment R and response s */
#define SCOR_DLEQ_PROOF_BYTES 96	/* DLEQ: commitments A1, A2 and response s */
#define SCOR_SIGN_PUBLIC_BYTES 32
#define SCOR_SIGN_SECRET_BYTES 64
#define SCOR_SIGNATURE_BYTES 64
/* Proof of possession of a site key: Schnorr proof, then Ed25519 signature */
#define SCOR_POP_BYTES (SCOR_PROOF_BYTES + SCOR_SIGNATURE_BYTES)

/* A site's keys, derived from its 32-byte seed; lives in sodium_malloc memory */
typedef struct scor_site_keys
{
	uint8_t		elgamal_secret[SCOR_SCALAR_BYTES];	/* x */
	uint8_t		elgamal_public[SCOR_ELEMENT_BYTES]; /* X = xG */
	uint8_t		sign_secret[SCOR_SIGN_SECRET_BYTES];
	uint8_t		sign_public[SCOR_SIGN_PUBLIC_BYTES];
} scor_site_keys;

/* Fiat-Shamir transcript: domain tag, version, then length-prefixed items */
typedef struct scor_transcript
{
	crypto_hash_sha512_state state;
} scor_transcript;

extern int	scor_crypto_init(void);

/* Scalars: is_canonical is 1 iff s < L (constant time); from_int64 is m mod L */
extern int	scor_scalar_is_canonical(const uint8_t s[SCOR_SCALAR_BYTES]);
extern void scor_scalar_from_int64(uint8_t s[SCOR_SCALAR_BYTES], int64_t m);

/*
 * RFC 9380 expand_message_xmd with SHA-512; 0, or -1 for bad lengths
 * (out_len 0 or > 255*64, empty DST).  A DST over 255 bytes is replaced by
 * SHA-512("H2C-OVERSIZE-DST-" || DST) (RFC 9380 section 5.3.3).
 */
extern int	scor_expand_message_xmd_sha512(uint8_t *out, size_t out_len,
										   const uint8_t *msg, size_t msg_len,
										   const uint8_t *dst, size_t dst_len);
/* RFC 9380/9496 hash_to_ristretto255 */
extern int	scor_hash_to_group(uint8_t out[SCOR_ELEMENT_BYTES],
							   const uint8_t *msg, size_t msg_len,
							   const uint8_t *dst, size_t dst_len);
/* RFC 9497 HashToScalar: expand to 64 bytes, reduce mod L */
extern int	scor_hash_to_scalar(uint8_t out[SCOR_SCALAR_BYTES],
								const uint8_t *msg, size_t msg_len,
								const uint8_t *dst, size_t dst_len);

/* Transcripts */
extern void scor_transcript_init(scor_transcript *t, const char *domain_tag,
								 uint32_t version);
extern void scor_transcript_append(scor_transcript *t, const char *label,
								   const uint8_t *data, size_t len);
extern void scor_transcript_append_str(scor_transcript *t, const char *label,
									   const char *s);
extern void scor_transcript_append_u64(scor_transcript *t, const char *label,
									   uint64_t v);
/* Challenge scalar from the transcript so far; t is left unchanged */
extern void scor_transcript_challenge(const scor_transcript *t,
									  uint8_t c[SCOR_SCALAR_BYTES]);

/* Group elements (libsodium; the identity is allowed where noted) */
extern int	scor_element_is_valid(const uint8_t p[SCOR_ELEMENT_BYTES]);	/* identity ok */
extern int	scor_element_is_identity(const uint8_t p[SCOR_ELEMENT_BYTES]);
/* m·G for any int64 m, including 0 (identity) and negatives */
extern int	scor_element_mul_base_int64(uint8_t out[SCOR_ELEMENT_BYTES], int64_t m);
extern int	scor_element_add(uint8_t out[SCOR_ELEMENT_BYTES],
							 const uint8_t a[SCOR_ELEMENT_BYTES],
							 const uint8_t b[SCOR_ELEMENT_BYTES]);
extern void scor_key_fingerprint(uint8_t fp[SCOR_FINGERPRINT_BYTES],
								 const uint8_t key[SCOR_ELEMENT_BYTES]);

/* Site keys */
extern int	scor_site_keys_derive(scor_site_keys *keys,
								  const uint8_t seed[SCOR_SEED_BYTES]);
extern int	scor_pop_create(uint8_t pop[SCOR_POP_BYTES], const char *site_name,
							const scor_site_keys *keys);
extern int	scor_pop_verify(const uint8_t pop[SCOR_POP_BYTES], const char *site_name,
							const uint8_t elgamal_public[SCOR_ELEMENT_BYTES],
							const uint8_t sign_public[SCOR_SIGN_PUBLIC_BYTES]);

/*
 * The same verification, saying which check failed: first the form of
 * every public input (each of which an honest site always gets right), then
 * the two equations.  scor_pop_verify is scor_pop_check(...) == SCOR_POP_OK.
 */
typedef enum scor_pop_status
{
	SCOR_POP_OK = 0,
	SCOR_POP_NO_SITE_NAME,		/* site_name is NULL */
	SCOR_POP_KEY_NOT_CANONICAL, /* X is not a canonical ristretto255 encoding */
	SCOR_POP_KEY_IDENTITY,		/* X is the identity */
	SCOR_POP_VERIFY_KEY_INVALID,	/* not a canonical, prime-order Ed25519 point */
	SCOR_POP_COMMITMENT_NOT_CANONICAL,	/* Schnorr R is not a canonical encoding */
	SCOR_POP_RESPONSE_NOT_CANONICAL,	/* Schnorr s >= L (top bits included) */
	SCOR_POP_SIGNATURE_NOT_CANONICAL,	/* Ed25519 S >= L (top bits included) */
	SCOR_POP_SCHNORR_FAILED,	/* well-formed, but sG != R + cX */
	SCOR_POP_SIGNATURE_FAILED	/* well-formed, but the signature is wrong */
} scor_pop_status;

extern scor_pop_status scor_pop_check(const uint8_t pop[SCOR_POP_BYTES],
									  const char *site_name,
									  const uint8_t elgamal_public[SCOR_ELEMENT_BYTES],
									  const uint8_t sign_public[SCOR_SIGN_PUBLIC_BYTES]);

/* Schnorr proof of knowledge of w with P = wG, bound to transcript t */
extern int	scor_schnorr_prove(uint8_t proof[SCOR_PROOF_BYTES],
							   const uint8_t w[SCOR_SCALAR_BYTES],
							   const uint8_t P[SCOR_ELEMENT_BYTES],
							   const scor_transcript *t);
extern int	scor_schnorr_verify(const uint8_t proof[SCOR_PROOF_BYTES],
								const uint8_t P[SCOR_ELEMENT_BYTES],
								const scor_transcript *t);

/*
 * Batch verification: gather the equations of many Schnorr and DLEQ
 * proofs (each with its own random weight) and check them with one
 * multi-scalar multiplication.  add_* return -1 at once for a malformed
 * proof; scor_batch_verify returns 0 if every proof in the batch holds.
 * A batch may be verified, grown and verified again.  Public data only.
 */
typedef struct scor_batch
{
	size_t		n;
	size_t		cap;
	uint8_t		(*scalars)[SCOR_SCALAR_BYTES];
	struct scor_point *points;
	uint8_t		g_scalar[SCOR_SCALAR_BYTES];
	int			failed;
} scor_batch;

extern void scor_batch_init(scor_batch *b);
extern void scor_batch_free(scor_batch *b);
extern int	scor_batch_add_schnorr(scor_batch *b, const uint8_t proof[SCOR_PROOF_BYTES],
								   const uint8_t P[SCOR_ELEMENT_BYTES],
								   const scor_transcript *t);
extern int	scor_batch_add_dleq(scor_batch *b, const uint8_t proof[SCOR_DLEQ_PROOF_BYTES],
								const uint8_t X[SCOR_ELEMENT_BYTES],
								const uint8_t c1[SCOR_ELEMENT_BYTES],
								const uint8_t D[SCOR_ELEMENT_BYTES],
								const scor_transcript *t);
extern int	scor_batch_verify(scor_batch *b);

/* Exponential ElGamal: C1 = rG, C2 = mG + rX; r_out (may be NULL) gets r */
extern int	scor_elgamal_encrypt(uint8_t c1[SCOR_ELEMENT_BYTES],
								 uint8_t c2[SCOR_ELEMENT_BYTES],
								 int64_t m, const uint8_t X[SCOR_ELEMENT_BYTES],
								 uint8_t r_out[SCOR_SCALAR_BYTES]);
/* Partial decryption share D = xC1 */
extern int	scor_partial_decrypt(uint8_t D[SCOR_ELEMENT_BYTES],
								 const uint8_t x[SCOR_SCALAR_BYTES],
								 const uint8_t c1[SCOR_ELEMENT_BYTES]);
/* Chaum-Pedersen proof that log_G X = log_C1 D, bound to transcript t */
extern int	scor_dleq_prove(uint8_t proof[SCOR_DLEQ_PROOF_BYTES],
							const uint8_t x[SCOR_SCALAR_BYTES],
							const uint8_t X[SCOR_ELEMENT_BYTES],
							const uint8_t c1[SCOR_ELEMENT_BYTES],
							const uint8_t D[SCOR_ELEMENT_BYTES],
							const scor_transcript *t);
extern int	scor_dleq_verify(const uint8_t proof[SCOR_DLEQ_PROOF_BYTES],
							 const uint8_t X[SCOR_ELEMENT_BYTES],
							 const uint8_t c1[SCOR_ELEMENT_BYTES],
							 const uint8_t D[SCOR_ELEMENT_BYTES],
							 const scor_transcript *t);

#endif							/* SCOR_CRYPTO_H */
