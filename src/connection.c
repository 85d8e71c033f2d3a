/*
 * connection.c
 *	  Connections to peer sites and concurrent calls to them.
 *
 * A peer is a foreign server of the scor wrapper, reached through the
 * current user's user mapping.  Connections are cached per user mapping for
 * the life of the backend and dropped when the server or mapping changes.
 *
 * ScorRemoteCallAll runs one statement at each of several peers at once: it
 * starts every connection that is missing, sends every statement, and then
 * waits for all of them on one WaitEventSet (sockets, latch, postmaster
 * death), so a federated query costs the slowest peer, not the sum.  Every
 * failure names the site.  A connection whose state is not known to be idle
 * (a failure, a timeout, the caller's query cancel) is cancelled at the
 * peer and closed, never reused; so is one claimed by a call that an
 * aborted (sub)transaction left behind.
 *
 * The same machinery, without raising, serves scor.check_peers().
 */
#include "postgres.h"

#include <limits.h>
#include <netdb.h>
#ifdef HAVE_POLL
#include <poll.h>
#endif
#include <sys/socket.h>
#include <unistd.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_user_mapping.h"
#include "common/int.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq/pqcomm.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/wait_event.h"

#include "connection.h"

/* How long to wait for a peer's postmaster before sending it a cancel */
#define CANCEL_PROBE_TIMEOUT_MS 1000

/* GUCs */
int			scor_connect_timeout_ms = 5000;
int			scor_peer_timeout_ms = 30000;

/*
 * Connection cache entry, keyed by user mapping OID (a PUBLIC mapping
 * serves every local user with one connection).
 *
 * "busy" is set while a call has claimed the entry; a busy entry's
 * connection is in an unknown state until the call releases it, so every
 * error path closes busy connections (after cancelling a statement that
 * may still run at the peer, "query_active").
 */
typedef struct ConnCacheEntry
{
	Oid			umid;			/* hash key (must be first) */
	PGconn	   *conn;			/* NULL if not connected */
	uint32		server_hashvalue;	/* of serverid in FOREIGNSERVEROID */
	uint32		mapping_hashvalue;	/* of umid in USERMAPPINGOID */
	bool		busy;			/* claimed by a call in progress */
	bool		query_active;	/* a statement may be running at the peer */
	bool		invalidated;	/* server or mapping changed: do not reuse */
	bool		nonsuper_ok;	/* made under the rules for non-superusers */
	int			claim_level;	/* transaction nest level that claimed it */
} ConnCacheEntry;

static HTAB *ConnectionHash = NULL;

/*
 * The WaitEventSet of one wait_for_peers, kept from one wake-up to the next
 * while the peers it waits for stay the same and none is connecting
 */
typedef struct RoundWait
{
	WaitEventSet *set;			/* NULL until built */
	bool	   *registered;		/* per peer: has an event in the set */
} RoundWait;

/* Where one peer's call stands */
typedef enum PeerStep
{
	PEER_CONNECTING,			/* PQconnectPoll until OK */
	PEER_CONFIGURING,			/* REMOTE_SESSION_SETUP sent */
	PEER_QUERYING,				/* the call's statement sent */
	PEER_DONE,
	PEER_FAILED
} PeerStep;

/*
 * Private state of one call while ScorRemoteCallAll (or check_peers) runs.
 * A failure is recorded here rather than raised, so that check_peers can
 * report it and ScorRemoteCallAll can clean up every peer before raising.
 */
typedef struct PeerState
{
	ScorRemoteCall *call;
	ConnCacheEntry *entry;		/* claimed entry, or NULL */
	const char *site;			/* name of the site, for messages */
	MemoryContext outcxt;		/* caller's context: results and failures */
	PeerStep	step;
	PostgresPollingStatusType poll; /* while connecting: what libpq awaits */
	bool		check_password; /* non-superuser: password must be used */
	bool		password_given; /* the parameters include a password */
	bool		password_required;	/* the mapping's password_required */
	int			connect_timeout_ms; /* 0: wait indefinitely */
	int			query_timeout_ms;	/* 0: wait indefinitely */
	TimestampTz deadline;		/* of the current step; 0: none */
	TimestampTz sent_at;		/* when the statement was sent */

	/* the failure, when step == PEER_FAILED */
	int			sqlerrcode;
	char	   *message;
	char	   *detail;
	char	   *hint;
	char	   *context;
} PeerState;

static void init_connection_cache(void);
static void scor_xact_callback(XactEvent event, void *arg);
static void scor_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								  SubTransactionId parentSubid, void *arg);
static void scor_inval_callback(Datum arg, int cacheid, uint32 hashvalue);
static void disconnect_entry(ConnCacheEntry *entry);
static void abandon_entry(ConnCacheEntry *entry);
static void abandon_busy_entries(void);
static void cancel_remote_query(PGconn *conn);
static bool postmaster_answers(PGconn *conn, int timeout_ms);
static bool connection_is_idle(PGconn *conn);
static bool is_scor_wrapper(Oid fdwid);
static void start_peer(PeerState *p);
static void connect_peer(PeerState *p, ForeignServer *server,
						 UserMapping *user, bool is_superuser);
static bool send_call(PeerState *p);
static void advance_connecting(PeerState *p);
static void advance_reading(PeerState *p);
static void handle_result(PeerState *p, PGresult *res);
static void copy_result(PeerState *p, PGresult *res);
static int	wait_round(RoundWait *rw, PeerState *peers, int npeers, int nactive,
					   long timeout, WaitEvent *events);
static void wait_for_peers(PeerState *peers, int npeers, bool stop_on_failure);
static void wait_for_peers_loop(RoundWait *rw, PeerState *peers, int npeers,
								bool stop_on_failure, WaitEvent *events);
static void run_peers(PeerState *peers, int npeers, bool stop_on_failure);
static void forget_claims(PeerState *peers, int npeers);
static void run_peers_guarded(PeerState *peers, int npeers,
							  bool stop_on_failure);
