/*
 * remote.c
 *	  The site side of a federated query: answering a shipped query with
 *	  signed, proven contributions, and partially decrypting a sum that the
 *	  site has checked.
 *
 * Both entry points run the same way whether a peer calls them over libpq
 * or the coordinator calls them for its own site: as the extension's owner,
 * inside a security-restricted operation, with a fixed search_path.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/xact.h"
#include "common/hashfn.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_func.h"
#include "catalog/pg_proc.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "postmaster/bgworker.h"
#include "rewrite/rewriteHandler.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/array.h"
#include "utils/regproc.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/portal.h"
#include "utils/syscache.h"
#include "utils/timeout.h"
#include "utils/varlena.h"

#include "lockdown.h"
#include "protocol.h"
#include "remote.h"

PG_FUNCTION_INFO_V1(scor_remote_contribute);
PG_FUNCTION_INFO_V1(scor_remote_decrypt);

char	   *scor_published_schemas = NULL;
bool		scor_allow_per_site = false;
static int	scor_query_timeout_ms = 60000;
static bool scor_require_templates = false;
static int	scor_query_work_mem_kb = 65536;

/*
 * Set by the coordinator while it runs its own part inside the analyst's
 * transaction, where a budget charge could be rolled back: check_policy
 * then refuses to charge.
 */
bool		scor_own_part_uncommitted = false;

/* Set while this site answers a query whose totals are released per site */
static bool answering_per_site = false;

/* Set while scor.remote_decrypt runs: the answer must be an earlier commit's */
static bool decrypt_needs_committed_answer = false;

/* The executor run in progress, and how many rows it was asked for (0: all) */
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static QueryDesc *running_query = NULL;
static uint64 running_count = 0;

static void scor_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
							 uint64 count, bool execute_once);

/* Whether dp_noise runs in an answer released per site (its noise must then stand alone) */
bool
scor_answering_per_site(void)
{
	return answering_per_site;
}

/* Define the site settings for answering peers */
void
ScorRemoteInit(void)
{
	DefineCustomStringVariable("scor.published_schemas",
							   "Schemas whose tables and views shipped queries may read.",
							   "A comma-separated list; shipped queries run with this search_path, then scor.",
							   &scor_published_schemas,
							   "public",
							   PGC_SUSET, GUC_LIST_INPUT,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("scor.query_timeout",
							"Longest a shipped query may run at this site (0: no limit).",
							NULL,
							&scor_query_timeout_ms,
							60000, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("scor.query_work_mem",
							"work_mem of a shipped query at this site.",
							NULL,
							&scor_query_work_mem_kb,
							65536, 64, MAX_KILOBYTES,
							PGC_SUSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("scor.require_templates",
							 "Answer only this site's approved query templates (scor.query_template).",
							 NULL,
							 &scor_require_templates,
							 false,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("scor.allow_per_site",
							 "Allow this site's own totals to be released, noised and thresholded (the SHRINE way).",
							 "Off: this site's totals are only ever released summed with every other site's.",
							 &scor_allow_per_site,
							 false,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = scor_ExecutorRun;
}

/*
 * Remember which executor run is in progress and whether it fetches every
 * row, so that a remote entry point can tell whether the statement that
 * calls it runs to its end (and commits) or may be suspended after its row.
 */
static void
scor_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
				 uint64 count, bool execute_once)
{
	QueryDesc  *save_query = running_query;
	uint64		save_count = running_count;

	running_query = queryDesc;
	running_count = count;
	PG_TRY();
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(queryDesc, direction, count, execute_once);
		else
			standard_ExecutorRun(queryDesc, direction, count, execute_once);
	}
	PG_FINALLY();
	{
		running_query = save_query;
		running_count = save_count;
	}
	PG_END_TRY();
}

/* Whether this backend is scor's own background worker (worker.c) */
static bool
in_scor_worker(void)
{
	return MyBgworkerEntry != NULL &&
		strcmp(MyBgworkerEntry->bgw_library_name, "scor") == 0 &&
		strcmp(MyBgworkerEntry->bgw_function_name, "scor_worker_main") == 0;
}

/*
 * Refuse to serve a peer unless this call's row is the whole output of a
 * transaction of its own, which commits as soon as the row is sent: no
 * transaction block (explicit, implicit or pipelined), no subtransaction,
 * and a calling statement that is exactly "SELECT <this function>(constants
 * or parameters)", run to its end.  Otherwise a peer could keep the answer
 * or the shares while a rollback erased the query log, the budget charge
 * and the audit rows.  A peer login's session must also be locked down
 * (lockdown.c).  scor's background worker (worker.c) calls in through SPI
 * in a transaction that it commits itself before it answers.
 */
static void
check_standalone_call(FunctionCallInfo fcinfo, const char *name)
{
	Portal		portal = ActivePortal;
	const char *rule = NULL;

	if (in_scor_worker())
		return;
	scor_check_peer_lockdown(name);
	PreventInTransactionBlock(true, name);

	if (portal == NULL || portal->name == NULL || portal->name[0] != '\0' ||
		portal->strategy != PORTAL_ONE_SELECT)
		rule = "It must be called by a plain statement of its own, not through a cursor, a named portal or another command.";
	else if (portal->queryDesc == NULL || running_query != portal->queryDesc ||
			 running_count != 0)
		rule = "Its statement must be run to completion in one go, without a row limit.";
	else if (list_length(portal->stmts) != 1)
		rule = "Its statement must be the only one.";
	else
	{
		PlannedStmt *stmt = linitial_node(PlannedStmt, portal->stmts);
		Plan	   *plan = stmt->planTree;

		if (stmt->commandType != CMD_SELECT || stmt->hasModifyingCTE ||
			stmt->utilityStmt != NULL)
			rule = "Its statement must be a SELECT.";
		else if (plan == NULL || !IsA(plan, Result) || plan->lefttree != NULL ||
				 plan->righttree != NULL || plan->qual != NIL ||
				 ((Result *) plan)->resconstantqual != NULL)
			rule = "Its statement must read no table and have no FROM, WHERE, UNION or other clause.";
		else if (plan->initPlan != NIL || stmt->subplans != NIL)
			rule = "Its statement must have no subqueries.";
		else if (list_length(plan->targetlist) != 1)
			rule = "Its statement must return exactly one column: the function's result.";
		else
		{
			TargetEntry *tle = linitial_node(TargetEntry, plan->targetlist);
			FuncExpr   *call = (FuncExpr *) tle->expr;
			ListCell   *lc;

			if (!IsA(call, FuncExpr) || call->funcid != fcinfo->flinfo->fn_oid ||
				call->funcretset || fcinfo->flinfo->fn_expr != (Node *) call)
				rule = "Its statement's only column must be the call of the function itself.";
			else
			{
				foreach(lc, call->args)
				{
					if (!IsA(lfirst(lc), Const) && !IsA(lfirst(lc), Param))
						rule = "Its arguments must be constants or parameters.";
				}
			}
		}
	}
	if (rule)
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("%s must be the only statement of its transaction", name),
				 errdetail("%s", rule),
				 errhint("Call it alone, as \"SELECT %s(...)\", outside any transaction block.", name)));
}

/* Check one relation a shipped query reads */
static void
check_relation(Oid relid, List *published)
{
	Oid			nspid = get_rel_namespace(relid);
	char	   *nspname = get_namespace_name(nspid);
	ListCell   *lc;

	foreach(lc, published)
	{
		if (strcmp(nspname, (char *) lfirst(lc)) == 0)
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_SCOR_QUERY_REFUSED),
			 errmsg("shipped query reads \"%s.%s\", which this site does not publish",
					nspname, get_rel_name(relid)),
			 errdetail("Shipped queries may read only the schemas in scor.published_schemas (%s).",
					   scor_published_schemas)));
}

/* Walk a query tree and check every relation it reads */
static bool
check_query_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *q = (Query *) node;
		ListCell   *lc;

		if (q->commandType != CMD_SELECT || q->utilityStmt != NULL || q->hasModifyingCTE)
			ereport(ERROR,
					(errcode(ERRCODE_SCOR_QUERY_REFUSED),
					 errmsg("shipped query must be a single read-only SELECT")));
		if (q->rowMarks != NIL)
			ereport(ERROR,
					(errcode(ERRCODE_SCOR_QUERY_REFUSED),
					 errmsg("shipped query must not lock rows")));
		foreach(lc, q->rtable)
		{
			RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

			if (rte->rtekind == RTE_RELATION)
				check_relation(rte->relid, (List *) context);
			else if (rte->rtekind == RTE_FUNCTION || rte->rtekind == RTE_TABLEFUNC)
				ereport(ERROR,
						(errcode(ERRCODE_SCOR_QUERY_REFUSED),
						 errmsg("shipped query must not read from functions")));
		}
		return query_tree_walker(q, check_query_walker, context, 0);
	}
	return expression_tree_walker(node, check_query_walker, context);
}

/* What the function check of a shipped query needs to know */
typedef struct FunctionCheck
{
	Oid			dp_noise;		/* scor.dp_noise */
	Oid			scor_nsp;
	Oid			refused;		/* the first function refused */
	const char *reason;
} FunctionCheck;

/* scor functions a shipped query may call: aggregates, operators, dp_noise */
static const char *const scor_shippable[] = {
	"enc_count", "enc_sum", "ciphertext_add", "ciphertext_sub", "ciphertext_neg",
	"key_fingerprint", "scale", "dp_noise", NULL
};

/*
 * pg_catalog functions that read catalogs, settings or the server's state,
 * run queries of their own, or change something: refused by name prefix
 * even when they are not volatile.
 */
static const char *const catalog_refused_prefixes[] = {
	"pg_", "has_", "current_setting", "current_schema", "current_database",
	"current_user", "session_user", "set_config", "inet_", "version", "txid_",
	"obj_description", "col_description", "shobj_description", "format_type",
	"to_reg", "query_to_", "table_to_", "cursor_to_", "schema_to_",
	"database_to_", "ts_stat", "row_security_active", "nextval", "currval",
	"lastval", "setval", NULL
};

