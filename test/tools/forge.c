/*
 * forge.c
 *	  A malicious site's tool for the TAP tests (test/t/003_forgery.pl):
 *	  rewrite one site's answer inside a BUNDLE and re-sign it with that
 *	  site's real signing key, so that its signature verifies and only the
 *	  proofs of knowledge of the encryption randomness stand in the way.
 *
 * Usage:
 *	  scor_forge MODE SITE KEYFILE [ARG...] < bundle.hex > bundle.hex
 *
 * The bundle is read and written as hex (an optional leading "\x", as
 * psql prints a bytea, is accepted).  SITE is the answer to rewrite and
 * KEYFILE its key file ($PGDATA/scor/<site>.key).  The rewritten slot is
 * the first ciphertext column of the first group.  Modes:
 *
 *	  copy FROM        put site FROM's ciphertext there, with FROM's proof
 *	  negate FROM      put -(FROM's ciphertext) there, with FROM's proof
 *	  combine FROM X   put FROM's ciphertext + a fresh encryption of 0 under
 *					   the network key X (64 hex digits) there, with a fresh
 *					   proof made with the only randomness the forger knows
 *					   (that of the encryption of 0)
 *	  reencrypt X M    put a fresh encryption of M under X there with a valid
 *					   proof: what an honest site holding this key can send
 *					   (the positive control: its answer verifies)
 *	  keyscale         set the scale byte of the first GROUP BY key column,
 *					   which no proof binds, to 2 (ciphertexts untouched)
 *
 * Links only scor's crypto core (src/crypto.c) and libsodium: no
 * PostgreSQL headers.  The message layouts are those of src/protocol.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

#define PROTOCOL_VERSION 1
#define NETWORK_ID_BYTES 32
#define QUERY_ID_BYTES 16
#define DIGEST_BYTES 32
#define WIRE_BYTES (2 + SCOR_FINGERPRINT_BYTES + 2 * SCOR_ELEMENT_BYTES)
#define COLUMN_KEY 0
#define COLUMN_CIPHERTEXT 1
#define MAX_ANSWERS 64
#define MAX_COLUMNS 64

#define KEY_FILE_MAGIC "SCORKEY1"
#define KEY_FILE_LEN (8 + SCOR_SEED_BYTES + 8)
#define SIGNATURE_DOMAIN "scor-answer-signature-v1"

static void
die(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "scor_forge: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(2);
}

/* A bounds-checked reader */
typedef struct Reader
{
	const uint8_t *p;
	size_t		len;
	size_t		pos;
} Reader;

static const uint8_t *
take(Reader *r, size_t n)
{
	const uint8_t *p;

	if (n > r->len - r->pos)
		die("message ends early at byte %zu", r->pos);
	p = r->p + r->pos;
	r->pos += n;
	return p;
}

static uint32_t
take_u32(Reader *r)
{
	const uint8_t *p = take(r, 4);

	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
}

static uint16_t
take_u16(Reader *r)
{
	const uint8_t *p = take(r, 2);

	return (uint16_t) ((p[0] << 8) | p[1]);
}

/* The parts of an answer the forger needs; pointers into the bundle */
typedef struct Answer
{
	uint8_t    *data;
	size_t		len;
	const uint8_t *network_id;
	const uint8_t *query_id;
	char		site[256];
	int			ncolumns;
	uint8_t		kinds[MAX_COLUMNS];
	int			ngroups;
	/* group 1: its canonical key, and its first ciphertext column */
	uint8_t    *key;
	size_t		key_len;
	int			column;			/* index among all columns */
	uint8_t    *key_scale;		/* scale byte of the first key column */
	uint8_t    *wire;
	uint8_t    *proof;
} Answer;

