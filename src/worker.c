/*
 * worker.c
 *	  Running one remote entry point of this site in a transaction of its own.
 *
 * A peer's answer, its privacy-budget charge and its audit rows commit when
 * the peer's statement ends.  The coordinator's own part runs inside the
 * analyst's transaction instead, so a rollback after the totals were seen
 * would undo this site's charge and its record of the query.  For queries
 * that charge a budget, the coordinator therefore runs its own part the way
 * a peer does: here, in a background worker connected to this database as
 * the extension owner, which commits before the totals exist.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "nodes/params.h"
#include "miscadmin.h"
#include "parser/parse_param.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/shm_mq.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "scor.h"
#include "worker.h"

PGDLLEXPORT void scor_worker_main(Datum main_arg);

#define WORKER_QUEUE_BYTES 65536
#define WORKER_MAX_PARAMS 16
#define WORKER_SLOT_WAIT_MS 30000

/* The request, at the start of the shared segment; strings follow it */
typedef struct WorkerRequest
{
	Oid			dbid;
	Oid			userid;
	int			nparams;
	Size		sql_offset;
	Size		param_offset[WORKER_MAX_PARAMS];
	Size		queue_offset;
} WorkerRequest;

/* The parameter types the statement's parsing infers */
typedef struct WorkerParams
{
	Oid		   *types;
	int			ntypes;
} WorkerParams;

/* Parse with parameters of inferred types, as for an untyped libpq call */
static void
worker_parser_setup(ParseState *pstate, void *arg)
{
	WorkerParams *params = (WorkerParams *) arg;

	setup_parse_variable_parameters(pstate, &params->types, &params->ntypes);
}

/* Copy a string into the segment at *pos, returning its offset */
static Size
put_string(char *base, Size *pos, const char *s)
{
	Size		at = *pos;
	Size		len = strlen(s) + 1;

	memcpy(base + at, s, len);
	*pos += len;
	return at;
}

/*
 * Run sql (one statement returning one bytea) with text parameters in a
 * background worker, committed on its own, and return its result.  The
 * worker's error, if any, is raised here with its SQLSTATE and message.
 */
bytea *
scor_run_autonomously(const char *sql, int nparams, const char *const *params)
{
	Size		size = MAXALIGN(sizeof(WorkerRequest)) + strlen(sql) + 1;
	Size		pos;
	dsm_segment *seg;
	WorkerRequest *req;
	char	   *base;
	shm_mq	   *mq;
	shm_mq_handle *mqh;
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	shm_mq_result res;
	Size		len;
	void	   *data;
	bytea	   *result = NULL;
	TimestampTz deadline;
	volatile bool answered = false;

	if (nparams > WORKER_MAX_PARAMS)
		elog(ERROR, "too many parameters for a scor worker");
	for (int i = 0; i < nparams; i++)
		size += strlen(params[i]) + 1;
	size = MAXALIGN(size) + WORKER_QUEUE_BYTES;

	seg = dsm_create(size, 0);
	base = dsm_segment_address(seg);
	req = (WorkerRequest *) base;
	req->dbid = MyDatabaseId;
	req->userid = scor_extension_owner();
	req->nparams = nparams;
	pos = MAXALIGN(sizeof(WorkerRequest));
	req->sql_offset = put_string(base, &pos, sql);
	for (int i = 0; i < nparams; i++)
		req->param_offset[i] = put_string(base, &pos, params[i]);
	req->queue_offset = MAXALIGN(pos);

	mq = shm_mq_create(base + req->queue_offset, WORKER_QUEUE_BYTES);
	shm_mq_set_receiver(mq, MyProc);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "scor");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "scor_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "scor worker for PID %d", MyProcPid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "scor worker");
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	/* every slot may be taken by concurrent queries: wait for one, a while */
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), WORKER_SLOT_WAIT_MS);
	while (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		if (GetCurrentTimestamp() >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("could not start a background worker for this site's part of the query"),
					 errdetail("No worker slot came free within %d ms.", WORKER_SLOT_WAIT_MS),
					 errhint("Raise max_worker_processes: a query with dp_noise runs this site's part in a worker of its own.")));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	mqh = shm_mq_attach(mq, seg, handle);

	PG_TRY();
	{
		/* waits on the latch: interruptible */
		res = shm_mq_receive(mqh, &len, &data, false);
		answered = (res == SHM_MQ_SUCCESS);
		if (res != SHM_MQ_SUCCESS || len < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("the background worker for this site's part of the query exited without an answer")));
		if (((char *) data)[0] == 'R')
		{
			char	   *text = pnstrdup((char *) data + 1, len - 1);

			result = DatumGetByteaPP(DirectFunctionCall1(byteain, CStringGetDatum(text)));
		}
		else
		{
			/* 'E', sqlstate (5), then message, detail and hint, NUL-separated */
			const char *p = (const char *) data + 1;
			const char *end = (const char *) data + len;
			const char *message;
			const char *detail;
			const char *hint;

			if (len < 7 || memchr(p, '\0', end - p) == NULL)
				elog(ERROR, "malformed error from a scor worker");
			message = p + 5;
			detail = message + strlen(message) + 1;
			hint = detail < end ? detail + strlen(detail) + 1 : end;
			ereport(ERROR,
					(errcode(MAKE_SQLSTATE(p[0], p[1], p[2], p[3], p[4])),
					 errmsg_internal("%s", message),
					 (detail < end && detail[0]) ? errdetail_internal("%s", detail) : 0,
					 (hint < end && hint[0]) ? errhint("%s", hint) : 0));
		}
	}
	PG_CATCH();
	{
		/*
		 * Stop a worker that is still at work (this backend was interrupted
		 * while waiting); one that has answered is on its way out already.
		 */
		if (!answered)
			TerminateBackgroundWorker(handle);
		PG_RE_THROW();
	}
	PG_END_TRY();

	dsm_detach(seg);
	return result;
}

