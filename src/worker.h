/*
 * worker.h
 *	  Running one of this site's remote entry points in a transaction of its own.
 */
#ifndef SCOR_WORKER_H
#define SCOR_WORKER_H

#include "postgres.h"

extern bytea *scor_run_autonomously(const char *sql, int nparams, const char *const *params);

#endif							/* SCOR_WORKER_H */
