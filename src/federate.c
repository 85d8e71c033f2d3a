/*
 * federate.c
 *	  The coordinator: scor.federate() and the pinning of peers' keys.
 *
 * scor.federate(sql) sends the shipped query to every peer at once and
 * answers it for this site too, bundles the signed answers, asks every site
 * (itself included) for partial decryptions of the sums it has checked,
 * verifies each DLEQ proof against the pinned keys, decodes and returns
 * ordinary rows.  Any failure is an ERROR that names the site.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

#include "connection.h"
#include "noise.h"
#include "protocol.h"
#include "remote.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(scor_federate);
PG_FUNCTION_INFO_V1(scor_federate_template);
PG_FUNCTION_INFO_V1(scor_add_peer);
PG_FUNCTION_INFO_V1(scor_remove_peer);
PG_FUNCTION_INFO_V1(scor_request_signature);

#define SHARES_MAGIC "SCS1"
#define DECRYPT_SQL "SELECT scor.remote_decrypt($1::bytea, $2::bytea, $3::bytea)"
#define CONTRIBUTE_SQL \
	"SELECT scor.remote_contribute($1::bytea, $2::bytea, $3, $4, $5, $6::boolean, $7, $8::text[], $9::bytea)"
#define CONTRIBUTE_NPARAMS 9
#define SHARE_BYTES (SCOR_ELEMENT_BYTES + SCOR_DLEQ_PROOF_BYTES)

/* bytea literal ("\x...") for a text-format libpq parameter */
static char *
bytea_param(const uint8 *data, size_t len)
{
	char	   *out = palloc(2 * len + 3);

	out[0] = '\\';
	out[1] = 'x';
	sodium_bin2hex(out + 2, 2 * len + 1, data, len);
	return out;
}

/* A text[] literal of the given strings, for a text-format libpq parameter */
static char *
text_array_literal(int n, char **items)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfoChar(&s, '{');
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoChar(&s, ',');
		appendStringInfoChar(&s, '"');
		for (const char *p = items[i]; p && *p; p++)
		{
			if (*p == '"' || *p == '\\')
				appendStringInfoChar(&s, '\\');
			appendStringInfoChar(&s, *p);
		}
		appendStringInfoChar(&s, '"');
	}
	appendStringInfoChar(&s, '}');
	return s.data;
}

/* Decode a bytea value in text form received from a site */
static bytea *
bytea_from_text(const char *text, const char *site)
{
	size_t		hexlen;
	size_t		binlen;
	bytea	   *b;

	if (text == NULL || strncmp(text, "\\x", 2) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("site \"%s\" sent a malformed reply", site),
				 errdetail("Expected one bytea value in hex format.")));
	hexlen = strlen(text + 2);
	b = palloc(VARHDRSZ + hexlen / 2 + 1);
	if (hexlen % 2 != 0 ||
		sodium_hex2bin((uint8 *) VARDATA(b), hexlen / 2, text + 2, hexlen, NULL, &binlen, NULL) != 0 ||
		binlen != hexlen / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("site \"%s\" sent a malformed reply", site),
				 errdetail("The bytea value is not valid hex.")));
	SET_VARSIZE(b, VARHDRSZ + binlen);
	return b;
}

/* A statement sent to every peer at once; each must answer one bytea */
typedef struct PeerRound
{
	ScorRemoteCall *calls;
	ScorRemoteBatch *batch;
} PeerRound;

/*
 * Send one statement to every peer, without waiting: with the same
 * parameters, or with member_params[i] for member i if given
 */
static void
peers_start(PeerRound *round, ScorMember *members, int nmembers, int self,
			const char *sql, const char *const *params,
			const char **const *member_params, int nparams)
{
	int			n = 0;

	round->calls = palloc0(sizeof(ScorRemoteCall) * Max(nmembers - 1, 1));
	for (int i = 0; i < nmembers; i++)
	{
		if (i == self)
			continue;
		round->calls[n].serverid = members[i].serverid;
		round->calls[n].site_name = members[i].site_name;
		round->calls[n].sql = sql;
		round->calls[n].nparams = nparams;
		round->calls[n].params = member_params ? member_params[i] : params;
		n++;
	}
	round->batch = ScorRemoteCallStart(round->calls, n);
}

/*
 * Give up a round started by peers_start after a local error: cancel the
 * statements still running at the peers and close their connections.
 * Called in a PG_CATCH block; does not raise.
 */
static void
peers_abort(PeerRound *round)
{
	ScorRemoteCallAbort(round->batch);
}

/*
 * The parameters of CONTRIBUTE_SQL for every member: the common request,
 * and its signature by this site for that member.
 */
static const char ***
signed_requests(const char **request, ScorRequest *req, ScorMember *members,
				int nmembers)
{
	const char ***out = palloc(sizeof(char **) * nmembers);
	scor_site_keys *keys = scor_load_site_keys(NULL);

	for (int i = 0; i < nmembers; i++)
	{
		const char **params = palloc(sizeof(char *) * CONTRIBUTE_NPARAMS);
		uint8		signature[SCOR_SIGNATURE_BYTES];

		memcpy(params, request, sizeof(char *) * (CONTRIBUTE_NPARAMS - 1));
		req->site = members[i].site_name;
		scor_request_sign(signature, req, keys);
		params[CONTRIBUTE_NPARAMS - 1] = bytea_param(signature, sizeof(signature));
		out[i] = params;
	}
	scor_free_site_keys(keys);
	return out;
}

