/*
 * pgstub.c
 *	  A minimal stand-in for the PostgreSQL backend services that scor's
 *	  parsers use, so that the real src/ciphertext.c, src/protocol.c and
 *	  src/federate.c can be compiled against the PostgreSQL 15 server headers
 *	  and linked into libFuzzer targets without a server.
 *
 * What is here, and nothing more:
 *	- memory: palloc and friends are malloc, each allocation recorded in a
 *	  per-input arena that pgstub_end() frees (so AddressSanitizer sees the
 *	  exact size of every allocation and any use after the input ends);
 *	  requests over MaxAllocSize raise the ERROR palloc raises;
 *	- errors: errstart .. errfinish format every message with the C
 *	  library's vsnprintf (so a bad format argument is caught), run the error
 *	  context callbacks and, for ERROR, siglongjmp to PG_exception_stack:
 *	  the innermost PG_TRY, or the harness; pg_re_throw likewise;
 *	- StringInfo and the pqformat/varlena helpers the parsers call, written
 *	  to the same contracts as the backend's;
 *	- CHECK_FOR_INTERRUPTS' flag, never set.
 * Anything else the fuzzed files reference is either unreachable from the
 * harnesses (the linker's --gc-sections drops it) or an abort() stub in the
 * harness that needs it.
 */
#include "postgres.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "pgstub.h"

/* The backend's printf replacements are plain libc here (glibc knows %m) */
#undef vsnprintf
#undef snprintf
#undef vfprintf
#undef fprintf

sigjmp_buf *PG_exception_stack = NULL;

/* ------------------------------------------------------------------ memory */

static void **arena = NULL;
static size_t arena_len = 0;
static size_t arena_cap = 0;
static bool persistent = false;

MemoryContext CurrentMemoryContext = NULL;

/* Allocations made in persistent mode: kept, and reachable for LeakSanitizer */
static void **kept = NULL;
static size_t kept_len = 0;
static size_t kept_cap = 0;

static void
list_add(void ***list, size_t *len, size_t *cap, void *p)
{
	if (*len == *cap)
	{
		*cap = *cap ? 2 * *cap : 256;
		*list = realloc(*list, *cap * sizeof(void *));
		if (*list == NULL)
			abort();
	}
	(*list)[(*len)++] = p;
}

static void
arena_add(void *p)
{
	if (persistent)
		list_add(&kept, &kept_len, &kept_cap, p);
	else
		list_add(&arena, &arena_len, &arena_cap, p);
}

/* Forget p (freed or moved); allocations are usually freed last-first */
static void
arena_remove(void *p)
{
	for (size_t i = arena_len; i-- > 0;)
		if (arena[i] == p)
		{
			arena[i] = arena[--arena_len];
			return;
		}
	/* a persistent allocation, or not ours at all: leave it alone */
}

void
pgstub_begin(void)
{
	pgstub_error_jmp = NULL;
	error_context_stack = NULL;
}

void
pgstub_end(void)
{
	for (size_t i = 0; i < arena_len; i++)
		free(arena[i]);
	arena_len = 0;
	pgstub_error_jmp = NULL;
	error_context_stack = NULL;
}

void
pgstub_persistent(bool on)
{
	persistent = on;
}

