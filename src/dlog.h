/*
 * dlog.h
 *	  Baby-step giant-step decoding of m·G for a signed 64-bit m.
 *
 * The baby-step table is a flat, position-independent byte image so that it
 * can be built once, written to a file and mapped read-only by every backend
 * (the page cache shares it).  Every candidate is verified against the point
 * before it is returned, so a damaged table can cause "not found" but never a
 * wrong value.
 *
 * No PostgreSQL headers.
 */
#ifndef SCOR_DLOG_H
#define SCOR_DLOG_H

#include <stddef.h>
#include <stdint.h>

#include "ristretto.h"

#define SCOR_DLOG_MIN_BITS 8
#define SCOR_DLOG_MAX_BITS 26

/* Largest bound a search honours; larger bounds are clamped to it */
#define SCOR_DLOG_MAX_BOUND ((int64_t) 1 << 62)

/* Result codes of scor_dlog_solve */
#define SCOR_DLOG_FOUND 0
#define SCOR_DLOG_OUT_OF_RANGE 1
#define SCOR_DLOG_BAD_TABLE (-1)

/*
 * Bytes needed for a table of 2^log2_entries baby steps (0 if log2_entries
 * is outside [SCOR_DLOG_MIN_BITS, SCOR_DLOG_MAX_BITS]).  About 8 bytes per
 * baby step times 2: 32 MB for 2^21.
 */
extern size_t scor_dlog_table_size(unsigned log2_entries);

/*
 * Fill buf (scor_dlog_table_size() bytes, 8-byte aligned, as from palloc or
 * mmap) with a table; 0 or -1.  Host byte order: rebuild, do not copy, a
 * table across architectures (the header records the byte order).
 */
extern int	scor_dlog_table_build(void *buf, size_t len, unsigned log2_entries);

/*
 * Sanity-check a table image (magic, version, byte order, sizes, len equal
 * to the image size, and a few sample entries); 0 or -1.
 */
extern int	scor_dlog_table_check(const void *buf, size_t len);

/*
 * Largest |m| that a search with this table reaches in one giant step
 * (the number of baby steps N); -1 if the header is not a valid table.
 */
extern int64_t scor_dlog_table_reach(const void *table);

/*
 * Find m with P = m·G and -bound <= m <= bound, searching outward from 0 so
 * that small values are fast.  check_interrupts, if not NULL, is called
 * between batches of giant steps (it may longjmp: no memory is held).
 *
 * Returns SCOR_DLOG_FOUND (and sets *m), SCOR_DLOG_OUT_OF_RANGE if no such
 * m exists, or SCOR_DLOG_BAD_TABLE if the table header is invalid.  A bound
 * above SCOR_DLOG_MAX_BOUND is treated as SCOR_DLOG_MAX_BOUND and a negative
 * bound gives SCOR_DLOG_OUT_OF_RANGE; a returned m always satisfies
 * |m| <= bound.  The work is about (|m| / (2 N)) point additions, so a
 * caller should pick bound to what it can afford to wait for.
 */
extern int	scor_dlog_solve(const void *table, const scor_point *P,
							int64_t bound, int64_t *m,
							void (*check_interrupts) (void));

#endif							/* SCOR_DLOG_H */
