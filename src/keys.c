/*
 * keys.c
 *	  The site key, its proof of possession, and the network's collective key.
 *
 * A site's secret is a 32-byte seed from which its ElGamal key and its
 * Ed25519 signing key are derived.  The seed lives outside SQL: either a
 * file under the data directory ($PGDATA/scor/<site>.key, mode 0600) or the
 * output of scor.key_command, the way pgsodium's getkey script works.  It is
 * read when an operation needs it, kept in sodium_malloc memory for that
 * operation only, and wiped when the operation's memory context goes away.
 * Only public keys and proofs reach tables.
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "scor.h"

PG_FUNCTION_INFO_V1(scor_init_site);
PG_FUNCTION_INFO_V1(scor_site_public_key);
PG_FUNCTION_INFO_V1(scor_network_key_info);
PG_FUNCTION_INFO_V1(scor_member_changed);
PG_FUNCTION_INFO_V1(scor_verify_site_key_text);
PG_FUNCTION_INFO_V1(scor_verify_site_key_bytea);

#define KEY_DIR "scor"
#define KEY_FILE_MAGIC "SCORKEY1"
#define KEY_FILE_MAGIC_LEN 8
#define KEY_FILE_CHECK_LEN 8
#define KEY_FILE_LEN (KEY_FILE_MAGIC_LEN + SCOR_SEED_BYTES + KEY_FILE_CHECK_LEN)
#define SITE_NAME_MAX 63

char	   *scor_key_command = NULL;

/* Backend-local cache of the network key, reset by relcache invalidation */
static ScorNetworkKey network_key_cache;
static bool network_key_valid = false;
static Oid	member_relid = InvalidOid;

/* A key file written by this transaction, renamed into place at commit */
static char *pending_key_tmp = NULL;
static char *pending_key_path = NULL;
static bool xact_callback_registered = false;

/* sodium_malloc'd keys tied to a memory context, wiped when it goes away */
typedef struct SiteKeysHolder
{
	scor_site_keys *keys;
	MemoryContextCallback cb;
} SiteKeysHolder;

static void network_key_invalidate(Datum arg, Oid relid);

/* The role that owns the scor extension */
Oid
scor_extension_owner(void)
{
	static Oid	owner = InvalidOid;

	if (!OidIsValid(owner))
	{
		Oid			extoid = get_extension_oid("scor", false);

		SPI_connect();
		if (SPI_execute(psprintf("SELECT extowner FROM pg_catalog.pg_extension WHERE oid = %u", extoid),
						true, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not find the owner of extension scor");
		else
		{
			bool		isnull;

			owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 1, &isnull));
		}
		SPI_finish();
	}
	return owner;
}

/* Run as the extension's owner, restricted, with a fixed search_path */
void
scor_become_owner(ScorOwnerScope *scope, const char *search_path)
{
	Oid			owner = scor_extension_owner();

	GetUserIdAndSecContext(&scope->save_userid, &scope->save_sec_context);
	SetUserIdAndSecContext(owner, scope->save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	scope->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", search_path, PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
}

/* Return to the caller's identity and settings */
void
scor_end_owner(ScorOwnerScope *scope)
{
	AtEOXact_GUC(false, scope->save_nestlevel);
	SetUserIdAndSecContext(scope->save_userid, scope->save_sec_context);
}

/* Define the key settings and the cache invalidation hook */
void
ScorKeysInit(void)
{
	DefineCustomStringVariable("scor.key_command",
							   "Command that prints this site's 32-byte key seed as 64 hex digits.",
							   "When empty, the seed is kept in a file under the data directory.",
							   &scor_key_command,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	CacheRegisterRelcacheCallback(network_key_invalidate, (Datum) 0);
}

/* Forget the cached network key when scor.member changes */
static void
network_key_invalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == member_relid)
		network_key_valid = false;
}

/* Trigger on scor.member: make every backend drop its cached network key */
Datum
scor_member_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "scor_member_changed: not called by trigger manager");
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	PG_RETURN_POINTER(NULL);
}

/* Check that a site name is short and safe to use in a file name */
static void
check_site_name(const char *name)
{
	size_t		len = strlen(name);
	bool		ok = len >= 1 && len <= SITE_NAME_MAX;

	for (size_t i = 0; ok && i < len; i++)
	{
		char		c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			  (i > 0 && (c == '_' || c == '-'))))
			ok = false;
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid site name \"%s\"", name),
				 errdetail("A site name has 1 to %d characters: lowercase letters, digits, \"_\" and \"-\", starting with a letter or digit.",
						   SITE_NAME_MAX)));
}

/* Path of a site's key file */
static char *
key_file_path(const char *site_name, const char *suffix)
{
	return psprintf("%s/%s/%s.key%s", DataDir, KEY_DIR, site_name, suffix);
}