/* Wait for every peer's reply and decode it into replies[member index] */
static void
peers_finish(PeerRound *round, ScorMember *members, int nmembers, int self,
			 bytea **replies)
{
	int			n = 0;

	ScorRemoteCallFinish(round->batch);
	for (int i = 0; i < nmembers; i++)
	{
		ScorRemoteCall *call;

		if (i == self)
			continue;
		call = &round->calls[n++];
		if (call->ntuples != 1 || call->nfields != 1)
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("site \"%s\" sent a malformed reply", members[i].site_name),
					 errdetail("Expected one row with one column, got %d rows of %d columns.",
							   call->ntuples, call->nfields)));
		replies[i] = bytea_from_text(ScorRemoteValue(call, 0, 0), members[i].site_name);
	}
}

/*
 * Check that a column the caller declared as typid can hold the totals of
 * a ciphertext column of the given scale: bigint or integer for integers,
 * numeric for either
 */
static void
check_total_type(Oid typid, int scale, const char *column)
{
	if (typid == NUMERICOID || (scale == 0 && (typid == INT8OID || typid == INT4OID)))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("column \"%s\" is declared as %s, but its totals are %s",
					column, format_type_be(typid), scale == 0 ? "integers" : "decimals"),
			 errhint("Declare encrypted columns as %s.", scale == 0 ? "bigint (or integer, or numeric)" : "numeric")));
}

/* Convert a decoded total to the type the caller declared for its column */
static Datum
total_datum(int64 m, int scale, Oid typid, const char *column)
{
	check_total_type(typid, scale, column);
	switch (typid)
	{
		case INT8OID:
			if (scale == 0)
				return Int64GetDatum(m);
			break;
		case INT4OID:
			if (scale == 0 && m >= PG_INT32_MIN && m <= PG_INT32_MAX)
				return Int32GetDatum((int32) m);
			if (scale == 0)
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("total %lld of column \"%s\" is out of range for type integer",
								(long long) m, column),
						 errhint("Declare the column as bigint.")));
			break;
		case NUMERICOID:
			return scor_numeric_from_scaled(m, scale);
		default:
			break;
	}
	elog(ERROR, "column \"%s\" of type %s passed the type check", column, format_type_be(typid));
	return (Datum) 0;			/* keep compiler quiet */
}

/*
 * Round a released total to the nearest multiple of rounding units of its
 * column (for a decimal sum of scale s, of rounding * 10^s in the decoded
 * integer), halves away from zero.
 */
static pg_noinline int64
round_total(int64 m, int32 rounding, int scale)
{
	int128		unit = rounding;
	int128		x = m;
	int128		r;

	if (rounding <= 1)
		return m;
	for (int i = 0; i < scale; i++)
		unit *= 10;
	r = (x >= 0 ? (x + unit / 2) / unit : -((-x + unit / 2) / unit)) * unit;
	if (r > PG_INT64_MAX || r < PG_INT64_MIN)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("a total rounded to a multiple of %d is out of range", rounding)));
	return (int64) r;
}

/* Error context: which group and column was being decoded */
typedef struct DecodeContext
{
	const char *column;
	int			group;
} DecodeContext;

static void
decode_context(void *arg)
{
	DecodeContext *dc = (DecodeContext *) arg;

	errcontext("decoding column \"%s\" of group %d", dc->column, dc->group);
}

/*
 * Check every site's SHARES message: one share per group and ciphertext
 * column, each with a DLEQ proof against the site's pinned key and the sum
 * this coordinator computed.  With a batch, the proofs are only gathered
 * (malformed ones fail at once); without, each is checked.  Accumulates
 * the sum of the shares D_i per slot into dsum.
 */