/*
 * Whether a shipped query may not call this function.  It may call scor's
 * aggregates, operators and dp_noise, and pg_catalog functions that are not
 * volatile and do not read the server's catalogs or state.  Nothing else:
 * a function of any other schema, whatever its declared volatility, could
 * run anything as the extension's owner.
 */
static bool
function_refused(Oid func_id, void *context)
{
	FunctionCheck *chk = (FunctionCheck *) context;
	Oid			nsp = get_func_namespace(func_id);
	char	   *name = get_func_name(func_id);
	char		volatility = func_volatile(func_id);

	if (name == NULL)
		return true;
	if (func_id == chk->dp_noise)
		return false;
	if (nsp == chk->scor_nsp)
	{
		for (int i = 0; scor_shippable[i]; i++)
			if (strcmp(name, scor_shippable[i]) == 0 && volatility != PROVOLATILE_VOLATILE)
				return false;
		chk->reason = "Of scor's functions, only its aggregates, operators and dp_noise may be called";
	}
	else if (nsp != PG_CATALOG_NAMESPACE)
		chk->reason = "Only built-in functions and scor's own may be called, directly or through an operator or a cast";
	else if (volatility == PROVOLATILE_VOLATILE)
		chk->reason = "It is volatile; scor.dp_noise is the only volatile function a shipped query may call";
	else
	{
		bool		refused = false;

		for (int i = 0; catalog_refused_prefixes[i] && !refused; i++)
			refused = strncmp(name, catalog_refused_prefixes[i],
							  strlen(catalog_refused_prefixes[i])) == 0;
		if (!refused)
			return false;
		chk->reason = "It reads the server's catalogs, settings or state";
	}
	chk->refused = func_id;
	return true;
}

/* Whether a sort or group clause's operators may run in a shipped query */
static bool
sortgroup_refused(List *clauses, FunctionCheck *chk)
{
	ListCell   *lc;

	foreach(lc, clauses)
	{
		SortGroupClause *sgc = lfirst_node(SortGroupClause, lc);

		if ((OidIsValid(sgc->eqop) && function_refused(get_opcode(sgc->eqop), chk)) ||
			(OidIsValid(sgc->sortop) && function_refused(get_opcode(sgc->sortop), chk)))
			return true;
	}
	return false;
}

/*
 * The kinds of node a shipped query may contain: columns, constants,
 * parameters, calls of functions and operators (checked one by one by
 * function_refused), and the plain expressions and clauses built from
 * them.  Everything else is refused, whatever it is.
 */
static bool
node_kind_allowed(Node *node, FunctionCheck *chk)
{
	switch (nodeTag(node))
	{
		case T_List:
		case T_IntList:
		case T_OidList:
		case T_Query:
		case T_RangeTblRef:
		case T_FromExpr:
		case T_JoinExpr:
		case T_TargetEntry:
		case T_SortGroupClause:
		case T_CommonTableExpr:
		case T_SetOperationStmt:
		case T_SubLink:
		case T_Var:
		case T_Const:
		case T_Param:
		case T_Aggref:
		case T_FuncExpr:
		case T_NamedArgExpr:
		case T_OpExpr:
		case T_DistinctExpr:
		case T_NullIfExpr:
		case T_ScalarArrayOpExpr:
		case T_BoolExpr:
		case T_FieldSelect:
		case T_RelabelType:
		case T_CoerceViaIO:
		case T_ArrayCoerceExpr:
		case T_ConvertRowtypeExpr:
		case T_CollateExpr:
		case T_CaseExpr:
		case T_CaseWhen:
		case T_CaseTestExpr:
		case T_ArrayExpr:
		case T_RowExpr:
		case T_RowCompareExpr:
		case T_CoalesceExpr:
		case T_MinMaxExpr:
		case T_NullTest:
		case T_BooleanTest:
			return true;
		case T_SQLValueFunction:
			/* the date and time are harmless; the user, database and schema are not */
			switch (((SQLValueFunction *) node)->op)
			{
				case SVFOP_CURRENT_DATE:
				case SVFOP_CURRENT_TIME:
				case SVFOP_CURRENT_TIME_N:
				case SVFOP_CURRENT_TIMESTAMP:
				case SVFOP_CURRENT_TIMESTAMP_N:
				case SVFOP_LOCALTIME:
				case SVFOP_LOCALTIME_N:
				case SVFOP_LOCALTIMESTAMP:
				case SVFOP_LOCALTIMESTAMP_N:
					return true;
				default:
					chk->reason = "It reads the session's user, database or schema";
					return false;
			}
		case T_NextValueExpr:
			chk->reason = "It reads a sequence";
			return false;
		case T_CoerceToDomain:
			chk->reason = "A domain's constraints could call any function";
			return false;
		default:
			chk->reason = "Shipped queries may use only columns, constants, parameters, and built-in or scor functions and operators";
			return false;
	}
}

/* A type whose input function reads the catalogs (regclass and its kind) */
static bool
is_catalog_lookup_type(Oid typid)
{
	switch (typid)
	{
		case REGCLASSOID:
		case REGPROCOID:
		case REGPROCEDUREOID:
		case REGOPEROID:
		case REGOPERATOROID:
		case REGTYPEOID:
		case REGROLEOID:
		case REGNAMESPACEOID:
		case REGCONFIGOID:
		case REGDICTIONARYOID:
		case REGCOLLATIONOID:
			return true;
		default:
			return false;
	}
}

/* Check every function, and every expression's type, of a query tree */
static bool
function_check_walker(Node *node, void *context)
{
	FunctionCheck *chk = (FunctionCheck *) context;

	if (node == NULL)
		return false;
	if (!node_kind_allowed(node, chk))
		return true;
	if (IsA(node, Query))
	{
		Query	   *q = (Query *) node;

		if (sortgroup_refused(q->groupClause, chk) ||
			sortgroup_refused(q->sortClause, chk) ||
			sortgroup_refused(q->distinctClause, chk))
			return true;
		return query_tree_walker(q, function_check_walker, context, 0);
	}
	if (IsA(node, SetOperationStmt) &&
		sortgroup_refused(((SetOperationStmt *) node)->groupClauses, chk))
		return true;
	if (IsA(node, SortGroupClause))
		return sortgroup_refused(list_make1(node), chk);
	if (!IsA(node, TargetEntry) && !IsA(node, List) && !IsA(node, IntList) &&
		!IsA(node, OidList) && !IsA(node, FromExpr) && !IsA(node, JoinExpr) &&
		!IsA(node, RangeTblRef) && !IsA(node, CommonTableExpr) &&
		!IsA(node, SetOperationStmt) && is_catalog_lookup_type(exprType(node)))
	{
		chk->reason = "It looks up the catalogs through a reg* type";
		return true;
	}
	/* dp_noise's epsilon and sensitivity travel in the answer: no data in them */
	if (IsA(node, FuncExpr) && ((FuncExpr *) node)->funcid == chk->dp_noise)
	{
		ListCell   *lc;

		for_each_from(lc, ((FuncExpr *) node)->args, 1)
		{
			Node	   *arg = eval_const_expressions(NULL, (Node *) lfirst(lc));

			if (!IsA(arg, Const))
				ereport(ERROR,
						(errcode(ERRCODE_SCOR_QUERY_REFUSED),
						 errmsg("the epsilon and sensitivity of dp_noise must be constants")));
		}
	}
	if (check_functions_in_node(node, function_refused, context))
		return true;
	return expression_tree_walker(node, function_check_walker, context);
}

/* The OIDs of the published schemas that exist, from their names */
static List *
published_schema_oids(List *names)
{
	List	   *oids = NIL;
	ListCell   *lc;

	foreach(lc, names)
	{
		Oid			nsp = get_namespace_oid((char *) lfirst(lc), true);

		if (OidIsValid(nsp))
			oids = lappend_oid(oids, nsp);
	}
	return oids;
}

/* scor.ciphertext, found in scor's schema whatever the search_path holds */
static Oid
ciphertext_type_oid(void)
{
	Oid			oid = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
									  CStringGetDatum("ciphertext"),
									  ObjectIdGetDatum(get_namespace_oid("scor", false)));

	if (!OidIsValid(oid))
		elog(ERROR, "type scor.ciphertext not found");
	return oid;
}

/* scor.dp_noise(ciphertext, float8, bigint) */
static Oid
dp_noise_oid(void)
{
	Oid			args[3];

	args[0] = ciphertext_type_oid();
	args[1] = FLOAT8OID;
	args[2] = INT8OID;
	return LookupFuncName(list_make2(makeString("scor"), makeString("dp_noise")),
						  3, args, false);
}

/* What a search for calls of dp_noise looks for */
typedef struct DpNoiseSearch
{
	Oid			dp_noise;
	bool		or_hidden;		/* also any function that could call it */
	List	   *published_nsps; /* with or_hidden: OIDs of the published schemas */
} DpNoiseSearch;

/*
 * Whether a function is dp_noise, or (when asked) could call it: a function
 * of a published schema (built-in functions and scor's others never do, and
 * shipped queries may call no other).
 */
static bool
dp_noise_or_hidden(Oid func_id, void *context)
{
	DpNoiseSearch *s = (DpNoiseSearch *) context;

	if (func_id == s->dp_noise)
		return true;
	return s->or_hidden && list_member_oid(s->published_nsps, get_func_namespace(func_id));
}

/* Whether a query tree calls dp_noise (or, with or_hidden, may) */
static bool
dp_noise_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, dp_noise_walker, context, 0);
	if (check_functions_in_node(node, dp_noise_or_hidden, context))
		return true;
	return expression_tree_walker(node, dp_noise_walker, context);
}

/* Whether an expression refers to a range-table entry of its own query */
static bool
refers_to_rte_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
		return ((Var *) node)->varlevelsup == 0 && ((Var *) node)->varno == *(int *) context;
	return expression_tree_walker(node, refers_to_rte_walker, context);
}