/* Checksum stored after the seed in a key file */
static void
key_file_check(uint8 *check, const uint8 *seed)
{
	uint8		digest[crypto_hash_sha512_BYTES];
	crypto_hash_sha512_state st;

	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, (const uint8 *) "scor-key-file-v1", 16);
	crypto_hash_sha512_update(&st, seed, SCOR_SEED_BYTES);
	crypto_hash_sha512_final(&st, digest);
	memcpy(check, digest, KEY_FILE_CHECK_LEN);
	sodium_memzero(digest, sizeof(digest));
}

/* Release a holder's keys: sodium_free wipes them */
static void
site_keys_release(void *arg)
{
	SiteKeysHolder *holder = (SiteKeysHolder *) arg;

	if (holder->keys != NULL)
	{
		sodium_free(holder->keys);
		holder->keys = NULL;
	}
}

/* Allocate keys in secure memory, freed with the current memory context */
static scor_site_keys *
site_keys_alloc(void)
{
	SiteKeysHolder *holder = palloc0(sizeof(SiteKeysHolder));

	holder->keys = sodium_malloc(sizeof(scor_site_keys));
	if (holder->keys == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of secure memory for the site key")));
	holder->cb.func = site_keys_release;
	holder->cb.arg = holder;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &holder->cb);
	return holder->keys;
}

/* Wipe keys now rather than when their memory context goes away */
void
scor_free_site_keys(scor_site_keys *keys)
{
	/* The reset callback still runs later; make its sodium_free harmless */
	if (keys != NULL)
		sodium_memzero(keys, sizeof(scor_site_keys));
}

/*
 * Parse 64 hex digits (and an optional newline) into a seed.  On failure
 * the seed is wiped: sodium_hex2bin has already written the digits before
 * the first bad one, and the caller's buffer is not wiped on its error path.
 */
static bool
parse_seed_hex(const char *text, size_t len, uint8 *seed)
{
	size_t		bin_len;

	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	if (len != 2 * SCOR_SEED_BYTES)
		return false;
	if (sodium_hex2bin(seed, SCOR_SEED_BYTES, text, len, NULL, &bin_len, NULL) != 0 ||
		bin_len != SCOR_SEED_BYTES)
	{
		sodium_memzero(seed, SCOR_SEED_BYTES);
		return false;
	}
	return true;
}

/* Read the seed from scor.key_command; the output is never logged */
static void
read_seed_from_command(uint8 *seed)
{
	FILE	   *fp;
	char	   *buf = sodium_malloc(256);
	size_t		n;
	int			rc;
	bool		ok;

	if (buf == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of secure memory for the site key")));
	fflush(NULL);
	fp = OpenPipeStream(scor_key_command, "r");
	if (fp == NULL)
	{
		int			save_errno = errno;

		sodium_free(buf);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not run scor.key_command: %m")));
	}
	n = fread(buf, 1, 255, fp);
	rc = ClosePipeStream(fp);
	ok = rc == 0 && parse_seed_hex(buf, n, seed);
	sodium_free(buf);
	if (rc != 0)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("scor.key_command failed: %s", wait_result_to_str(rc))));
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("scor.key_command did not print a key seed"),
				 errdetail("It must print exactly 64 hexadecimal digits (32 bytes)."),
				 errhint("Check the command as the operating system user that runs PostgreSQL.")));
}

/* Read and check the seed stored in a site's key file */
static void
read_seed_from_file(const char *site_name, uint8 *seed)
{
	char	   *path = key_file_path(site_name, "");
	uint8	   *buf = sodium_malloc(KEY_FILE_LEN + 1);
	uint8		check[KEY_FILE_CHECK_LEN];
	int			fd;
	ssize_t		n;
	bool		ok;

	if (buf == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of secure memory for the site key")));
	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
	{
		int			save_errno = errno;

		sodium_free(buf);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open the key file of site \"%s\": %m", site_name),
				 errdetail("The file is \"%s\".", path),
				 errhint("Restore it from the site's key backup; see docs/keys.md.")));
	}
	n = read(fd, buf, KEY_FILE_LEN + 1);
	CloseTransientFile(fd);
	ok = n == KEY_FILE_LEN && memcmp(buf, KEY_FILE_MAGIC, KEY_FILE_MAGIC_LEN) == 0;
	if (ok)
	{
		memcpy(seed, buf + KEY_FILE_MAGIC_LEN, SCOR_SEED_BYTES);
		key_file_check(check, seed);
		ok = sodium_memcmp(check, buf + KEY_FILE_MAGIC_LEN + SCOR_SEED_BYTES,
						   KEY_FILE_CHECK_LEN) == 0;
	}
	sodium_free(buf);
	if (!ok)
	{
		sodium_memzero(seed, SCOR_SEED_BYTES);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the key file of site \"%s\" is damaged", site_name),
				 errdetail("The file is \"%s\".", path),
				 errhint("Restore it from the site's key backup; see docs/keys.md.")));
	}
}

