/*
 * pgstub.h
 *	  The fuzzers' stand-in for the few PostgreSQL backend services that
 *	  scor's parsers use (see pgstub.c).
 *
 * A harness runs one input between pgstub_begin() and pgstub_end():
 *
 *	  if (pgstub_catch(&jb))          -- sigsetjmp: 0 now, 1 after an ERROR
 *	      ... an ERROR was raised: pgstub_sqlstate() says which ...
 *	  else
 *	      ... call scor code ...
 *	  pgstub_end();                   -- frees everything palloc'd since begin
 *
 * An ereport(ERROR) inside scor code formats its message, runs the error
 * context callbacks and siglongjmps back to the innermost pgstub_catch().
 */
#ifndef SCOR_FUZZ_PGSTUB_H
#define SCOR_FUZZ_PGSTUB_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * Where the next ERROR goes (NULL: abort, it was not expected).  This is
 * the backend's own PG_exception_stack, so PG_TRY blocks inside scor code
 * nest inside the harness's catcher as they do in a server.
 */
extern sigjmp_buf *PG_exception_stack;
#define pgstub_error_jmp PG_exception_stack

/* Arm jb as the target of ERRORs; returns 0, or 1 when an ERROR arrives */
#define pgstub_catch(jb) (pgstub_error_jmp = (jb), sigsetjmp(*(jb), 0))

/* Run fn(arg) under a catcher; true if it returned, false on ERROR */
extern bool pgstub_try(void (*fn) (void *), void *arg);

/* Start an input: a fresh allocation arena */
extern void pgstub_begin(void);
/* End an input: free every allocation of the arena, disarm the catcher */
extern void pgstub_end(void);
/* Keep allocations made from now on past pgstub_end() (harness setup) */
extern void pgstub_persistent(bool on);

/* The last ERROR: its SQLSTATE (5 chars) and primary message */
extern const char *pgstub_sqlstate(void);
extern const char *pgstub_message(void);
/* abort() unless the last ERROR's SQLSTATE is one of the NULL-ended list */
extern void pgstub_expect_sqlstate(const char *what, ...);

/* Print a finding and abort() (libFuzzer saves the input as a crash) */
extern void pgstub_finding(const char *fmt,...) __attribute__((format(printf, 1, 2), noreturn));

#endif							/* SCOR_FUZZ_PGSTUB_H */