static void
parse_answer(Answer *a)
{
	Reader		r = {a->data, a->len, 0};
	uint32_t	n;
	size_t		key_cap = 1024;

	if (memcmp(take(&r, 4), "SCA1", 4) != 0)
		die("an answer does not start with SCA1");
	if (*take(&r, 1) != PROTOCOL_VERSION)
		die("an answer has an unknown version");
	a->network_id = take(&r, NETWORK_ID_BYTES);
	a->query_id = take(&r, QUERY_ID_BYTES);
	n = take_u32(&r);
	if (n >= sizeof(a->site))
		die("a site name is too long");
	memcpy(a->site, take(&r, n), n);
	a->site[n] = '\0';
	(void) take(&r, DIGEST_BYTES);
	(void) take_u32(&r);		/* small-cell threshold */
	(void) take_u32(&r);		/* rounding of released totals */
	a->ncolumns = take_u16(&r);
	if (a->ncolumns > MAX_COLUMNS)
		die("too many columns");
	a->column = -1;
	a->key_scale = NULL;
	for (int i = 0; i < a->ncolumns; i++)
	{
		const uint8_t *scale;

		a->kinds[i] = *take(&r, 1);
		scale = take(&r, 1);
		if (a->kinds[i] == COLUMN_KEY && a->key_scale == NULL)
			a->key_scale = (uint8_t *) scale;
		n = take_u32(&r);
		(void) take(&r, n);		/* name */
		(void) take(&r, 1 + 8 + 8 + 4);	/* noise: marker, epsilon, sensitivity, t */
		if (a->kinds[i] == COLUMN_CIPHERTEXT && a->column < 0)
			a->column = i;
	}
	if (a->column < 0)
		die("answer of %s has no ciphertext column", a->site);
	a->ngroups = (int) take_u32(&r);
	if (a->ngroups < 1)
		die("answer of %s has no group", a->site);
	a->key = malloc(key_cap);
	a->key_len = 0;
	for (int g = 0; g < a->ngroups; g++)
	{
		for (int i = 0; i < a->ncolumns; i++)
		{
			if (a->kinds[i] == COLUMN_KEY)
			{
				uint8_t		present = *take(&r, 1);
				const uint8_t *v = NULL;

				n = 0;
				if (present)
				{
					n = take_u32(&r);
					v = take(&r, n);
				}
				if (g == 0)
				{
					/* canonical key, as scor_group_key_append builds it */
					if (a->key_len + 5 + n > key_cap)
						die("group key too long");
					a->key[a->key_len++] = present;
					if (present)
					{
						a->key[a->key_len++] = (uint8_t) (n >> 24);
						a->key[a->key_len++] = (uint8_t) (n >> 16);
						a->key[a->key_len++] = (uint8_t) (n >> 8);
						a->key[a->key_len++] = (uint8_t) n;
						memcpy(a->key + a->key_len, v, n);
						a->key_len += n;
					}
				}
			}
			else
			{
				uint8_t    *wire = (uint8_t *) take(&r, WIRE_BYTES);
				uint8_t    *proof = (uint8_t *) take(&r, SCOR_PROOF_BYTES);

				if (g == 0 && i == a->column)
				{
					a->wire = wire;
					a->proof = proof;
				}
			}
		}
	}
	(void) take(&r, SCOR_SIGNATURE_BYTES);
	if (r.pos != r.len)
		die("bytes after the signature of %s's answer", a->site);
}

/* The transcript of scor_contribution_transcript (src/protocol.c) */
static void
contribution_transcript(scor_transcript *t, const Answer *a, const uint8_t *wire)
{
	scor_transcript_init(t, "scor-contribution", PROTOCOL_VERSION);
	scor_transcript_append(t, "network", a->network_id, NETWORK_ID_BYTES);
	scor_transcript_append(t, "query", a->query_id, QUERY_ID_BYTES);
	scor_transcript_append_str(t, "site", a->site);
	scor_transcript_append_u64(t, "column", (uint64_t) a->column);
	scor_transcript_append(t, "group", a->key, a->key_len);
	scor_transcript_append(t, "ciphertext", wire, WIRE_BYTES);
}

/*
 * A Schnorr proof R || s for P with witness w, computed exactly as
 * scor_schnorr_prove does, for any w: what a forger who does not know
 * log_G P can at best produce.
 */
static void
unchecked_schnorr_prove(uint8_t proof[SCOR_PROOF_BYTES], const uint8_t w[SCOR_SCALAR_BYTES],
						const uint8_t P[SCOR_ELEMENT_BYTES], const scor_transcript *t)
{
	uint8_t		k[SCOR_SCALAR_BYTES];
	uint8_t		R[SCOR_ELEMENT_BYTES];
	uint8_t		c[SCOR_SCALAR_BYTES];
	uint8_t		cw[SCOR_SCALAR_BYTES];
	scor_transcript tc = *t;

	crypto_core_ristretto255_scalar_random(k);
	if (crypto_scalarmult_ristretto255_base(R, k) != 0)
		die("k·G failed");
	scor_transcript_append(&tc, "schnorr-P", P, SCOR_ELEMENT_BYTES);
	scor_transcript_append(&tc, "schnorr-R", R, SCOR_ELEMENT_BYTES);
	scor_transcript_challenge(&tc, c);
	crypto_core_ristretto255_scalar_mul(cw, c, w);
	memcpy(proof, R, SCOR_ELEMENT_BYTES);
	crypto_core_ristretto255_scalar_add(proof + SCOR_ELEMENT_BYTES, k, cw);
}

