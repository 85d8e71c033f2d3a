/*
 * connection.h
 *	  Connections to peer sites, declared as foreign servers of the scor
 *	  foreign-data wrapper with user mappings, and concurrent calls to them.
 */
#ifndef SCOR_CONNECTION_H
#define SCOR_CONNECTION_H

#include "foreign/foreign.h"
#include "libpq-fe.h"

/*
 * One statement to run at one peer.  The caller fills the "in" fields;
 * ScorRemoteCallAll fills the "out" fields in the caller's memory context.
 */
typedef struct ScorRemoteCall
{
	/* in */
	Oid			serverid;		/* foreign server of the peer */
	const char *site_name;		/* for messages: the site this server is */
	const char *sql;			/* statement, with $n parameters */
	int			nparams;
	const char *const *params;	/* text-format parameter values */

	/* out: a palloc'd copy of the result; no PGresult escapes */
	int			ntuples;
	int			nfields;
	char	  **values;			/* ntuples * nfields, NULL for SQL NULL */
	double		elapsed_ms;		/* send to last byte received */

	/* private to connection.c */
	PGconn	   *conn;
	bool		busy;
} ScorRemoteCall;

/*
 * Run once on every new connection, before any call.  A peer's locked-down
 * session (lockdown.c) accepts this text, and CHECK_PEERS_SQL, verbatim.
 */
#define REMOTE_SESSION_SETUP \
	"SET search_path = pg_catalog; " \
	"SET timezone = 'UTC'; " \
	"SET datestyle = ISO; " \
	"SET intervalstyle = postgres; " \
	"SET extra_float_digits = 3"

/* What scor.check_peers() asks every peer */
#define CHECK_PEERS_SQL \
	"SELECT pg_catalog.current_setting('server_version'), " \
	"(SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'scor')"

/* GUCs */
extern int	scor_connect_timeout_ms;
extern int	scor_peer_timeout_ms;

extern void ScorConnectionInit(void);

/*
 * Send every call at once, then wait for all answers on one WaitEventSet.
 * Interruptible (Ctrl-C, statement_timeout).  Any failure (cannot connect,
 * remote error, lost connection, no answer within scor.peer_timeout)
 * cancels the calls still running and raises an ERROR naming the site.
 */
extern void ScorRemoteCallAll(ScorRemoteCall *calls, int ncalls);

/*
 * The same in two steps, so that the caller can work while the peers do:
 * Start sends (or starts connecting), Finish waits, cleans up and raises.
 */
typedef struct ScorRemoteBatch ScorRemoteBatch;
extern ScorRemoteBatch *ScorRemoteCallStart(ScorRemoteCall *calls, int ncalls);
extern void ScorRemoteCallFinish(ScorRemoteBatch *batch);

/*
 * Give up a started batch after an error of the caller's own, without
 * raising: cancel the calls still running and close their connections.
 */
extern void ScorRemoteCallAbort(ScorRemoteBatch *batch);

/*
 * Options of the scor foreign-data wrapper (option.c)
 */

/*
 * NULL-terminated libpq keyword/value arrays, palloc'd in the current
 * context, for connecting to server as user; returns the count.
 */
extern int	ScorConnectionParams(ForeignServer *server, UserMapping *user,
								 const char ***keywords, const char ***values);

/* False only if a superuser set password_required 'false' on the mapping */
extern bool ScorPasswordRequired(UserMapping *user);

/* The server's "site" option (expected site name of the peer), or NULL */
extern const char *ScorServerSite(ForeignServer *server);

/* The server's query_timeout in ms, or -1 if not set */
extern int	ScorServerQueryTimeout(ForeignServer *server);

/* The server's libpq connect_timeout in ms (0: none), or -1 if not set */
extern int	ScorServerConnectTimeout(ForeignServer *server);

/* Value of row, column of a finished call (NULL for SQL NULL) */
#define ScorRemoteValue(call, row, col) \
	((call)->values[(row) * (call)->nfields + (col)])

#endif							/* SCOR_CONNECTION_H */
