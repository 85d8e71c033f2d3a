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

#define AUDIT_HASH_BYTES crypto_hash_sha256_BYTES

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

/*
 * scor.verify_audit_log(): walk the chain in seq order and report the first
 * row that was altered, or whose predecessor was deleted or moved.
 */
Datum
scor_verify_audit_log(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	ScorOwnerScope scope;
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, true, true};
	uint8		prev[AUDIT_HASH_BYTES];
	int64		expected_seq = 1;
	int64		bad_seq = 0;
	char	   *problem = NULL;
	uint64		nrows;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	memset(prev, 0, sizeof(prev));
	scor_become_owner(&scope, "pg_catalog, pg_temp");
	SPI_connect();
	if (SPI_execute("SELECT seq, logged_at, event, peer, login, analyst, query_id, query, "
					"epsilon, digest, prev_hash, row_hash FROM scor.audit_log ORDER BY seq",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read scor.audit_log");
	nrows = SPI_processed;
	for (uint64 i = 0; i < nrows && problem == NULL; i++)
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
			bad_seq = seq;
			problem = psprintf("row %lld follows row %lld: %s",
							   (long long) seq, (long long) expected_seq - 1,
							   seq > expected_seq ? "rows before it were deleted" : "rows are duplicated or reordered");
			break;
		}
		if (stored_prev == NULL || memcmp(stored_prev, prev, AUDIT_HASH_BYTES) != 0)
		{
			bad_seq = seq;
			problem = psprintf("row %lld does not chain to row %lld: a row was deleted, reordered or altered",
							   (long long) seq, (long long) seq - 1);
			break;
		}
		audit_row_hash(hash, prev, seq, at, &ev, column_text(tup, desc, 5));
		if (stored_hash == NULL || memcmp(stored_hash, hash, AUDIT_HASH_BYTES) != 0)
		{
			bad_seq = seq;
			problem = psprintf("row %lld was altered", (long long) seq);
			break;
		}
		memcpy(prev, hash, AUDIT_HASH_BYTES);
		expected_seq++;
	}

	MemoryContextSwitchTo(caller);
	values[0] = BoolGetDatum(problem == NULL);
	values[1] = Int64GetDatum((int64) nrows);
	if (problem != NULL)
	{
		values[2] = Int64GetDatum(bad_seq);
		values[3] = CStringGetTextDatum(problem);
		nulls[2] = nulls[3] = false;
	}
	SPI_finish();
	scor_end_owner(&scope);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