static void
negate_element(uint8_t out[SCOR_ELEMENT_BYTES], const uint8_t p[SCOR_ELEMENT_BYTES])
{
	static const uint8_t identity[SCOR_ELEMENT_BYTES] = {0};

	if (crypto_core_ristretto255_sub(out, identity, p) != 0)
		die("negation failed");
}

/* Read the seed of a key file as keys.c writes it, and derive the keys */
static void
load_keys(scor_site_keys *keys, const char *path)
{
	FILE	   *f = fopen(path, "rb");
	uint8_t		buf[KEY_FILE_LEN + 1];
	uint8_t		digest[crypto_hash_sha512_BYTES];
	crypto_hash_sha512_state st;
	size_t		n;

	if (f == NULL)
		die("cannot open key file %s", path);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (n != KEY_FILE_LEN || memcmp(buf, KEY_FILE_MAGIC, 8) != 0)
		die("%s is not a scor key file", path);
	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, (const uint8_t *) "scor-key-file-v1", 16);
	crypto_hash_sha512_update(&st, buf + 8, SCOR_SEED_BYTES);
	crypto_hash_sha512_final(&st, digest);
	if (memcmp(digest, buf + 8 + SCOR_SEED_BYTES, 8) != 0)
		die("%s has a bad check value", path);
	if (scor_site_keys_derive(keys, buf + 8) != 0)
		die("cannot derive keys from %s", path);
	sodium_memzero(buf, sizeof(buf));
}

/* Re-sign an answer in place: the signature is its last 64 bytes */
static void
resign(Answer *a, const scor_site_keys *keys)
{
	size_t		dlen = strlen(SIGNATURE_DOMAIN);
	size_t		slen = a->len - SCOR_SIGNATURE_BYTES;
	uint8_t    *msg = malloc(dlen + slen);

	memcpy(msg, SIGNATURE_DOMAIN, dlen);
	memcpy(msg + dlen, a->data, slen);
	crypto_sign_detached(a->data + slen, NULL, msg, dlen + slen, keys->sign_secret);
	if (crypto_sign_verify_detached(a->data + slen, msg, dlen + slen, keys->sign_public) != 0)
		die("re-signing failed");
	free(msg);
}

static void
parse_hex(uint8_t *out, size_t out_len, const char *hex, const char *what)
{
	size_t		bin_len;

	if (strlen(hex) != 2 * out_len ||
		sodium_hex2bin(out, out_len, hex, strlen(hex), NULL, &bin_len, NULL) != 0 ||
		bin_len != out_len)
		die("bad %s", what);
}

static Answer *
find_answer(Answer *answers, int n, const char *site)
{
	for (int i = 0; i < n; i++)
		if (strcmp(answers[i].site, site) == 0)
			return &answers[i];
	die("the bundle has no answer of site %s", site);
	return NULL;
}