static void
verify_shares(const ScorMember *member, const bytea *shares, const ScorCombined *c,
			  const uint8 *network_id, const uint8 *query_id, scor_point *dsum,
			  scor_batch *batch)
{
	const uint8 *p = (const uint8 *) VARDATA_ANY(shares);
	size_t		len = VARSIZE_ANY_EXHDR(shares);
	size_t		expected = 4 + (size_t) c->ngroups * c->nciphertexts * SHARE_BYTES;

	if (len != expected || memcmp(p, SHARES_MAGIC, 4) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("malformed partial decryption from site \"%s\"", member->site_name),
				 errdetail("Expected %zu bytes, got %zu.", expected, len)));
	p += 4;
	for (int g = 0; g < c->ngroups; g++)
	{
		int			k = 0;

		for (int i = 0; i < c->layout->ncolumns; i++)
		{
			uint8		c1[SCOR_ELEMENT_BYTES];
			scor_transcript t;
			scor_point	d;

			if (c->layout->columns[i].kind != COLUMN_CIPHERTEXT)
				continue;
			CHECK_FOR_INTERRUPTS();
			scor_point_encode(c1, &c->sums[g * 2 * c->nciphertexts + 2 * k]);
			scor_share_transcript(&t, network_id, query_id, member->site_name, i,
								  &c->groups[g]->slot_key);
			if ((batch != NULL ?
				 scor_batch_add_dleq(batch, p + SCOR_ELEMENT_BYTES, member->public_key, c1, p, &t) :
				 scor_dleq_verify(p + SCOR_ELEMENT_BYTES, member->public_key, c1, p, &t)) != 0 ||
				scor_point_decode(&d, p) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_SCOR_BAD_PROOF),
						 errmsg("the partial decryption of site \"%s\" does not verify", member->site_name),
						 errdetail("Its DLEQ proof for column \"%s\" of group %d fails against the site's pinned key.",
								   c->layout->columns[i].name, g + 1)));
			if (dsum != NULL)
				scor_point_add(&dsum[g * c->nciphertexts + k], &dsum[g * c->nciphertexts + k], &d);
			p += SHARE_BYTES;
			k++;
		}
	}
}

/*
 * Verify every member's shares, all proofs in one batch, and sum them per
 * slot into dsum.  If the batch fails, each member is checked alone so
 * that the error names the site.
 */
static void
verify_all_shares(const ScorMember *members, int nmembers, bytea **shares,
				  const ScorCombined *c, const uint8 *network_id,
				  const uint8 *query_id, scor_point *dsum)
{
	scor_batch	batch;
	volatile bool batch_ok = false;

	scor_batch_init(&batch);
	PG_TRY();
	{
		for (int i = 0; i < nmembers; i++)
			verify_shares(&members[i], shares[i], c, network_id, query_id, dsum, &batch);
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
		verify_shares(&members[i], shares[i], c, network_id, query_id, NULL, NULL);
	elog(ERROR, "a batch of DLEQ proofs failed, but each proof verifies alone");
}

/* Text of a group's keys, for messages */
static char *
group_text(const ScorAnswer *layout, const ScorGroup *grp)
{
	StringInfoData s;
	bool		first = true;

	initStringInfo(&s);
	appendStringInfoChar(&s, '(');
	for (int i = 0; i < layout->ncolumns; i++)
	{
		if (layout->columns[i].kind != COLUMN_KEY)
			continue;
		appendStringInfo(&s, "%s%s", first ? "" : ", ",
						 grp->key_values[i] ? grp->key_values[i] : "NULL");
		first = false;
	}
	appendStringInfoChar(&s, ')');
	return s.data;
}

/* Whether two answers have the same number and kinds of columns */
static bool
same_kinds(const ScorAnswer *a, const ScorAnswer *b)
{
	if (a->ncolumns != b->ncolumns)
		return false;
	for (int i = 0; i < a->ncolumns; i++)
		if (a->columns[i].kind != b->columns[i].kind)
			return false;
	return true;
}

/* Order groups by their key bytes, as the sites order them */
static int
group_cmp(const void *x, const void *y)
{
	const ScorGroup *a = *(ScorGroup *const *) x;
	const ScorGroup *b = *(ScorGroup *const *) y;
	int			c = memcmp(a->key.data, b->key.data, Min(a->key.len, b->key.len));

	if (c != 0)
		return c;
	return (a->key.len > b->key.len) - (a->key.len < b->key.len);
}

/*
 * Check what needs no decryption against the answers of round 1, before
 * any site decrypts, so that a mistake does not use up the query: the
 * column definition list (how many columns, the site name first with
 * per_site, a type that fits each column's totals, every group key
 * readable as its column's type) and, with strict_groups, that every site
 * answered every group.  answers[i] is NULL for a member not heard from
 * yet.  The answers are not verified here (every site verifies them in
 * round 2); one whose columns differ from this site's is left to that.
 */
static void
check_result(TupleDesc tupdesc, bytea **answers, const ScorMember *members,
			 int nmembers, int self, bool strict_groups, bool per_site)
{
	int			first = per_site ? 1 : 0;
	ScorAnswer **parsed = palloc0(sizeof(ScorAnswer *) * nmembers);
	ScorAnswer *layout;
	ScorAnswer *scales;
	ScorGroup **groups;
	int			ngroups = 0;
	bool		complete = true;

	for (int i = 0; i < nmembers; i++)
	{
		if (answers[i] == NULL)
		{
			complete = false;
			continue;
		}
		parsed[i] = scor_answer_parse((uint8 *) VARDATA_ANY(answers[i]),
									  VARSIZE_ANY_EXHDR(answers[i]),
									  members[i].site_name);
	}
	layout = parsed[self];

	if (tupdesc->natts != layout->ncolumns + first)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the result has %d columns, but the column definition list has %d",
						layout->ncolumns + first, tupdesc->natts),
				 per_site ? errdetail("With per_site, the site name comes first, as a text column.") : 0));
	if (per_site && TupleDescAttr(tupdesc, 0)->atttypid != TEXTOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the first column of a per-site result is the site name, of type text")));

	/* scales come from the ciphertexts: from an answer that has groups */
	scales = layout;
	for (int i = 0; i < nmembers && scales->ngroups == 0; i++)
		if (parsed[i] != NULL && parsed[i]->ngroups > 0 && same_kinds(parsed[i], layout))
			scales = parsed[i];

	for (int i = 0; i < layout->ncolumns; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i + first);
		Oid			input;
		Oid			ioparam;

		if (layout->columns[i].kind == COLUMN_CIPHERTEXT)
		{
			check_total_type(att->atttypid, scales->columns[i].scale,
							 layout->columns[i].name);
			continue;
		}
		getTypeInputInfo(att->atttypid, &input, &ioparam);
		for (int m = 0; m < nmembers; m++)
		{
			if (parsed[m] == NULL || !same_kinds(parsed[m], layout))
				continue;
			for (int g = 0; g < parsed[m]->ngroups; g++)
			{
				char	   *v = parsed[m]->groups[g].key_values[i];

				CHECK_FOR_INTERRUPTS();
				if (v != NULL)
					(void) OidInputFunctionCall(input, v, ioparam, att->atttypmod);
			}
		}
	}

	if (!strict_groups || per_site || !complete)
		return;
	for (int m = 0; m < nmembers; m++)
		if (!same_kinds(parsed[m], layout))
			return;				/* round 2 refuses the answers */

	/* every group, from every answer, in the sites' order: each run is one group */
	for (int m = 0; m < nmembers; m++)
		ngroups += parsed[m]->ngroups;
	groups = palloc(sizeof(ScorGroup *) * Max(ngroups, 1));
	ngroups = 0;
	for (int m = 0; m < nmembers; m++)
		for (int g = 0; g < parsed[m]->ngroups; g++)
			groups[ngroups++] = &parsed[m]->groups[g];
	qsort(groups, ngroups, sizeof(ScorGroup *), group_cmp);
	for (int g = 0; g < ngroups;)
	{
		int			run = 1;

		while (g + run < ngroups && group_cmp(&groups[g], &groups[g + run]) == 0)
			run++;
		if (run != nmembers)
			ereport(ERROR,
					(errcode(ERRCODE_SCOR_QUERY_REFUSED),
					 errmsg("group %s was answered by %d of the %d sites",
							group_text(layout, groups[g]), run, nmembers),
					 errhint("Declare the group domain in the shipped query (LEFT JOIN from a VALUES list) so that every site answers every group.")));
		g += run;
	}
}

