/*
 * audit.c
 *	  The site's hash-chained audit log.
 *
 * Every request this site answers, every partial decryption it makes and
 * every privacy-budget charge is appended to scor.audit_log.  Each row holds
 * the hash of the row before it, so altering, deleting or reordering a row
 * breaks the chain at that row, and scor.verify_audit_log() names it.
 * Appends are serialized by a table lock held to the end of the appending
 * transaction, so the chain never forks.
 *
 * The chain alone cannot show rows deleted from its end, nor a chain that a
 * superuser recomputed from scratch.  scor.audit_checkpoint() signs the head
 * of the chain with the site's Ed25519 key for export (to a SIEM or a peer);
 * scor.verify_audit_log(seq, hash, signature) checks the log against such a
 * checkpoint.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "protocol.h"

PG_FUNCTION_INFO_V1(scor_verify_audit_log);
PG_FUNCTION_INFO_V1(scor_audit_checkpoint);
PG_FUNCTION_INFO_V1(scor_verify_audit_log_checkpoint);

#define AUDIT_HASH_BYTES crypto_hash_sha256_BYTES
#define AUDIT_CHECKPOINT_DOMAIN "scor-audit-checkpoint-v1"

/* Absorb one length-prefixed field (NULL as a distinct marker) */
static void
hash_field(crypto_hash_sha256_state *st, const void *data, size_t len)
{
	uint8		prefix[9];

	prefix[0] = data != NULL;
	for (int i = 0; i < 8; i++)
		prefix[1 + i] = (uint8) ((uint64) len >> (56 - 8 * i));
	crypto_hash_sha256_update(st, prefix, sizeof(prefix));
	if (data != NULL && len > 0)
		crypto_hash_sha256_update(st, data, len);
}

static void
hash_text(crypto_hash_sha256_state *st, const char *s)
{
	hash_field(st, s, s ? strlen(s) : 0);
}

static void
hash_int64(crypto_hash_sha256_state *st, int64 v)
{
	uint8		b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8) ((uint64) v >> (56 - 8 * i));
	hash_field(st, b, 8);
}

/* The hash of one row, chained to the previous row's hash */
static void
audit_row_hash(uint8 *out, const uint8 *prev, int64 seq, TimestampTz logged_at,
			   const ScorAuditEvent *ev, const char *login)
{
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	hash_text(&st, "scor-audit-v1");
	hash_field(&st, prev, AUDIT_HASH_BYTES);
	hash_int64(&st, seq);
	hash_int64(&st, (int64) logged_at);
	hash_text(&st, ev->event);
	hash_text(&st, ev->peer);
	hash_text(&st, login);
	hash_text(&st, ev->analyst);
	hash_field(&st, ev->query_id, ev->query_id ? SCOR_QUERY_ID_BYTES : 0);
	hash_text(&st, ev->query);
	if (ev->has_epsilon)
		hash_field(&st, &ev->epsilon, sizeof(double));
	else
		hash_field(&st, NULL, 0);
	hash_field(&st, ev->digest, ev->digest ? SCOR_DIGEST_BYTES : 0);
	crypto_hash_sha256_final(&st, out);
}

static void audit_append_one(const ScorAuditEvent *ev);

/* Append one event (and those chained to it) to the audit log */
void
scor_audit_append(const ScorAuditEvent *ev)
{
	/* ev may be NULL: nothing to log */
	for (; ev != NULL; ev = ev->next)
		audit_append_one(ev);
}