static void release_peers(PeerState *peers, int npeers);
static void peer_fail(PeerState *p, int sqlerrcode, const char *detail,
					  const char *hint, const char *fmt,...) pg_attribute_printf(5, 6);
static void peer_fail_connect(PeerState *p, const char *detail);
static void peer_fail_lost(PeerState *p);
static void peer_fail_remote(PeerState *p, PGresult *res);
static void report_peer_failure(PeerState *p);

/*
 * Define the GUCs; called from _PG_init.
 */
void
ScorConnectionInit(void)
{
	DefineCustomIntVariable("scor.connect_timeout",
							"Sets the maximum time to wait for a connection to a peer site.",
							"A server's own connect_timeout option overrides this.  Zero waits indefinitely.",
							&scor_connect_timeout_ms,
							5000, 0, INT_MAX,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("scor.peer_timeout",
							"Sets the maximum time to wait for a peer site to answer a call.",
							"A server's query_timeout option overrides this.  Zero waits indefinitely.",
							&scor_peer_timeout_ms,
							30000, 0, INT_MAX,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
}

/*
 * Create the connection cache and register its callbacks, once per
 * backend.  The hash table lives in TopMemoryContext.
 */
static void
init_connection_cache(void)
{
	HASHCTL		ctl;

	if (ConnectionHash != NULL)
		return;

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(ConnCacheEntry);
	ConnectionHash = hash_create("scor connections", 8, &ctl,
								 HASH_ELEM | HASH_BLOBS);

	RegisterXactCallback(scor_xact_callback, NULL);
	RegisterSubXactCallback(scor_subxact_callback, NULL);
	CacheRegisterSyscacheCallback(FOREIGNSERVEROID,
								  scor_inval_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(USERMAPPINGOID,
								  scor_inval_callback, (Datum) 0);
}

/*
 * At transaction end, close what must not outlive it.  Normally no entry
 * is busy here (ScorRemoteCallAll releases its connections before
 * returning or raising); this is the backstop for a transaction aborted
 * by any other path, including FATAL exits.
 */
static void
scor_xact_callback(XactEvent event, void *arg)
{
	HASH_SEQ_STATUS scan;
	ConnCacheEntry *entry;

	if (event != XACT_EVENT_ABORT && event != XACT_EVENT_PARALLEL_ABORT &&
		event != XACT_EVENT_COMMIT && event != XACT_EVENT_PARALLEL_COMMIT &&
		event != XACT_EVENT_PREPARE)
		return;

	hash_seq_init(&scan, ConnectionHash);
	while ((entry = (ConnCacheEntry *) hash_seq_search(&scan)) != NULL)
	{
		if (entry->busy)
			abandon_entry(entry);
		else if (entry->conn != NULL && entry->invalidated)
			disconnect_entry(entry);
	}
}

/*
 * At subtransaction abort (an exception block, a savepoint rolled back),
 * cancel and close the connections that calls of the aborted subtransaction
 * (or of one below it) still claim, so that the remote statements stop now
 * and not at top-level end, and the next call in the same transaction
 * finds the peer free.
 */
static void
scor_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	HASH_SEQ_STATUS scan;
	ConnCacheEntry *entry;
	int			level;

	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;

	level = GetCurrentTransactionNestLevel();
	hash_seq_init(&scan, ConnectionHash);
	while ((entry = (ConnCacheEntry *) hash_seq_search(&scan)) != NULL)
	{
		if (entry->busy && entry->claim_level >= level)
			abandon_entry(entry);
	}
}

/*
 * A foreign server or user mapping changed (hashvalue 0: all of them).
 * Close the connections that depend on it, or if a call is using one,
 * mark it so that it is closed when the call releases it.
 */
static void
scor_inval_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	HASH_SEQ_STATUS scan;
	ConnCacheEntry *entry;

	Assert(cacheid == FOREIGNSERVEROID || cacheid == USERMAPPINGOID);

	hash_seq_init(&scan, ConnectionHash);
	while ((entry = (ConnCacheEntry *) hash_seq_search(&scan)) != NULL)
	{
		if (entry->conn == NULL)
			continue;

		if (hashvalue == 0 ||
			(cacheid == FOREIGNSERVEROID &&
			 entry->server_hashvalue == hashvalue) ||
			(cacheid == USERMAPPINGOID &&
			 entry->mapping_hashvalue == hashvalue))
		{
			if (entry->busy)
				entry->invalidated = true;
			else
				disconnect_entry(entry);
		}
	}
}

/*
 * Close an entry's connection and give back its file descriptor.
 */
static void
disconnect_entry(ConnCacheEntry *entry)
{
	if (entry->conn != NULL)
	{
		PQfinish(entry->conn);
		entry->conn = NULL;
		ReleaseExternalFD();
	}
	entry->query_active = false;
}

/*
 * Give up a claimed entry whose state is unknown: cancel what may still
 * run at the peer, close the connection, and unclaim it.
 */
static void
abandon_entry(ConnCacheEntry *entry)
{
	if (entry->conn != NULL && entry->query_active)
		cancel_remote_query(entry->conn);
	disconnect_entry(entry);
	entry->busy = false;
}

/*
 * Abandon every claimed entry (error path of a call in progress).
 */
static void
abandon_busy_entries(void)
{
	HASH_SEQ_STATUS scan;
	ConnCacheEntry *entry;

	if (ConnectionHash == NULL)
		return;

	hash_seq_init(&scan, ConnectionHash);
	while ((entry = (ConnCacheEntry *) hash_seq_search(&scan)) != NULL)
	{
		if (entry->busy)
			abandon_entry(entry);
	}
}

/*
 * Ask the peer to cancel the statement running on conn, best effort and
 * without raising (this runs on error paths).  The connection is closed
 * right after, so there is no result to wait for.
 */
static void
cancel_remote_query(PGconn *conn)
{
	PGcancel   *cancel;
	char		errbuf[256];

	/*
	 * libpq's PQcancel has no timeout: it blocks in connect() and then until
	 * the peer's postmaster closes the cancel connection.  A peer that is
	 * unreachable or frozen, the usual reason for being here, would hang
	 * this backend; so send the cancel only to a postmaster that answers.
	 */
	if (!postmaster_answers(conn, CANCEL_PROBE_TIMEOUT_MS))
		return;

	cancel = PQgetCancel(conn);
	if (cancel != NULL)
	{
		(void) PQcancel(cancel, errbuf, sizeof(errbuf));
		PQfreeCancel(cancel);
	}
}

/*
 * Does the postmaster behind conn answer within timeout_ms?  Opens a new
 * TCP connection to the address conn uses and sends an SSLRequest, which a
 * live postmaster answers at once with one byte; the probe is then closed
 * (a peer with SSL enabled may log the abandoned handshake).  Unix-domain
 * peers are not probed: they cannot be cut off by the network.
 */
static bool
postmaster_answers(PGconn *conn, int timeout_ms)
{
	const char *hostaddr = PQhostaddr(conn);
	const char *port = PQport(conn);
	struct addrinfo hints;
	struct addrinfo *addrs = NULL;
	pgsocket	sock;
	TimestampTz deadline;
	uint32		request[2];
	char		answer;
	bool		ok = false;
	int			rc;

	if (hostaddr == NULL || hostaddr[0] == '\0' || port == NULL)
		return true;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(hostaddr, port, &hints, &addrs) != 0 || addrs == NULL)
		return true;			/* cannot probe; let PQcancel try */

	if (!AcquireExternalFD())
	{
		freeaddrinfo(addrs);
		return false;
	}

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	sock = socket(addrs->ai_family, SOCK_STREAM, 0);
	if (sock == PGINVALID_SOCKET)
		goto done;
	if (!pg_set_noblock(sock))
		goto done;

	/* Connect, waiting at most until the deadline */
	if (connect(sock, addrs->ai_addr, addrs->ai_addrlen) < 0)
	{
		int			err = 0;
		socklen_t	errlen = sizeof(err);

		if (errno != EINPROGRESS && errno != EINTR)
			goto done;
		rc = WaitLatchOrSocket(NULL, WL_SOCKET_WRITEABLE | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							   sock,
							   TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline),
							   PG_WAIT_EXTENSION);
		if (!(rc & WL_SOCKET_WRITEABLE))
			goto done;
		if (getsockopt(sock, SOL_SOCKET, SO_ERROR, (void *) &err, &errlen) < 0 ||
			err != 0)
			goto done;
	}

	/* SSLRequest: length 8, then the SSL negotiation code */
	request[0] = pg_hton32(8);
	request[1] = pg_hton32(NEGOTIATE_SSL_CODE);
	if (send(sock, (char *) request, sizeof(request), 0) != sizeof(request))
		goto done;

	for (;;)
	{
		long		remaining;

		remaining = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
		if (remaining <= 0)
			break;
		rc = WaitLatchOrSocket(NULL, WL_SOCKET_READABLE | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							   sock, remaining, PG_WAIT_EXTENSION);
		if (!(rc & WL_SOCKET_READABLE))
			break;
		rc = recv(sock, &answer, 1, 0);
		if (rc == 1)
			ok = true;
		if (rc >= 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK))
			break;
	}

