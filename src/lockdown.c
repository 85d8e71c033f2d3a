/*
 * lockdown.c
 *	  Locking down the sessions of peer logins.
 *
 * A peer site's coordinator logs in as a member of scor_peer and needs
 * nothing but scor's remote entry points.  In such a session (unless its
 * login is a superuser) every statement the client sends is refused at
 * parse analysis, except:
 *
 *	- SELECT scor.remote_contribute(...) and SELECT scor.remote_decrypt(...),
 *	  alone, with constants or parameters as arguments;
 *	- SELECT <columns> FROM scor.site_public_key(), what add_peer asks;
 *	- the coordinator's session set-up and check_peers() query, verbatim
 *	  (connection.h).
 *
 * Fast-path function calls, which bypass parse analysis, are refused too.
 * Statements that scor runs itself while serving (SPI) are not the
 * client's and are not checked here.
 *
 * The lockdown holds only if scor is loaded before the session's first
 * statement: a superuser sets session_preload_libraries = 'scor' on every
 * peer login (a setting the login cannot change).  With
 * scor.require_peer_lockdown (the default), the entry points refuse to
 * serve a peer session in which scor was loaded later.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "parser/analyze.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/varlena.h"

#include "connection.h"
#include "lockdown.h"

bool		scor_require_peer_lockdown = true;

static post_parse_analyze_hook_type prev_post_parse_analyze_hook = NULL;
static object_access_hook_type prev_object_access_hook = NULL;

static void lockdown_post_parse_analyze(ParseState *pstate, Query *query,
										JumbleState *jstate);
static void lockdown_object_access(ObjectAccessType access, Oid classId,
								   Oid objectId, int subId, void *arg);

/* Define scor.require_peer_lockdown and install the hooks */
void
ScorLockdownInit(void)
{
	DefineCustomBoolVariable("scor.require_peer_lockdown",
							 "Serve peer logins only in sessions that scor locked down from their start.",
							 "Every peer login needs ALTER ROLE ... SET session_preload_libraries = 'scor'.",
							 &scor_require_peer_lockdown,
							 true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	prev_post_parse_analyze_hook = post_parse_analyze_hook;
	post_parse_analyze_hook = lockdown_post_parse_analyze;
	prev_object_access_hook = object_access_hook;
	object_access_hook = lockdown_object_access;
}

/*
 * Whether this session is a peer login's: its session user (the login,
 * whatever role it set) is a member of scor_peer and not a superuser.
 * Needs a transaction.
 */
bool
scor_peer_session(void)
{
	Oid			login = GetSessionUserId();
	Oid			peer;

	if (!OidIsValid(login) || superuser_arg(login))
		return false;
	peer = get_role_oid("scor_peer", true);
	return OidIsValid(peer) && is_member_of_role(login, peer);
}

/* Whether a list of libraries to load names scor */
static bool
names_scor(const char *libraries)
{
	char	   *copy = pstrdup(libraries ? libraries : "");
	List	   *names;
	ListCell   *lc;

	if (!SplitDirectoriesString(copy, ',', &names))
		return false;
	foreach(lc, names)
	{
		const char *name = (const char *) lfirst(lc);

		if (strncmp(name, "$libdir/", 8) == 0)
			name += 8;
		if (strcmp(name, "scor") == 0)
			return true;
	}
	return false;
}

/*
 * Refuse to serve a peer login from a session that scor could not lock
 * down from its start (see the file header).  scor was loaded before the
 * session's first statement if shared_preload_libraries or
 * session_preload_libraries names it: the login cannot set either, and
 * setting either later loads nothing.
 */
void
scor_check_peer_lockdown(const char *entry_point)
{
	if (!scor_require_peer_lockdown || !scor_peer_session() ||
		names_scor(shared_preload_libraries_string) ||
		names_scor(session_preload_libraries_string))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("%s serves peer login \"%s\" only in a session locked down from its start",
					entry_point, GetUserNameFromId(GetSessionUserId(), false)),
			 errdetail("scor was not loaded when the session began, so the session could run other statements."),
			 errhint("A superuser runs ALTER ROLE %s SET session_preload_libraries = 'scor'.",
					 quote_identifier(GetUserNameFromId(GetSessionUserId(), false)))));
}