/*
 * Tell the analyst which totals carry differential-privacy noise, and how
 * much: a group carries one share per site that answered it, so the
 * expected error is given for the fewest and the most sites of any group.
 */
static void
report_noise(const ScorCombined *c, int nmembers, bool per_site)
{
	int			fewest = nmembers;
	int			most = nmembers;

	for (int g = 0; g < c->ngroups; g++)
	{
		fewest = g == 0 ? c->contributors[g] : Min(fewest, c->contributors[g]);
		most = g == 0 ? c->contributors[g] : Max(most, c->contributors[g]);
	}
	for (int i = 0; i < c->layout->ncolumns; i++)
	{
		const ScorColumn *col = &c->layout->columns[i];
		int			t = col->noise.honest_sites;

		if (col->kind != COLUMN_CIPHERTEXT || !col->noise.noised)
			continue;
		if (per_site)
			ereport(NOTICE,
					(errmsg("column \"%s\" carries differential-privacy noise: epsilon %g, sensitivity %lld",
							col->name, col->noise.epsilon, (long long) col->noise.sensitivity),
					 errdetail("Expected absolute error %.2f, standard deviation %.2f: each site's total carries its own full share.",
							   scor_dp_expected_abs_error(1, t, col->noise.epsilon, col->noise.sensitivity),
							   sqrt(scor_dp_variance(1, t, col->noise.epsilon, col->noise.sensitivity)))));
		else if (fewest == most)
			ereport(NOTICE,
					(errmsg("column \"%s\" carries differential-privacy noise: epsilon %g, sensitivity %lld",
							col->name, col->noise.epsilon, (long long) col->noise.sensitivity),
					 errdetail("Expected absolute error %.2f, standard deviation %.2f: %d sites each add a share; any %d honest sites' shares give the stated epsilon.",
							   scor_dp_expected_abs_error(most, t, col->noise.epsilon, col->noise.sensitivity),
							   sqrt(scor_dp_variance(most, t, col->noise.epsilon, col->noise.sensitivity)),
							   most, t)));
		else
			ereport(NOTICE,
					(errmsg("column \"%s\" carries differential-privacy noise: epsilon %g, sensitivity %lld",
							col->name, col->noise.epsilon, (long long) col->noise.sensitivity),
					 errdetail("Expected absolute error %.2f to %.2f, standard deviation %.2f to %.2f: each of the %d to %d sites that answered a group adds a share; any %d honest sites' shares give the stated epsilon.",
							   scor_dp_expected_abs_error(fewest, t, col->noise.epsilon, col->noise.sensitivity),
							   scor_dp_expected_abs_error(most, t, col->noise.epsilon, col->noise.sensitivity),
							   sqrt(scor_dp_variance(fewest, t, col->noise.epsilon, col->noise.sensitivity)),
							   sqrt(scor_dp_variance(most, t, col->noise.epsilon, col->noise.sensitivity)),
							   fewest, most, t)));
	}
}