done:
	if (sock != PGINVALID_SOCKET)
		closesocket(sock);
	ReleaseExternalFD();
	freeaddrinfo(addrs);
	return ok;
}

/*
 * Has input (or end of file, or an error) arrived on a socket?  Does not
 * wait, and unlike WaitLatchOrSocket builds no WaitEventSet.
 */
static bool
socket_has_input(pgsocket sock)
{
#ifdef HAVE_POLL
	struct pollfd pfd;
	int			rc;

	pfd.fd = sock;
	pfd.events = POLLIN;
	pfd.revents = 0;
	do
		rc = poll(&pfd, 1, 0);
	while (rc < 0 && errno == EINTR);
	/* a failure counts as input: PQconsumeInput will say what it is */
	return rc != 0;
#else
	return (WaitLatchOrSocket(NULL, WL_SOCKET_READABLE | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							  sock, 0, PG_WAIT_EXTENSION) & WL_SOCKET_READABLE) != 0;
#endif
}

/*
 * Is a cached connection still usable: open, idle, and not closed by the
 * peer while we were away?  Input that arrived meanwhile (a peer shutting
 * down says why before it closes) is consumed without waiting.
 */
static bool
connection_is_idle(PGconn *conn)
{
	int			i;

	for (i = 0; i < 8; i++)
	{
		if (PQstatus(conn) != CONNECTION_OK ||
			PQtransactionStatus(conn) != PQTRANS_IDLE ||
			PQsocket(conn) == PGINVALID_SOCKET)
			return false;

		if (!socket_has_input(PQsocket(conn)))
			return true;
		if (!PQconsumeInput(conn))
			return false;
	}
	return false;
}

/*
 * Does the foreign-data wrapper use scor's validator?  Only then were the
 * server's and mapping's options checked by our rules.  The validator is
 * a C function, which only a superuser can create.
 */
static bool
is_scor_wrapper(Oid fdwid)
{
	ForeignDataWrapper *fdw = GetForeignDataWrapper(fdwid);
	HeapTuple	tuple;
	bool		result = false;

	if (!OidIsValid(fdw->fdwvalidator))
		return false;

	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fdw->fdwvalidator));
	if (HeapTupleIsValid(tuple))
	{
		Form_pg_proc proc = (Form_pg_proc) GETSTRUCT(tuple);
		Datum		prosrc;
		bool		isnull;

		prosrc = SysCacheGetAttr(PROCOID, tuple, Anum_pg_proc_prosrc, &isnull);
		if (proc->prolang == ClanguageId && !isnull &&
			strcmp(TextDatumGetCString(prosrc), "scor_fdw_validator") == 0)
			result = true;
		ReleaseSysCache(tuple);
	}
	return result;
}

/*
 * Record a failure of peer p (strings in the caller's memory context).
 */