/*
 * Rename or remove this transaction's new key file as it ends.  A prepared
 * transaction cannot carry one: the file would have to be renamed at
 * COMMIT PREPARED, by another backend that knows nothing of it.
 */
static void
key_file_xact_callback(XactEvent event, void *arg)
{
	if (pending_key_tmp == NULL)
		return;
	if (event == XACT_EVENT_PRE_PREPARE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot prepare a transaction that created or rotated a site key"),
				 errdetail("The new key file is put in place when the transaction commits, which a prepared transaction cannot do."),
				 errhint("Call scor.init_site outside of PREPARE TRANSACTION.")));
	if (event == XACT_EVENT_PRE_COMMIT)
	{
		/* an error here aborts the transaction: table and file stay in step */
		durable_rename(pending_key_tmp, pending_key_path, ERROR);
		pfree(pending_key_tmp);
		pfree(pending_key_path);
		pending_key_tmp = pending_key_path = NULL;
	}
	else if (event == XACT_EVENT_ABORT)
	{
		if (unlink(pending_key_tmp) != 0 && errno != ENOENT)
			ereport(WARNING,
					(errcode_for_file_access(),
					 errmsg("could not remove file \"%s\": %m", pending_key_tmp)));
		pfree(pending_key_tmp);
		pfree(pending_key_path);
		pending_key_tmp = pending_key_path = NULL;
	}
}

/* Write a new key file beside the current one; it takes effect at commit */
static void
write_key_file(const char *site_name, const uint8 *seed)
{
	char	   *dir = psprintf("%s/%s", DataDir, KEY_DIR);
	char	   *tmp = key_file_path(site_name, ".new");
	uint8	   *buf;
	int			fd;

	if (pending_key_tmp != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this transaction already created a site key")));
	if (MakePGDirectory(dir) != 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", dir)));

	/* a leftover from a crash before commit is garbage */
	if (unlink(tmp) != 0 && errno != ENOENT)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not remove file \"%s\": %m", tmp)));

	if (!xact_callback_registered)
	{
		RegisterXactCallback(key_file_xact_callback, NULL);
		xact_callback_registered = true;
	}
	pending_key_tmp = MemoryContextStrdup(TopMemoryContext, tmp);
	pending_key_path = MemoryContextStrdup(TopMemoryContext,
										   key_file_path(site_name, ""));

	fd = OpenTransientFilePerm(tmp, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY,
							   S_IRUSR | S_IWUSR);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", tmp)));

	buf = sodium_malloc(KEY_FILE_LEN);
	if (buf == NULL)
	{
		CloseTransientFile(fd);
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of secure memory for the site key")));
	}
	memcpy(buf, KEY_FILE_MAGIC, KEY_FILE_MAGIC_LEN);
	memcpy(buf + KEY_FILE_MAGIC_LEN, seed, SCOR_SEED_BYTES);
	key_file_check(buf + KEY_FILE_MAGIC_LEN + SCOR_SEED_BYTES, seed);
	errno = 0;
	if (write(fd, buf, KEY_FILE_LEN) != KEY_FILE_LEN)
	{
		int			save_errno = errno ? errno : ENOSPC;

		sodium_free(buf);
		CloseTransientFile(fd);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", tmp)));
	}
	sodium_free(buf);
	if (pg_fsync(fd) != 0)
	{
		int			save_errno = errno;

		CloseTransientFile(fd);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", tmp)));
	}
	CloseTransientFile(fd);
}

/* Derive keys from a seed into secure memory, wiping the seed */
static scor_site_keys *
keys_from_seed(uint8 *seed)
{
	scor_site_keys *keys = site_keys_alloc();
	int			rc = scor_site_keys_derive(keys, seed);

	sodium_memzero(seed, SCOR_SEED_BYTES);
	if (rc != 0)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not derive the site key from its seed")));
	return keys;
}

/* Hex fingerprint of a public key, palloc'd */
static char *
fingerprint_text(const uint8 *key)
{
	uint8		fpr[SCOR_FINGERPRINT_BYTES];

	scor_key_fingerprint(fpr, key);
	return fingerprint_to_text(fpr);
}