/* A Var of the given range-table entry, under binary-compatible relabelling */
static Var *
plain_var_of(Node *node, int varno)
{
	while (node != NULL && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	if (node != NULL && IsA(node, Var) && ((Var *) node)->varlevelsup == 0 &&
		((Var *) node)->varno == varno)
		return (Var *) node;
	return NULL;
}

/*
 * The constant rows of a declared group domain, or NULL if a subquery is
 * not one: exactly a VALUES list of constants, read whole.  Nothing is
 * evaluated: this runs before the function check of the shipped query.
 */
static List *
domain_rows(Query *sub)
{
	RangeTblEntry *rte;
	List	   *rows = NIL;
	ListCell   *lc;
	int			attno = 0;

	if (sub == NULL || sub->commandType != CMD_SELECT || list_length(sub->rtable) != 1 ||
		sub->jointree == NULL || list_length(sub->jointree->fromlist) != 1 ||
		sub->jointree->quals != NULL || sub->hasAggs || sub->hasSubLinks ||
		sub->hasWindowFuncs || sub->hasTargetSRFs || sub->cteList != NIL ||
		sub->setOperations != NULL || sub->groupClause != NIL || sub->havingQual != NULL ||
		sub->sortClause != NIL || sub->distinctClause != NIL ||
		sub->limitCount != NULL || sub->limitOffset != NULL)
		return NULL;
	rte = linitial_node(RangeTblEntry, sub->rtable);
	if (rte->rtekind != RTE_VALUES || !IsA(linitial(sub->jointree->fromlist), RangeTblRef) ||
		linitial_node(RangeTblRef, sub->jointree->fromlist)->rtindex != 1)
		return NULL;
	foreach(lc, sub->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		Var		   *v = plain_var_of((Node *) tle->expr, 1);

		if (tle->resjunk || v == NULL || v->varattno != ++attno)
			return NULL;
	}
	foreach(lc, rte->values_lists)
	{
		List	   *row = NIL;
		ListCell   *lc2;

		foreach(lc2, (List *) lfirst(lc))
		{
			Node	   *value = (Node *) lfirst(lc2);

			while (IsA(value, RelabelType))
				value = (Node *) ((RelabelType *) value)->arg;
			if (!IsA(value, Const))
				return NULL;
			row = lappend(row, value);
		}
		rows = lappend(rows, row);
	}
	return rows;
}

/* One equality of a group domain's join: domain column, its equality, collation */
typedef struct DomainKey
{
	AttrNumber	attno;
	Oid			eqfunc;
	Oid			collation;
} DomainKey;

/*
 * Why the join of a group domain to the relation could let one row reach
 * two groups, or NULL if it cannot: the condition must be equalities
 * between a domain column and a column of the relation (with, besides,
 * filters on the relation alone), and no two domain rows may be equal on
 * the columns compared.
 */
static const char *
domain_join_problem(Node *quals, int domain_rt, int rel_rt, Query *domain,
					List *published_nsps)
{
	List	   *conjuncts;
	List	   *keys = NIL;
	List	   *rows = domain_rows(domain);
	ListCell   *lc;
	int			nrows;

	if (quals == NULL)
		return "Its group domain is joined without a condition";
	conjuncts = is_andclause(quals) ? ((BoolExpr *) quals)->args : list_make1(quals);
	foreach(lc, conjuncts)
	{
		Node	   *c = (Node *) lfirst(lc);

		if (IsA(c, OpExpr) && list_length(((OpExpr *) c)->args) == 2)
		{
			OpExpr	   *op = (OpExpr *) c;
			Node	   *l = linitial(op->args);
			Node	   *r = lsecond(op->args);
			Node	   *dside = plain_var_of(l, domain_rt) ? l : r;
			Node	   *rside = dside == l ? r : l;

			if (plain_var_of(dside, domain_rt) != NULL && plain_var_of(rside, rel_rt) != NULL)
			{
				List	   *interps = get_op_btree_interpretation(op->opno);
				Oid			dtype = exprType(dside);
				Oid			eqop = InvalidOid;
				ListCell   *lc2;
				DomainKey  *k;

				foreach(lc2, interps)
				{
					OpBtreeInterpretation *in = (OpBtreeInterpretation *) lfirst(lc2);

					if (in->strategy == BTEqualStrategyNumber && !OidIsValid(eqop))
						eqop = get_opfamily_member(in->opfamily_id, dtype, dtype,
												   BTEqualStrategyNumber);
				}
				if (!OidIsValid(eqop))
					return "Its group domain is joined by an operator that is not a btree equality";
				k = palloc(sizeof(DomainKey));
				k->attno = plain_var_of(dside, domain_rt)->varattno;
				k->eqfunc = get_opcode(eqop);
				/* called below, before the function check: what a shipped query may call */
				if ((get_func_namespace(k->eqfunc) != PG_CATALOG_NAMESPACE &&
					 !list_member_oid(published_nsps, get_func_namespace(k->eqfunc))) ||
					func_volatile(k->eqfunc) == PROVOLATILE_VOLATILE)
					return "Its group domain is compared with an equality that is neither built in nor published";
				k->collation = op->inputcollid;
				keys = lappend(keys, k);
				continue;
			}
		}
		if (refers_to_rte_walker(c, &domain_rt))
			return "Its group domain is joined on something other than equalities of a domain column with a column of the relation";
	}
	if (keys == NIL)
		return "Its group domain is joined without an equality of a domain column with a column of the relation";

	/* distinct domain rows: two rows equal on every key would both match one row */
	nrows = list_length(rows);
	for (int i = 0; i < nrows; i++)
	{
		List	   *a = (List *) list_nth(rows, i);

		for (int j = i + 1; j < nrows; j++)
		{
			List	   *b = (List *) list_nth(rows, j);
			bool		same = true;

			CHECK_FOR_INTERRUPTS();
			foreach(lc, keys)
			{
				DomainKey  *k = (DomainKey *) lfirst(lc);
				Const	   *x = list_nth_node(Const, a, k->attno - 1);
				Const	   *y = list_nth_node(Const, b, k->attno - 1);

				/* a NULL matches no row */
				if (x->constisnull || y->constisnull ||
					!DatumGetBool(OidFunctionCall2Coll(k->eqfunc, k->collation,
													   x->constvalue, y->constvalue)))
				{
					same = false;
					break;
				}
			}
			if (same)
				return "Its group domain lists the same value twice, so one row would be counted in two groups";
		}
	}
	return NULL;
}

/*
 * Why one epsilon per noised column does not bound what a query releases,
 * or NULL if it does.  That holds when every row of the one relation it
 * reads reaches at most one group, and changes each total by at most the
 * stated sensitivity: the query reads exactly one published relation,
 * optionally LEFT JOINed from its declared group domain (a VALUES list of
 * distinct constants, on equality with columns of the relation), with no
 * subquery, set operation, CTE, other join or function in FROM, and groups
 * by plain columns only.  Groups are then disjoint (parallel composition).
 */
static const char *
dp_shape_problem(Query *query, List *published_nsps)
{
	int			rel_rt = 0;
	int			domain_rt = 0;
	Query	   *domain = NULL;
	Node	   *from;
	ListCell   *lc;
	int			rt = 0;

	if (query->setOperations != NULL)
		return "It uses UNION, INTERSECT or EXCEPT";
	if (query->cteList != NIL)
		return "It uses a WITH clause";
	if (query->hasSubLinks)
		return "It uses a subquery";
	foreach(lc, query->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		rt++;
		if (rte->rtekind == RTE_RELATION && rel_rt == 0)
			rel_rt = rt;
		else if (rte->rtekind == RTE_RELATION)
			return "It reads more than one relation, or one relation twice";
		else if (rte->rtekind == RTE_SUBQUERY && domain_rt == 0 && domain_rows(rte->subquery) != NIL)
		{
			domain_rt = rt;
			domain = rte->subquery;
		}
		else if (rte->rtekind == RTE_SUBQUERY)
			return "It reads a subquery in FROM (a set operation, a derived table or a second VALUES list), not only its declared group domain";
		else if (rte->rtekind != RTE_JOIN)
			return "It reads from a function, a VALUES list or a table expression";
	}
	if (rel_rt == 0)
		return "It reads no published relation";
	if (query->jointree == NULL || list_length(query->jointree->fromlist) != 1)
		return "It reads more than one item in FROM (a cross join)";
	from = (Node *) linitial(query->jointree->fromlist);
	if (domain_rt == 0)
	{
		if (!IsA(from, RangeTblRef) || ((RangeTblRef *) from)->rtindex != rel_rt)
			return "It joins the relation";
	}
	else
	{
		JoinExpr   *j = (JoinExpr *) from;
		const char *problem;

		if (!IsA(from, JoinExpr) || j->jointype != JOIN_LEFT ||
			!IsA(j->larg, RangeTblRef) || ((RangeTblRef *) j->larg)->rtindex != domain_rt ||
			!IsA(j->rarg, RangeTblRef) || ((RangeTblRef *) j->rarg)->rtindex != rel_rt)
			return "It joins the relation other than as (VALUES ...) d(key) LEFT JOIN relation ON relation.column = d.key";
		problem = domain_join_problem(j->quals, domain_rt, rel_rt, domain, published_nsps);
		if (problem != NULL)
			return problem;
	}
	foreach(lc, query->groupClause)
	{
		Node	   *key = get_sortgroupclause_expr(lfirst_node(SortGroupClause, lc),
												   query->targetList);

		if (!IsA(key, Var) || ((Var *) key)->varlevelsup != 0)
			return "It groups by an expression, not a plain column";
	}
	return NULL;
}

/* Refuse a differentially private query whose shape dp_shape_problem refuses */
static void
refuse_dp_shape(const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_SCOR_QUERY_REFUSED),
			 errmsg("a query with dp_noise must read one published relation, optionally left-joined from its declared group domain"),
			 errdetail("%s: the same rows could be released in several noised totals for one epsilon, or change a total by more than the stated sensitivity.",
					   problem)));
}

/*
 * Parse and analyse a shipped query, refuse anything that is not a plain
 * read-only SELECT over published relations whose outputs are all scor
 * ciphertexts or GROUP BY keys, and return each output column's kind.
 */
