/*
 * fuzz_common.h
 *	  Helpers shared by every fuzz target (no PostgreSQL headers): the fixed
 *	  test site whose keys the harnesses and their seeds use, reading the
 *	  input, and writing seed files.
 *
 * Seeds.  Run a target with SCOR_FUZZ_WRITE_SEEDS=DIR and it writes its
 * seed inputs (valid messages built by scor's own code, with the fixed
 * keys below) into DIR and exits: test/fuzz/run.sh does this before each
 * run, so no corpus is checked in.
 */
#ifndef SCOR_FUZZ_COMMON_H
#define SCOR_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

#define FUZZ_SITE_NAME "fuzzsite"

/*
 * The fixed test site: keys derived from a fixed seed, so reproducible.
 * Weak, so that the files of one target share one copy.
 */
__attribute__((weak)) scor_site_keys fuzz_site_keys;

static inline void
fuzz_init_keys(void)
{
	uint8_t		seed[SCOR_SEED_BYTES];

	if (scor_crypto_init() != 0)
		abort();
	for (int i = 0; i < SCOR_SEED_BYTES; i++)
		seed[i] = (uint8_t) (0x5c + 7 * i);
	if (scor_site_keys_derive(&fuzz_site_keys, seed) != 0)
		abort();
}

/* Sequential reader over the fuzz input; reads past the end give zeros */
typedef struct fuzz_input
{
	const uint8_t *data;
	size_t		len;
	size_t		pos;
} fuzz_input;

static inline void
fuzz_take(fuzz_input *in, void *out, size_t n)
{
	size_t		have = in->len - in->pos;

	if (have > n)
		have = n;
	memcpy(out, in->data + in->pos, have);
	memset((uint8_t *) out + have, 0, n - have);
	in->pos += have;
}

static inline uint8_t
fuzz_u8(fuzz_input *in)
{
	uint8_t		v;

	fuzz_take(in, &v, 1);
	return v;
}

static inline uint16_t
fuzz_u16(fuzz_input *in)
{
	uint8_t		b[2];

	fuzz_take(in, b, 2);
	return (uint16_t) (b[0] | (b[1] << 8));
}

static inline uint64_t
fuzz_u64(fuzz_input *in)
{
	uint8_t		b[8];
	uint64_t	v = 0;

	fuzz_take(in, b, 8);
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | b[i];
	return v;
}

/* Seed writing: the directory, or NULL when not asked to */
static inline const char *
fuzz_seed_dir(void)
{
	return getenv("SCOR_FUZZ_WRITE_SEEDS");
}

/* Write one seed file: an optional mode byte (-1 for none), then data */
static inline void
fuzz_write_seed(const char *name, int mode, const void *data, size_t len)
{
	char		path[4096];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/%s", fuzz_seed_dir(), name);
	f = fopen(path, "wb");
	if (f == NULL)
	{
		perror(path);
		exit(1);
	}
	if (mode >= 0)
		fputc(mode, f);
	if (len > 0 && fwrite(data, 1, len, f) != len)
	{
		perror(path);
		exit(1);
	}
	fclose(f);
}

/* Report a finding and abort() (libFuzzer keeps the input as a crash) */
#define FUZZ_FINDING(...) \
	do { \
		fprintf(stderr, "\n==== scor fuzz finding: "); \
		fprintf(stderr, __VA_ARGS__); \
		fprintf(stderr, "\n"); \
		abort(); \
	} while (0)

#endif							/* SCOR_FUZZ_COMMON_H */