/* Fetch this site's row; returns false when scor.init_site has not run */
static bool
fetch_site_row(char **site_name, uint8 *public_key, int *key_version)
{
	MemoryContext caller = CurrentMemoryContext;
	bool		found = false;
	ScorOwnerScope scope;

	scor_become_owner(&scope, "pg_catalog, pg_temp");
	SPI_connect();
	if (SPI_execute("SELECT site_name, public_key, key_version FROM scor.site", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read scor.site");
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		bytea	   *pk;

		if (site_name)
			*site_name = MemoryContextStrdup(caller, SPI_getvalue(tup, desc, 1));
		pk = DatumGetByteaPP(SPI_getbinval(tup, desc, 2, &isnull));
		if (public_key)
			memcpy(public_key, VARDATA_ANY(pk), SCOR_ELEMENT_BYTES);
		if (key_version)
			*key_version = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		found = true;
	}
	SPI_finish();
	scor_end_owner(&scope);
	return found;
}

/*
 * Load this site's keys for one operation.  They are wiped when the current
 * memory context is reset or deleted, or earlier by scor_free_site_keys.
 */
scor_site_keys *
scor_load_site_keys(const char **site_name_out)
{
	char	   *site_name = NULL;
	uint8		registered[SCOR_ELEMENT_BYTES];
	uint8		seed[SCOR_SEED_BYTES];
	scor_site_keys *keys;

	if (!fetch_site_row(&site_name, registered, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this site has no key"),
				 errhint("A scor_admin creates it with SELECT scor.init_site('site_name').")));

	if (scor_key_command && scor_key_command[0] != '\0')
		read_seed_from_command(seed);
	else
		read_seed_from_file(site_name, seed);
	keys = keys_from_seed(seed);

	if (sodium_memcmp(keys->elgamal_public, registered, SCOR_ELEMENT_BYTES) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the key of site \"%s\" does not match its registered public key", site_name),
				 errdetail("The key source holds key %s; scor.site registers key %s.",
						   fingerprint_text(keys->elgamal_public),
						   fingerprint_text(registered)),
				 errhint("Restore the key file that belongs to this database, or rotate the key with scor.init_site(name, rotate => true).")));
	if (site_name_out)
		*site_name_out = site_name;
	return keys;
}