/*
 * Run a federated query: sql is the shipped SQL, or the canonical call of
 * the template each site resolves to its own approved query.
 */
static Datum
federate(FunctionCallInfo fcinfo, const char *sql, const char *template_name,
		 int nparams, char **params, bool strict_groups, bool per_site)
{
	int			first = per_site ? 1 : 0;	/* output column of the query's first */
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	tupdesc;
	const ScorNetworkKey *nk = scor_network_key();
	ScorMember *members;
	int			nmembers;
	int			self;
	uint8		query_id[SCOR_QUERY_ID_BYTES];
	bytea	  **answers;
	bytea	  **shares;
	bytea	   *bundle;
	ScorCombined *c;
	scor_point *dsum;
	const char *request[CONTRIBUTE_NPARAMS];
	const char ***contribute;
	ScorRequest req;
	char	   *analyst = GetUserNameFromId(GetUserId(), false);
	uint8		network_id[SCOR_NETWORK_ID_BYTES];
	PeerRound	round;
	int			suppressed = 0;
	ScorAuditEvent *local_answer = NULL;
	ScorAuditEvent *local_decryption = NULL;
	bool		autonomous;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	tupdesc = rsinfo->setDesc;

	members = scor_members(&nmembers, &self);
	memcpy(network_id, nk->network_id, SCOR_NETWORK_ID_BYTES);
	randombytes_buf(query_id, sizeof(query_id));
	answers = palloc0(sizeof(bytea *) * nmembers);
	shares = palloc0(sizeof(bytea *) * nmembers);

	/* phase 1: every site answers with signed, proven contributions */
	request[0] = bytea_param(network_id, SCOR_NETWORK_ID_BYTES);
	request[1] = bytea_param(query_id, SCOR_QUERY_ID_BYTES);
	request[2] = members[self].site_name;
	request[3] = analyst;
	request[4] = sql;
	request[5] = per_site ? "true" : "false";
	request[6] = template_name ? template_name : "";
	request[7] = text_array_literal(nparams, params);
	memset(&req, 0, sizeof(req));
	req.network_id = network_id;
	req.query_id = query_id;
	req.coordinator = members[self].site_name;
	req.analyst = analyst;
	req.sql = sql;
	req.per_site = per_site;
	req.template_name = request[6];
	req.nparams = nparams;
	req.params = params;
	contribute = signed_requests(request, &req, members, nmembers);
	autonomous = scor_request_may_charge(members[self].site_name, sql, template_name,
										 nparams, params);
	if (autonomous)
	{
		/*
		 * A query that charges budgets: this site answers first, as a peer
		 * would, in a transaction of its own, so that its charge and its
		 * audit rows stand whatever the analyst's transaction does next;
		 * and only queries this site admitted reach the peers, so every
		 * site's budget admits the same ones.
		 */
		answers[self] = scor_run_autonomously(CONTRIBUTE_SQL, CONTRIBUTE_NPARAMS, contribute[self]);
		/* a column list that does not fit stops here, before any peer is charged */
		check_result(tupdesc, answers, members, nmembers, self, false, per_site);
		peers_start(&round, members, nmembers, self, CONTRIBUTE_SQL, NULL, contribute,
					CONTRIBUTE_NPARAMS);
	}
	else
	{
		peers_start(&round, members, nmembers, self, CONTRIBUTE_SQL, NULL, contribute,
					CONTRIBUTE_NPARAMS);
		/* a charge here could be rolled back: scor_contribute refuses to charge */
		scor_own_part_uncommitted = true;
		PG_TRY();
		{
			answers[self] = scor_contribute(network_id, query_id, members[self].site_name, analyst,
											sql, per_site, template_name, nparams, params,
											&local_answer);
		}
		PG_CATCH();
		{
			scor_own_part_uncommitted = false;
			peers_abort(&round);
			PG_RE_THROW();
		}
		PG_END_TRY();
		scor_own_part_uncommitted = false;
	}
	peers_finish(&round, members, nmembers, self, answers);
	check_result(tupdesc, answers, members, nmembers, self, strict_groups, per_site);
	bundle = scor_bundle_build(answers, nmembers);

	/* phase 2: every site checks the bundle and partially decrypts the sums */
	request[2] = bytea_param((uint8 *) VARDATA(bundle), VARSIZE(bundle) - VARHDRSZ);
	peers_start(&round, members, nmembers, self, DECRYPT_SQL, request, NULL, 3);
	PG_TRY();
	{
		if (autonomous)
		{
			uint8		digest[SCOR_DIGEST_BYTES];

			shares[self] = scor_run_autonomously(DECRYPT_SQL, 3, request);
			scor_query_digest(digest, sql);
			c = scor_bundle_combine(network_id, query_id, digest, (uint8 *) VARDATA(bundle),
									VARSIZE(bundle) - VARHDRSZ, members, nmembers, self,
									NULL, per_site);
		}
		else
			shares[self] = scor_decrypt_bundle(network_id, query_id, (uint8 *) VARDATA(bundle),
											   VARSIZE(bundle) - VARHDRSZ, &c, &local_decryption);
	}
	PG_CATCH();
	{
		peers_abort(&round);
		PG_RE_THROW();
	}
	PG_END_TRY();
	peers_finish(&round, members, nmembers, self, shares);

	dsum = palloc(sizeof(scor_point) * Max(c->ngroups * c->nciphertexts, 1));
	for (int s = 0; s < c->ngroups * c->nciphertexts; s++)
		scor_point_identity(&dsum[s]);
	verify_all_shares(members, nmembers, shares, c, network_id, query_id, dsum);

	report_noise(c, nmembers, per_site);
	for (int g = 0; g < c->ngroups; g++)
	{
		Datum	   *values = palloc0(sizeof(Datum) * tupdesc->natts);
		bool	   *nulls = palloc0(sizeof(bool) * tupdesc->natts);
		int			k = 0;

		if (per_site)
			values[0] = CStringGetTextDatum(c->groups[g]->site_name);

		for (int i = 0; i < c->layout->ncolumns; i++)
		{
			Form_pg_attribute att = TupleDescAttr(tupdesc, i + first);
			ScorColumn *col = &c->layout->columns[i];

			if (col->kind == COLUMN_KEY)
			{
				char	   *v = c->groups[g]->key_values[i];
				Oid			input;
				Oid			ioparam;

				if (v == NULL)
					nulls[i + first] = true;
				else
				{
					getTypeInputInfo(att->atttypid, &input, &ioparam);
					values[i + first] = OidInputFunctionCall(input, v, ioparam, att->atttypmod);
				}
			}
			else
			{
				scor_point	M;
				DecodeContext dc = {col->name, g + 1};
				ErrorContextCallback errcb = {error_context_stack, decode_context, &dc};
				int64		m;

				scor_point_sub(&M, &c->sums[g * 2 * c->nciphertexts + 2 * k + 1],
							   &dsum[g * c->nciphertexts + k]);
				error_context_stack = &errcb;
				m = scor_decode_point(&M);
				/* threshold and rounding apply to the released (noisy) total only */
				if (c->min_cell > 0 && (m > -(int64) c->min_cell && m < c->min_cell))
				{
					nulls[i + first] = true;
					suppressed++;
				}
				else
					values[i + first] = total_datum(round_total(m, c->release_rounding, col->scale),
													col->scale, att->atttypid, col->name);
				error_context_stack = errcb.previous;
				k++;
			}
		}
		tuplestore_putvalues(rsinfo->setResult, tupdesc, values, nulls);
	}

	if (c->release_rounding > 1 && c->ngroups > 0)
		ereport(NOTICE,
				(errmsg("released totals are rounded to a multiple of %d", c->release_rounding),
				 errdetail("The rounding is the largest scor.release_rounding of any site, applied to the noisy totals.")));
	if (suppressed > 0)
		ereport(NOTICE,
				(errmsg("%d totals below the small-cell threshold of %d were suppressed", suppressed, c->min_cell),
				 errdetail("They are returned as NULL. The threshold is the largest scor.min_cell of any site.")));

	/* this site's own part, logged last: the log's lock is held to commit */
	scor_audit_append(local_answer);
	scor_audit_append(local_decryption);
	return (Datum) 0;
}