void *
palloc(Size size)
{
	void	   *p;

	if (!AllocSizeIsValid(size))
		elog(ERROR, "invalid memory alloc request size %zu", size);
	p = malloc(size ? size : 1);
	if (p == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	arena_add(p);
	return p;
}

void *
palloc0(Size size)
{
	void	   *p = palloc(size);

	memset(p, 0, size);
	return p;
}

void *
repalloc(void *pointer, Size size)
{
	void	   *p;

	if (!AllocSizeIsValid(size))
		elog(ERROR, "invalid memory alloc request size %zu", size);
	arena_remove(pointer);
	p = realloc(pointer, size ? size : 1);
	if (p == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	arena_add(p);
	return p;
}

void
pfree(void *pointer)
{
	arena_remove(pointer);
	free(pointer);
}

void *
MemoryContextAlloc(MemoryContext context, Size size)
{
	return palloc(size);
}

void *
MemoryContextAllocZero(MemoryContext context, Size size)
{
	return palloc0(size);
}

char *
pstrdup(const char *in)
{
	return pnstrdup(in, strlen(in));
}

char *
MemoryContextStrdup(MemoryContext context, const char *string)
{
	return pstrdup(string);
}

char *
pnstrdup(const char *in, Size len)
{
	char	   *out;

	len = strnlen(in, len);
	out = palloc(len + 1);
	memcpy(out, in, len);
	out[len] = '\0';
	return out;
}

char *
psprintf(const char *fmt,...)
{
	size_t		len = 128;

	for (;;)
	{
		char	   *buf = palloc(len);
		va_list		args;
		int			n;

		va_start(args, fmt);
		n = vsnprintf(buf, len, fmt, args);
		va_end(args);
		if (n < 0)
			elog(ERROR, "vsnprintf failed: %m");
		if ((size_t) n < len)
			return buf;
		pfree(buf);
		len = (size_t) n + 1;
	}
}

/* ------------------------------------------------------------------ errors */

ErrorContextCallback *error_context_stack = NULL;
volatile sig_atomic_t InterruptPending = false;

static int	cur_elevel;
static int	cur_sqlerrcode;
static int	recursion;
static char cur_message[2048];
static char cur_detail[2048];
static char cur_hint[2048];
static char cur_context[2048];
static char last_sqlstate[6];
static char last_message[2048];

static bool
verbose(void)
{
	static int	v = -1;

	if (v < 0)
		v = getenv("SCOR_FUZZ_VERBOSE") != NULL;
	return v;
}

bool
errstart(int elevel, const char *domain)
{
	if (recursion++ > 0)
	{
		fprintf(stderr, "pgstub: error raised while reporting an error\n");
		abort();
	}
	cur_elevel = elevel;
	cur_sqlerrcode = elevel >= ERROR ? ERRCODE_INTERNAL_ERROR :
		elevel == WARNING ? ERRCODE_WARNING : ERRCODE_SUCCESSFUL_COMPLETION;
	cur_message[0] = cur_detail[0] = cur_hint[0] = cur_context[0] = '\0';
	return true;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

int
errcode(int sqlerrcode)
{
	cur_sqlerrcode = sqlerrcode;
	return 0;
}

int
errcode_for_file_access(void)
{
	cur_sqlerrcode = ERRCODE_IO_ERROR;
	return 0;
}

#define FORMAT_INTO(buf, fmt) \
	do { \
		va_list		args; \
		va_start(args, fmt); \
		vsnprintf((buf), sizeof(buf), (fmt), args); \
		va_end(args); \
	} while (0)

int
errmsg(const char *fmt,...)
{
	FORMAT_INTO(cur_message, fmt);
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	FORMAT_INTO(cur_message, fmt);
	return 0;
}

int
errdetail(const char *fmt,...)
{
	FORMAT_INTO(cur_detail, fmt);
	return 0;
}

int
errdetail_internal(const char *fmt,...)
{
	FORMAT_INTO(cur_detail, fmt);
	return 0;
}

int
errhint(const char *fmt,...)
{
	FORMAT_INTO(cur_hint, fmt);
	return 0;
}

int
set_errcontext_domain(const char *domain)
{
	return 0;
}

int
errcontext_msg(const char *fmt,...)
{
	FORMAT_INTO(cur_context, fmt);
	return 0;
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	int			code = cur_sqlerrcode;

	/* the context callbacks add their lines, as in the backend */
	for (ErrorContextCallback *e = error_context_stack; e != NULL; e = e->previous)
		e->callback(e->arg);

	for (int i = 0; i < 5; i++)
	{
		last_sqlstate[i] = PGUNSIXBIT(code);
		code >>= 6;
	}
	last_sqlstate[5] = '\0';
	snprintf(last_message, sizeof(last_message), "%s", cur_message);
	if (verbose())
		fprintf(stderr, "pgstub: level %d %s: %s [%s] [%s] [%s] (%s:%d)\n",
				cur_elevel, last_sqlstate, cur_message, cur_detail, cur_hint,
				cur_context, filename, lineno);
	recursion = 0;

	if (cur_elevel < ERROR)
		return;
	if (cur_elevel > ERROR || pgstub_error_jmp == NULL)
	{
		fprintf(stderr, "pgstub: unexpected level %d error %s: %s (%s:%d)\n",
				cur_elevel, last_sqlstate, cur_message, filename, lineno);
		abort();
	}
	error_context_stack = NULL;
	siglongjmp(*pgstub_error_jmp, 1);
}

/* PG_RE_THROW (the end of PG_TRY .. PG_FINALLY): on to the next catcher */
void
pg_re_throw(void)
{
	if (PG_exception_stack == NULL)
	{
		fprintf(stderr, "pgstub: an error was re-thrown with no catcher\n");
		abort();
	}
	siglongjmp(*PG_exception_stack, 1);
}

void
ProcessInterrupts(void)
{
	/* InterruptPending is never set */
	abort();
}

const char *
pgstub_sqlstate(void)
{
	return last_sqlstate;
}

const char *
pgstub_message(void)
{
	return last_message;
}

void
pgstub_finding(const char *fmt,...)
{
	va_list		args;

	fprintf(stderr, "\n==== scor fuzz finding: ");
	va_start(args, fmt);
	vfprintf(stderr, fmt, args);
	va_end(args);
	fprintf(stderr, "\n");
	abort();
}

void
pgstub_expect_sqlstate(const char *what,...)
{
	va_list		args;
	const char *s;

	va_start(args, what);
	while ((s = va_arg(args, const char *)) != NULL)
		if (strcmp(s, last_sqlstate) == 0)
		{
			va_end(args);
			return;
		}
	va_end(args);
	pgstub_finding("%s raised an unexpected error: SQLSTATE %s: %s",
				   what, last_sqlstate, last_message);
}

/* ---------------------------------------------------------------- printf */

int
pg_snprintf(char *str, size_t count, const char *fmt,...)
{
	va_list		args;
	int			n;

	va_start(args, fmt);
	n = vsnprintf(str, count, fmt, args);
	va_end(args);
	return n;
}

int
pg_fprintf(FILE *stream, const char *fmt,...)
{
	va_list		args;
	int			n;

	va_start(args, fmt);
	n = vfprintf(stream, fmt, args);
	va_end(args);
	return n;
}

int
pg_vsnprintf(char *str, size_t count, const char *fmt, va_list args)
{
	return vsnprintf(str, count, fmt, args);
}

/* -------------------------------------------------------------- StringInfo */

StringInfo
makeStringInfo(void)
{
	StringInfo	res = palloc(sizeof(StringInfoData));

	initStringInfo(res);
	return res;
}

void
initStringInfo(StringInfo str)
{
	str->data = palloc(1024);
	str->maxlen = 1024;
	resetStringInfo(str);
}

void
resetStringInfo(StringInfo str)
{
	str->data[0] = '\0';
	str->len = 0;
	str->cursor = 0;
}

void
enlargeStringInfo(StringInfo str, int needed)
{
	int			newlen;

	if (needed < 0)
		elog(ERROR, "invalid string enlargement request size: %d", needed);
	if (((Size) needed) >= (MaxAllocSize - (Size) str->len))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("out of memory"),
				 errdetail("Cannot enlarge string buffer containing %d bytes by %d more bytes.",
						   str->len, needed)));
	needed += str->len + 1;
	if (needed <= str->maxlen)
		return;
	newlen = 2 * str->maxlen;
	while (needed > newlen)
		newlen = 2 * newlen;
	if (newlen > (int) MaxAllocSize)
		newlen = (int) MaxAllocSize;
	str->data = repalloc(str->data, newlen);
	str->maxlen = newlen;
}

void
appendBinaryStringInfoNT(StringInfo str, const char *data, int datalen)
{
	enlargeStringInfo(str, datalen);
	memcpy(str->data + str->len, data, datalen);
	str->len += datalen;
}

void
appendBinaryStringInfo(StringInfo str, const char *data, int datalen)
{
	appendBinaryStringInfoNT(str, data, datalen);
	str->data[str->len] = '\0';
}

void
appendStringInfoChar(StringInfo str, char ch)
{
	if (str->len + 1 >= str->maxlen)
		enlargeStringInfo(str, 1);
	str->data[str->len] = ch;
	str->len++;
	str->data[str->len] = '\0';
}

void
appendStringInfoString(StringInfo str, const char *s)
{
	appendBinaryStringInfo(str, s, strlen(s));
}

int
appendStringInfoVA(StringInfo str, const char *fmt, va_list args)
{
	int			avail = str->maxlen - str->len;
	int			n;

	if (avail < 16)
		return 32;
	n = vsnprintf(str->data + str->len, (size_t) avail, fmt, args);
	if (n >= 0 && n < avail)
	{
		str->len += n;
		return 0;
	}
	str->data[str->len] = '\0';
	return n < 0 ? 2 * str->maxlen : n + 1;
}

void
appendStringInfo(StringInfo str, const char *fmt,...)
{
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(str, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(str, needed);
	}
}

/* ---------------------------------------------------- pqformat and varlena */

void
pq_begintypsend(StringInfo buf)
{
	initStringInfo(buf);
	/* room for the varlena header */
	appendBinaryStringInfoNT(buf, "\0\0\0\0", 4);
}

bytea *
pq_endtypsend(StringInfo buf)
{
	bytea	   *result = (bytea *) buf->data;

	SET_VARSIZE(result, buf->len);
	return result;
}

void
pq_sendbytes(StringInfo buf, const char *data, int datalen)
{
	appendBinaryStringInfoNT(buf, data, datalen);
}

void
pq_copymsgbytes(StringInfo msg, char *buf, int datalen)
{
	if (datalen < 0 || datalen > (msg->len - msg->cursor))
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("insufficient data left in message")));
	memcpy(buf, &msg->data[msg->cursor], datalen);
	msg->cursor += datalen;
}

text *
cstring_to_text(const char *s)
{
	size_t		len = strlen(s);
	text	   *result = palloc(len + VARHDRSZ);

	SET_VARSIZE(result, len + VARHDRSZ);
	memcpy(VARDATA(result), s, len);
	return result;
}

/* The harnesses build only plain (4-byte header, inline) datums */
struct varlena *
pg_detoast_datum(struct varlena *datum)
{
	if (VARATT_IS_EXTENDED(datum))
		abort();
	return datum;
}

struct varlena *
pg_detoast_datum_packed(struct varlena *datum)
{
	if (VARATT_IS_COMPRESSED(datum) || VARATT_IS_EXTERNAL(datum))
		abort();
	return datum;
}

/* Run fn(arg) under a catcher; true if it returned, false on ERROR */
bool
pgstub_try(void (*fn) (void *), void *arg)
{
	sigjmp_buf *prev = pgstub_error_jmp;
	sigjmp_buf	jb;

	if (pgstub_catch(&jb) != 0)
	{
		pgstub_error_jmp = prev;
		return false;
	}
	fn(arg);
	pgstub_error_jmp = prev;
	return true;
}