/* Append one event to the audit log, as the extension owner */
static void
audit_append_one(const ScorAuditEvent *ev)
{
	ScorOwnerScope scope;
	uint8		prev[AUDIT_HASH_BYTES];
	uint8		hash[AUDIT_HASH_BYTES];
	int64		seq = 1;
	TimestampTz now = GetCurrentTimestamp();
	char	   *login = GetUserNameFromId(GetSessionUserId(), false);
	Datum		args[12];
	char		nulls[12];
	Oid			argtypes[12] = {INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	BYTEAOID, TEXTOID, FLOAT8OID, BYTEAOID, BYTEAOID, BYTEAOID};

	memset(prev, 0, sizeof(prev));
	scor_become_owner(&scope, "pg_catalog, pg_temp");
	SPI_connect();
	if (SPI_execute("LOCK TABLE scor.audit_log IN SHARE ROW EXCLUSIVE MODE", false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not lock scor.audit_log");
	/* not read-only: a fresh snapshot sees this transaction's own appends */
	if (SPI_execute("SELECT seq, row_hash FROM scor.audit_log ORDER BY seq DESC LIMIT 1",
					false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read scor.audit_log");
	if (SPI_processed == 1)
	{
		bool		isnull;
		bytea	   *h;

		seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) + 1;
		h = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		if (VARSIZE_ANY_EXHDR(h) == AUDIT_HASH_BYTES)
			memcpy(prev, VARDATA_ANY(h), AUDIT_HASH_BYTES);
	}
	audit_row_hash(hash, prev, seq, now, ev, login);

	memset(nulls, ' ', sizeof(nulls));
	args[0] = Int64GetDatum(seq);
	args[1] = TimestampTzGetDatum(now);
	args[2] = CStringGetTextDatum(ev->event);
	args[3] = CStringGetTextDatum(ev->peer);
	args[4] = CStringGetTextDatum(login);
	args[5] = CStringGetTextDatum(ev->analyst);
	args[6] = ev->query_id ? PointerGetDatum(scor_bytea(ev->query_id, SCOR_QUERY_ID_BYTES)) : (Datum) 0;
	nulls[6] = ev->query_id ? ' ' : 'n';
	args[7] = ev->query ? CStringGetTextDatum(ev->query) : (Datum) 0;
	nulls[7] = ev->query ? ' ' : 'n';
	args[8] = Float8GetDatum(ev->epsilon);
	nulls[8] = ev->has_epsilon ? ' ' : 'n';
	args[9] = ev->digest ? PointerGetDatum(scor_bytea(ev->digest, SCOR_DIGEST_BYTES)) : (Datum) 0;
	nulls[9] = ev->digest ? ' ' : 'n';
	args[10] = PointerGetDatum(scor_bytea(prev, AUDIT_HASH_BYTES));
	args[11] = PointerGetDatum(scor_bytea(hash, AUDIT_HASH_BYTES));
	if (SPI_execute_with_args("INSERT INTO scor.audit_log (seq, logged_at, event, peer, login, analyst, "
							  "query_id, query, epsilon, digest, prev_hash, row_hash) "
							  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
							  12, argtypes, args, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not append to scor.audit_log");
	SPI_finish();
	scor_end_owner(&scope);
}

/* Text of a nullable column, or NULL */
static char *
column_text(HeapTuple tup, TupleDesc desc, int col)
{
	return SPI_getvalue(tup, desc, col);
}

/* Bytes of a nullable bytea column (NULL if null); *len gets the length */
static const uint8 *
column_bytes(HeapTuple tup, TupleDesc desc, int col, size_t *len)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);
	bytea	   *b;

	*len = 0;
	if (isnull)
		return NULL;
	b = DatumGetByteaPP(d);
	*len = VARSIZE_ANY_EXHDR(b);
	return (const uint8 *) VARDATA_ANY(b);
}


/* What a walk of the chain found */
typedef struct AuditWalk
{
	uint64		nrows;			/* rows read */
	int64		last_seq;		/* seq of the last row that chains, 0 if none */
	uint8		last_hash[AUDIT_HASH_BYTES];	/* its hash; zeros if none */
	int64		bad_seq;		/* the first bad row, when problem is set */
	char	   *problem;		/* NULL if the whole chain holds */
	int64		mark_seq;		/* a row whose hash to remember, or 0 */
	bool		mark_found;
	uint8		mark_hash[AUDIT_HASH_BYTES];
} AuditWalk;

/*
 * Walk the chain in seq order, stopping at the first row that was altered,
 * or whose predecessor was deleted or moved.  Runs inside SPI, as the
 * extension owner; the problem text is allocated in ctx.
 */
static void
audit_walk(AuditWalk *w, MemoryContext ctx)
{
	uint8		prev[AUDIT_HASH_BYTES];
	int64		expected_seq = 1;
	char	   *problem = NULL;

	memset(prev, 0, sizeof(prev));
	if (SPI_execute("SELECT seq, logged_at, event, peer, login, analyst, query_id, query, "
					"epsilon, digest, prev_hash, row_hash FROM scor.audit_log ORDER BY seq",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read scor.audit_log");
	w->nrows = SPI_processed;
	for (uint64 i = 0; i < w->nrows && problem == NULL; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		seq = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		TimestampTz at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 2, &isnull));
		ScorAuditEvent ev;
		size_t		len;
		const uint8 *stored_prev;
		const uint8 *stored_hash;
		uint8		hash[AUDIT_HASH_BYTES];
		Datum		eps;

		CHECK_FOR_INTERRUPTS();
		memset(&ev, 0, sizeof(ev));
		ev.event = column_text(tup, desc, 3);
		ev.peer = column_text(tup, desc, 4);
		ev.analyst = column_text(tup, desc, 6);
		ev.query_id = column_bytes(tup, desc, 7, &len);
		if (ev.query_id && len != SCOR_QUERY_ID_BYTES)
			ev.query_id = NULL;
		ev.query = column_text(tup, desc, 8);
		eps = SPI_getbinval(tup, desc, 9, &isnull);
		ev.has_epsilon = !isnull;
		ev.epsilon = isnull ? 0 : DatumGetFloat8(eps);
		ev.digest = column_bytes(tup, desc, 10, &len);
		if (ev.digest && len != SCOR_DIGEST_BYTES)
			ev.digest = NULL;
		stored_prev = column_bytes(tup, desc, 11, &len);
		if (stored_prev && len != AUDIT_HASH_BYTES)
			stored_prev = NULL;
		stored_hash = column_bytes(tup, desc, 12, &len);
		if (stored_hash && len != AUDIT_HASH_BYTES)
			stored_hash = NULL;

		if (seq != expected_seq)
		{
			w->bad_seq = seq;
			problem = psprintf("row %lld follows row %lld: %s",
							   (long long) seq, (long long) expected_seq - 1,
							   seq > expected_seq ? "rows before it were deleted" : "rows are duplicated or reordered");
			break;
		}
		if (stored_prev == NULL || memcmp(stored_prev, prev, AUDIT_HASH_BYTES) != 0)
		{
			w->bad_seq = seq;
			problem = psprintf("row %lld does not chain to row %lld: a row was deleted, reordered or altered",
							   (long long) seq, (long long) seq - 1);
			break;
		}
		audit_row_hash(hash, prev, seq, at, &ev, column_text(tup, desc, 5));
		if (stored_hash == NULL || memcmp(stored_hash, hash, AUDIT_HASH_BYTES) != 0)
		{
			w->bad_seq = seq;
			problem = psprintf("row %lld was altered", (long long) seq);
			break;
		}
		memcpy(prev, hash, AUDIT_HASH_BYTES);
		if (seq == w->mark_seq)
		{
			memcpy(w->mark_hash, hash, AUDIT_HASH_BYTES);
			w->mark_found = true;
		}
		w->last_seq = seq;
		expected_seq++;
	}
	memcpy(w->last_hash, prev, AUDIT_HASH_BYTES);
	w->problem = problem ? MemoryContextStrdup(ctx, problem) : NULL;
}

/* Form verify_audit_log's result row from a walk (and a checkpoint's verdict) */
static Datum
verify_result(FunctionCallInfo fcinfo, const AuditWalk *w, int64 bad_seq, const char *problem)
{
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, true, true};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = BoolGetDatum(problem == NULL);
	values[1] = Int64GetDatum((int64) w->nrows);
	if (problem != NULL)
	{
		values[2] = Int64GetDatum(bad_seq);
		values[3] = CStringGetTextDatum(problem);
		nulls[2] = nulls[3] = false;
	}
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}

/*
 * scor.verify_audit_log(): walk the chain in seq order and report the first
 * row that was altered, or whose predecessor was deleted or moved.
 */
Datum
scor_verify_audit_log(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	ScorOwnerScope scope;
	AuditWalk	w;

	memset(&w, 0, sizeof(w));
	scor_become_owner(&scope, "pg_catalog, pg_temp");
	SPI_connect();
	audit_walk(&w, caller);
	SPI_finish();
	scor_end_owner(&scope);
	PG_RETURN_DATUM(verify_result(fcinfo, &w, w.bad_seq, w.problem));
}

/*
 * The message a checkpoint's signature covers: a domain tag of its own (so
 * no answer, manifest or proof of possession can be replayed as one), the
 * site's name, the seq and the hash of the row at the head of the chain.
 */
static uint8 *
checkpoint_message(const char *site, int64 seq, const uint8 *hash, size_t *len)
{
	StringInfoData buf;
	uint8		b[8];

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, AUDIT_CHECKPOINT_DOMAIN, strlen(AUDIT_CHECKPOINT_DOMAIN));
	for (int i = 0; i < 8; i++)
		b[i] = (uint8) ((uint64) strlen(site) >> (56 - 8 * i));
	appendBinaryStringInfo(&buf, (char *) b, 8);
	appendBinaryStringInfo(&buf, site, strlen(site));
	for (int i = 0; i < 8; i++)
		b[i] = (uint8) ((uint64) seq >> (56 - 8 * i));
	appendBinaryStringInfo(&buf, (char *) b, 8);
	appendBinaryStringInfo(&buf, (char *) hash, AUDIT_HASH_BYTES);
	*len = buf.len;
	return (uint8 *) buf.data;
}

/*
 * This site's name and Ed25519 verify key, from scor.site (inside SPI, as
 * the extension owner); the name is allocated in ctx.
 */
static char *
site_verify_key(uint8 *vk, MemoryContext ctx)
{
	bool		isnull;
	bytea	   *b;

	if (SPI_execute("SELECT site_name, verify_key FROM scor.site", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read scor.site");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this site has no key"),
				 errhint("A scor_admin creates it with SELECT scor.init_site('site_name').")));
	b = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (VARSIZE_ANY_EXHDR(b) != SCOR_SIGN_PUBLIC_BYTES)
		elog(ERROR, "scor.site holds a verify key of the wrong length");
	memcpy(vk, VARDATA_ANY(b), SCOR_SIGN_PUBLIC_BYTES);
	return MemoryContextStrdup(ctx, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
}

/*
 * scor.audit_checkpoint(): the head of the chain (seq and hash of the last
 * row; 0 and zeros for an empty log), signed with this site's Ed25519 key.
 * Exported to a SIEM or a peer, it anchors the tail: rows deleted from the
 * end of the log, or a chain rewritten consistently, no longer match it.
 * A log that does not verify is not signed.
 */
Datum
scor_audit_checkpoint(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	ScorOwnerScope scope;
	AuditWalk	w;
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	const char *site;
	scor_site_keys *keys;
	uint8	   *msg;
	size_t		msg_len;
	uint8		sig[SCOR_SIGNATURE_BYTES];
	int			rc;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	memset(&w, 0, sizeof(w));
	scor_become_owner(&scope, "pg_catalog, pg_temp");
	SPI_connect();
	audit_walk(&w, caller);
	SPI_finish();
	scor_end_owner(&scope);
	if (w.problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the audit log does not verify at row %lld", (long long) w.bad_seq),
				 errdetail("%s.", w.problem),
				 errhint("A checkpoint of a damaged log would vouch for the damage; find out what happened with scor.verify_audit_log() first.")));

	keys = scor_load_site_keys(&site);
	msg = checkpoint_message(site, w.last_seq, w.last_hash, &msg_len);
	rc = crypto_sign_detached(sig, NULL, msg, msg_len, keys->sign_secret);
	scor_free_site_keys(keys);
	if (rc != 0)
		elog(ERROR, "could not sign the audit checkpoint");

	values[0] = Int64GetDatum(w.last_seq);
	values[1] = PointerGetDatum(scor_bytea(w.last_hash, AUDIT_HASH_BYTES));
	values[2] = PointerGetDatum(scor_bytea(sig, SCOR_SIGNATURE_BYTES));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * scor.verify_audit_log(checkpoint_seq, checkpoint_hash [, checkpoint_signature]):
 * the walk of the no-argument form, then the tail against a checkpoint taken
 * earlier.  Reports, in this order: a signature (when given) that does not
 * verify under this site's current key; the first bad row of the chain; a
 * log that ends before the checkpoint's row (rows deleted from its end,
 * first_bad_seq the first missing row); and a checkpoint row whose hash is
 * not the checkpoint's (the chain was rewritten up to it).
 */