static pg_noinline uint8 *
check_shipped_query(const ScorShippedQuery *q, int *ncolumns_out, const char **dp_problem_out)
{
	const char *sql = q->sql;
	List	   *raw = pg_parse_query(sql);
	RawStmt    *rawstmt;
	Query	   *query;
	List	   *published = NIL;
	char	   *schemas = pstrdup(scor_published_schemas);
	Oid			scor_nsp;
	Oid			ciphertext_oid;
	bool		refused;
	uint8	   *kinds;
	int			n = 0;
	ListCell   *lc;
	FunctionCheck fcheck;
	Oid			dp_noise_args[3];

	/* scor's own type, whatever the shipped query's search_path holds */
	scor_nsp = get_namespace_oid("scor", false);
	ciphertext_oid = ciphertext_type_oid();
	dp_noise_args[0] = ciphertext_oid;
	dp_noise_args[1] = FLOAT8OID;
	dp_noise_args[2] = INT8OID;
	if (list_length(raw) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_SCOR_QUERY_REFUSED),
				 errmsg("shipped query must be exactly one statement")));
	rawstmt = linitial_node(RawStmt, raw);
	if (!IsA(rawstmt->stmt, SelectStmt))
		ereport(ERROR,
				(errcode(ERRCODE_SCOR_QUERY_REFUSED),
				 errmsg("shipped query must be a SELECT")));
	query = parse_analyze_fixedparams(rawstmt, sql, q->types, q->nparams, NULL);

	if (!SplitIdentifierString(schemas, ',', &published))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid list syntax in scor.published_schemas")));
	(void) check_query_walker((Node *) query, published);
	/* refused now if it visibly calls dp_noise, else if its answer carries noise */
	*dp_problem_out = dp_shape_problem(query, published_schema_oids(published));
	if (*dp_problem_out != NULL)
	{
		DpNoiseSearch search = {dp_noise_oid(), false, NIL};

		if (dp_noise_walker((Node *) query, &search))
			refuse_dp_shape(*dp_problem_out);
	}
	memset(&fcheck, 0, sizeof(fcheck));
	fcheck.dp_noise = LookupFuncName(list_make2(makeString("scor"), makeString("dp_noise")),
									 3, dp_noise_args, false);
	fcheck.scor_nsp = scor_nsp;
	refused = function_check_walker((Node *) query, &fcheck);
	/* what the views it reads run, as the extension's owner, is checked too */
	if (!refused)
	{
		foreach(lc, QueryRewrite(copyObject(query)))
		{
			if (function_check_walker((Node *) lfirst(lc), &fcheck))
			{
				refused = true;
				break;
			}
		}
	}
	if (refused)
		ereport(ERROR,
				(errcode(ERRCODE_SCOR_QUERY_REFUSED),
				 OidIsValid(fcheck.refused) ?
				 errmsg("shipped query calls %s, which shipped queries may not call",
						format_procedure(fcheck.refused)) :
				 errmsg("shipped query uses an expression that shipped queries may not use"),
				 errdetail("%s.", fcheck.reason)));
	/* what would make a group's presence or order depend on plaintext aggregates */
	if (query->havingQual != NULL || query->limitCount != NULL || query->limitOffset != NULL ||
		query->sortClause != NIL || query->distinctClause != NIL || query->hasWindowFuncs ||
		query->groupingSets != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_SCOR_QUERY_REFUSED),
				 errmsg("shipped query must not use HAVING, ORDER BY, LIMIT, OFFSET, DISTINCT, window functions or grouping sets"),
				 errdetail("They would let the presence or order of groups reveal plaintext aggregates of this site.")));
	if (query->hasTargetSRFs)
		ereport(ERROR,
				(errcode(ERRCODE_SCOR_QUERY_REFUSED),
				 errmsg("shipped query must not return sets from its select list")));

	kinds = palloc0(list_length(query->targetList) + 1);
	foreach(lc, query->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);

		if (tle->resjunk)
			continue;
		if (exprType((Node *) tle->expr) == ciphertext_oid)
			kinds[n] = COLUMN_CIPHERTEXT;
		else if (tle->ressortgroupref != 0 &&
				 get_sortgroupref_clause_noerr(tle->ressortgroupref, query->groupClause) != NULL)
			kinds[n] = COLUMN_KEY;
		else
			ereport(ERROR,
					(errcode(ERRCODE_SCOR_QUERY_REFUSED),
					 errmsg("column \"%s\" of the shipped query is neither a scor ciphertext nor a GROUP BY key",
							tle->resname ? tle->resname : "?column?"),
					 errdetail("A site returns only encrypted aggregates, and the keys of the groups they belong to.")));
		n++;
	}
	*ncolumns_out = n;
	return kinds;
}

/*
 * Whether this site already answered a query id; if so, whether it was
 * decrypted, and optionally the answer's digest and the log row's xmin.
 */
static bool
query_logged(const uint8 *query_id, bool *decrypted, uint8 *answer_digest,
			 TransactionId *xmin)
{
	Datum		args[1];
	Oid			argtypes[1] = {BYTEAOID};
	bytea	   *qid = palloc(VARHDRSZ + SCOR_QUERY_ID_BYTES);
	bool		found = false;

	SET_VARSIZE(qid, VARHDRSZ + SCOR_QUERY_ID_BYTES);
	memcpy(VARDATA(qid), query_id, SCOR_QUERY_ID_BYTES);
	args[0] = PointerGetDatum(qid);
	if (SPI_execute_with_args("SELECT decrypted_at IS NOT NULL, answer_digest, xmin FROM scor.query_log "
							  "WHERE query_id = $1 FOR UPDATE",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read scor.query_log");
	if (SPI_processed == 1)
	{
		bool		isnull;
		bytea	   *d;

		*decrypted = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		d = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		if (answer_digest)
			memcpy(answer_digest, VARDATA_ANY(d), SCOR_DIGEST_BYTES);
		if (xmin)
			*xmin = DatumGetTransactionId(SPI_getbinval(SPI_tuptable->vals[0],
														SPI_tuptable->tupdesc, 3, &isnull));
		found = true;
	}
	return found;
}

/* Digest of a whole answer message, as the site's query log keeps it */
static void
answer_digest(uint8 *digest, const uint8 *answer, size_t len)
{
	uint8		full[crypto_hash_sha512_BYTES];

	crypto_hash_sha512(full, answer, len);
	memcpy(digest, full, SCOR_DIGEST_BYTES);
}

/* Error context: which site was answering */
static void
answering_context(void *arg)
{
	errcontext("while site \"%s\" answered a federated query", (const char *) arg);
}

/*
 * Append one result row (group) of a shipped query to an answer's body:
 * key values as text, then each ciphertext with a proof of knowledge of its
 * randomness bound to (network, query, site, column, group).  Records each
 * ciphertext column's scale and noise, which must be the same in every row.
 */
static void
contribute_row(StringInfo body, HeapTuple tup, TupleDesc desc, ScorColumn *columns,
			   int ncolumns, int row, const uint8 *network_id,
			   const uint8 *query_id, const char *site)
{
	StringInfoData key;

	/* the group key first: the proofs are bound to it */
	initStringInfo(&key);
	for (int i = 0; i < ncolumns; i++)
		if (columns[i].kind == COLUMN_KEY)
			scor_group_key_append(&key, SPI_getvalue(tup, desc, i + 1));

	for (int i = 0; i < ncolumns; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(tup, desc, i + 1, &isnull);
		Ciphertext *ct;
		uint8		wire[CIPHERTEXT_WIRE_BYTES];
		uint8		r[SCOR_SCALAR_BYTES];
		uint8		proof[SCOR_PROOF_BYTES];
		ScorNoiseInfo noise;
		scor_transcript t;
		int			rc;

		if (columns[i].kind == COLUMN_KEY)
		{
			scor_group_key_append(body, isnull ? NULL : SPI_getvalue(tup, desc, i + 1));
			continue;
		}
		/* which row is null depends on data: a generic failure, as for other errors */
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("column \"%s\" of the shipped query is null in row %d",
							columns[i].name, row + 1),
					 errdetail("Every ciphertext column must hold an encrypted aggregate.")));
		ct = DatumGetCiphertextP(d);
		ciphertext_to_wire(wire, ct);
		if (!scor_capture_lookup(wire + 2 + SCOR_FINGERPRINT_BYTES, r, &noise))
			ereport(ERROR,
					(errcode(ERRCODE_SCOR_QUERY_REFUSED),
					 errmsg("column \"%s\" of the shipped query is not a fresh scor aggregate",
							columns[i].name),
					 errdetail("Only ciphertexts that scor's aggregates encrypt while answering can be contributed; a stored, copied or combined ciphertext cannot.")));
		if (row == 0)
		{
			columns[i].scale = ct->scale;
			columns[i].noise = noise;
		}
		else if (ct->scale != columns[i].scale ||
				 noise.noised != columns[i].noise.noised ||
				 noise.epsilon != columns[i].noise.epsilon ||
				 noise.sensitivity != columns[i].noise.sensitivity)
		{
			sodium_memzero(r, sizeof(r));
			ereport(ERROR,
					(errcode(ERRCODE_SCOR_QUERY_REFUSED),
					 errmsg("column \"%s\" of the shipped query changes its scale or noise from group to group",
							columns[i].name)));
		}
		scor_contribution_transcript(&t, network_id, query_id, site, i, &key, wire);
		rc = scor_schnorr_prove(proof, r, wire + 2 + SCOR_FINGERPRINT_BYTES, &t);
		sodium_memzero(r, sizeof(r));
		if (rc != 0)
			elog(ERROR, "could not prove knowledge of encryption randomness");
		appendBinaryStringInfo(body, (char *) wire, sizeof(wire));
		appendBinaryStringInfo(body, (char *) proof, sizeof(proof));
	}
}

/*
 * This site's policy for what it releases: differential privacy required,
 * largest epsilon per query, a small-cell threshold for per-site totals,
 * and a shape that one epsilon per column covers (dp_problem, from
 * check_shipped_query; NULL if the shape is sound).  Returns the epsilon to
 * charge: the sum over noised columns (the shape makes groups disjoint, so
 * each column is charged once).
 */
