/*
 * pgstub_json.c
 *	  The backend services that PostgreSQL's JSON, jsonb and numeric code
 *	  (linked into fuzz_manifest from the installed bitcode) needs beyond
 *	  pgstub.c.  Each is written to the backend's contract, for a server
 *	  whose database encoding is UTF-8.
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/json.h"

#include "pgstub.h"

/* The stack depth the backend allows by default (max_stack_depth = 2MB) */
#define STUB_MAX_STACK_DEPTH (2048 * 1024L)

static char *stack_base = NULL;

extern void pgstub_set_stack_base(void);

/* Remember where the stack starts: call from LLVMFuzzerTestOneInput */
void
pgstub_set_stack_base(void)
{
	char		here;

	stack_base = &here;
}

/* The backend's check: ERROR 54001 once the stack is deeper than the limit */
void
check_stack_depth(void)
{
	char		here;
	long		depth;

	if (stack_base == NULL)
		return;
	depth = (long) (stack_base - &here);
	if (depth < 0)
		depth = -depth;
	if (depth > STUB_MAX_STACK_DEPTH - 512 * 1024L)
		ereport(ERROR,
				(errcode(ERRCODE_STATEMENT_TOO_COMPLEX),
				 errmsg("stack depth limit exceeded")));
}

int
GetDatabaseEncoding(void)
{
	return PG_UTF8;
}

/* One character's length, never past end (the backend errors out there) */
int
pg_mblen_range(const char *mbstr, const char *end)
{
	int			len = pg_utf_mblen((const unsigned char *) mbstr);

	if (len > end - mbstr)
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("invalid byte sequence for encoding \"UTF8\"")));
	return len;
}

/* The detail of a JSON syntax error (the backend's names the token) */
char *
json_errdetail(JsonParseErrorType error, JsonLexContext *lex)
{
	return psprintf("JSON parse error %d.", (int) error);
}

/* jsonb values from SQL datetimes: never from text input */
char *
JsonEncodeDateTime(char *buf, Datum value, Oid typid, const int *tzp)
{
	pgstub_finding("JsonEncodeDateTime was reached from text input");
}

/* fmgr.c's direct calls: no flinfo, a NULL result is an error */
static Datum
direct_call(PGFunction func, Oid collation, int nargs, Datum a1, Datum a2, Datum a3)
{
	LOCAL_FCINFO(fcinfo, 3);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, NULL, nargs, collation, NULL, NULL);
	fcinfo->args[0].value = a1;
	fcinfo->args[0].isnull = false;
	fcinfo->args[1].value = a2;
	fcinfo->args[1].isnull = false;
	fcinfo->args[2].value = a3;
	fcinfo->args[2].isnull = false;
	result = (*func) (fcinfo);
	if (fcinfo->isnull)
		elog(ERROR, "function %p returned NULL", (void *) func);
	return result;
}

Datum
DirectFunctionCall1Coll(PGFunction func, Oid collation, Datum arg1)
{
	return direct_call(func, collation, 1, arg1, 0, 0);
}

Datum
DirectFunctionCall2Coll(PGFunction func, Oid collation, Datum arg1, Datum arg2)
{
	return direct_call(func, collation, 2, arg1, arg2, 0);
}

Datum
DirectFunctionCall3Coll(PGFunction func, Oid collation, Datum arg1, Datum arg2, Datum arg3)
{
	return direct_call(func, collation, 3, arg1, arg2, arg3);
}