int
main(int argc, char **argv)
{
	const char *mode;
	char	   *hex;
	size_t		hex_len = 0;
	size_t		hex_cap = 1 << 16;
	size_t		bundle_len;
	uint8_t    *bundle;
	Reader		r;
	int			nanswers;
	Answer		answers[MAX_ANSWERS];
	Answer	   *target;
	scor_site_keys keys;
	uint8_t		wire[WIRE_BYTES];
	uint8_t		proof[SCOR_PROOF_BYTES];
	uint8_t    *c1 = wire + 2 + SCOR_FINGERPRINT_BYTES;
	uint8_t    *c2 = c1 + SCOR_ELEMENT_BYTES;
	scor_transcript t;
	int			c;
	char	   *out;

	if (argc < 4)
		die("usage: scor_forge copy|negate|combine|reencrypt|keyscale SITE KEYFILE [ARG...] < bundle.hex");
	if (scor_crypto_init() != 0)
		die("cannot initialise libsodium");
	mode = argv[1];

	/* the bundle, as hex on stdin */
	hex = malloc(hex_cap);
	while ((c = getchar()) != EOF)
	{
		if (c == '\n' || c == '\r' || c == ' ')
			continue;
		if (hex_len + 1 >= hex_cap)
			hex = realloc(hex, hex_cap *= 2);
		hex[hex_len++] = (char) c;
	}
	hex[hex_len] = '\0';
	if (hex_len >= 2 && hex[0] == '\\' && hex[1] == 'x')
	{
		memmove(hex, hex + 2, hex_len - 1);
		hex_len -= 2;
	}
	bundle = malloc(hex_len / 2 + 1);
	if (sodium_hex2bin(bundle, hex_len / 2 + 1, hex, hex_len, NULL, &bundle_len, NULL) != 0 ||
		bundle_len * 2 != hex_len)
		die("the bundle is not hex");

	/* split it into answers */
	r = (Reader) {bundle, bundle_len, 0};
	if (memcmp(take(&r, 4), "SCB1", 4) != 0)
		die("the bundle does not start with SCB1");
	nanswers = take_u16(&r);
	if (nanswers > MAX_ANSWERS)
		die("too many answers");
	for (int i = 0; i < nanswers; i++)
	{
		answers[i].len = take_u32(&r);
		answers[i].data = (uint8_t *) take(&r, answers[i].len);
		parse_answer(&answers[i]);
	}
	if (r.pos != r.len)
		die("bytes after the last answer");

	target = find_answer(answers, nanswers, argv[2]);
	load_keys(&keys, argv[3]);
	memcpy(wire, target->wire, WIRE_BYTES);

	if (strcmp(mode, "copy") == 0 || strcmp(mode, "negate") == 0 ||
		strcmp(mode, "combine") == 0)
	{
		Answer	   *from;

		if (argc < 5)
			die("%s needs the site to take from", mode);
		from = find_answer(answers, nanswers, argv[4]);

		if (from->key_len != target->key_len ||
			memcmp(from->key, target->key, target->key_len) != 0 ||
			from->column != target->column)
			die("the first groups of %s and %s differ", from->site, target->site);
		memcpy(wire, from->wire, WIRE_BYTES);
		memcpy(proof, from->proof, SCOR_PROOF_BYTES);
		if (strcmp(mode, "negate") == 0)
		{
			negate_element(c1, from->wire + 2 + SCOR_FINGERPRINT_BYTES);
			negate_element(c2, from->wire + 2 + SCOR_FINGERPRINT_BYTES + SCOR_ELEMENT_BYTES);
		}
		else if (strcmp(mode, "combine") == 0)
		{
			uint8_t		X[SCOR_ELEMENT_BYTES];
			uint8_t		z1[SCOR_ELEMENT_BYTES];
			uint8_t		z2[SCOR_ELEMENT_BYTES];
			uint8_t		r0[SCOR_SCALAR_BYTES];

			if (argc < 6)
				die("combine needs the network key");
			parse_hex(X, sizeof(X), argv[5], "network key");
			if (scor_elgamal_encrypt(z1, z2, 0, X, r0) != 0)
				die("cannot encrypt under the network key");
			if (scor_element_add(c1, c1, z1) != 0 || scor_element_add(c2, c2, z2) != 0)
				die("cannot add ciphertexts");
			contribution_transcript(&t, target, wire);
			unchecked_schnorr_prove(proof, r0, c1, &t);
		}
	}
	else if (strcmp(mode, "reencrypt") == 0)
	{
		uint8_t		X[SCOR_ELEMENT_BYTES];
		uint8_t		r0[SCOR_SCALAR_BYTES];

		if (argc < 6)
			die("reencrypt needs the network key and a value");
		parse_hex(X, sizeof(X), argv[4], "network key");
		if (scor_elgamal_encrypt(c1, c2, strtoll(argv[5], NULL, 10), X, r0) != 0)
			die("cannot encrypt under the network key");
		contribution_transcript(&t, target, wire);
		/* the forger's own prover, checked against scor's verifier */
		unchecked_schnorr_prove(proof, r0, c1, &t);
		if (scor_schnorr_verify(proof, c1, &t) != 0)
			die("the forger's prover is wrong: a proof with the right witness fails");
	}
	else if (strcmp(mode, "keyscale") == 0)
	{
		if (target->key_scale == NULL)
			die("answer of %s has no GROUP BY key column", target->site);
		target->key_scale[0] = 2;
	}
	else
		die("unknown mode %s", mode);

	memcpy(target->wire, wire, WIRE_BYTES);
	memcpy(target->proof, proof, SCOR_PROOF_BYTES);
	resign(target, &keys);
	sodium_memzero(&keys, sizeof(keys));

	out = malloc(2 * bundle_len + 1);
	sodium_bin2hex(out, 2 * bundle_len + 1, bundle, bundle_len);
	printf("%s\n", out);
	return 0;
}
