/*
 * dlog.c
 *	  Baby-step giant-step decoding of m·G for a signed 64-bit m.
 *
 * Key of a point.  For an extended point P = (X:Y:Z:T) the key is
 * K(P) = (T/Z)^2 = (x y)^2 in affine terms.  Adding a 4-torsion point maps
 * (x, y) to (-x, -y) or (+-i y, +-i x), and negation maps it to (-x, y);
 * all of these leave (x y)^2 unchanged, so K is a function of the
 * ristretto255 element up to sign: K(P) = K(-P).  Conversely the curve
 * points with a given (x y)^2 are the 8 points of the cosets P + E[4] and
 * -P + E[4], so equal keys mean equal elements up to sign.  One baby table
 * of |i|·G for 0 <= i <= N therefore covers -N..N.
 *
 * Table image (position independent, host byte order, 8-byte aligned):
 *	 a 64-byte header, then nslots = 2 (N + 1) slots of {fingerprint, index+1}
 *	 (index+1 = 0 marks an empty slot), an open-addressing hash table with
 *	 linear probing at load 1/2.  The 64-bit hash h is the first 8 bytes
 *	 (little endian) of the canonical encoding of K; the home slot is
 *	 (h * nslots) >> 64 (the high bits of h), the fingerprint the low 32 bits.
 *	 The header records the longest probe distance of the build, which bounds
 *	 every lookup even in a damaged table.
 *
 * Search: giant step S = 2N + 1.  For j = 0, 1, -1, 2, -2, ... the point
 * Q_j = P - j S G has discrete log m - j S, which lies in [-N, N] for exactly
 * one j; its key is looked up and every fingerprint hit (index i) is checked
 * exactly (Q_j = i G or Q_j = -i G) before m = j S +- i is returned, so table
 * damage or hash collisions can only cost time or a "not found".  Keys are
 * computed in batches with one field inversion per batch.
 */
#include <string.h>

#include "dlog.h"

typedef unsigned __int128 dlog_u128;

#define DLOG_MAGIC "SCORDLG1"
#define DLOG_VERSION 1
#define DLOG_BYTE_ORDER 0x01020304U
#define DLOG_HEADER_BYTES 64

/* Points per batch while building; keys per batch while searching */
#define DLOG_BUILD_BATCH 512
#define DLOG_SEARCH_BATCH 512
/* Giant steps per direction in the first batch after j = 0 (then doubling) */
#define DLOG_FIRST_BATCH 8

typedef struct dlog_header
{
	char		magic[8];		/* "SCORDLG1" */
	uint32_t	version;		/* DLOG_VERSION */
	uint32_t	byte_order;		/* DLOG_BYTE_ORDER as written by the host */
	uint32_t	log2_entries;	/* N = 2^log2_entries */
	uint32_t	max_probe;		/* longest probe distance of any entry */
	uint64_t	nslots;			/* 2 (N + 1) */
	int64_t		reach;			/* N */
	uint64_t	total_bytes;	/* size of the whole image */
	uint8_t		reserved[16];	/* zero */
} dlog_header;

typedef struct dlog_slot
{
	uint32_t	fp;				/* low 32 bits of the key hash */
	uint32_t	index1;			/* baby-step index + 1; 0 = empty */
} dlog_slot;

_Static_assert(sizeof(dlog_header) == DLOG_HEADER_BYTES, "dlog header size");
_Static_assert(sizeof(dlog_slot) == 8, "dlog slot size");

/* The slot array that follows the header */
static inline const dlog_slot *
dlog_slots(const dlog_header *hdr)
{
	return (const dlog_slot *) ((const char *) hdr + DLOG_HEADER_BYTES);
}

/* Home slot of a hash: the high bits of h scaled to [0, nslots) */
static inline uint64_t
dlog_home(uint64_t h, uint64_t nslots)
{
	return (uint64_t) (((dlog_u128) h * nslots) >> 64);
}

/* 64-bit hash of the key (x y)^2, given T and 1/Z of a representative */
static uint64_t
dlog_key_hash(const scor_fe *T, const scor_fe *zinv)
{
	scor_fe		xy;
	uint8_t		s[32];
	uint64_t	h = 0;

	scor_fe_mul(&xy, T, zinv);
	scor_fe_sq(&xy, &xy);
	scor_fe_tobytes(s, &xy);
	for (int i = 7; i >= 0; i--)
		h = (h << 8) | s[i];
	return h;
}