/* scor.federate(query, strict_groups, per_site): the consortium-wide answer */
Datum
scor_federate(PG_FUNCTION_ARGS)
{
	return federate(fcinfo, text_to_cstring(PG_GETARG_TEXT_PP(0)), NULL, 0, NULL,
					PG_GETARG_BOOL(1), PG_GETARG_BOOL(2));
}

/*
 * scor.federate_template(template, params, strict_groups, per_site): the
 * same, for a query each site has approved as a template
 */
Datum
scor_federate_template(PG_FUNCTION_ARGS)
{
	char	   *template_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int			nparams;
	char	  **params;

	params = scor_text_array_strings(PG_GETARG_ARRAYTYPE_P(1), &nparams);
	return federate(fcinfo, scor_template_call(template_name, nparams, params),
					template_name, nparams, params, PG_GETARG_BOOL(2), PG_GETARG_BOOL(3));
}

/*
 * scor.request_signature(network_id, query_id, site, analyst, query,
 * per_site, template, params): this site's signature of a round-1 request
 * to the member site, made as scor.federate makes it, for running the
 * protocol by hand.  It signs with the site's key, so only a superuser
 * (who can read the key anyway) may call it.
 */
Datum
scor_request_signature(PG_FUNCTION_ARGS)
{
	bytea	   *network_id = PG_GETARG_BYTEA_PP(0);
	bytea	   *query_id = PG_GETARG_BYTEA_PP(1);
	int			nparams;
	char	  **params;
	ScorMember *members;
	int			nmembers;
	int			self;
	ScorRequest req;
	scor_site_keys *keys;
	uint8		signature[SCOR_SIGNATURE_BYTES];

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only a superuser may sign requests with the site's key by hand")));
	if (VARSIZE_ANY_EXHDR(network_id) != SCOR_NETWORK_ID_BYTES ||
		VARSIZE_ANY_EXHDR(query_id) != SCOR_QUERY_ID_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed federated query request"),
				 errdetail("The network id has %d bytes and the query id %d.",
						   SCOR_NETWORK_ID_BYTES, SCOR_QUERY_ID_BYTES)));
	params = scor_text_array_strings(PG_GETARG_ARRAYTYPE_P(7), &nparams);

	members = scor_members(&nmembers, &self);
	memset(&req, 0, sizeof(req));
	req.network_id = (uint8 *) VARDATA_ANY(network_id);
	req.query_id = (uint8 *) VARDATA_ANY(query_id);
	req.coordinator = members[self].site_name;
	req.site = text_to_cstring(PG_GETARG_TEXT_PP(2));
	req.analyst = text_to_cstring(PG_GETARG_TEXT_PP(3));
	req.sql = text_to_cstring(PG_GETARG_TEXT_PP(4));
	req.per_site = PG_GETARG_BOOL(5);
	req.template_name = text_to_cstring(PG_GETARG_TEXT_PP(6));
	req.nparams = nparams;
	req.params = params;

	keys = scor_load_site_keys(NULL);
	scor_request_sign(signature, &req, keys);
	scor_free_site_keys(keys);
	PG_RETURN_BYTEA_P(scor_bytea(signature, sizeof(signature)));
}