/* Create (or rotate) this site's key pair and show its public part */
Datum
scor_init_site(PG_FUNCTION_ARGS)
{
	char	   *site_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	bool		rotate = PG_GETARG_BOOL(1);
	char	   *existing_name = NULL;
	int			key_version = 0;
	bool		exists;
	bool		use_command = scor_key_command && scor_key_command[0] != '\0';
	uint8		seed[SCOR_SEED_BYTES];
	uint8		pop[SCOR_POP_BYTES];
	uint8		fpr[SCOR_FINGERPRINT_BYTES];
	uint8		registered[SCOR_ELEMENT_BYTES];
	scor_site_keys *keys;
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	Datum		args[5];
	Oid			argtypes[5] = {TEXTOID, BYTEAOID, BYTEAOID, BYTEAOID, INT4OID};
	bytea	   *b_pk,
			   *b_vk,
			   *b_pop;

	check_site_name(site_name);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	exists = fetch_site_row(&existing_name, registered, &key_version);
	if (exists && !rotate)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("this site is already initialized as \"%s\"", existing_name),
				 errhint("To replace its key, call scor.init_site('%s', rotate => true); peers must then re-pin it.",
						 existing_name)));
	if (exists && strcmp(existing_name, site_name) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot rename site \"%s\" to \"%s\" during key rotation",
						existing_name, site_name)));
	if (!exists && rotate)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this site has no key to rotate"),
				 errhint("Call scor.init_site('%s') first.", site_name)));

	if (use_command)
		read_seed_from_command(seed);
	else
	{
		struct stat st;
		char	   *path = key_file_path(site_name, "");

		if (!exists && stat(path, &st) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("a key file for site \"%s\" already exists", site_name),
					 errdetail("The file \"%s\" belongs to another database of this cluster, or to an earlier installation.", path),
					 errhint("Choose another site name, or move the file away if it is no longer used.")));
		randombytes_buf(seed, sizeof(seed));
		write_key_file(site_name, seed);
	}
	keys = keys_from_seed(seed);

	/*
	 * A rotation must change the key.  With scor.key_command it would not
	 * when the command still prints the old seed: key_version would go up
	 * and peers would re-pin for nothing.
	 */
	if (exists && sodium_memcmp(keys->elgamal_public, registered, SCOR_ELEMENT_BYTES) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the key of site \"%s\" did not change", site_name),
				 errdetail("The key source still gives the registered key %s (version %d).",
						   fingerprint_text(registered), key_version),
				 use_command ?
				 errhint("Change the output of scor.key_command to the new seed first, then rotate again.") : 0));

	if (scor_pop_create(pop, site_name, keys) != 0)
		elog(ERROR, "could not create the proof of possession");
	scor_key_fingerprint(fpr, keys->elgamal_public);

	b_pk = scor_bytea(keys->elgamal_public, SCOR_ELEMENT_BYTES);
	b_vk = scor_bytea(keys->sign_public, SCOR_SIGN_PUBLIC_BYTES);
	b_pop = scor_bytea(pop, SCOR_POP_BYTES);

	scor_free_site_keys(keys);

	args[0] = PointerGetDatum(cstring_to_text(site_name));
	args[1] = PointerGetDatum(b_pk);
	args[2] = PointerGetDatum(b_vk);
	args[3] = PointerGetDatum(b_pop);
	args[4] = Int32GetDatum(key_version + 1);

	SPI_connect();
	if (SPI_execute_with_args("INSERT INTO scor.site AS s (site_name, public_key, verify_key, proof, key_version, created_at) "
							  "VALUES ($1, $2, $3, $4, $5, pg_catalog.now()) "
							  "ON CONFLICT (singleton) DO UPDATE SET public_key = excluded.public_key, "
							  "verify_key = excluded.verify_key, proof = excluded.proof, "
							  "key_version = excluded.key_version, created_at = excluded.created_at",
							  5, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record the site key");
	if (SPI_execute_with_args("INSERT INTO scor.member AS m (site_name, server_name, public_key, verify_key, proof) "
							  "VALUES ($1, NULL, $2, $3, $4) "
							  "ON CONFLICT (site_name) DO UPDATE SET public_key = excluded.public_key, "
							  "verify_key = excluded.verify_key, proof = excluded.proof, "
							  "pinned_at = pg_catalog.now()",
							  4, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record the site as a network member");
	SPI_finish();

	values[0] = CStringGetTextDatum(site_name);
	values[1] = CStringGetTextDatum(scor_base64url_encode((uint8 *) VARDATA(b_pk), SCOR_ELEMENT_BYTES));
	values[2] = CStringGetTextDatum(fingerprint_to_text(fpr));
	values[3] = CStringGetTextDatum(scor_base64url_encode(pop, SCOR_POP_BYTES));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* This site's public keys and proof of possession, as peers fetch them */
Datum
scor_site_public_key(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	ScorOwnerScope scope;
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	uint8		fpr[SCOR_FINGERPRINT_BYTES];

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	scor_become_owner(&scope, "pg_catalog, pg_temp");
	SPI_connect();
	if (SPI_execute("SELECT site_name, public_key, verify_key, proof FROM scor.site", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read scor.site");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this site has no key"),
				 errhint("A scor_admin creates it with SELECT scor.init_site('site_name').")));
	else
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		bytea	   *pk = DatumGetByteaPP(SPI_getbinval(tup, desc, 2, &isnull));
		bytea	   *vk = DatumGetByteaPP(SPI_getbinval(tup, desc, 3, &isnull));
		bytea	   *pop = DatumGetByteaPP(SPI_getbinval(tup, desc, 4, &isnull));
		MemoryContext spi_cxt = MemoryContextSwitchTo(caller);

		scor_key_fingerprint(fpr, (const uint8 *) VARDATA_ANY(pk));
		values[0] = CStringGetTextDatum(SPI_getvalue(tup, desc, 1));
		values[1] = CStringGetTextDatum(scor_base64url_encode((uint8 *) VARDATA_ANY(pk), SCOR_ELEMENT_BYTES));
		values[2] = CStringGetTextDatum(scor_base64url_encode((uint8 *) VARDATA_ANY(vk), SCOR_SIGN_PUBLIC_BYTES));
		values[3] = CStringGetTextDatum(fingerprint_to_text(fpr));
		values[4] = CStringGetTextDatum(scor_base64url_encode((uint8 *) VARDATA_ANY(pop), SCOR_POP_BYTES));
		MemoryContextSwitchTo(spi_cxt);
	}
	SPI_finish();
	scor_end_owner(&scope);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* One base64url field of scor.verify_site_key(text, ...): exactly len bytes */
static void
key_field_from_text(uint8 *out, size_t len, text *t, const char *field)
{
	char	   *s = text_to_cstring(t);
	size_t		chars = (len * 4 + 2) / 3;

	if (!scor_base64url_decode(s, strlen(s), out, len))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid %s: not %zu bytes of unpadded base64url", field, len),
				 errdetail("It has %zu characters; %zu bytes are %zu characters of A-Z, a-z, 0-9, \"-\" and \"_\", with unused trailing bits zero.",
						   strlen(s), len, chars)));
}

/* One field of scor.verify_site_key(bytea, ...): exactly len bytes */
static void
key_field_from_bytea(uint8 *out, size_t len, bytea *b, const char *field)
{
	size_t		got = VARSIZE_ANY_EXHDR(b);

	if (got != len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid %s: %zu bytes instead of %zu", field, got, len)));
	memcpy(out, VARDATA_ANY(b), len);
}

/*
 * Check a site's public keys and proof of possession with the crypto
 * core's checks (scor_pop_check), raising an error that names the check
 * that failed: what add_peer and a network manifest rely on, callable on
 * its own so that a DBA can check what a peer sent out of band, or the
 * rows pinned in scor.member.
 */
static void
verify_site_key(const char *site_name, const uint8 *pk, const uint8 *vk, const uint8 *pop)
{
	const char *L_text = "L = 2^252 + 27742317777372353535851937790883648493";

	check_site_name(site_name);
	switch (scor_pop_check(pop, site_name, pk, vk))
	{
		case SCOR_POP_OK:
			return;
		case SCOR_POP_KEY_NOT_CANONICAL:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the public key of site \"%s\" is not a canonical ristretto255 encoding",
							site_name)));
			break;
		case SCOR_POP_KEY_IDENTITY:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the public key of site \"%s\" is the identity element", site_name),
					 errdetail("It would add nothing to the collective key: the other sites could decrypt without this one.")));
			break;
		case SCOR_POP_VERIFY_KEY_INVALID:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the verify key of site \"%s\" is not a valid Ed25519 public key", site_name),
					 errdetail("It must be the canonical encoding of a curve point of prime order.")));
			break;
		case SCOR_POP_COMMITMENT_NOT_CANONICAL:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the proof of possession of site \"%s\" has a non-canonical commitment", site_name),
					 errdetail("Its bytes 1 to 32 (the Schnorr commitment R) must be a canonical ristretto255 encoding.")));
			break;
		case SCOR_POP_RESPONSE_NOT_CANONICAL:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the proof of possession of site \"%s\" has a non-canonical scalar", site_name),
					 errdetail("Its bytes 33 to 64 (the Schnorr response s) %s; a scalar must be below the group order %s.",
							   (pop[63] & 0xe0) ? "have their top bits set" : "are not below L", L_text)));
			break;
		case SCOR_POP_SIGNATURE_NOT_CANONICAL:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the proof of possession of site \"%s\" has a non-canonical scalar", site_name),
					 errdetail("Its bytes 97 to 128 (the signature's scalar S) %s; a scalar must be below the group order %s.",
							   (pop[127] & 0xe0) ? "have their top bits set" : "are not below L", L_text)));
			break;
		case SCOR_POP_SCHNORR_FAILED:
			ereport(ERROR,
					(errcode(ERRCODE_SCOR_BAD_PROOF),
					 errmsg("the proof of possession of site \"%s\" does not verify", site_name),
					 errdetail("Its Schnorr proof does not hold for this site name and these keys: it was made for another site name or another key, or altered.")));
			break;
		case SCOR_POP_SIGNATURE_FAILED:
			ereport(ERROR,
					(errcode(ERRCODE_SCOR_BAD_PROOF),
					 errmsg("the proof of possession of site \"%s\" does not verify", site_name),
					 errdetail("Its signature does not verify under the site's verify key.")));
			break;
		case SCOR_POP_NO_SITE_NAME:
			elog(ERROR, "verify_site_key: no site name");
			break;
	}
	elog(ERROR, "verify_site_key: unknown result of scor_pop_check");
}

