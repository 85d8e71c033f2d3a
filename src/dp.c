/*
 * dp.c
 *	  Differential privacy: dp_noise, the privacy-budget ledger, site policy.
 *
 * dp_noise adds an encrypted noise share to a fresh aggregate inside the
 * shipped query, at every site: NB(1/t, 1-e^{-eps/Delta}) - NB(...), so that
 * the shares of any t honest sites sum to discrete Laplace and give pure
 * eps-DP (noise.c).  Nobody ever sees the un-noised total.  Every site
 * enforces its own budget per (requesting site, analyst) for every query it
 * answers, and its own policy (DP required, largest epsilon, small-cell
 * threshold).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/numeric.h"

#include "noise.h"
#include "protocol.h"
#include "remote.h"

PG_FUNCTION_INFO_V1(scor_dp_noise);
PG_FUNCTION_INFO_V1(scor_dp_expected_error);
PG_FUNCTION_INFO_V1(scor_grant_budget);
PG_FUNCTION_INFO_V1(scor_reset_budget);

int			scor_dp_honest_sites = 0;
bool		scor_require_dp = false;
double		scor_max_epsilon = 0;
int			scor_min_cell = 0;
int			scor_release_rounding = 1;
double		scor_default_budget = 0;
static char *scor_dp_test_seed = NULL;

/* Define the differential-privacy settings */
void
ScorDpInit(void)
{
	DefineCustomIntVariable("scor.dp_honest_sites",
							"Number t of honest sites whose noise shares alone give the stated epsilon.",
							"0 means a majority of the network: ceil(n/2). Every site of a network must use the same value.",
							&scor_dp_honest_sites,
							0, 0, SCOR_DP_MAX_T,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("scor.require_dp",
							 "Refuse remote queries that release any column without dp_noise.",
							 NULL,
							 &scor_require_dp,
							 false,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomRealVariable("scor.max_epsilon",
							 "Largest epsilon this site accepts for one remote query (0: no limit).",
							 "The epsilon of a query is the sum over its noised columns.",
							 &scor_max_epsilon,
							 0, 0, SCOR_EPSILON_MAX,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("scor.min_cell",
							"Small-cell threshold: released totals below it are suppressed (0: off).",
							"Applied by the coordinator to the noisy totals, with the largest threshold of any site.",
							&scor_min_cell,
							0, 0, INT_MAX,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("scor.release_rounding",
							"Released totals are rounded to a multiple of this (1: not rounded).",
							"Applied by the coordinator to the noisy totals, with the largest rounding of any site.",
							&scor_release_rounding,
							1, 1, INT_MAX,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomRealVariable("scor.default_epsilon_budget",
							 "Privacy budget of a (requesting site, analyst) pair that has no explicit grant.",
							 NULL,
							 &scor_default_budget,
							 0, 0, 1e9,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("scor.dp_test_seed",
							   "For tests only: 64 hex digits seeding dp_noise deterministically in local queries.",
							   "Never used while answering a peer. Noise from a known seed gives no privacy.",
							   &scor_dp_test_seed,
							   "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
}

/* The network's setting of t: the manifest's if it follows one; 0 is ceil(n/2) */
static int
dp_t_setting(void)
{
	const ScorNetworkSettings *ns = scor_network_settings();

	return ns->joined ? ns->dp_honest_sites : scor_dp_honest_sites;
}

/* t for a network of n members */
int
scor_dp_t(int nmembers)
{
	/* a network that follows a manifest shares the manifest's t */
	const ScorNetworkSettings *ns = scor_network_settings();
	int			setting = dp_t_setting();
	int			t = setting > 0 ? setting : (nmembers + 1) / 2;

	if (t > nmembers)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is %d, but the network has only %d members",
						ns->joined ? "the network manifest's dp_honest_sites" : "scor.dp_honest_sites",
						setting, nmembers)));
	return Max(t, 1);
}

/* The randomness source for one noise share */
static void
noise_rng(scor_rng *rng)
{
	static uint64 test_draws = 0;

	if (scor_dp_test_seed && scor_dp_test_seed[0] != '\0' && !scor_capture_active())
	{
		uint8		seed[SCOR_RNG_SEED_BYTES];
		size_t		len;

		if (sodium_hex2bin(seed, sizeof(seed), scor_dp_test_seed, strlen(scor_dp_test_seed),
						   NULL, &len, NULL) != 0 || len != sizeof(seed))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("scor.dp_test_seed must be 64 hexadecimal digits")));
		/* a different stream for every draw of this backend, reproducibly */
		for (int i = 0; i < 8; i++)
			seed[i] ^= (uint8) (test_draws >> (8 * i));
		test_draws++;
		scor_rng_seeded(rng, seed);
		sodium_memzero(seed, sizeof(seed));
	}
	else
		scor_rng_system(rng);
}

/*
 * dp_noise(ciphertext, epsilon, sensitivity): add this site's encrypted
 * noise share.  Used inside shipped queries; every site adds one share.
 */
Datum
scor_dp_noise(PG_FUNCTION_ARGS)
{
	Ciphertext *ct = PG_GETARG_CIPHERTEXT_P(0);
	double		epsilon = PG_GETARG_FLOAT8(1);
	int64		sensitivity = PG_NARGS() > 2 ? PG_GETARG_INT64(2) : 1;
	const ScorNetworkKey *nk = scor_network_key();
	ScorNoiseInfo info;
	scor_rng	rng;
	mpq_t		eps;
	int64		share;
	int			rc;

	/* constants in shipped queries (checked there), so refusals name no data */
	if (sensitivity < 1)
		ereport(ERROR,
				(errcode(ERRCODE_SCOR_QUERY_REFUSED),
				 errmsg("dp_noise sensitivity must be at least 1")));
	mpq_init(eps);
	if (scor_epsilon_rational(eps, epsilon) != 0)
	{
		mpq_clear(eps);
		ereport(ERROR,
				(errcode(ERRCODE_SCOR_QUERY_REFUSED),
				 errmsg("dp_noise epsilon %g is out of range", epsilon),
				 errdetail("Epsilon, rounded down to a multiple of 1e-12, must be from %g to %g.",
						   SCOR_EPSILON_MIN, SCOR_EPSILON_MAX),
				 (epsilon > 0 && epsilon <= SCOR_EPSILON_MIN) ?
				 errhint("The double nearest %g lies just below it; the smallest epsilon accepted is 1.0000000000000002e-6.",
						 SCOR_EPSILON_MIN) : 0));
	}

	info.noised = true;
	info.epsilon = epsilon;
	info.sensitivity = sensitivity;
	/* a total released per site carries only its own site's noise */
	info.honest_sites = scor_answering_per_site() ? 1 : scor_dp_t(nk->members);

	noise_rng(&rng);
	rc = scor_sample_dp_share(&share, info.honest_sites, eps, sensitivity, &rng);
	scor_rng_clear(&rng);
	mpq_clear(eps);
	if (rc != 0)
		ereport(ERROR,
				(errcode(ERRCODE_SCOR_QUERY_REFUSED),
				 errmsg("dp_noise could not draw a noise share for epsilon %g and sensitivity %lld",
						epsilon, (long long) sensitivity),
				 errdetail("Epsilon divided by the sensitivity must be at least 1e-06, and the share must fit a bigint.")));

	PG_RETURN_CIPHERTEXT_P(scor_add_noise(ct, share, &info));
}

/*
 * scor.dp_expected_error(sites, epsilon, sensitivity, honest_sites): the
 * expected absolute error and standard deviation of a dp_noise total.  t
 * defaults to the network's setting (scor.dp_honest_sites, or the
 * manifest's), ceil(sites/2) when that is 0.
 */
Datum
scor_dp_expected_error(PG_FUNCTION_ARGS)
{
	int32		sites = PG_GETARG_INT32(0);
	double		epsilon = PG_GETARG_FLOAT8(1);
	int64		sensitivity = PG_GETARG_INT64(2);
	int32		t = !PG_ARGISNULL(3) ? PG_GETARG_INT32(3) :
		dp_t_setting() > 0 ? dp_t_setting() : (sites + 1) / 2;
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	double		abs_error = scor_dp_expected_abs_error(sites, t, epsilon, sensitivity);
	double		variance = scor_dp_variance(sites, t, epsilon, sensitivity);

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (abs_error < 0 || variance < 0 || t > sites)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid parameters for dp_expected_error"),
				 errdetail("Sites and honest sites are at least 1 with honest sites <= sites, epsilon is positive, sensitivity at least 1.")));
	values[0] = Int32GetDatum(t);
	values[1] = Float8GetDatum(abs_error);
	values[2] = Float8GetDatum(sqrt(variance));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* epsilon as a numeric, rounded UP to 12 decimals: charges never undercount */
static Datum
epsilon_charge(double epsilon)
{
	char		buf[64];
	double		scaled = ceil(epsilon * 1e12);

	snprintf(buf, sizeof(buf), "%.0f", scaled);
	return DirectFunctionCall2(numeric_div,
							   DirectFunctionCall3(numeric_in, CStringGetDatum(buf),
												   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)),
							   DirectFunctionCall3(numeric_in, CStringGetDatum("1000000000000"),
												   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
}

/*
 * Charge epsilon to the budget of (coordinator, analyst), atomically: the
 * row lock serializes concurrent charges, and a charge that would exceed the
 * budget is an error saying whose budget and how much is left.  Called as
 * the extension owner, inside SPI.
 */
void
scor_charge_budget(const char *coordinator, const char *analyst, double epsilon)
{
	Datum		args[4];
	Oid			argtypes[4] = {TEXTOID, TEXTOID, NUMERICOID, NUMERICOID};

	args[0] = CStringGetTextDatum(coordinator);
	args[1] = CStringGetTextDatum(analyst);
	args[2] = epsilon_charge(epsilon);
	args[3] = epsilon_charge(scor_default_budget);

	if (SPI_execute_with_args("INSERT INTO scor.privacy_budget (coordinator, analyst, budget, spent) "
							  "VALUES ($1, $2, $4, 0) ON CONFLICT DO NOTHING",
							  4, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not read scor.privacy_budget");
	if (SPI_execute_with_args("UPDATE scor.privacy_budget SET spent = spent + $3, last_charged_at = pg_catalog.now() "
							  "WHERE coordinator = $1 AND analyst = $2 AND spent + $3 <= budget",
							  4, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update scor.privacy_budget");
	if (SPI_processed != 1)
	{
		char	   *left = "0";
		char	   *budget = "0";

		if (SPI_execute_with_args("SELECT (budget - spent)::text, budget::text FROM scor.privacy_budget "
								  "WHERE coordinator = $1 AND analyst = $2",
								  4, argtypes, args, NULL, false, 1) == SPI_OK_SELECT &&
			SPI_processed == 1)
		{
			left = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
			budget = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		}
		ereport(ERROR,
				(errcode(ERRCODE_SCOR_BUDGET_EXHAUSTED),
				 errmsg("privacy budget of analyst \"%s\" at site \"%s\" is exhausted", analyst, coordinator),
				 errdetail("The query needs epsilon %g; %s of %s remain.", epsilon, left, budget),
				 errhint("A scor_admin of this site can grant more with scor.grant_budget().")));
	}
}

/* Run one statement on scor.privacy_budget as the owner, and audit it */
static void
budget_admin(const char *sql, const char *event, const char *coordinator,
			 const char *analyst, double epsilon, bool has_epsilon)
{
	ScorOwnerScope scope;
	Datum		args[3];
	Oid			argtypes[3] = {TEXTOID, TEXTOID, NUMERICOID};
	ScorAuditEvent ev;

	args[0] = CStringGetTextDatum(coordinator);
	args[1] = CStringGetTextDatum(analyst);
	args[2] = epsilon_charge(has_epsilon ? epsilon : 0);
	scor_become_owner(&scope, "pg_catalog, pg_temp");
	SPI_connect();
	if (SPI_execute_with_args(sql, 3, argtypes, args, NULL, false, 0) < 0)
		elog(ERROR, "could not update scor.privacy_budget");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no privacy budget for analyst \"%s\" at site \"%s\"", analyst, coordinator)));
	SPI_finish();
	scor_end_owner(&scope);

	memset(&ev, 0, sizeof(ev));
	ev.event = event;
	ev.peer = coordinator;
	ev.analyst = analyst;
	ev.has_epsilon = has_epsilon;
	ev.epsilon = epsilon;
	scor_audit_append(&ev);
}

/* scor.grant_budget(coordinator, analyst, epsilon): add to a budget */
Datum
scor_grant_budget(PG_FUNCTION_ARGS)
{
	char	   *coordinator = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *analyst = text_to_cstring(PG_GETARG_TEXT_PP(1));
	double		epsilon = PG_GETARG_FLOAT8(2);

	if (!(epsilon > 0) || isinf(epsilon))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a budget grant must be a positive, finite epsilon")));
	budget_admin("INSERT INTO scor.privacy_budget AS b (coordinator, analyst, budget, spent) "
				 "VALUES ($1, $2, $3, 0) ON CONFLICT (coordinator, analyst) "
				 "DO UPDATE SET budget = b.budget + excluded.budget",
				 "budget_grant", coordinator, analyst, epsilon, true);
	PG_RETURN_VOID();
}

/* scor.reset_budget(coordinator, analyst): forget what was spent */
Datum
scor_reset_budget(PG_FUNCTION_ARGS)
{
	budget_admin("UPDATE scor.privacy_budget SET spent = 0 WHERE coordinator = $1 AND analyst = $2 "
				 "AND $3 IS NOT NULL",
				 "budget_reset",
				 text_to_cstring(PG_GETARG_TEXT_PP(0)),
				 text_to_cstring(PG_GETARG_TEXT_PP(1)), 0, false);
	PG_RETURN_VOID();
}