static void
peer_fail(PeerState *p, int sqlerrcode, const char *detail, const char *hint,
		  const char *fmt,...)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(p->outcxt);
	StringInfoData buf;

	initStringInfo(&buf);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}

	p->step = PEER_FAILED;
	p->sqlerrcode = sqlerrcode;
	p->message = buf.data;
	p->detail = detail ? pstrdup(detail) : NULL;
	p->hint = hint ? pstrdup(hint) : NULL;
	p->context = NULL;
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Record that the connection to p's site could not be made.
 */
static void
peer_fail_connect(PeerState *p, const char *detail)
{
	peer_fail(p, ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
			  detail, NULL,
			  "could not connect to site \"%s\"", p->site);
}

/*
 * Record that the connection to p's site broke.
 */
static void
peer_fail_lost(PeerState *p)
{
	char	   *detail = pchomp(PQerrorMessage(p->entry->conn));

	peer_fail(p, ERRCODE_CONNECTION_FAILURE,
			  detail[0] != '\0' ? detail : NULL, NULL,
			  "lost connection to site \"%s\"", p->site);
}

/*
 * Record the error the peer returned in res, with its SQLSTATE, detail,
 * hint and context.  An error that libpq made up itself (no SQLSTATE) is
 * a connection failure; a FATAL one means the connection is lost.
 */
static void
peer_fail_remote(PeerState *p, PGresult *res)
{
	PGconn	   *conn = p->entry->conn;
	char	   *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	char	   *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	char	   *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	char	   *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
	char	   *context = PQresultErrorField(res, PG_DIAG_CONTEXT);
	char	   *severity;
	int			sqlerrcode;

	if (PQstatus(conn) == CONNECTION_BAD)
	{
		peer_fail_lost(p);
		return;
	}

	/* A FATAL error ends the peer's session: the connection is lost */
	severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	if (severity != NULL &&
		(strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0))
	{
		peer_fail(p, ERRCODE_CONNECTION_FAILURE, primary, NULL,
				  "lost connection to site \"%s\"", p->site);
		return;
	}

	if (sqlstate != NULL && strlen(sqlstate) == 5)
		sqlerrcode = MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2],
								   sqlstate[3], sqlstate[4]);
	else
		sqlerrcode = ERRCODE_CONNECTION_FAILURE;

	if (primary == NULL || primary[0] == '\0')
		primary = pchomp(PQresultErrorMessage(res));
	if (primary[0] == '\0')
		primary = "could not obtain message string for remote error";

	peer_fail(p, sqlerrcode, detail, hint,
			  "site \"%s\" returned an error: %s", p->site, primary);
	if (context != NULL)
		p->context = MemoryContextStrdup(p->outcxt, context);
}

/*
 * Raise the failure recorded for p.  The message was formatted when it
 * was recorded.
 */
static void
report_peer_failure(PeerState *p)
{
	ereport(ERROR,
			(errcode(p->sqlerrcode),
			 errmsg_internal("%s", p->message),
			 p->detail ? errdetail_internal("%s", p->detail) : 0,
			 p->hint ? errhint("%s", p->hint) : 0,
			 p->context ? errcontext("%s", p->context) : 0));
}

/*
 * Begin p's call: check that the current user may use the server, claim
 * the cached connection, and either send the statement on it or start a
 * new connection.  Failures are recorded in p.
 */
static void
start_peer(PeerState *p)
{
	ScorRemoteCall *call = p->call;
	Oid			userid = GetUserId();
	bool		is_superuser = superuser_arg(userid);
	ForeignServer *server;
	UserMapping *user;
	ConnCacheEntry *entry;
	AclResult	aclresult;
	bool		found;
	int			ms;

	server = GetForeignServer(call->serverid);
	if (call->site_name != NULL)
		p->site = call->site_name;
	else if (ScorServerSite(server) != NULL)
		p->site = ScorServerSite(server);
	else
		p->site = server->servername;

	if (!is_scor_wrapper(server->fdwid))
	{
		peer_fail(p, ERRCODE_WRONG_OBJECT_TYPE, NULL, NULL,
				  "foreign server \"%s\" does not use the scor foreign-data wrapper",
				  server->servername);
		return;
	}

	aclresult = pg_foreign_server_aclcheck(server->serverid, userid, ACL_USAGE);
	if (aclresult != ACLCHECK_OK)
	{
		peer_fail(p, ERRCODE_INSUFFICIENT_PRIVILEGE, NULL, NULL,
				  "permission denied for foreign server %s",
				  server->servername);
		return;
	}

	if (!SearchSysCacheExists2(USERMAPPINGUSERSERVER,
							   ObjectIdGetDatum(userid),
							   ObjectIdGetDatum(server->serverid)) &&
		!SearchSysCacheExists2(USERMAPPINGUSERSERVER,
							   ObjectIdGetDatum(InvalidOid),
							   ObjectIdGetDatum(server->serverid)))
	{
		peer_fail(p, ERRCODE_UNDEFINED_OBJECT, NULL, NULL,
				  "user mapping not found for user \"%s\", server \"%s\"",
				  GetUserNameFromId(userid, false), server->servername);
		return;
	}
	user = GetUserMapping(userid, server->serverid);

	ms = ScorServerConnectTimeout(server);
	p->connect_timeout_ms = (ms >= 0) ? ms : scor_connect_timeout_ms;
	ms = ScorServerQueryTimeout(server);
	p->query_timeout_ms = (ms >= 0) ? ms : scor_peer_timeout_ms;

	/* Claim the cache entry; from here on, error paths clean it up */
	init_connection_cache();
	entry = hash_search(ConnectionHash, &user->umid, HASH_ENTER, &found);
	if (!found)
	{
		entry->conn = NULL;
		entry->busy = false;
		entry->query_active = false;
		entry->invalidated = false;
		entry->nonsuper_ok = false;
	}
	if (entry->busy)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("the connection to site \"%s\" is in use by another call in progress",
						p->site),
				 errdetail("A federated query cannot call the same peer twice at once.")));
	entry->busy = true;
	entry->claim_level = GetCurrentTransactionNestLevel();
	p->entry = entry;

	/*
	 * Reuse the cached connection if nothing changed, it is still idle, and
	 * it was made under the rules that apply to the current user.
	 */
	if (entry->conn != NULL &&
		(entry->invalidated ||
		 (!is_superuser && !entry->nonsuper_ok) ||
		 !connection_is_idle(entry->conn)))
		disconnect_entry(entry);

	if (entry->conn != NULL)
	{
		call->conn = entry->conn;
		if (send_call(p))
			return;
		/* it broke while idle; nothing ran, so connect afresh */
		disconnect_entry(entry);
	}

	connect_peer(p, server, user, is_superuser);
}