/* scor.verify_site_key(text, ...): the base64url form site_public_key shows */
Datum
scor_verify_site_key_text(PG_FUNCTION_ARGS)
{
	uint8		pk[SCOR_ELEMENT_BYTES];
	uint8		vk[SCOR_SIGN_PUBLIC_BYTES];
	uint8		pop[SCOR_POP_BYTES];

	key_field_from_text(pk, sizeof(pk), PG_GETARG_TEXT_PP(1), "public key");
	key_field_from_text(vk, sizeof(vk), PG_GETARG_TEXT_PP(2), "verify key");
	key_field_from_text(pop, sizeof(pop), PG_GETARG_TEXT_PP(3), "proof of possession");
	verify_site_key(text_to_cstring(PG_GETARG_TEXT_PP(0)), pk, vk, pop);
	PG_RETURN_BOOL(true);
}

/* scor.verify_site_key(bytea, ...): the form scor.site and scor.member store */
Datum
scor_verify_site_key_bytea(PG_FUNCTION_ARGS)
{
	uint8		pk[SCOR_ELEMENT_BYTES];
	uint8		vk[SCOR_SIGN_PUBLIC_BYTES];
	uint8		pop[SCOR_POP_BYTES];

	key_field_from_bytea(pk, sizeof(pk), PG_GETARG_BYTEA_PP(1), "public key");
	key_field_from_bytea(vk, sizeof(vk), PG_GETARG_BYTEA_PP(2), "verify key");
	key_field_from_bytea(pop, sizeof(pop), PG_GETARG_BYTEA_PP(3), "proof of possession");
	verify_site_key(text_to_cstring(PG_GETARG_TEXT_PP(0)), pk, vk, pop);
	PG_RETURN_BOOL(true);
}

/*
 * The network key: the sum of the members' public keys, its fingerprint and
 * the network id (a hash of the member names and both keys of each), cached
 * per backend.
 */