/* Check that a foreign server belongs to the scor wrapper */
static ForeignServer *
scor_server(const char *name)
{
	ForeignServer *server = GetForeignServerByName(name, false);
	ForeignDataWrapper *fdw = GetForeignDataWrapper(server->fdwid);

	if (strcmp(fdw->fdwname, "scor") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("server \"%s\" is not a scor peer", name),
				 errdetail("It uses foreign-data wrapper \"%s\".", fdw->fdwname),
				 errhint("Create it with CREATE SERVER %s FOREIGN DATA WRAPPER scor OPTIONS (...).", name)));
	return server;
}

/* Decode one base64url field of a peer's public key row */
static void
peer_field(uint8 *out, size_t len, const char *text, const char *field, const char *server)
{
	if (text == NULL || !scor_base64url_decode(text, strlen(text), out, len))
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("server \"%s\" sent a malformed %s", server, field),
				 errdetail("Expected %zu bytes in unpadded base64url.", len)));
}

/*
 * Pin a member's keys and proof of possession in scor.member, reached
 * through the given foreign server (which must not be NULL: this site's own
 * row is written by scor.init_site).  The caller has verified the proof and
 * runs as a role that may write scor.member.
 */
void
scor_pin_member(const char *site_name, const char *server_name,
				const uint8 *public_key, const uint8 *verify_key, const uint8 *proof)
{
	Datum		args[5];
	Oid			argtypes[5] = {TEXTOID, TEXTOID, BYTEAOID, BYTEAOID, BYTEAOID};

	args[0] = CStringGetTextDatum(site_name);
	args[1] = CStringGetTextDatum(server_name);
	args[2] = PointerGetDatum(scor_bytea(public_key, SCOR_ELEMENT_BYTES));
	args[3] = PointerGetDatum(scor_bytea(verify_key, SCOR_SIGN_PUBLIC_BYTES));
	args[4] = PointerGetDatum(scor_bytea(proof, SCOR_POP_BYTES));

	SPI_connect();
	if (SPI_execute_with_args("INSERT INTO scor.member AS m (site_name, server_name, public_key, verify_key, proof) "
							  "VALUES ($1, $2, $3, $4, $5) "
							  "ON CONFLICT (site_name) DO UPDATE SET server_name = excluded.server_name, "
							  "public_key = excluded.public_key, verify_key = excluded.verify_key, "
							  "proof = excluded.proof, pinned_at = pg_catalog.now()",
							  5, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not pin the key of site \"%s\"", site_name);
	SPI_finish();
}

/*
 * scor.add_peer(server, repin): fetch a peer's public keys and proof of
 * possession, verify the proof, and pin the keys.  A pinned key that changes
 * is an error until an administrator re-pins it.
 */
Datum
scor_add_peer(PG_FUNCTION_ARGS)
{
	char	   *server_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	bool		repin = PG_GETARG_BOOL(1);
	ForeignServer *server = scor_server(server_name);
	const char *expected_site = ScorServerSite(server);
	ScorRemoteCall call;
	char	   *site_name;
	uint8		pk[SCOR_ELEMENT_BYTES];
	uint8		vk[SCOR_SIGN_PUBLIC_BYTES];
	uint8		pop[SCOR_POP_BYTES];
	uint8		fpr[SCOR_FINGERPRINT_BYTES];
	ScorMember *members;
	int			nmembers;
	int			self;
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	const ScorNetworkKey *nk;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	memset(&call, 0, sizeof(call));
	call.serverid = server->serverid;
	call.site_name = expected_site ? expected_site : server_name;
	call.sql = "SELECT site_name, public_key, verify_key, proof FROM scor.site_public_key()";
	ScorRemoteCallAll(&call, 1);
	if (call.ntuples != 1 || call.nfields != 4)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("server \"%s\" sent a malformed public key", server_name)));

	site_name = ScorRemoteValue(&call, 0, 0);
	if (site_name == NULL || site_name[0] == '\0' || strlen(site_name) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("server \"%s\" sent a malformed site name", server_name)));
	peer_field(pk, sizeof(pk), ScorRemoteValue(&call, 0, 1), "public key", server_name);
	peer_field(vk, sizeof(vk), ScorRemoteValue(&call, 0, 2), "signing key", server_name);
	peer_field(pop, sizeof(pop), ScorRemoteValue(&call, 0, 3), "proof of possession", server_name);

	if (expected_site && strcmp(expected_site, site_name) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_SCOR_MEMBER_SET_MISMATCH),
				 errmsg("server \"%s\" is site \"%s\", not site \"%s\"",
						server_name, site_name, expected_site),
				 errdetail("The server's site option names the site it must be.")));
	if (!scor_element_is_valid(pk) || scor_element_is_identity(pk))
		ereport(ERROR,
				(errcode(ERRCODE_SCOR_BAD_PROOF),
				 errmsg("site \"%s\" presents an invalid public key", site_name),
				 errdetail("The key is %s.", scor_element_is_identity(pk) ?
						   "the identity element, which would let anyone decrypt" :
						   "not a valid ristretto255 encoding")));
	if (scor_pop_verify(pop, site_name, pk, vk) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_SCOR_BAD_PROOF),
				 errmsg("the proof of possession of site \"%s\" does not verify", site_name),
				 errdetail("The site must prove that it holds the secret of the key it presents, for its own name.")));
	scor_key_fingerprint(fpr, pk);

	members = scor_members(&nmembers, &self);
	if (strcmp(members[self].site_name, site_name) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("server \"%s\" is this site itself", server_name)));
	for (int i = 0; i < nmembers; i++)
	{
		if (strcmp(members[i].site_name, site_name) == 0 &&
			memcmp(members[i].public_key, pk, SCOR_ELEMENT_BYTES) != 0 && !repin)
		{
			uint8		old[SCOR_FINGERPRINT_BYTES];

			scor_key_fingerprint(old, members[i].public_key);
			ereport(ERROR,
					(errcode(ERRCODE_SCOR_KEY_CHANGED),
					 errmsg("the key of site \"%s\" changed", site_name),
					 errdetail("Pinned key %s; the site now presents key %s.",
							   fingerprint_to_text(old), fingerprint_to_text(fpr)),
					 errhint("If the site rotated its key, confirm the new fingerprint with its administrator, then call scor.add_peer('%s', repin => true).",
							 server_name)));
		}
		if (strcmp(members[i].site_name, site_name) == 0 &&
			memcmp(members[i].verify_key, vk, SCOR_SIGN_PUBLIC_BYTES) != 0 && !repin)
			ereport(ERROR,
					(errcode(ERRCODE_SCOR_KEY_CHANGED),
					 errmsg("the signing key of site \"%s\" changed", site_name),
					 errdetail("Pinned signing key %s; the site now presents signing key %s.",
							   scor_base64url_encode(members[i].verify_key, SCOR_SIGN_PUBLIC_BYTES),
							   scor_base64url_encode(vk, SCOR_SIGN_PUBLIC_BYTES)),
					 errhint("If the site rotated its key, confirm the new keys with its administrator, then call scor.add_peer('%s', repin => true).",
							 server_name)));
		if (members[i].server_name && strcmp(members[i].server_name, server_name) == 0 &&
			strcmp(members[i].site_name, site_name) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_SCOR_KEY_CHANGED),
					 errmsg("server \"%s\" was pinned as site \"%s\" but now is site \"%s\"",
							server_name, members[i].site_name, site_name),
					 errhint("Remove the old peer with scor.remove_peer('%s') first.", server_name)));
	}

	scor_pin_member(site_name, server_name, pk, vk, pop);

	ereport(NOTICE,
			(errmsg("pinned site \"%s\" with key fingerprint %s", site_name, fingerprint_to_text(fpr)),
			 errhint("Confirm this fingerprint with the site's administrator out of band.")));

	nk = scor_network_key();
	values[0] = CStringGetTextDatum(site_name);
	values[1] = CStringGetTextDatum(fingerprint_to_text(fpr));
	values[2] = Int32GetDatum(nk->members);
	values[3] = CStringGetTextDatum(scor_hex(nk->network_id, SCOR_NETWORK_ID_BYTES));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* scor.remove_peer(server): drop a peer from the member set */
Datum
scor_remove_peer(PG_FUNCTION_ARGS)
{
	char	   *server_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Datum		args[1];
	Oid			argtypes[1] = {TEXTOID};

	args[0] = CStringGetTextDatum(server_name);
	SPI_connect();
	if (SPI_execute_with_args("DELETE FROM scor.member WHERE server_name = $1",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not update scor.member");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("server \"%s\" is not a pinned peer", server_name)));
	SPI_finish();
	PG_RETURN_VOID();
}