/* Bytes of a table with 2^log2_entries baby steps; 0 if out of range */
size_t
scor_dlog_table_size(unsigned log2_entries)
{
	uint64_t	n;

	if (log2_entries < SCOR_DLOG_MIN_BITS || log2_entries > SCOR_DLOG_MAX_BITS)
		return 0;
	n = (uint64_t) 1 << log2_entries;
	return DLOG_HEADER_BYTES + (size_t) (2 * (n + 1)) * sizeof(dlog_slot);
}

/*
 * Header fields that every use relies on: magic, version, byte order,
 * log2 in range, and the derived sizes consistent with it.
 */
static int
dlog_header_ok(const void *table)
{
	const dlog_header *hdr = table;
	uint64_t	n;

	if (table == NULL || ((uintptr_t) table % 8) != 0)
		return 0;
	if (memcmp(hdr->magic, DLOG_MAGIC, 8) != 0 ||
		hdr->version != DLOG_VERSION ||
		hdr->byte_order != DLOG_BYTE_ORDER ||
		hdr->log2_entries < SCOR_DLOG_MIN_BITS ||
		hdr->log2_entries > SCOR_DLOG_MAX_BITS)
		return 0;
	n = (uint64_t) 1 << hdr->log2_entries;
	if (hdr->reach != (int64_t) n ||
		hdr->nslots != 2 * (n + 1) ||
		hdr->max_probe >= hdr->nslots ||
		hdr->total_bytes != scor_dlog_table_size(hdr->log2_entries))
		return 0;
	return 1;
}

/*
 * Fill buf with the table for 2^log2_entries baby steps: keys of i·G for
 * i = 0..N, computed with one point addition per entry and one batched
 * inversion per DLOG_BUILD_BATCH entries.  buf must be 8-byte aligned and
 * hold scor_dlog_table_size() bytes.
 */
int
scor_dlog_table_build(void *buf, size_t len, unsigned log2_entries)
{
	size_t		size = scor_dlog_table_size(log2_entries);
	dlog_header *hdr = buf;
	dlog_slot  *slots;
	uint64_t	n,
				nslots;
	uint32_t	max_probe = 0;
	scor_point	g,
				p;
	scor_fe		z[DLOG_BUILD_BATCH],
				t[DLOG_BUILD_BATCH],
				zinv[DLOG_BUILD_BATCH];

	if (size == 0 || buf == NULL || len < size || ((uintptr_t) buf % 8) != 0)
		return -1;

	memset(buf, 0, size);
	n = (uint64_t) 1 << log2_entries;
	nslots = 2 * (n + 1);
	slots = (dlog_slot *) ((char *) buf + DLOG_HEADER_BYTES);

	scor_point_base(&g);
	scor_point_identity(&p);
	for (uint64_t i = 0; i <= n; i += DLOG_BUILD_BATCH)
	{
		size_t		cnt = (n + 1 - i) < DLOG_BUILD_BATCH ?
			(size_t) (n + 1 - i) : DLOG_BUILD_BATCH;

		for (size_t k = 0; k < cnt; k++)
		{
			z[k] = p.Z;
			t[k] = p.T;
			scor_point_add(&p, &p, &g);
		}
		scor_fe_batch_invert(zinv, z, cnt);
		for (size_t k = 0; k < cnt; k++)
		{
			uint64_t	h = dlog_key_hash(&t[k], &zinv[k]);
			uint64_t	pos = dlog_home(h, nslots);
			uint32_t	probe = 0;

			while (slots[pos].index1 != 0)
			{
				if (++pos == nslots)
					pos = 0;
				probe++;
			}
			slots[pos].fp = (uint32_t) h;
			slots[pos].index1 = (uint32_t) (i + k + 1);
			if (probe > max_probe)
				max_probe = probe;
		}
	}

	memcpy(hdr->magic, DLOG_MAGIC, 8);
	hdr->version = DLOG_VERSION;
	hdr->byte_order = DLOG_BYTE_ORDER;
	hdr->log2_entries = log2_entries;
	hdr->max_probe = max_probe;
	hdr->nslots = nslots;
	hdr->reach = (int64_t) n;
	hdr->total_bytes = size;
	return 0;
}