/*
 * Start a new connection for p (PQconnectStartParams); PQconnectPoll
 * continues it from the wait loop.
 */
static void
connect_peer(PeerState *p, ForeignServer *server, UserMapping *user,
			 bool is_superuser)
{
	ConnCacheEntry *entry = p->entry;
	const char **keywords;
	const char **values;
	PGconn	   *conn;
	int			i;

	ScorConnectionParams(server, user, &keywords, &values);

	p->password_required = ScorPasswordRequired(user);
	p->password_given = false;
	for (i = 0; keywords[i] != NULL; i++)
	{
		if (strcmp(keywords[i], "password") == 0 && values[i][0] != '\0')
			p->password_given = true;
	}

	/*
	 * A non-superuser must not borrow the server's OS user's credentials
	 * (a .pgpass file, a trusted local connection): the mapping must give
	 * a password, and the peer must have used it, unless a superuser said
	 * otherwise with password_required=false.
	 */
	p->check_password = !is_superuser && p->password_required;
	if (p->check_password && !p->password_given)
	{
		peer_fail(p, ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED,
				  "Non-superusers must provide a password in the user mapping.",
				  NULL,
				  "password is required");
		return;
	}

	/* A PGconn holds one long-lived file descriptor */
	if (!AcquireExternalFD())
	{
		peer_fail_connect(p, "There are too many open files on the local server.");
		p->hint = MemoryContextStrdup(p->outcxt,
									  "Raise the server's max_files_per_process and/or \"ulimit -n\" limits.");
		return;
	}

	conn = PQconnectStartParams(keywords, values, 0);
	if (conn == NULL)
	{
		ReleaseExternalFD();
		peer_fail_connect(p, "out of memory");
		return;
	}

	entry->conn = conn;
	entry->query_active = false;
	entry->invalidated = false;
	entry->nonsuper_ok = false;
	entry->server_hashvalue =
		GetSysCacheHashValue1(FOREIGNSERVEROID,
							  ObjectIdGetDatum(server->serverid));
	entry->mapping_hashvalue =
		GetSysCacheHashValue1(USERMAPPINGOID,
							  ObjectIdGetDatum(user->umid));
	p->call->conn = conn;

	if (PQstatus(conn) == CONNECTION_BAD)
	{
		peer_fail_connect(p, pchomp(PQerrorMessage(conn)));
		return;
	}

	p->step = PEER_CONNECTING;
	p->poll = PGRES_POLLING_WRITING;
	p->deadline = (p->connect_timeout_ms > 0) ?
		TimestampTzPlusMilliseconds(GetCurrentTimestamp(), p->connect_timeout_ms) : 0;
}

/*
 * Send p's statement on its connection (text parameters and results).
 * Returns false if it could not be sent.
 */
static bool
send_call(PeerState *p)
{
	ScorRemoteCall *call = p->call;
	PGconn	   *conn = p->entry->conn;

	if (!PQsendQueryParams(conn, call->sql, call->nparams, NULL,
						   call->params, NULL, NULL, 0))
		return false;

	p->entry->query_active = true;
	call->busy = true;
	p->step = PEER_QUERYING;
	p->sent_at = GetCurrentTimestamp();
	p->deadline = (p->query_timeout_ms > 0) ?
		TimestampTzPlusMilliseconds(p->sent_at, p->query_timeout_ms) : 0;
	return true;
}

/*
 * The socket of a connecting peer is ready: advance libpq's state machine;
 * once connected, check how it authenticated and set up the session.
 */
static void
advance_connecting(PeerState *p)
{
	PGconn	   *conn = p->entry->conn;

	p->poll = PQconnectPoll(conn);
	if (p->poll == PGRES_POLLING_FAILED)
	{
		peer_fail_connect(p, pchomp(PQerrorMessage(conn)));
		return;
	}
	if (p->poll != PGRES_POLLING_OK)
		return;

	if (p->check_password && !PQconnectionUsedPassword(conn))
	{
		peer_fail(p, ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED,
				  "Non-superuser cannot connect if the server does not request a password.",
				  "Target server's authentication method must be changed or password_required=false set in the user mapping attributes.",
				  "password is required");
		return;
	}
	p->entry->nonsuper_ok = !p->password_required ||
		(p->password_given && PQconnectionUsedPassword(conn));

	if (!PQsendQuery(conn, REMOTE_SESSION_SETUP))
	{
		peer_fail_lost(p);
		return;
	}
	p->step = PEER_CONFIGURING;
}

/*
 * The socket of a configuring or querying peer is readable: take in what
 * arrived and handle every complete result.  When the session setup is
 * complete, send the call; when the call is complete, it is done.
 */
static void
advance_reading(PeerState *p)
{
	PGconn	   *conn = p->entry->conn;

	if (!PQconsumeInput(conn))
	{
		peer_fail_lost(p);
		return;
	}

	while (!PQisBusy(conn))
	{
		PGresult   *res = PQgetResult(conn);

		if (res == NULL)
		{
			/* the step's command is complete */
			if (p->step == PEER_CONFIGURING)
			{
				if (!send_call(p))
					peer_fail_lost(p);
				return;
			}
			p->entry->query_active = false;
			p->call->busy = false;
			p->call->elapsed_ms =
				(double) (GetCurrentTimestamp() - p->sent_at) / 1000.0;
			p->step = PEER_DONE;
			return;
		}

		handle_result(p, res);
		if (p->step == PEER_FAILED)
			return;
	}
}

/*
 * Handle one result of p's current step; res is always cleared.
 */