Datum
scor_verify_audit_log_checkpoint(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	ScorOwnerScope scope;
	AuditWalk	w;
	int64		cp_seq;
	bytea	   *cp_hash;
	bytea	   *cp_sig = NULL;
	uint8		vk[SCOR_SIGN_PUBLIC_BYTES];
	char	   *site;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a checkpoint needs its seq and its hash")));
	cp_seq = PG_GETARG_INT64(0);
	cp_hash = PG_GETARG_BYTEA_PP(1);
	if (!PG_ARGISNULL(2))
		cp_sig = PG_GETARG_BYTEA_PP(2);
	if (cp_seq < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid checkpoint seq %lld", (long long) cp_seq),
				 errdetail("A checkpoint's seq is 0 (an empty log) or more.")));
	if (VARSIZE_ANY_EXHDR(cp_hash) != AUDIT_HASH_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid checkpoint hash"),
				 errdetail("It has %d bytes; a checkpoint's hash has %d.",
						   (int) VARSIZE_ANY_EXHDR(cp_hash), AUDIT_HASH_BYTES)));
	if (cp_sig != NULL && VARSIZE_ANY_EXHDR(cp_sig) != SCOR_SIGNATURE_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid checkpoint signature"),
				 errdetail("It has %d bytes; an Ed25519 signature has %d.",
						   (int) VARSIZE_ANY_EXHDR(cp_sig), SCOR_SIGNATURE_BYTES)));

	memset(&w, 0, sizeof(w));
	w.mark_seq = cp_seq;
	scor_become_owner(&scope, "pg_catalog, pg_temp");
	SPI_connect();
	site = site_verify_key(vk, caller);
	audit_walk(&w, caller);
	SPI_finish();
	scor_end_owner(&scope);

	if (cp_sig != NULL)
	{
		size_t		msg_len;
		uint8	   *msg = checkpoint_message(site, cp_seq, (uint8 *) VARDATA_ANY(cp_hash), &msg_len);

		if (crypto_sign_verify_detached((uint8 *) VARDATA_ANY(cp_sig), msg, msg_len, vk) != 0)
			PG_RETURN_DATUM(verify_result(fcinfo, &w, cp_seq,
										  psprintf("the checkpoint at row %lld is not signed by site \"%s\": it was forged or altered, or made before the site's key was rotated",
												   (long long) cp_seq, site)));
	}
	if (w.problem != NULL)
		PG_RETURN_DATUM(verify_result(fcinfo, &w, w.bad_seq, w.problem));
	if (w.last_seq < cp_seq)
		PG_RETURN_DATUM(verify_result(fcinfo, &w, w.last_seq + 1,
									  w.last_seq + 1 == cp_seq ?
									  psprintf("row %lld was deleted: the log ends at row %lld, before the checkpoint at row %lld",
											   (long long) cp_seq, (long long) w.last_seq, (long long) cp_seq) :
									  psprintf("rows %lld to %lld were deleted: the log ends at row %lld, before the checkpoint at row %lld",
											   (long long) w.last_seq + 1, (long long) cp_seq,
											   (long long) w.last_seq, (long long) cp_seq)));
	if (cp_seq == 0 ? memcmp(VARDATA_ANY(cp_hash), w.mark_hash, AUDIT_HASH_BYTES) != 0 :
		(!w.mark_found || memcmp(VARDATA_ANY(cp_hash), w.mark_hash, AUDIT_HASH_BYTES) != 0))
		PG_RETURN_DATUM(verify_result(fcinfo, &w, cp_seq,
									  psprintf("row %lld is not the row the checkpoint signed: the log was rewritten up to it",
											   (long long) cp_seq)));
	PG_RETURN_DATUM(verify_result(fcinfo, &w, 0, NULL));
}