/* Whether a function is scor's and has one of the given names */
static bool
is_scor_function(Oid funcid, const char *const *names)
{
	Oid			scor_nsp = get_namespace_oid("scor", true);
	char	   *name;

	if (!OidIsValid(scor_nsp) || get_func_namespace(funcid) != scor_nsp)
		return false;
	name = get_func_name(funcid);
	for (int i = 0; name && names[i]; i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

/* A SELECT with nothing but a target list and, optionally, a FROM list */
static bool
is_plain_select(Query *query)
{
	return query->commandType == CMD_SELECT && query->utilityStmt == NULL &&
		query->cteList == NIL && query->setOperations == NULL &&
		!query->hasAggs && !query->hasWindowFuncs && !query->hasTargetSRFs &&
		!query->hasSubLinks && !query->hasModifyingCTE && !query->hasForUpdate &&
		query->rowMarks == NIL && query->groupClause == NIL &&
		query->groupingSets == NIL && query->havingQual == NULL &&
		query->sortClause == NIL && query->distinctClause == NIL &&
		query->limitCount == NULL && query->limitOffset == NULL &&
		query->jointree != NULL && query->jointree->quals == NULL;
}

/* SELECT scor.remote_contribute(...) or scor.remote_decrypt(...), and nothing else */
static bool
is_entry_point_call(Query *query)
{
	static const char *const entry_points[] = {"remote_contribute", "remote_decrypt", NULL};
	TargetEntry *tle;
	FuncExpr   *call;
	ListCell   *lc;

	if (!is_plain_select(query) || query->rtable != NIL ||
		query->jointree->fromlist != NIL || list_length(query->targetList) != 1)
		return false;
	tle = linitial_node(TargetEntry, query->targetList);
	call = (FuncExpr *) tle->expr;
	if (tle->resjunk || !IsA(call, FuncExpr) || !is_scor_function(call->funcid, entry_points))
		return false;
	foreach(lc, call->args)
	{
		if (!IsA(lfirst(lc), Const) && !IsA(lfirst(lc), Param))
			return false;
	}
	return true;
}

/* SELECT <columns> FROM scor.site_public_key(), what add_peer asks a peer */
static bool
is_public_key_query(Query *query)
{
	static const char *const key_functions[] = {"site_public_key", NULL};
	RangeTblEntry *rte;
	RangeTblFunction *rtfunc;
	FuncExpr   *call;
	ListCell   *lc;

	if (!is_plain_select(query) || list_length(query->rtable) != 1 ||
		list_length(query->jointree->fromlist) != 1)
		return false;
	rte = linitial_node(RangeTblEntry, query->rtable);
	if (rte->rtekind != RTE_FUNCTION || list_length(rte->functions) != 1)
		return false;
	rtfunc = linitial_node(RangeTblFunction, rte->functions);
	call = (FuncExpr *) rtfunc->funcexpr;
	if (!IsA(call, FuncExpr) || call->args != NIL ||
		!is_scor_function(call->funcid, key_functions))
		return false;
	foreach(lc, query->targetList)
	{
		if (!IsA(lfirst_node(TargetEntry, lc)->expr, Var))
			return false;
	}
	return true;
}

/*
 * Refuse, in a peer login's session, every statement the client sends
 * except the coordinator's own (see the file header).  A statement is the
 * client's when its text is the one the backend is executing; the
 * statements scor runs while serving have texts of their own.
 */
static void
lockdown_post_parse_analyze(ParseState *pstate, Query *query, JumbleState *jstate)
{
	if (prev_post_parse_analyze_hook)
		prev_post_parse_analyze_hook(pstate, query, jstate);

	/* (in an aborted transaction, only its end is analysed, with no catalog access) */
	if (pstate->p_sourcetext == NULL || pstate->p_sourcetext != debug_query_string ||
		!IsTransactionState() || !scor_peer_session())
		return;
	if (strcmp(pstate->p_sourcetext, REMOTE_SESSION_SETUP) == 0 ||
		strcmp(pstate->p_sourcetext, CHECK_PEERS_SQL) == 0 ||
		is_entry_point_call(query) || is_public_key_query(query))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("peer login \"%s\" may only call scor's remote entry points",
					GetUserNameFromId(GetSessionUserId(), false)),
			 errdetail("This session serves a peer site's coordinator; every other statement is refused.")));
}

/*
 * Refuse, in a peer login's session, a function called through the
 * fast-path interface (no statement, no portal), which parse analysis never
 * sees.
 */
static void
lockdown_object_access(ObjectAccessType access, Oid classId, Oid objectId,
					   int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);

	if (access == OAT_FUNCTION_EXECUTE && debug_query_string == NULL &&
		ActivePortal == NULL && IsTransactionState() && scor_peer_session())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("peer login \"%s\" may only call scor's remote entry points",
						GetUserNameFromId(GetSessionUserId(), false)),
				 errdetail("Fast-path function calls are refused in a session that serves a peer site.")));
}