static void
handle_result(PeerState *p, PGresult *res)
{
	PG_TRY();
	{
		ExecStatusType status = PQresultStatus(res);

		if (status == PGRES_FATAL_ERROR)
		{
			/* the statement is over at the peer */
			p->entry->query_active = false;
			peer_fail_remote(p, res);
		}
		else if (p->step == PEER_CONFIGURING)
		{
			if (status != PGRES_COMMAND_OK)
				peer_fail(p, ERRCODE_PROTOCOL_VIOLATION, NULL, NULL,
						  "site \"%s\" returned an unexpected result: %s",
						  p->site, PQresStatus(status));
		}
		else if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
			copy_result(p, res);
		else
			peer_fail(p, ERRCODE_PROTOCOL_VIOLATION, NULL, NULL,
					  "site \"%s\" returned an unexpected result: %s",
					  p->site, PQresStatus(status));
	}
	PG_CATCH();
	{
		PQclear(res);
		PG_RE_THROW();
	}
	PG_END_TRY();
	PQclear(res);
}

/*
 * Copy a result's rows into the call, in the caller's memory context, as
 * text (NULL for SQL NULL).  If a statement gives several results, the
 * last one counts, as with PQexec.
 */
static void
copy_result(PeerState *p, PGresult *res)
{
	ScorRemoteCall *call = p->call;
	MemoryContext oldcxt;
	int			ntuples = PQntuples(res);
	int			nfields = PQnfields(res);
	int			ncells;
	char	  **values = NULL;
	int			row;
	int			col;

	if (pg_mul_s32_overflow(ntuples, nfields, &ncells))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("result from site \"%s\" is too large", p->site)));

	oldcxt = MemoryContextSwitchTo(p->outcxt);
	if (ncells > 0)
		values = (char **) MemoryContextAllocHuge(p->outcxt,
												  mul_size(ncells, sizeof(char *)));
	for (row = 0; row < ntuples; row++)
	{
		for (col = 0; col < nfields; col++)
		{
			char	   *value = NULL;

			if (!PQgetisnull(res, row, col))
			{
				int			len = PQgetlength(res, row, col);

				value = palloc(len + 1);
				memcpy(value, PQgetvalue(res, row, col), len);
				value[len] = '\0';
			}
			values[row * nfields + col] = value;
		}
	}
	MemoryContextSwitchTo(oldcxt);

	call->ntuples = ntuples;
	call->nfields = nfields;
	call->values = values;
}

/*
 * run_peers, and on any error (a query cancel or statement_timeout while
 * waiting included) cancel and close every connection still claimed
 * before passing the error on.
 */
