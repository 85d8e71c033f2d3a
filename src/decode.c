/*
 * decode.c
 *	  Discrete-log decoding of decrypted totals, and single-site decryption.
 *
 * The baby-step table is built once per cluster, written to
 * $PGDATA/scor/dlog-<bits>.tbl, and mapped read-only by every backend that
 * decodes, so the page cache holds one copy for all of them.  A value
 * outside the decodable range is an error that names the range: never 0,
 * never a wrong value.
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "dlog.h"
#include "scor.h"

PG_FUNCTION_INFO_V1(scor_decrypt);

int			scor_decode_range_bits = 40;
static int	scor_decode_table_bits = 21;

/* This backend's mapping of the table */
static const void *table_map = NULL;
static size_t table_map_len = 0;
static int	table_map_bits = 0;

/* Define the decoding settings */
void
ScorDecodeInit(void)
{
	DefineCustomIntVariable("scor.decode_range_bits",
							"Decrypted totals are decoded in the range -2^bits to 2^bits.",
							"A total outside the range is an error. Decoding time grows with the range.",
							&scor_decode_range_bits,
							40, 1, 62,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("scor.decode_table_bits",
							"Size of the shared baby-step table of the decoder, as a power of two.",
							"Larger tables decode large values faster and take 16 bytes per entry.",
							&scor_decode_table_bits,
							21, SCOR_DLOG_MIN_BITS, SCOR_DLOG_MAX_BITS,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
}

/* Map an existing, valid table file; false if there is none */
static bool
map_table_file(const char *path, size_t expected_len)
{
	int			fd;
	struct stat st;
	void	   *map;

	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		return false;
	if (fstat(fd, &st) != 0 || (size_t) st.st_size != expected_len)
	{
		CloseTransientFile(fd);
		return false;
	}
	map = mmap(NULL, expected_len, PROT_READ, MAP_SHARED, fd, 0);
	CloseTransientFile(fd);
	if (map == MAP_FAILED)
		return false;
	if (scor_dlog_table_check(map, expected_len) != 0)
	{
		munmap(map, expected_len);
		return false;
	}
	table_map = map;
	table_map_len = expected_len;
	return true;
}

/* Build the table and publish it atomically for every backend */
static void
build_table_file(const char *path, unsigned bits, size_t len)
{
	char	   *dir = psprintf("%s/scor", DataDir);
	char	   *tmp = psprintf("%s.tmp.%d", path, MyProcPid);
	void	   *buf;
	int			fd;

	buf = malloc(len);
	if (buf == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory building the decoding table"),
				 errdetail("The table of 2^%u entries needs %zu bytes.", bits, len)));
	if (scor_dlog_table_build(buf, len, bits) != 0)
	{
		free(buf);
		elog(ERROR, "could not build the decoding table");
	}

	if (MakePGDirectory(dir) != 0 && errno != EEXIST)
	{
		free(buf);
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", dir)));
	}
	fd = OpenTransientFile(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
	{
		free(buf);
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", tmp)));
	}
	errno = 0;
	if (write(fd, buf, len) != (ssize_t) len)
	{
		int			save_errno = errno ? errno : ENOSPC;

		free(buf);
		CloseTransientFile(fd);
		unlink(tmp);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", tmp)));
	}
	free(buf);
	CloseTransientFile(fd);
	/* a table is derived data: no fsync, a lost one is rebuilt */
	if (rename(tmp, path) != 0)
	{
		int			save_errno = errno;

		unlink(tmp);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not rename file \"%s\" to \"%s\": %m", tmp, path)));
	}
}

/* The shared decoding table, mapped (and built first if need be) */
static const void *
decode_table(void)
{
	unsigned	bits = (unsigned) scor_decode_table_bits;
	size_t		len;
	char	   *path;

	if (table_map != NULL && table_map_bits == (int) bits)
		return table_map;
	if (table_map != NULL)
	{
		munmap((void *) table_map, table_map_len);
		table_map = NULL;
	}

	len = scor_dlog_table_size(bits);
	path = psprintf("%s/scor/dlog-%u.tbl", DataDir, bits);
	if (!map_table_file(path, len))
	{
		build_table_file(path, bits, len);
		if (!map_table_file(path, len))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not map the decoding table \"%s\"", path)));
	}
	table_map_bits = bits;
	return table_map;
}

/* CHECK_FOR_INTERRUPTS for the decoder's loop */
static void
decode_check_interrupts(void)
{
	CHECK_FOR_INTERRUPTS();
}

/* The m with M = mG, within the decodable range, or an error */
int64
scor_decode_point(const scor_point *M)
{
	/* a network that follows a manifest shares the manifest's range */
	const ScorNetworkSettings *ns = scor_network_settings();
	int			bits = ns->joined ? ns->decode_range_bits : scor_decode_range_bits;
	const char *setting = ns->joined ? "the network manifest's decode_range_bits" : "scor.decode_range_bits";
	int64		bound = (int64) 1 << bits;
	int64		m;
	int			rc;

	rc = scor_dlog_solve(decode_table(), M, bound, &m, decode_check_interrupts);
	if (rc == SCOR_DLOG_OUT_OF_RANGE)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("decrypted value is outside the decodable range [-2^%d, 2^%d]",
						bits, bits),
				 errdetail("scor decodes values from -%lld to %lld (%s = %d).",
						   (long long) bound, (long long) bound, setting, bits),
				 errhint("If the total can really be that large, raise %s.", setting)));
	if (rc != SCOR_DLOG_FOUND)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the decoding table is damaged"),
				 errhint("Remove the files $PGDATA/scor/dlog-*.tbl; they are rebuilt on next use.")));
	return m;
}

/* scor.decrypt: decrypt with this site's key while it is the only member */
Datum
scor_decrypt(PG_FUNCTION_ARGS)
{
	Ciphertext *ct = PG_GETARG_CIPHERTEXT_P(0);
	const ScorNetworkKey *nk = scor_network_key();
	scor_site_keys *keys;
	scor_point	c1,
				c2,
				d,
				M;
	uint8		c1b[SCOR_ELEMENT_BYTES];
	uint8		db[SCOR_ELEMENT_BYTES];
	uint8		own_fpr[SCOR_FINGERPRINT_BYTES];

	if (nk->members != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot decrypt with this site's key alone"),
				 errdetail("The network has %d members; its ciphertexts need every member's partial decryption.",
						   nk->members),
				 errhint("Use scor.federate() to run a federated query.")));

	keys = scor_load_site_keys(NULL);
	scor_key_fingerprint(own_fpr, keys->elgamal_public);
	if (memcmp(own_fpr, ct->key_fpr, SCOR_FINGERPRINT_BYTES) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ciphertext is not encrypted under this site's key"),
				 errdetail("It is under key %s; this site's key is %s.",
						   fingerprint_to_text(ct->key_fpr), fingerprint_to_text(own_fpr))));

	scor_point_from_affine(&c1, &ct->c1);
	scor_point_from_affine(&c2, &ct->c2);
	if (scor_point_is_identity(&c1))
		M = c2;
	else
	{
		scor_point_encode(c1b, &c1);
		if (scor_partial_decrypt(db, keys->elgamal_secret, c1b) != 0 ||
			scor_point_decode(&d, db) != 0)
			elog(ERROR, "partial decryption failed");
		scor_point_sub(&M, &c2, &d);
	}
	scor_free_site_keys(keys);

	PG_RETURN_DATUM(scor_numeric_from_scaled(scor_decode_point(&M), ct->scale));
}