static double
check_policy(const ScorColumn *columns, int ncolumns, int ngroups, bool per_site,
			 const char *dp_problem)
{
	double		total = 0;
	int64		total_units = 0;
	int			noised = 0;

	if (per_site && scor_min_cell <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_SCOR_QUERY_REFUSED),
				 errmsg("this site releases per-site totals only with a small-cell threshold"),
				 errdetail("scor.allow_per_site is on, but scor.min_cell is 0."),
				 errhint("Its administrator can set scor.min_cell to a positive threshold.")));
	if (ngroups == 0)
		return 0;				/* nothing is released */
	for (int i = 0; i < ncolumns; i++)
	{
		if (columns[i].kind != COLUMN_CIPHERTEXT)
			continue;
		if (!columns[i].noise.noised)
		{
			if (per_site)
				ereport(ERROR,
						(errcode(ERRCODE_SCOR_QUERY_REFUSED),
						 errmsg("per-site totals must be differentially private"),
						 errdetail("Column \"%s\" has no dp_noise.", columns[i].name)));
			if (scor_require_dp)
				ereport(ERROR,
						(errcode(ERRCODE_SCOR_QUERY_REFUSED),
						 errmsg("this site releases only differentially private totals"),
						 errdetail("Column \"%s\" has no dp_noise.", columns[i].name),
						 errhint("Wrap every aggregate in dp_noise(..., epsilon).")));
			continue;
		}
		total += columns[i].noise.epsilon;
		/* in the units the ledger charges: 10^-12, rounded up */
		total_units += (int64) ceil(columns[i].noise.epsilon * 1e12);
		noised++;
	}
	if (noised > 0 && dp_problem != NULL)
		refuse_dp_shape(dp_problem);
	if (noised > 0 && scor_max_epsilon > 0 &&
		total_units > (int64) floor(scor_max_epsilon * 1e12 + 0.5))
		ereport(ERROR,
				(errcode(ERRCODE_SCOR_QUERY_REFUSED),
				 errmsg("epsilon %g of the query exceeds this site's limit of %g per query",
						total, scor_max_epsilon),
				 errdetail("The epsilon of a query is the sum over its %d noised columns.", noised)));
	if (noised > 0 && scor_own_part_uncommitted)
		ereport(ERROR,
				(errcode(ERRCODE_SCOR_QUERY_REFUSED),
				 errmsg("this site's own part of the query would charge its privacy budget inside the analyst's transaction"),
				 errdetail("The query's noise does not come from a visible call of dp_noise, so the coordinator could not tell in advance that it charges a budget."),
				 errhint("Call dp_noise in the shipped query or template itself.")));
	return total;
}

/*
 * An error raised while a shipped query runs may carry patient data (a
 * division by zero keyed on a value, a cast failing on one row, a value
 * named in a message).  Such an error stays in this site's server log; the
 * caller gets a generic failure naming the site and the query id.  Refusals
 * by scor's own checks, and cancellations, carry no data and pass through.
 * Called in a PG_CATCH block; never returns.
 */
static void
report_shipped_query_failure(const char *site, const char *coordinator,
							 const uint8 *query_id)
{
	ErrorData  *edata = CopyErrorData();

	if (edata->sqlerrcode == ERRCODE_SCOR_QUERY_REFUSED ||
		edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
		edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN ||
		edata->sqlerrcode == ERRCODE_OUT_OF_MEMORY)
		PG_RE_THROW();

	FlushErrorState();
	ereport(LOG,
			(errmsg("shipped query %s from \"%s\" failed at this site: %s",
					scor_hex(query_id, SCOR_QUERY_ID_BYTES), coordinator, edata->message),
			 edata->detail ? errdetail_internal("%s", edata->detail) : 0));
	ereport(ERROR,
			(errcode(ERRCODE_SCOR_QUERY_FAILED),
			 errmsg("the shipped query failed at site \"%s\"", site),
			 errdetail("Query id %s. The cause is in that site's server log; it is not sent, since it could carry patient data.",
					   scor_hex(query_id, SCOR_QUERY_ID_BYTES))));
}

/*
 * Run a checked shipped query and build the body of the answer: its groups,
 * with a proof for every ciphertext.  Returns the column descriptions.
 * Runs inside SPI; any error becomes a generic failure (see
 * report_shipped_query_failure).  The query runs as if in a read-only
 * transaction, so that nothing it reaches can write, whatever the checks
 * missed.
 */
static ScorColumn *
run_shipped_query(const ScorShippedQuery *q, const uint8 *kinds, int ncolumns,
				  const uint8 *network_id, const uint8 *query_id,
				  const char *site, const char *coordinator, bool per_site,
				  MemoryContext caller, StringInfo body, int *ngroups)
{
	ScorColumn *columns;
	bool		save_read_only = XactReadOnly;

	/* what is built here must outlive SPI_finish */
	MemoryContextSwitchTo(caller);
	columns = palloc0(sizeof(ScorColumn) * ncolumns);
	initStringInfo(body);
	scor_capture_begin();
	answering_per_site = per_site;
	PG_TRY();
	{
		TupleDesc	desc;
		char		work_mem[32];
		TimestampTz outer_deadline = 0;

		/* the site's limits on what a shipped query may use */
		snprintf(work_mem, sizeof(work_mem), "%d", scor_query_work_mem_kb);
		(void) set_config_option("work_mem", work_mem, PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		if (get_timeout_active(STATEMENT_TIMEOUT))
			outer_deadline = get_timeout_finish_time(STATEMENT_TIMEOUT);
		if (scor_query_timeout_ms > 0)
		{
			TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
															   scor_query_timeout_ms);

			if (outer_deadline == 0 || deadline < outer_deadline)
				enable_timeout_at(STATEMENT_TIMEOUT, deadline);
		}
		XactReadOnly = true;
		if (SPI_execute_with_args(q->sql, q->nparams, q->types, q->values, NULL,
								  true, 0) != SPI_OK_SELECT)
			ereport(ERROR,
					(errcode(ERRCODE_SCOR_QUERY_REFUSED),
					 errmsg("shipped query must be a SELECT")));
		XactReadOnly = save_read_only;
		/* SPI returns in its own context; the answer must outlive SPI_finish */
		MemoryContextSwitchTo(caller);
		if (outer_deadline != 0)
			enable_timeout_at(STATEMENT_TIMEOUT, outer_deadline);
		else
			disable_timeout(STATEMENT_TIMEOUT, false);
		desc = SPI_tuptable->tupdesc;
		if (desc->natts != ncolumns)
			elog(ERROR, "shipped query returned %d columns, expected %d", desc->natts, ncolumns);
		for (int i = 0; i < ncolumns; i++)
		{
			columns[i].name = pstrdup(NameStr(TupleDescAttr(desc, i)->attname));
			columns[i].kind = kinds[i];
		}
		*ngroups = (int) SPI_processed;
		for (int row = 0; row < *ngroups; row++)
			contribute_row(body, SPI_tuptable->vals[row], desc, columns, ncolumns, row,
						   network_id, query_id, site);
	}
	PG_CATCH();
	{
		XactReadOnly = save_read_only;
		scor_capture_end();
		answering_per_site = false;
		MemoryContextSwitchTo(caller);
		report_shipped_query_failure(site, coordinator, query_id);
	}
	PG_END_TRY();
	scor_capture_end();
	answering_per_site = false;
	return columns;
}

/* The canonical text of a template call, which is logged and digested */
char *
scor_template_call(const char *template_name, int nparams, char **params)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfo(&s, "TEMPLATE %s(", quote_identifier(template_name));
	for (int i = 0; i < nparams; i++)
	{
		if (params[i] == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("template parameter %d is null", i + 1)));
		appendStringInfo(&s, "%s%s", i > 0 ? ", " : "", quote_literal_cstr(params[i]));
	}
	appendStringInfoChar(&s, ')');
	return s.data;
}

/*
 * What a request asks this site to run: the shipped SQL itself, or one of
 * this site's approved query templates with the request's parameters.
 * With scor.require_templates, only templates are answered, and each only
 * for the coordinators it names.  Runs as the extension owner inside SPI.
 */
static void
resolve_request(ScorShippedQuery *q, const char *sql, const char *template_name,
				int nparams, char **params, const char *coordinator, const char *site)
{
	Datum		args[1];
	Oid			argtypes[1] = {TEXTOID};
	bool		isnull;
	ArrayType  *types;
	Datum	   *type_datums;
	int			ntypes;

	memset(q, 0, sizeof(*q));
	if (template_name == NULL || template_name[0] == '\0')
	{
		if (scor_require_templates)
			ereport(ERROR,
					(errcode(ERRCODE_SCOR_QUERY_REFUSED),
					 errmsg("site \"%s\" answers only its approved query templates", site),
					 errhint("Use scor.federate_template().")));
		q->sql = sql;
		return;
	}
	if (strcmp(scor_template_call(template_name, nparams, params), sql) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("malformed template request"),
				 errdetail("The query text does not match the template call.")));

	args[0] = CStringGetTextDatum(template_name);
	if (SPI_execute_with_args("SELECT query, param_types::pg_catalog.oid[], peers "
							  "FROM scor.query_template WHERE name = $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read scor.query_template");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_SCOR_QUERY_REFUSED),
				 errmsg("site \"%s\" has no query template \"%s\"", site, template_name)));
	q->sql = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	types = DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	{
		Datum		peers = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);

		if (!isnull)
		{
			Datum	   *names;
			bool	   *nulls;
			int			nnames;
			bool		allowed = false;

			deconstruct_array(DatumGetArrayTypeP(peers), TEXTOID, -1, false, TYPALIGN_INT,
							  &names, &nulls, &nnames);
			for (int i = 0; i < nnames && !allowed; i++)
				allowed = !nulls[i] && strcmp(TextDatumGetCString(names[i]), coordinator) == 0;
			if (!allowed)
				ereport(ERROR,
						(errcode(ERRCODE_SCOR_QUERY_REFUSED),
						 errmsg("site \"%s\" does not answer template \"%s\" for site \"%s\"",
								site, template_name, coordinator)));
		}
	}
	deconstruct_array(types, OIDOID, sizeof(Oid), true, TYPALIGN_INT, &type_datums, NULL, &ntypes);
	if (ntypes != nparams)
		ereport(ERROR,
				(errcode(ERRCODE_SCOR_QUERY_REFUSED),
				 errmsg("template \"%s\" takes %d parameters, not %d", template_name, ntypes, nparams)));
	q->nparams = nparams;
	q->types = palloc(sizeof(Oid) * Max(nparams, 1));
	q->values = palloc(sizeof(Datum) * Max(nparams, 1));
	for (int i = 0; i < nparams; i++)
	{
		Oid			input;
		Oid			ioparam;

		q->types[i] = DatumGetObjectId(type_datums[i]);
		getTypeInputInfo(q->types[i], &input, &ioparam);
		q->values[i] = OidInputFunctionCall(input, params[i], ioparam, -1);
	}
}