static void
run_peers_guarded(PeerState *peers, int npeers, bool stop_on_failure)
{
	PG_TRY();
	{
		run_peers(peers, npeers, stop_on_failure);
	}
	PG_CATCH();
	{
		forget_claims(peers, npeers);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/* After an error: cancel and close every claimed connection, forget them */
static void
forget_claims(PeerState *peers, int npeers)
{
	abandon_busy_entries();
	for (int i = 0; i < npeers; i++)
	{
		peers[i].entry = NULL;
		peers[i].call->conn = NULL;
		peers[i].call->busy = false;
	}
}

/*
 * Start every peer of the batch, then wait for all of them.  With
 * stop_on_failure, stop at the first failure (the caller will raise it);
 * otherwise run every peer to its end.
 */
static void
run_peers(PeerState *peers, int npeers, bool stop_on_failure)
{
	int			i;

	for (i = 0; i < npeers; i++)
	{
		CHECK_FOR_INTERRUPTS();
		start_peer(&peers[i]);
		if (stop_on_failure && peers[i].step == PEER_FAILED)
			return;
	}
	wait_for_peers(peers, npeers, stop_on_failure);
}

/* What a running peer waits for on its socket */
static uint32
peer_wait_events(PeerState *p)
{
	if (p->step != PEER_CONNECTING || p->poll == PGRES_POLLING_READING)
		return WL_SOCKET_READABLE;
#ifdef WIN32
	if (PQstatus(p->entry->conn) == CONNECTION_STARTED)
		return WL_SOCKET_CONNECTED;
#endif
	return WL_SOCKET_WRITEABLE;
}

/*
 * Wait once, up to timeout ms (-1: no limit), for the latch, postmaster
 * death, or the socket of any running peer; returns the number of events
 * stored in events (which has room for nactive + 2).
 *
 * The set of the previous wake-up is used again when it holds exactly the
 * running peers and none of them is connecting; otherwise it is built
 * afresh: a set cannot lose an event, and a connecting peer may change
 * what it waits for, or its socket (libpq tries one address after another,
 * and a new socket may even reuse the old descriptor's number).
 */
static int
wait_round(RoundWait *rw, PeerState *peers, int npeers, int nactive, long timeout,
		   WaitEvent *events)
{
	bool		rebuild = (rw->set == NULL);
	int			i;

	for (i = 0; i < npeers && !rebuild; i++)
	{
		PeerState  *p = &peers[i];
		bool		running = (p->step != PEER_DONE && p->step != PEER_FAILED);

		rebuild = (running != rw->registered[i]) ||
			(running && p->step == PEER_CONNECTING);
	}

	if (rebuild)
	{
		if (rw->set != NULL)
		{
			FreeWaitEventSet(rw->set);
			rw->set = NULL;
		}
		rw->set = CreateWaitEventSet(CurrentMemoryContext, nactive + 2);
		AddWaitEventToSet(rw->set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
		AddWaitEventToSet(rw->set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
		for (i = 0; i < npeers; i++)
		{
			PeerState  *p = &peers[i];

			rw->registered[i] = (p->step != PEER_DONE && p->step != PEER_FAILED);
			if (rw->registered[i])
				AddWaitEventToSet(rw->set, peer_wait_events(p),
								  PQsocket(p->entry->conn), NULL, p);
		}
	}

	return WaitEventSetWait(rw->set, timeout, events, nactive + 2,
							PG_WAIT_EXTENSION);
}

/*
 * Wait on one WaitEventSet for all peers still running: their sockets, the
 * latch (query cancel, statement_timeout and other interrupts) and
 * postmaster death, until each is done, failed or past its deadline.
 *
 * The set is kept from one wake-up to the next while it can be (see
 * wait_round), and freed on every way out, errors included.
 */
static void
wait_for_peers(PeerState *peers, int npeers, bool stop_on_failure)
{
	WaitEvent  *events = palloc(sizeof(WaitEvent) * (npeers + 2));
	RoundWait  *rw = palloc0(sizeof(RoundWait));

	rw->registered = palloc0(sizeof(bool) * npeers);
	PG_TRY();
	{
		wait_for_peers_loop(rw, peers, npeers, stop_on_failure, events);
	}
	PG_FINALLY();
	{
		if (rw->set != NULL)
			FreeWaitEventSet(rw->set);
		rw->set = NULL;
	}
	PG_END_TRY();

	pfree(rw->registered);
	pfree(rw);
	pfree(events);
}

/* The loop of wait_for_peers, waiting on rw */
static void
wait_for_peers_loop(RoundWait *rw, PeerState *peers, int npeers,
					bool stop_on_failure, WaitEvent *events)
{
	for (;;)
	{
		TimestampTz now;
		TimestampTz next_deadline = 0;
		int			nactive = 0;
		bool		any_failed = false;
		long		timeout;
		int			nevents;
		int			i;

		CHECK_FOR_INTERRUPTS();

		now = GetCurrentTimestamp();
		for (i = 0; i < npeers; i++)
		{
			PeerState  *p = &peers[i];

			if (p->step == PEER_DONE)
				continue;
			if (p->step != PEER_FAILED && p->deadline != 0 && now >= p->deadline)
			{
				if (p->step == PEER_QUERYING)
					peer_fail(p, ERRCODE_CONNECTION_FAILURE, NULL,
							  "Raise scor.peer_timeout or the server's query_timeout option if the site needs longer.",
							  "site \"%s\" did not answer within %d ms",
							  p->site, p->query_timeout_ms);
				else
				{
					char	   *detail = psprintf("The connection was not established within %d ms.",
												  p->connect_timeout_ms);

					peer_fail_connect(p, detail);
				}
			}
			if (p->step == PEER_FAILED)
			{
				any_failed = true;
				continue;
			}
			if (PQsocket(p->entry->conn) == PGINVALID_SOCKET)
			{
				peer_fail_lost(p);
				any_failed = true;
				continue;
			}
			nactive++;
			if (p->deadline != 0 &&
				(next_deadline == 0 || p->deadline < next_deadline))
				next_deadline = p->deadline;
		}

		if (nactive == 0 || (stop_on_failure && any_failed))
			break;

		timeout = (next_deadline != 0) ?
			TimestampDifferenceMilliseconds(now, next_deadline) : -1;

		nevents = wait_round(rw, peers, npeers, nactive, timeout, events);

		for (i = 0; i < nevents; i++)
		{
			WaitEvent  *ev = &events[i];
			PeerState  *p = (PeerState *) ev->user_data;

			if (ev->events & WL_LATCH_SET)
			{
				ResetLatch(MyLatch);
				CHECK_FOR_INTERRUPTS();
			}
			if (p == NULL || p->step == PEER_DONE || p->step == PEER_FAILED)
				continue;
			if (p->step == PEER_CONNECTING)
				advance_connecting(p);
			else
				advance_reading(p);
		}
	}
}

/*
 * Unclaim every peer's connection: keep a connection that finished its
 * call and is idle; cancel and close any other.
 */
static void
release_peers(PeerState *peers, int npeers)
{
	int			i;

	for (i = 0; i < npeers; i++)
	{
		PeerState  *p = &peers[i];
		ConnCacheEntry *entry = p->entry;

		if (entry == NULL)
			continue;

		if (p->step == PEER_DONE && !entry->invalidated &&
			entry->conn != NULL &&
			PQtransactionStatus(entry->conn) == PQTRANS_IDLE)
			entry->busy = false;
		else
			abandon_entry(entry);

		p->entry = NULL;
		p->call->conn = NULL;
		p->call->busy = false;
	}
}

/*
 * wait_for_peers, and on any error (a query cancel or statement_timeout
 * included) cancel and close every connection still claimed before
 * passing the error on.
 */
static void
wait_for_peers_guarded(PeerState *peers, int npeers)
{
	PG_TRY();
	{
		wait_for_peers(peers, npeers, true);
	}
	PG_CATCH();
	{
		forget_claims(peers, npeers);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/* A batch of calls started by ScorRemoteCallStart */
struct ScorRemoteBatch
{
	MemoryContext callcxt;		/* the caller's: results and failures */
	MemoryContext workcxt;		/* scratch, deleted by ScorRemoteCallFinish */
	PeerState  *peers;
	int			npeers;
};

/*
 * Start every call: a peer with a cached, idle connection has its
 * statement sent before this returns; the others start connecting.  The
 * caller may do its own work, then must call ScorRemoteCallFinish; if its
 * work fails, it calls ScorRemoteCallAbort (transaction or subtransaction
 * abort would cancel and close the claimed connections too, but later).
 */
ScorRemoteBatch *
ScorRemoteCallStart(ScorRemoteCall *calls, int ncalls)
{
	MemoryContext callcxt = CurrentMemoryContext;
	ScorRemoteBatch *batch = palloc0(sizeof(ScorRemoteBatch));
	int			i;

	batch->callcxt = callcxt;
	batch->npeers = ncalls;
	if (ncalls <= 0)
		return batch;

	/* Scratch space for catalog lookups and connection parameters */
	batch->workcxt = AllocSetContextCreate(callcxt, "scor remote calls",
										   ALLOCSET_SMALL_SIZES);
	MemoryContextSwitchTo(batch->workcxt);

	batch->peers = (PeerState *) palloc0(sizeof(PeerState) * ncalls);
	for (i = 0; i < ncalls; i++)
	{
		calls[i].ntuples = 0;
		calls[i].nfields = 0;
		calls[i].values = NULL;
		calls[i].elapsed_ms = 0;
		calls[i].conn = NULL;
		calls[i].busy = false;
		batch->peers[i].call = &calls[i];
		batch->peers[i].outcxt = callcxt;
		batch->peers[i].step = PEER_CONNECTING;
	}

	PG_TRY();
	{
		for (i = 0; i < ncalls; i++)
		{
			CHECK_FOR_INTERRUPTS();
			start_peer(&batch->peers[i]);
			if (batch->peers[i].step == PEER_FAILED)
				break;
		}
	}
	PG_CATCH();
	{
		abandon_busy_entries();
		PG_RE_THROW();
	}
	PG_END_TRY();

	MemoryContextSwitchTo(callcxt);
	return batch;
}

/*
 * Wait for every call of a batch; on any failure cancel the calls still
 * running and raise an ERROR naming the site (see connection.h).
 */
void
ScorRemoteCallFinish(ScorRemoteBatch *batch)
{
	PeerState  *failed = NULL;
	int			i;

	if (batch->npeers <= 0)
		return;

	MemoryContextSwitchTo(batch->workcxt);
	for (i = 0; i < batch->npeers && failed == NULL; i++)
	{
		if (batch->peers[i].step == PEER_FAILED)
			failed = &batch->peers[i];
	}
	if (failed == NULL)
		wait_for_peers_guarded(batch->peers, batch->npeers);

	for (i = 0; i < batch->npeers && failed == NULL; i++)
	{
		if (batch->peers[i].step == PEER_FAILED)
			failed = &batch->peers[i];
	}

	release_peers(batch->peers, batch->npeers);
	MemoryContextSwitchTo(batch->callcxt);

	if (failed != NULL)
		report_peer_failure(failed);

	MemoryContextDelete(batch->workcxt);
}

/*
 * Give up a batch: cancel what its calls may still run at the peers, and
 * close their connections; see connection.h.  Runs on error paths, so it
 * does not raise.
 */
void
ScorRemoteCallAbort(ScorRemoteBatch *batch)
{
	if (batch == NULL || batch->npeers <= 0)
		return;

	for (int i = 0; i < batch->npeers; i++)
	{
		PeerState  *p = &batch->peers[i];

		if (p->entry != NULL && p->entry->busy)
			abandon_entry(p->entry);
		p->entry = NULL;
		p->call->conn = NULL;
		p->call->busy = false;
	}
}

/*
 * Run every call at its peer concurrently; see connection.h.
 */
void
ScorRemoteCallAll(ScorRemoteCall *calls, int ncalls)
{
	ScorRemoteCallFinish(ScorRemoteCallStart(calls, ncalls));
}

/*
 * Order servers by name, for check_peers.
 */
static int
server_name_cmp(const ListCell *a, const ListCell *b)
{
	ForeignServer *sa = (ForeignServer *) lfirst(a);
	ForeignServer *sb = (ForeignServer *) lfirst(b);

	return strcmp(sa->servername, sb->servername);
}

PG_FUNCTION_INFO_V1(scor_check_peers);

/*
 * scor.check_peers(): connect to every peer (foreign server of the scor
 * wrapper) at once and ask each for its version and scor's; one row per
 * peer, 'ok' with the answer and the round trip time of the question, or
 * 'error' with the reason.  Never raises for a peer's failure, so a DBA
 * sees at once which peers are down.
 */
Datum
scor_check_peers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext callcxt = CurrentMemoryContext;
	List	   *servers = NIL;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tuple;
	ScorRemoteCall *calls;
	PeerState  *peers;
	ListCell   *lc;
	int			npeers;
	int			i;

	InitMaterializedSRF(fcinfo, 0);

	/* Every server of a wrapper that uses scor's validator */
	rel = table_open(ForeignServerRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_foreign_server form = (Form_pg_foreign_server) GETSTRUCT(tuple);

		if (is_scor_wrapper(form->srvfdw))
			servers = lappend(servers, GetForeignServer(form->oid));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	list_sort(servers, server_name_cmp);
	npeers = list_length(servers);
	if (npeers == 0)
		PG_RETURN_VOID();

	calls = (ScorRemoteCall *) palloc0(sizeof(ScorRemoteCall) * npeers);
	peers = (PeerState *) palloc0(sizeof(PeerState) * npeers);
	i = 0;
	foreach(lc, servers)
	{
		ForeignServer *server = (ForeignServer *) lfirst(lc);

		calls[i].serverid = server->serverid;
		calls[i].sql = CHECK_PEERS_SQL;
		peers[i].call = &calls[i];
		peers[i].outcxt = callcxt;
		peers[i].step = PEER_CONNECTING;
		i++;
	}

	run_peers_guarded(peers, npeers, false);
	release_peers(peers, npeers);

	i = 0;
	foreach(lc, servers)
	{
		ForeignServer *server = (ForeignServer *) lfirst(lc);
		PeerState  *p = &peers[i];
		ScorRemoteCall *call = &calls[i];
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = CStringGetTextDatum(server->servername);
		if (p->step == PEER_DONE && call->ntuples == 1 && call->nfields == 2)
		{
			const char *version = ScorRemoteValue(call, 0, 0);
			const char *scor_version = ScorRemoteValue(call, 0, 1);

			values[1] = CStringGetTextDatum("ok");
			if (scor_version != NULL)
				values[2] = CStringGetTextDatum(psprintf("PostgreSQL %s, scor %s",
														 version ? version : "?",
														 scor_version));
			else
				values[2] = CStringGetTextDatum(psprintf("PostgreSQL %s, scor is not installed",
														 version ? version : "?"));
			values[3] = Float8GetDatum(call->elapsed_ms);
		}
		else
		{
			const char *reason;

			if (p->step != PEER_FAILED)
				reason = "unexpected answer to the version query";
			else if (p->detail != NULL)
				reason = psprintf("%s: %s", p->message, p->detail);
			else
				reason = p->message;
			values[1] = CStringGetTextDatum("error");
			values[2] = CStringGetTextDatum(reason);
			nulls[3] = true;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		i++;
	}

	PG_RETURN_VOID();
}