/* Send the current error to the leader (in a PG_CATCH block) */
static void
send_error(shm_mq_handle *mqh)
{
	ErrorData  *edata;
	StringInfoData msg;
	const char *code;

	MemoryContextSwitchTo(TopMemoryContext);
	edata = CopyErrorData();
	FlushErrorState();
	code = unpack_sql_state(edata->sqlerrcode);

	initStringInfo(&msg);
	appendStringInfoChar(&msg, 'E');
	appendBinaryStringInfo(&msg, code, 5);
	appendBinaryStringInfo(&msg, edata->message ? edata->message : "", strlen(edata->message ? edata->message : "") + 1);
	appendBinaryStringInfo(&msg, edata->detail ? edata->detail : "", strlen(edata->detail ? edata->detail : "") + 1);
	appendBinaryStringInfo(&msg, edata->hint ? edata->hint : "", strlen(edata->hint ? edata->hint : "") + 1);
	(void) shm_mq_send(mqh, msg.len, msg.data, false, true);
}

/* Entry point of the background worker: run the request, commit, answer */
void
scor_worker_main(Datum main_arg)
{
	dsm_segment *seg;
	WorkerRequest *req;
	char	   *base;
	shm_mq	   *mq;
	shm_mq_handle *mqh;

	/*
	 * SIGTERM as in a backend: die() only sets a flag that the next
	 * CHECK_FOR_INTERRUPTS acts on, so a termination can never cut into
	 * this process's own exit (the default handler raises FATAL from the
	 * signal handler, which there leaves the postmaster to assume a crash).
	 */
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not map the scor worker's shared memory")));
	base = dsm_segment_address(seg);
	req = (WorkerRequest *) base;
	mq = (shm_mq *) (base + req->queue_offset);
	shm_mq_set_sender(mq, MyProc);
	mqh = shm_mq_attach(mq, seg, NULL);

	BackgroundWorkerInitializeConnectionByOid(req->dbid, req->userid, 0);

	PG_TRY();
	{
		WorkerParams params;
		SPIPlanPtr	plan;
		ParamListInfo paramli;
		char	   *result;
		StringInfoData msg;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, base + req->sql_offset);
		/* untyped, as libpq sends them: the statement's casts give the types */
		params.types = NULL;
		params.ntypes = 0;
		plan = SPI_prepare_params(base + req->sql_offset, worker_parser_setup, &params, 0);
		if (plan == NULL || params.ntypes != req->nparams)
			elog(ERROR, "could not prepare a scor worker's statement");
		paramli = makeParamList(req->nparams);
		for (int i = 0; i < req->nparams; i++)
		{
			Oid			input;
			Oid			ioparam;

			getTypeInputInfo(params.types[i], &input, &ioparam);
			paramli->params[i].value = OidInputFunctionCall(input, base + req->param_offset[i],
															ioparam, -1);
			paramli->params[i].isnull = false;
			paramli->params[i].pflags = PARAM_FLAG_CONST;
			paramli->params[i].ptype = params.types[i];
		}
		if (SPI_execute_plan_with_paramlist(plan, paramli, false, 1) != SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "a scor worker's statement returned no row");
		result = MemoryContextStrdup(TopMemoryContext,
									 SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);

		initStringInfo(&msg);
		appendStringInfoChar(&msg, 'R');
		appendStringInfoString(&msg, result);
		(void) shm_mq_send(mqh, msg.len, msg.data, false, true);
	}
	PG_CATCH();
	{
		send_error(mqh);
		AbortOutOfAnyTransaction();
	}
	PG_END_TRY();

	dsm_detach(seg);
	proc_exit(0);
}