/*
 * Whether this site's own answer to a request may charge its privacy
 * budget, decided from the query this site would run (its own template's
 * text, for a template), parsed, analysed and rewritten (views expanded)
 * as when it answers: it calls dp_noise, or a function outside pg_catalog
 * and scor that could.  The coordinator then runs its own part in a
 * transaction of its own.  Errors are the ones answering would raise.
 */
bool
scor_request_may_charge(const char *site, const char *sql, const char *template_name,
						int nparams, char **params)
{
	ScorShippedQuery shipped;
	ScorOwnerScope scope;
	ErrorContextCallback errcb;
	List	   *raw;
	bool		found = false;
	ListCell   *lc;

	errcb.callback = answering_context;
	errcb.arg = (void *) site;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	scor_become_owner(&scope, "pg_catalog, pg_temp");
	SPI_connect();
	(void) set_config_option("search_path", psprintf("%s, scor", scor_published_schemas),
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	resolve_request(&shipped, sql, template_name, nparams, params, site, site);
	raw = pg_parse_query(shipped.sql);
	/* what answering refuses at once charges nothing; the answer says why */
	if (list_length(raw) == 1 && IsA(linitial_node(RawStmt, raw)->stmt, SelectStmt))
	{
		DpNoiseSearch search = {dp_noise_oid(), true, NIL};
		Query	   *query = parse_analyze_fixedparams(linitial_node(RawStmt, raw), shipped.sql,
													  shipped.types, shipped.nparams, NULL);
		List	   *schemas = NIL;

		if (!SplitIdentifierString(pstrdup(scor_published_schemas), ',', &schemas))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid list syntax in scor.published_schemas")));
		search.published_nsps = published_schema_oids(schemas);
		foreach(lc, pg_rewrite_query(query))
			found = found || dp_noise_walker((Node *) lfirst(lc), &search);
	}
	SPI_finish();
	scor_end_owner(&scope);
	error_context_stack = errcb.previous;
	return found;
}

/*
 * Answer a shipped query: run it, prove and sign every ciphertext, log the
 * query id so that it is answered (and later decrypted) only once.
 */
bytea *
scor_contribute(const uint8 *network_id, const uint8 *query_id,
				const char *coordinator, const char *analyst, const char *sql,
				bool per_site, const char *template_name, int nparams,
				char **params, ScorAuditEvent **audit_out)
{
	ScorShippedQuery shipped;
	ScorOwnerScope scope;
	ScorMember *members;
	int			nmembers;
	int			self;
	const char *site;
	uint8	   *kinds;
	int			ncolumns;
	uint8		digest[SCOR_DIGEST_BYTES];
	uint8		adigest[SCOR_DIGEST_BYTES];
	StringInfoData answer;
	bytea	   *result;
	bool		decrypted;
	ErrorContextCallback errcb;
	char	   *search_path;
	MemoryContext caller = CurrentMemoryContext;
	ScorColumn *columns = NULL;
	StringInfoData body;
	int			ngroups = 0;
	double		epsilon;
	ScorAuditEvent *budget_event = NULL;
	const char *dp_problem = NULL;

	scor_check_network_id(network_id, coordinator);
	members = scor_members(&nmembers, &self);
	site = members[self].site_name;
	scor_query_digest(digest, sql);

	errcb.callback = answering_context;
	errcb.arg = (void *) site;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	search_path = psprintf("%s, scor", scor_published_schemas);
	scor_become_owner(&scope, "pg_catalog, pg_temp");
	SPI_connect();
	if (query_logged(query_id, &decrypted, NULL, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_SCOR_REPLAY),
				 errmsg("query id %s was already answered by site \"%s\"",
						scor_hex(query_id, SCOR_QUERY_ID_BYTES), site),
				 errdetail("A replayed request is refused.")));

	/* the shipped query itself: parsed, checked and run with the published search_path */
	(void) set_config_option("search_path", search_path, PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	resolve_request(&shipped, sql, template_name, nparams, params, coordinator, site);
	kinds = check_shipped_query(&shipped, &ncolumns, &dp_problem);

	if (per_site && !scor_allow_per_site)
		ereport(ERROR,
				(errcode(ERRCODE_SCOR_QUERY_REFUSED),
				 errmsg("site \"%s\" does not release per-site totals", site),
				 errhint("Its administrator can allow it with scor.allow_per_site.")));
	columns = run_shipped_query(&shipped, kinds, ncolumns, network_id, query_id, site,
								coordinator, per_site, caller, &body, &ngroups);

	/* this site's policy, then its budget: both before anything is released */
	epsilon = check_policy(columns, ncolumns, ngroups, per_site, dp_problem);
	if (epsilon > 0)
	{
		ScorAuditEvent *ev = palloc0(sizeof(ScorAuditEvent));
		uint8	   *qid = palloc(SCOR_QUERY_ID_BYTES);

		scor_charge_budget(coordinator, analyst, epsilon);
		MemoryContextSwitchTo(caller);
		memcpy(qid, query_id, SCOR_QUERY_ID_BYTES);
		ev->event = "budget";
		ev->peer = pstrdup(coordinator);
		ev->analyst = pstrdup(analyst);
		ev->query_id = qid;
		ev->query = pstrdup(sql);
		ev->has_epsilon = true;
		ev->epsilon = epsilon;
		budget_event = ev;
	}

	MemoryContextSwitchTo(caller);
	{
		scor_site_keys *keys = scor_load_site_keys(NULL);

		scor_answer_begin(&answer, site, network_id, query_id, digest, scor_min_cell,
						  scor_release_rounding, columns, ncolumns, ngroups);
		appendBinaryStringInfo(&answer, body.data, body.len);
		scor_answer_sign(&answer, keys);
		scor_free_site_keys(keys);
	}

	/* log it; a concurrent replay loses on the primary key */
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	answer_digest(adigest, (uint8 *) answer.data, answer.len);
	{
		Datum		args[7];
		Oid			argtypes[7] = {BYTEAOID, BYTEAOID, TEXTOID, TEXTOID, TEXTOID, BYTEAOID, BOOLOID};

		args[0] = PointerGetDatum(scor_bytea(query_id, SCOR_QUERY_ID_BYTES));
		args[1] = PointerGetDatum(scor_bytea(network_id, SCOR_NETWORK_ID_BYTES));
		args[2] = CStringGetTextDatum(coordinator);
		args[3] = CStringGetTextDatum(analyst);
		args[4] = CStringGetTextDatum(sql);
		args[5] = PointerGetDatum(scor_bytea(adigest, SCOR_DIGEST_BYTES));
		args[6] = BoolGetDatum(per_site);
		if (SPI_execute_with_args("INSERT INTO scor.query_log (query_id, network_id, coordinator, analyst, "
								  "requested_by, query, answer_digest, answered_at, per_site) "
								  "VALUES ($1, $2, $3, $4, pg_catalog.session_user(), $5, $6, pg_catalog.now(), $7) "
								  "ON CONFLICT (query_id) DO NOTHING",
								  7, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not write scor.query_log");
		if (SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_SCOR_REPLAY),
					 errmsg("query id %s was already answered by site \"%s\"",
							scor_hex(query_id, SCOR_QUERY_ID_BYTES), site),
					 errdetail("A replayed request is refused.")));
	}
	SPI_finish();
	scor_end_owner(&scope);
	error_context_stack = errcb.previous;

	result = scor_bytea(answer.data, answer.len);
	pfree(answer.data);
	if (audit_out)
	{
		ScorAuditEvent *ev = palloc0(sizeof(ScorAuditEvent));
		uint8	   *qid = palloc(SCOR_QUERY_ID_BYTES);
		uint8	   *d = palloc(SCOR_DIGEST_BYTES);

		memcpy(qid, query_id, SCOR_QUERY_ID_BYTES);
		memcpy(d, adigest, SCOR_DIGEST_BYTES);
		ev->event = "answer";
		ev->peer = pstrdup(coordinator);
		ev->analyst = pstrdup(analyst);
		ev->query_id = qid;
		ev->query = pstrdup(sql);
		ev->digest = d;
		ev->has_epsilon = epsilon > 0;
		ev->epsilon = epsilon;
		ev->next = budget_event;
		*audit_out = ev;
	}
	return result;
}

/*
 * Check that two answers have the same columns.  Scales and noise come from
 * the ciphertexts, so an answer without groups has none to compare.
 */
static void
check_same_layout(const ScorAnswer *a, const ScorAnswer *b)
{
	bool		same = a->ncolumns == b->ncolumns;
	bool		compare_values = a->ngroups > 0 && b->ngroups > 0;

	for (int i = 0; same && i < a->ncolumns; i++)
	{
		const ScorColumn *x = &a->columns[i];
		const ScorColumn *y = &b->columns[i];

		same = x->kind == y->kind;
		if (same && compare_values && x->kind == COLUMN_CIPHERTEXT)
			same = x->scale == y->scale &&
				x->noise.noised == y->noise.noised &&
				x->noise.epsilon == y->noise.epsilon &&
				x->noise.sensitivity == y->noise.sensitivity &&
				x->noise.honest_sites == y->noise.honest_sites;
	}
	if (!same)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("the answers of sites \"%s\" and \"%s\" have different columns",
						a->site_name, b->site_name),
				 errdetail("Every site must return the same ciphertext columns, with the same scales and noise.")));
}

/* Hash of a group's canonical key bytes */
static uint32
scor_group_hash(const void *key, Size keysize)
{
	const ScorGroup *g = *(ScorGroup *const *) key;

	return DatumGetUInt32(hash_any((const unsigned char *) g->slot_key.data, g->slot_key.len));
}