/* 1 if some slot on h's probe path names index i */
static int
dlog_table_has(const dlog_header *hdr, uint64_t h, uint64_t i)
{
	const dlog_slot *slots = dlog_slots(hdr);
	uint64_t	pos = dlog_home(h, hdr->nslots);

	for (uint32_t probe = 0; probe <= hdr->max_probe; probe++)
	{
		if (slots[pos].index1 == 0)
			return 0;
		if (slots[pos].fp == (uint32_t) h && slots[pos].index1 == i + 1)
			return 1;
		if (++pos == hdr->nslots)
			pos = 0;
	}
	return 0;
}

/*
 * Check a table image: header fields, exact length, and a few sample
 * entries (0, 1 and N) that must be found where a build puts them.
 */
int
scor_dlog_table_check(const void *buf, size_t len)
{
	const dlog_header *hdr = buf;
	uint64_t	samples[3];
	scor_point	g,
				p;

	if (buf == NULL || len < DLOG_HEADER_BYTES || !dlog_header_ok(buf))
		return -1;
	if (len != hdr->total_bytes)
		return -1;

	samples[0] = 0;
	samples[1] = 1;
	samples[2] = (uint64_t) hdr->reach;
	scor_point_base(&g);
	for (int k = 0; k < 3; k++)
	{
		scor_fe		zinv;

		scor_point_mul_u64(&p, &g, samples[k]);
		scor_fe_invert(&zinv, &p.Z);
		if (!dlog_table_has(hdr, dlog_key_hash(&p.T, &zinv), samples[k]))
			return -1;
	}
	return 0;
}

/* N for a valid table header, else -1 */
int64_t
scor_dlog_table_reach(const void *table)
{
	if (!dlog_header_ok(table))
		return -1;
	return ((const dlog_header *) table)->reach;
}

/* State of one search, shared by the batch routine */
typedef struct dlog_search
{
	const dlog_header *hdr;
	const scor_point *P;
	scor_point	g;				/* generator */
	scor_point	sg;				/* S·G */
	int64_t		step;			/* S = 2N + 1 */
	int64_t		bound;
} dlog_search;

/*
 * Exact check of a table hit: does P - dir·j·S·G equal +-i·G?  On success
 * stores m = dir·j·S +- i and returns 1.
 */
static int
dlog_verify(const dlog_search *st, int64_t j, int dir, uint32_t i, int64_t *m)
{
	scor_point	q,
				jsg,
				ig,
				nig;

	if ((int64_t) i > st->hdr->reach)
		return 0;				/* a damaged slot; a build never stores it */

	/* q = P - dir j S G */
	scor_point_mul_u64(&jsg, &st->sg, (uint64_t) j);
	if (dir > 0)
		scor_point_sub(&q, st->P, &jsg);
	else
		scor_point_add(&q, st->P, &jsg);

	scor_point_mul_u64(&ig, &st->g, i);
	if (scor_point_equal(&q, &ig))
	{
		*m = dir * j * st->step + (int64_t) i;
		return 1;
	}
	scor_point_neg(&nig, &ig);
	if (scor_point_equal(&q, &nig))
	{
		*m = dir * j * st->step - (int64_t) i;
		return 1;
	}
	return 0;
}

/*
 * Look up the keys of n points (given by Z and T) whose giant-step indices
 * are j[k] with direction dir[k].  Returns SCOR_DLOG_FOUND or
 * SCOR_DLOG_OUT_OF_RANGE when a verified hit decides the answer, or -2 when
 * nothing in this batch matched.
 */
