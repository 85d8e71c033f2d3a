/*
 * fuzz_dlog_table.c
 *	  The discrete-log decoder (src/dlog.c) on damaged tables.
 *
 * A valid 2^8-entry table is built once; each input damages a copy (an
 * exactly sized allocation, so any read past it is caught), asks
 * scor_dlog_table_check about it and, whenever the header's size matches
 * the buffer (so the image is what the header says), runs scor_dlog_solve.
 *
 * Input: flags(1) m(8) bound(4) point(32) then edits of 3 bytes each
 * (offset u16 into the image, xor byte).  Flags: bit 0 solves a raw point
 * (the 32 bytes, if they decode) instead of m·G; bit 1 keeps m within a few
 * giant steps of the bound; bit 2 negates the bound; bit 3 passes a length
 * one off to the check; bit 4 allows bounds up to 2^17 instead of 2^13.
 *
 * Oracle: a returned m is always right (m·G is the point, |m| <= bound);
 * on an undamaged table a point m·G with |m| <= bound is always found and
 * one with |m| > bound never is; a damaged table that passes the check is
 * held to "never a wrong value" only.
 */
#include "fuzz_common.h"
#include "dlog.h"

#define TABLE_BITS 8
/* a miss costs bound / 2^8 giant steps: small bounds, larger ones on request */
#define SMALL_BOUND (1 << 13)
#define MAX_BOUND (1 << 17)
#define MAX_EDITS 16

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void *table;
static size_t table_len;
static unsigned long interrupts;

static void
count_interrupts(void)
{
	interrupts++;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init_keys();
	table_len = scor_dlog_table_size(TABLE_BITS);
	table = aligned_alloc(8, table_len);
	if (table == NULL || scor_dlog_table_build(table, table_len, TABLE_BITS) != 0 ||
		scor_dlog_table_check(table, table_len) != 0)
		abort();
	if (fuzz_seed_dir())
	{
		uint8_t		s[1 + 8 + 4 + 32 + 6];

		memset(s, 0, sizeof(s));
		s[1] = 200;				/* m = 200 */
		s[9] = 0xe8;			/* bound = 1000 */
		s[10] = 0x03;
		fuzz_write_seed("found", -1, s, 45);
		s[1] = 0x10;			/* m = 10000 > bound */
		s[2] = 0x27;
		fuzz_write_seed("out-of-range", -1, s, 45);
		s[0] = 2;				/* near the bound, one slot damaged */
		s[45] = 100;
		s[47] = 0x5a;
		s[48] = 40;				/* and the total_bytes field */
		s[50] = 1;
		fuzz_write_seed("damaged", -1, s, sizeof(s));
		exit(0);
	}
	return 0;
}

/* m·G as a scor_point, through libsodium */
static void
point_of(scor_point *p, int64_t m)
{
	uint8_t		e[32];

	scor_element_mul_base_int64(e, m);
	if (scor_point_decode(p, e) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_input	in = {data, size, 0};
	uint8_t		flags = fuzz_u8(&in);
	int64_t		m = (int64_t) fuzz_u64(&in);
	int64_t		bound;
	uint8_t		raw[32];
	uint8_t		header_total[8];
	uint64_t	total;
	uint8_t    *copy;
	int			damaged = 0;
	int			check_rc;
	scor_point	P;
	int64_t		found = 0;
	int			rc;

	{
		uint8_t		b[4];

		fuzz_take(&in, b, 4);
		bound = (int64_t) ((b[0] | (b[1] << 8) | ((uint32_t) b[2] << 16)) %
						   (((flags & 16) ? MAX_BOUND : SMALL_BOUND) + 1));
	}
	fuzz_take(&in, raw, 32);
	if (flags & 2)
		m = bound + (m % 2048) - 1024;
	if (flags & 4)
		bound = -bound - 1;

	if (flags & 1)
	{
		if (scor_point_decode(&P, raw) != 0)
			return 0;
	}
	else
		point_of(&P, m);

	copy = malloc(table_len);
	memcpy(copy, table, table_len);
	for (int e = 0; e < MAX_EDITS && in.pos < in.len; e++)
	{
		size_t		off = fuzz_u16(&in) % table_len;
		uint8_t		x = fuzz_u8(&in);

		copy[off] ^= x;
		damaged |= x != 0;
	}

	check_rc = scor_dlog_table_check(copy, (flags & 8) ? table_len - 1 : table_len);
	if (!damaged && !(flags & 8) && check_rc != 0)
		FUZZ_FINDING("an undamaged table fails the check");
	if ((flags & 8) && check_rc == 0)
		FUZZ_FINDING("the check accepts a length that is not the table's");

	/* solve only an image as long as its header says (what the check ensures) */
	memcpy(header_total, copy + 40, 8);
	memcpy(&total, header_total, 8);
	if (total != table_len)
	{
		if (check_rc == 0)
			FUZZ_FINDING("the check accepts a table whose header gives another size");
		free(copy);
		return 0;
	}

	rc = scor_dlog_solve(copy, &P, bound, &found, count_interrupts);
	if (rc == SCOR_DLOG_FOUND)
	{
		scor_point	Q;

		if (found > bound || found < -bound)
			FUZZ_FINDING("dlog_solve returned %lld outside the bound %lld",
						 (long long) found, (long long) bound);
		point_of(&Q, found);
		if (!scor_point_equal(&Q, &P))
			FUZZ_FINDING("dlog_solve returned a wrong value %lld (damaged %d)",
						 (long long) found, damaged);
		if (!(flags & 1) && found != m)
			FUZZ_FINDING("dlog_solve returned %lld for %lld", (long long) found, (long long) m);
	}
	else if (rc != SCOR_DLOG_OUT_OF_RANGE && rc != SCOR_DLOG_BAD_TABLE)
		FUZZ_FINDING("dlog_solve returned the unknown code %d", rc);

	if (!damaged && !(flags & 1))
	{
		int			in_range = bound >= 0 && m >= -bound && m <= bound;

		if (in_range && rc != SCOR_DLOG_FOUND)
			FUZZ_FINDING("dlog_solve missed %lld within the bound %lld on an undamaged table",
						 (long long) m, (long long) bound);
		if (!in_range && rc == SCOR_DLOG_FOUND)
			FUZZ_FINDING("dlog_solve found %lld outside the bound", (long long) m);
	}
	free(copy);
	return 0;
}