/* Whether two groups have the same key (0 if so, as hash_search wants) */
static int
scor_group_match(const void *key1, const void *key2, Size keysize)
{
	const ScorGroup *a = *(ScorGroup *const *) key1;
	const ScorGroup *b = *(ScorGroup *const *) key2;

	if (a->slot_key.len != b->slot_key.len)
		return 1;
	return memcmp(a->slot_key.data, b->slot_key.data, a->slot_key.len);
}

/* Order groups by their canonical key bytes */
static int
group_key_cmp(const void *x, const void *y)
{
	const ScorGroup *a = *(ScorGroup *const *) x;
	const ScorGroup *b = *(ScorGroup *const *) y;
	int			c = memcmp(a->slot_key.data, b->slot_key.data,
						   Min(a->slot_key.len, b->slot_key.len));

	if (c != 0)
		return c;
	return (a->slot_key.len > b->slot_key.len) - (a->slot_key.len < b->slot_key.len);
}

/*
 * Verify every answer of a bundle: who sent it, its signature, its columns
 * and headers one by one, this site's own answer against its digest, and
 * the proofs of knowledge of all answers in one batch.  If the batch fails,
 * the answers are checked one at a time so that the error names the site.
 */
static void
verify_answers(ScorAnswer **answers, bytea **raw, const ScorMember *members,
			   int nmembers, int self, const uint8 *own_digest,
			   const uint8 *network_id, const uint8 *query_id, const uint8 *query_digest)
{
	scor_batch	batch;
	volatile bool batch_ok = false;

	scor_batch_init(&batch);
	PG_TRY();
	{
		for (int i = 0; i < nmembers; i++)
		{
			CHECK_FOR_INTERRUPTS();
			scor_answer_verify(answers[i], &members[i], network_id, query_id,
							   query_digest, &batch);
			for (int j = 0; j < i; j++)
				check_same_layout(answers[j], answers[i]);
			if (i == self && own_digest != NULL)
			{
				uint8		d[SCOR_DIGEST_BYTES];

				answer_digest(d, (uint8 *) VARDATA_ANY(raw[i]), VARSIZE_ANY_EXHDR(raw[i]));
				if (memcmp(d, own_digest, SCOR_DIGEST_BYTES) != 0)
					ereport(ERROR,
							(errcode(ERRCODE_SCOR_BAD_PROOF),
							 errmsg("the bundle does not hold site \"%s\"'s own answer unmodified",
									members[i].site_name)));
			}
		}
		batch_ok = scor_batch_verify(&batch) == 0;
	}
	PG_FINALLY();
	{
		scor_batch_free(&batch);
	}
	PG_END_TRY();

	if (batch_ok)
		return;
	for (int i = 0; i < nmembers; i++)
		scor_answer_verify(answers[i], &members[i], network_id, query_id, query_digest, NULL);
	elog(ERROR, "a batch of proofs failed, but each proof verifies alone");
}

/*
 * Verify a bundle completely and sum its contributions per group and
 * column.  Every member must have exactly one answer in it, each verified
 * against that member's pinned keys; if own_digest is given, this site's
 * answer must be the one it returned, unmodified.
 */
ScorCombined *
scor_bundle_combine(const uint8 *network_id, const uint8 *query_id,
					const uint8 *query_digest, const uint8 *bundle, size_t len,
					const ScorMember *members, int nmembers, int self,
					const uint8 *own_digest, bool per_site)
{
	int			nanswers;
	bytea	  **raw = scor_bundle_parse(bundle, len, &nanswers);
	ScorAnswer **answers;
	ScorCombined *c = palloc0(sizeof(ScorCombined));
	HTAB	   *index;
	HASHCTL		ctl;
	int			nct;
	int			cap;

	if (nanswers != nmembers)
		ereport(ERROR,
				(errcode(ERRCODE_SCOR_MEMBER_SET_MISMATCH),
				 errmsg("the bundle holds %d answers for a network of %d members",
						nanswers, nmembers)));
	answers = palloc(sizeof(ScorAnswer *) * nmembers);
	for (int i = 0; i < nmembers; i++)
		answers[i] = scor_answer_parse((uint8 *) VARDATA_ANY(raw[i]), VARSIZE_ANY_EXHDR(raw[i]),
									   members[i].site_name);
	verify_answers(answers, raw, members, nmembers, self, own_digest,
				   network_id, query_id, query_digest);

	/* the columns' scales and noise come from an answer that has groups */
	c->layout = answers[0];
	for (int i = 0; i < nmembers; i++)
	{
		if (answers[i]->ngroups > 0)
		{
			c->layout = answers[i];
			break;
		}
	}
	c->release_rounding = 1;
	for (int i = 0; i < nmembers; i++)
	{
		c->min_cell = Max(c->min_cell, answers[i]->min_cell);
		c->release_rounding = Max(c->release_rounding, answers[i]->release_rounding);
	}
	nct = answers[0]->nciphertexts;
	c->nciphertexts = nct;

	/* union of the groups; sums of C1 and C2 kept decoded */
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(ScorGroup *);
	ctl.entrysize = sizeof(ScorGroupSlot);
	ctl.hash = scor_group_hash;
	ctl.match = scor_group_match;
	ctl.hcxt = CurrentMemoryContext;
	index = hash_create("scor groups", 64, &ctl, HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	cap = 16;
	c->groups = palloc(sizeof(ScorGroup *) * cap);
	c->sums = palloc(sizeof(scor_point) * 2 * nct * cap);
	c->contributors = palloc(sizeof(int) * cap);
	for (int i = 0; i < nmembers; i++)
	{
		for (int g = 0; g < answers[i]->ngroups; g++)
		{
			ScorGroup  *grp = &answers[i]->groups[g];
			bool		found;
			ScorGroupSlot *slot;

			/* per site, every site's group is a slot of its own */
			initStringInfo(&grp->slot_key);
			if (per_site)
				scor_group_key_append(&grp->slot_key, grp->site_name);
			appendBinaryStringInfo(&grp->slot_key, grp->key.data, grp->key.len);
			slot = hash_search(index, &grp, HASH_ENTER, &found);

			CHECK_FOR_INTERRUPTS();
			if (!found)
			{
				if (c->ngroups == cap)
				{
					cap *= 2;
					c->groups = repalloc(c->groups, sizeof(ScorGroup *) * cap);
					c->sums = repalloc(c->sums, sizeof(scor_point) * 2 * nct * cap);
					c->contributors = repalloc(c->contributors, sizeof(int) * cap);
				}
				slot->index = c->ngroups++;
				c->groups[slot->index] = grp;
				c->contributors[slot->index] = 0;
				for (int k = 0; k < 2 * nct; k++)
					scor_point_identity(&c->sums[slot->index * 2 * nct + k]);
			}
			c->contributors[slot->index]++;
			for (int k = 0; k < nct; k++)
			{
				const uint8 *wire = grp->wires + k * CIPHERTEXT_WIRE_BYTES;
				scor_point	p;
				scor_point *sum = &c->sums[slot->index * 2 * nct + 2 * k];

				if (scor_point_decode(&p, wire + 2 + SCOR_FINGERPRINT_BYTES) != 0)
					elog(ERROR, "verified ciphertext does not decode");
				scor_point_add(&sum[0], &sum[0], &p);
				if (scor_point_decode(&p, wire + 2 + SCOR_FINGERPRINT_BYTES + SCOR_ELEMENT_BYTES) != 0)
					elog(ERROR, "verified ciphertext does not decode");
				scor_point_add(&sum[1], &sum[1], &p);
			}
		}
	}

	/* a canonical order that every site computes alike */
	{
		ScorGroup **sorted = palloc(sizeof(ScorGroup *) * Max(c->ngroups, 1));
		scor_point *sums = palloc(sizeof(scor_point) * 2 * nct * Max(c->ngroups, 1));
		int		   *contributors = palloc(sizeof(int) * Max(c->ngroups, 1));

		memcpy(sorted, c->groups, sizeof(ScorGroup *) * c->ngroups);
		qsort(sorted, c->ngroups, sizeof(ScorGroup *), group_key_cmp);
		for (int g = 0; g < c->ngroups; g++)
		{
			bool		found;
			ScorGroupSlot *slot = hash_search(index, &sorted[g], HASH_FIND, &found);

			memcpy(&sums[g * 2 * nct], &c->sums[slot->index * 2 * nct], sizeof(scor_point) * 2 * nct);
			contributors[g] = c->contributors[slot->index];
		}
		c->groups = sorted;
		c->sums = sums;
		c->contributors = contributors;
	}
	hash_destroy(index);
	return c;
}

/*
 * Refuse to decrypt a noised total of a group that fewer than t sites
 * answered: it carries fewer than the t noise shares that give the stated
 * epsilon.  Not for per-site totals, each of which carries a full share.
 */
static void
check_noised_groups(const ScorCombined *c, int nmembers)
{
	int			t = 0;

	for (int i = 0; i < c->layout->ncolumns; i++)
		if (c->layout->columns[i].kind == COLUMN_CIPHERTEXT && c->layout->columns[i].noise.noised)
			t = Max(t, Max(scor_dp_t(nmembers), c->layout->columns[i].noise.honest_sites));
	if (t == 0)
		return;
	for (int g = 0; g < c->ngroups; g++)
	{
		if (c->contributors[g] < t)
		{
			StringInfoData key;
			bool		first = true;

			initStringInfo(&key);
			for (int i = 0; i < c->layout->ncolumns; i++)
			{
				if (c->layout->columns[i].kind != COLUMN_KEY)
					continue;
				appendStringInfo(&key, "%s%s", first ? "" : ", ",
								 c->groups[g]->key_values[i] ? c->groups[g]->key_values[i] : "NULL");
				first = false;
			}
			ereport(ERROR,
					(errcode(ERRCODE_SCOR_QUERY_REFUSED),
					 errmsg_plural("group (%s) was answered by %d site, fewer than the %d whose noise shares its differential privacy needs",
								   "group (%s) was answered by %d sites, fewer than the %d whose noise shares its differential privacy needs",
								   c->contributors[g], key.data, c->contributors[g], t),
					 errdetail("Its noised totals would carry %d of the %d noise shares that give the stated epsilon.",
							   c->contributors[g], t),
					 errhint("Declare the group domain in the shipped query ((VALUES ...) d(key) LEFT JOIN relation ON relation.column = d.key) so that every site answers every group.")));
		}
	}
}

/*
 * Partially decrypt every sum of a verified bundle, once per query, with a
 * DLEQ proof for each share.  Returns the SHARES message.
 */
bytea *
scor_decrypt_bundle(const uint8 *network_id, const uint8 *query_id,
					const uint8 *bundle, size_t len, ScorCombined **combined_out,
					ScorAuditEvent **audit_out)
{
	ScorOwnerScope scope;
	ScorMember *members;
	int			nmembers;
	int			self;
	const char *site;
	bool		decrypted;
	uint8		own_digest[SCOR_DIGEST_BYTES];
	uint8		digest[SCOR_DIGEST_BYTES];
	char	   *sql;
	ScorCombined *c;
	scor_site_keys *keys;
	StringInfoData out;
	bytea	   *result;
	ErrorContextCallback errcb;
	MemoryContext caller = CurrentMemoryContext;
	char	   *coordinator;
	char	   *analyst;
	bool		per_site;
	TransactionId answered_xmin = InvalidTransactionId;

	scor_check_network_id(network_id, "the coordinator");
	members = scor_members(&nmembers, &self);
	site = members[self].site_name;

	errcb.callback = answering_context;
	errcb.arg = (void *) site;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	scor_become_owner(&scope, "pg_catalog, pg_temp");
	SPI_connect();
	if (!query_logged(query_id, &decrypted, own_digest, &answered_xmin))
		ereport(ERROR,
				(errcode(ERRCODE_SCOR_REPLAY),
				 errmsg("site \"%s\" did not answer query id %s",
						site, scor_hex(query_id, SCOR_QUERY_ID_BYTES)),
				 errdetail("A site decrypts only sums of queries it answered itself.")));
	if (decrypted)
		ereport(ERROR,
				(errcode(ERRCODE_SCOR_REPLAY),
				 errmsg("query id %s was already decrypted by site \"%s\"",
						scor_hex(query_id, SCOR_QUERY_ID_BYTES), site),
				 errdetail("A site decrypts each query once; a replayed request is refused.")));
	/* a peer's answer and its decryption never share a transaction */
	if (decrypt_needs_committed_answer && TransactionIdIsCurrentTransactionId(answered_xmin))
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("site \"%s\" decrypts query id %s only after its answer was committed",
						site, scor_hex(query_id, SCOR_QUERY_ID_BYTES)),
				 errdetail("The answer was logged by this very transaction.")));
	{
		Datum		args[1];
		Oid			argtypes[1] = {BYTEAOID};
		bool		isnull;

		args[0] = PointerGetDatum(scor_bytea(query_id, SCOR_QUERY_ID_BYTES));
		if (SPI_execute_with_args("UPDATE scor.query_log SET decrypted_at = pg_catalog.now() "
								  "WHERE query_id = $1 RETURNING query, coordinator, analyst, per_site",
								  1, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE_RETURNING ||
			SPI_processed != 1)
			elog(ERROR, "could not update scor.query_log");
		/* SPI returns in its own context; the shares must outlive SPI_finish */
		MemoryContextSwitchTo(caller);
		sql = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		coordinator = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		analyst = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
		/* as the site answered it, whatever the decryption request says */
		per_site = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull));
	}
	scor_query_digest(digest, sql);

	c = scor_bundle_combine(network_id, query_id, digest, bundle, len,
							members, nmembers, self, own_digest, per_site);
	c->per_site = per_site;
	if (!per_site)
		check_noised_groups(c, nmembers);

	keys = scor_load_site_keys(NULL);
	initStringInfo(&out);
	appendBinaryStringInfo(&out, "SCS1", 4);
	for (int g = 0; g < c->ngroups; g++)
	{
		int			k = 0;

		for (int i = 0; i < c->layout->ncolumns; i++)
		{
			uint8		c1[SCOR_ELEMENT_BYTES];
			uint8		d[SCOR_ELEMENT_BYTES];
			uint8		proof[SCOR_DLEQ_PROOF_BYTES];
			scor_transcript t;

			if (c->layout->columns[i].kind != COLUMN_CIPHERTEXT)
				continue;
			CHECK_FOR_INTERRUPTS();
			scor_point_encode(c1, &c->sums[g * 2 * c->nciphertexts + 2 * k]);
			if (scor_element_is_identity(c1))
				ereport(ERROR,
						(errcode(ERRCODE_SCOR_BAD_PROOF),
						 errmsg("the sum for column \"%s\" has no randomness", c->layout->columns[i].name),
						 errdetail("Decrypting it would reveal the value without the other sites.")));
			scor_share_transcript(&t, network_id, query_id, site, i, &c->groups[g]->slot_key);
			if (scor_partial_decrypt(d, keys->elgamal_secret, c1) != 0 ||
				scor_dleq_prove(proof, keys->elgamal_secret, keys->elgamal_public, c1, d, &t) != 0)
				elog(ERROR, "could not compute a partial decryption");
			appendBinaryStringInfo(&out, (char *) d, sizeof(d));
			appendBinaryStringInfo(&out, (char *) proof, sizeof(proof));
			k++;
		}
	}
	scor_free_site_keys(keys);
	SPI_finish();
	scor_end_owner(&scope);
	error_context_stack = errcb.previous;

	if (combined_out)
		*combined_out = c;
	result = scor_bytea(out.data, out.len);
	if (audit_out)
	{
		ScorAuditEvent *ev = palloc0(sizeof(ScorAuditEvent));
		uint8	   *qid = palloc(SCOR_QUERY_ID_BYTES);
		uint8	   *d = palloc(SCOR_DIGEST_BYTES);

		memcpy(qid, query_id, SCOR_QUERY_ID_BYTES);
		answer_digest(d, (uint8 *) out.data, out.len);
		ev->event = "decrypt";
		ev->peer = coordinator;
		ev->analyst = analyst;
		ev->query_id = qid;
		ev->query = sql;
		ev->digest = d;
		*audit_out = ev;
	}
	pfree(out.data);
	return result;
}