static int
dlog_lookup_batch(const dlog_search *st, const scor_fe *z, const scor_fe *t,
				  const int64_t *j, const int8_t *dir, size_t n, int64_t *m)
{
	const dlog_slot *slots = dlog_slots(st->hdr);
	uint64_t	nslots = st->hdr->nslots;
	uint32_t	max_probe = st->hdr->max_probe;
	scor_fe		zinv[DLOG_SEARCH_BATCH];
	uint64_t	h[DLOG_SEARCH_BATCH],
				home[DLOG_SEARCH_BATCH];

	scor_fe_batch_invert(zinv, z, n);
	for (size_t k = 0; k < n; k++)
	{
		h[k] = dlog_key_hash(&t[k], &zinv[k]);
		home[k] = dlog_home(h[k], nslots);
		__builtin_prefetch(&slots[home[k]]);
	}

	for (size_t k = 0; k < n; k++)
	{
		uint64_t	pos = home[k];
		uint32_t	fp = (uint32_t) h[k];

		for (uint32_t probe = 0; probe <= max_probe; probe++)
		{
			dlog_slot	s = slots[pos];

			if (s.index1 == 0)
				break;
			if (s.fp == fp && dlog_verify(st, j[k], dir[k], s.index1 - 1, m))
			{
				int64_t		v = *m;

				return (v >= -st->bound && v <= st->bound) ?
					SCOR_DLOG_FOUND : SCOR_DLOG_OUT_OF_RANGE;
			}
			if (++pos == nslots)
				pos = 0;
		}
	}
	return -2;
}

/*
 * Find m with P = m·G and |m| <= bound (bound clamped to
 * SCOR_DLOG_MAX_BOUND), searching giant steps outward from 0.
 */
int
scor_dlog_solve(const void *table, const scor_point *P, int64_t bound,
				int64_t *m, void (*check_interrupts) (void))
{
	dlog_search st;
	scor_point	qp,
				qn,
				neg_sg;
	scor_fe		z[DLOG_SEARCH_BATCH],
				t[DLOG_SEARCH_BATCH];
	int64_t		jidx[DLOG_SEARCH_BATCH];
	int8_t		dir[DLOG_SEARCH_BATCH];
	int64_t		n,
				jmax,
				jnext,
				per_dir;
	int64_t		found;
	int			rc;

	if (!dlog_header_ok(table))
		return SCOR_DLOG_BAD_TABLE;
	if (bound < 0)
		return SCOR_DLOG_OUT_OF_RANGE;
	if (bound > SCOR_DLOG_MAX_BOUND)
		bound = SCOR_DLOG_MAX_BOUND;

	st.hdr = table;
	st.P = P;
	st.bound = bound;
	n = st.hdr->reach;
	st.step = 2 * n + 1;
	scor_point_base(&st.g);
	scor_point_mul_u64(&st.sg, &st.g, (uint64_t) st.step);

	/* j = 0: P itself */
	z[0] = P->Z;
	t[0] = P->T;
	jidx[0] = 0;
	dir[0] = 1;
	rc = dlog_lookup_batch(&st, z, t, jidx, dir, 1, &found);
	if (rc != -2)
	{
		if (rc == SCOR_DLOG_FOUND)
			*m = found;
		return rc;
	}

	/*
	 * Largest j whose window [j S - N, j S + N] still meets [-bound, bound];
	 * no overflow since bound <= 2^62 and N <= 2^26.
	 */
	jmax = (bound + n) / st.step;

	scor_point_neg(&neg_sg, &st.sg);
	scor_point_add(&qp, P, &neg_sg);	/* P - S G */
	scor_point_add(&qn, P, &st.sg); /* P + S G */
	jnext = 1;
	per_dir = DLOG_FIRST_BATCH;
	while (jnext <= jmax)
	{
		int64_t		cnt = jmax - jnext + 1;

		if (check_interrupts)
			check_interrupts();

		if (cnt > per_dir)
			cnt = per_dir;
		for (int64_t k = 0; k < cnt; k++)
		{
			z[2 * k] = qp.Z;
			t[2 * k] = qp.T;
			jidx[2 * k] = jnext + k;
			dir[2 * k] = 1;
			z[2 * k + 1] = qn.Z;
			t[2 * k + 1] = qn.T;
			jidx[2 * k + 1] = jnext + k;
			dir[2 * k + 1] = -1;
			scor_point_add(&qp, &qp, &neg_sg);
			scor_point_add(&qn, &qn, &st.sg);
		}
		rc = dlog_lookup_batch(&st, z, t, jidx, dir, (size_t) (2 * cnt), &found);
		if (rc != -2)
		{
			if (rc == SCOR_DLOG_FOUND)
				*m = found;
			return rc;
		}
		jnext += cnt;
		if (per_dir < DLOG_SEARCH_BATCH / 2)
			per_dir *= 2;
	}
	return SCOR_DLOG_OUT_OF_RANGE;
}