const ScorNetworkKey *
scor_network_key(void)
{
	ScorNetworkKey nk;
	scor_transcript t;
	ScorOwnerScope scope;
	uint8		digest[crypto_hash_sha512_BYTES];

	if (network_key_valid)
		return &network_key_cache;

	if (!OidIsValid(member_relid))
		member_relid = get_relname_relid("member", get_namespace_oid("scor", false));

	memset(&nk, 0, sizeof(nk));
	scor_transcript_init(&t, "scor-network-id", 2);

	scor_become_owner(&scope, "pg_catalog, pg_temp");
	SPI_connect();
	if (SPI_execute("SELECT site_name, public_key, verify_key FROM scor.member ORDER BY site_name COLLATE \"C\"",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read scor.member");
	nk.members = (int) SPI_processed;
	scor_transcript_append_u64(&t, "members", SPI_processed);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		bytea	   *pk = DatumGetByteaPP(SPI_getbinval(tup, desc, 2, &isnull));
		bytea	   *vk = DatumGetByteaPP(SPI_getbinval(tup, desc, 3, &isnull));
		const uint8 *key = (const uint8 *) VARDATA_ANY(pk);

		scor_transcript_append_str(&t, "site", SPI_getvalue(tup, desc, 1));
		scor_transcript_append(&t, "key", key, SCOR_ELEMENT_BYTES);
		scor_transcript_append(&t, "verify-key", (const uint8 *) VARDATA_ANY(vk),
							   SCOR_SIGN_PUBLIC_BYTES);
		if (i == 0)
			memcpy(nk.public_key, key, SCOR_ELEMENT_BYTES);
		else if (scor_element_add(nk.public_key, nk.public_key, key) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the pinned key of member \"%s\" is not a valid ristretto255 element",
							SPI_getvalue(tup, desc, 1))));
	}
	SPI_finish();
	scor_end_owner(&scope);

	if (nk.members == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this site has no key"),
				 errhint("A scor_admin creates it with SELECT scor.init_site('site_name').")));

	scor_key_fingerprint(nk.fingerprint, nk.public_key);
	crypto_hash_sha512_final(&t.state, digest);
	memcpy(nk.network_id, digest, sizeof(nk.network_id));

	network_key_cache = nk;
	network_key_valid = true;
	return &network_key_cache;
}

/*
 * While this site answers a federated query, the randomness of every
 * encryption is kept (in secure memory) so that the answer can prove
 * knowledge of it: only ciphertexts this site produced during the query can
 * be contributed.  scor_capture_end wipes it.
 */
typedef struct CapturedRandomness
{
	uint8		c1[SCOR_ELEMENT_BYTES];
	uint8		r[SCOR_SCALAR_BYTES];
	bool		valid;			/* false once dp_noise consumed it */
	ScorNoiseInfo noise;		/* the noise dp_noise added, if any */
} CapturedRandomness;

static CapturedRandomness *capture = NULL;
static int	capture_len = 0;
static int	capture_cap = 0;