/*
 * The elements of a text[] argument as C strings (NULL for a null element):
 * the parameters of a template call, as every entry point takes them.
 */
char	  **
scor_text_array_strings(ArrayType *arr, int *nitems)
{
	Datum	   *elems;
	bool	   *nulls;
	char	  **strings;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, nitems);
	strings = palloc0(sizeof(char *) * Max(*nitems, 1));
	for (int i = 0; i < *nitems; i++)
		strings[i] = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
	return strings;
}

/* SQL: scor.remote_contribute, what a peer's coordinator calls first */
Datum
scor_remote_contribute(PG_FUNCTION_ARGS)
{
	bytea	   *network_id = PG_GETARG_BYTEA_PP(0);
	bytea	   *query_id = PG_GETARG_BYTEA_PP(1);

	check_standalone_call(fcinfo, "scor.remote_contribute");
	if (VARSIZE_ANY_EXHDR(network_id) != SCOR_NETWORK_ID_BYTES ||
		VARSIZE_ANY_EXHDR(query_id) != SCOR_QUERY_ID_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("malformed federated query request"),
				 errdetail("The network id has %d bytes and the query id %d.",
						   SCOR_NETWORK_ID_BYTES, SCOR_QUERY_ID_BYTES)));
	{
		ScorAuditEvent *ev;
		int			nparams;
		char	  **params;
		bytea	   *answer;
		bytea	   *signature = PG_GETARG_BYTEA_PP(8);
		ScorRequest req;

		params = scor_text_array_strings(PG_GETARG_ARRAYTYPE_P(7), &nparams);

		/* who asks: the named coordinator must have signed it, for this site */
		memset(&req, 0, sizeof(req));
		req.network_id = (uint8 *) VARDATA_ANY(network_id);
		req.query_id = (uint8 *) VARDATA_ANY(query_id);
		req.coordinator = text_to_cstring(PG_GETARG_TEXT_PP(2));
		req.analyst = text_to_cstring(PG_GETARG_TEXT_PP(3));
		req.sql = text_to_cstring(PG_GETARG_TEXT_PP(4));
		req.per_site = PG_GETARG_BOOL(5);
		req.template_name = text_to_cstring(PG_GETARG_TEXT_PP(6));
		req.nparams = nparams;
		req.params = params;
		scor_request_authenticate(&req, (uint8 *) VARDATA_ANY(signature),
								  VARSIZE_ANY_EXHDR(signature));

		answer = scor_contribute(req.network_id, req.query_id, req.coordinator,
								 req.analyst, req.sql, req.per_site,
								 req.template_name, nparams, params, &ev);

		scor_audit_append(ev);
		PG_RETURN_BYTEA_P(answer);
	}
}

/* SQL: scor.remote_decrypt, what a peer's coordinator calls second */
Datum
scor_remote_decrypt(PG_FUNCTION_ARGS)
{
	bytea	   *network_id = PG_GETARG_BYTEA_PP(0);
	bytea	   *query_id = PG_GETARG_BYTEA_PP(1);
	bytea	   *bundle = PG_GETARG_BYTEA_PP(2);

	check_standalone_call(fcinfo, "scor.remote_decrypt");
	if (VARSIZE_ANY_EXHDR(network_id) != SCOR_NETWORK_ID_BYTES ||
		VARSIZE_ANY_EXHDR(query_id) != SCOR_QUERY_ID_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("malformed decryption request"),
				 errdetail("The network id has %d bytes and the query id %d.",
						   SCOR_NETWORK_ID_BYTES, SCOR_QUERY_ID_BYTES)));
	{
		ScorAuditEvent *ev;
		bytea	   *volatile shares = NULL;

		decrypt_needs_committed_answer = true;
		PG_TRY();
		{
			shares = scor_decrypt_bundle((uint8 *) VARDATA_ANY(network_id),
										 (uint8 *) VARDATA_ANY(query_id),
										 (uint8 *) VARDATA_ANY(bundle),
										 VARSIZE_ANY_EXHDR(bundle), NULL, &ev);
		}
		PG_FINALLY();
		{
			decrypt_needs_committed_answer = false;
		}
		PG_END_TRY();

		scor_audit_append(ev);
		PG_RETURN_BYTEA_P(shares);
	}
}
