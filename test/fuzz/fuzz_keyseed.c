/*
 * fuzz_keyseed.c
 *	  The site key's seed parser, from src/keys.c: parse_seed_hex, which
 *	  reads what scor.key_command prints (at most 255 bytes: 64 hexadecimal
 *	  digits, then an optional line end).
 *
 * parse_seed_hex is static, so this file includes keys.c itself, as
 * fuzz_federate.c does federate.c; the rest of keys.c is unreachable and
 * the linker drops it.
 *
 * Input: the command's output (read_seed_from_command passes at most 255
 * bytes; longer inputs are cut there as it does).
 * Oracles, against a reference written from the rule alone: the output is
 * accepted exactly when, less any trailing CR and LF bytes, it is 64
 * hexadecimal digits of either case; an accepted seed is their value; a
 * refused output leaves no byte of a seed behind (the buffer is all zero,
 * since it lives on the caller's stack and is not wiped on that error path).
 */
#include "../../src/keys.c"

#include "fuzz_common.h"
#include "pgstub.h"

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define COMMAND_OUTPUT_MAX 255

static int
hex_value(uint8 c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The rule, written independently of keys.c */
static bool
reference(const uint8 *data, size_t len, uint8 *seed)
{
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	if (len != 2 * SCOR_SEED_BYTES)
		return false;
	for (size_t i = 0; i < len; i += 2)
	{
		int			hi = hex_value(data[i]);
		int			lo = hex_value(data[i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		seed[i / 2] = (uint8) (hi << 4 | lo);
	}
	return true;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (fuzz_seed_dir())
	{
		static const char *const seeds[] = {
			"5c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e35\n",
			"5C636A71787F868D949BA2A9B0B7BEC5CCD3DAE1E8EFF6FD040B121920272E35\r\n",
			"0000000000000000000000000000000000000000000000000000000000000000",
			"5c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e3\n",
			"5c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e35 \n",
			"5c 636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e35",
		};
		char		name[32];

		for (int i = 0; i < (int) lengthof(seeds); i++)
		{
			snprintf(name, sizeof(name), "seed-%d", i);
			fuzz_write_seed(name, -1, seeds[i], strlen(seeds[i]));
		}
		exit(0);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8		seed[SCOR_SEED_BYTES];
	uint8		want[SCOR_SEED_BYTES];
	bool		ok;
	bool		expect;

	if (size > COMMAND_OUTPUT_MAX)
		size = COMMAND_OUTPUT_MAX;
	pgstub_begin();
	memset(seed, 0, sizeof(seed));
	ok = parse_seed_hex((const char *) data, size, seed);
	expect = reference(data, size, want);
	if (ok != expect)
		pgstub_finding("parse_seed_hex %s an output the rule %s",
					   ok ? "accepted" : "refused", expect ? "accepts" : "refuses");
	if (ok && memcmp(seed, want, sizeof(seed)) != 0)
		pgstub_finding("the seed parsed is not the digits' value");
	if (!ok)
		for (int i = 0; i < SCOR_SEED_BYTES; i++)
			if (seed[i] != 0)
				pgstub_finding("a refused output left seed byte %d behind", i);
	pgstub_end();
	return 0;
}