/* Start keeping encryption randomness */
void
scor_capture_begin(void)
{
	scor_capture_end();
	capture_cap = 64;
	capture = sodium_malloc(sizeof(CapturedRandomness) * capture_cap);
	if (capture == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of secure memory for encryption randomness")));
	capture_len = 0;
}

/* Wipe and forget all kept randomness */
void
scor_capture_end(void)
{
	if (capture != NULL)
		sodium_free(capture);
	capture = NULL;
	capture_len = capture_cap = 0;
}

/* The randomness of a ciphertext this backend encrypted during the capture */
bool
scor_capture_lookup(const uint8 *c1, uint8 *r, ScorNoiseInfo *noise)
{
	for (int i = 0; i < capture_len; i++)
	{
		if (capture[i].valid &&
			memcmp(capture[i].c1, c1, SCOR_ELEMENT_BYTES) == 0)
		{
			memcpy(r, capture[i].r, SCOR_SCALAR_BYTES);
			if (noise)
				*noise = capture[i].noise;
			return true;
		}
	}
	return false;
}

/* Keep one encryption's randomness */
static CapturedRandomness *
capture_add(const uint8 *c1, const uint8 *r)
{
	if (capture_len == capture_cap)
	{
		CapturedRandomness *bigger;

		if (capture_cap >= INT_MAX / 2 / (int) sizeof(CapturedRandomness))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many encrypted values in one federated answer")));
		bigger = sodium_malloc(sizeof(CapturedRandomness) * capture_cap * 2);
		if (bigger == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of secure memory for encryption randomness")));
		memcpy(bigger, capture, sizeof(CapturedRandomness) * capture_len);
		sodium_free(capture);
		capture = bigger;
		capture_cap *= 2;
	}
	memcpy(capture[capture_len].c1, c1, SCOR_ELEMENT_BYTES);
	memcpy(capture[capture_len].r, r, SCOR_SCALAR_BYTES);
	capture[capture_len].valid = true;
	memset(&capture[capture_len].noise, 0, sizeof(ScorNoiseInfo));
	return &capture[capture_len++];
}

/* Whether randomness is being kept (this site is answering a peer) */
bool
scor_capture_active(void)
{
	return capture != NULL;
}

/*
 * ct + Enc(share), under the network key.  While answering a peer, the
 * result's randomness (r + r') replaces ct's, so that ct itself, un-noised,
 * can no longer be contributed, and the noise parameters are remembered
 * for the answer.
 */
Ciphertext *
scor_add_noise(const Ciphertext *ct, int64 share, const ScorNoiseInfo *info)
{
	const ScorNetworkKey *nk = scor_network_key();
	uint8		c1b[SCOR_ELEMENT_BYTES];
	uint8		c2b[SCOR_ELEMENT_BYTES];
	uint8		r2[SCOR_SCALAR_BYTES];
	uint8		old_c1[SCOR_ELEMENT_BYTES];
	scor_point	n1,
				n2,
				p,
				sum1,
				sum2;
	Ciphertext *result;
	int			rc;

	if (memcmp(ct->key_fpr, nk->fingerprint, SCOR_FINGERPRINT_BYTES) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dp_noise needs a ciphertext under the network key"),
				 errdetail("It is under key %s; the network key is %s.",
						   fingerprint_to_text(ct->key_fpr), fingerprint_to_text(nk->fingerprint))));

	rc = scor_elgamal_encrypt(c1b, c2b, share, nk->public_key, r2);
	if (rc != 0 || scor_point_decode(&n1, c1b) != 0 || scor_point_decode(&n2, c2b) != 0)
	{
		sodium_memzero(r2, sizeof(r2));
		elog(ERROR, "could not encrypt a noise share");
	}
	scor_point_from_affine(&p, &ct->c1);
	scor_point_encode(old_c1, &p);
	scor_point_add(&sum1, &p, &n1);
	scor_point_from_affine(&p, &ct->c2);
	scor_point_add(&sum2, &p, &n2);
	result = ciphertext_from_points(&sum1, &sum2, ct->key_fpr, ct->scale);

	if (capture != NULL)
	{
		CapturedRandomness *entry = NULL;
		uint8		r[SCOR_SCALAR_BYTES];
		uint8		new_c1[SCOR_ELEMENT_BYTES];

		for (int i = 0; i < capture_len; i++)
			if (capture[i].valid && memcmp(capture[i].c1, old_c1, SCOR_ELEMENT_BYTES) == 0)
				entry = &capture[i];
		if (entry == NULL || entry->noise.noised)
		{
			sodium_memzero(r2, sizeof(r2));
			ereport(ERROR,
					(errcode(ERRCODE_SCOR_QUERY_REFUSED),
					 errmsg("dp_noise must be applied once, directly to a scor aggregate")));
		}
		crypto_core_ristretto255_scalar_add(r, entry->r, r2);
		entry->valid = false;
		scor_point_encode(new_c1, &sum1);
		capture_add(new_c1, r)->noise = *info;
		sodium_memzero(r, sizeof(r));
	}
	sodium_memzero(r2, sizeof(r2));
	return result;
}

/* Encrypt m (scaled by 10^scale) under the network key */
Ciphertext *
scor_encrypt_value(int64 m, int scale)
{
	const ScorNetworkKey *nk = scor_network_key();
	uint8		c1b[SCOR_ELEMENT_BYTES];
	uint8		c2b[SCOR_ELEMENT_BYTES];
	uint8		r[SCOR_SCALAR_BYTES];
	scor_point	c1,
				c2;
	int			rc;

	rc = scor_elgamal_encrypt(c1b, c2b, m, nk->public_key, r);
	if (rc == 0 && capture != NULL)
		(void) capture_add(c1b, r);
	sodium_memzero(r, sizeof(r));
	if (rc != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the network key is not a valid ristretto255 element")));
	if (scor_point_decode(&c1, c1b) != 0 || scor_point_decode(&c2, c2b) != 0)
		elog(ERROR, "libsodium produced an invalid ciphertext");
	return ciphertext_from_points(&c1, &c2, nk->fingerprint, scale);
}

/* The collective key, its fingerprint and the network id */
Datum
scor_network_key_info(PG_FUNCTION_ARGS)
{
	const ScorNetworkKey *nk = scor_network_key();
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	char		hex[2 * 32 + 1];

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	sodium_bin2hex(hex, sizeof(hex), nk->network_id, sizeof(nk->network_id));
	values[0] = Int32GetDatum(nk->members);
	values[1] = CStringGetTextDatum(scor_base64url_encode(nk->public_key, SCOR_ELEMENT_BYTES));
	values[2] = CStringGetTextDatum(fingerprint_to_text(nk->fingerprint));
	values[3] = CStringGetTextDatum(hex);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
