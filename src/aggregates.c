/*
 * aggregates.c
 *	  Local encrypted aggregates: enc_count, enc_sum.
 *
 * Values are accumulated in plaintext inside the site (as count and sum
 * do, at the same speed) and encrypted once, in the final function, under
 * the network key.  An empty input yields an encryption of 0, never NULL: a
 * NULL would tell everyone that the site had no matching rows.  Overflow of
 * an accumulator is an error, never a wrapped value.
 */
#include "postgres.h"

#include "common/int.h"
#include "libpq/pqformat.h"
#include "nodes/primnodes.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "scor.h"

PG_FUNCTION_INFO_V1(enc_count_star_trans);
PG_FUNCTION_INFO_V1(enc_count_trans);
PG_FUNCTION_INFO_V1(enc_int2_sum_trans);
PG_FUNCTION_INFO_V1(enc_int4_sum_trans);
PG_FUNCTION_INFO_V1(enc_int8_sum_trans);
PG_FUNCTION_INFO_V1(enc_int_sum_combine);
PG_FUNCTION_INFO_V1(enc_int_final);
PG_FUNCTION_INFO_V1(enc_numeric_sum_trans);
PG_FUNCTION_INFO_V1(enc_numeric_sum_combine);
PG_FUNCTION_INFO_V1(enc_numeric_sum_serial);
PG_FUNCTION_INFO_V1(enc_numeric_sum_deserial);
PG_FUNCTION_INFO_V1(enc_numeric_sum_final);
PG_FUNCTION_INFO_V1(enc_ciphertext_sum_trans);
PG_FUNCTION_INFO_V1(enc_ciphertext_sum_combine);
PG_FUNCTION_INFO_V1(enc_ciphertext_sum_serial);
PG_FUNCTION_INFO_V1(enc_ciphertext_sum_deserial);
PG_FUNCTION_INFO_V1(enc_ciphertext_sum_final);
PG_FUNCTION_INFO_V1(scor_encrypt_int8);

/* State of enc_sum(numeric, scale) */
typedef struct NumericSumState
{
	int64		sum;			/* sum of value * 10^scale */
	int32		scale;			/* -1 until the first row */
} NumericSumState;

/* State of enc_sum(ciphertext): a running sum of decoded points */
typedef struct CiphertextSumState
{
	bool		seen;
	uint8		scale;
	uint8		key_fpr[SCOR_FINGERPRINT_BYTES];
	scor_point	c1;
	scor_point	c2;
} CiphertextSumState;

/* A read-only StringInfo over a bytea (PostgreSQL 15 has no helper) */
static void
bytea_reader(StringInfo buf, bytea *data)
{
	buf->data = VARDATA_ANY(data);
	buf->len = VARSIZE_ANY_EXHDR(data);
	buf->maxlen = buf->len;
	buf->cursor = 0;
}

/* Raise the error for an accumulator that left the bigint range */
static void
report_overflow(const char *aggname)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("%s overflowed its bigint accumulator", aggname),
			 errdetail("The plaintext total must stay between %lld and %lld.",
					   (long long) PG_INT64_MIN, (long long) PG_INT64_MAX)));
}

/* Add v to a bigint accumulator, failing on overflow */
static inline int64
checked_add(int64 acc, int64 v, const char *aggname)
{
	int64		result;

	if (unlikely(pg_add_s64_overflow(acc, v, &result)))
		report_overflow(aggname);
	return result;
}

/* enc_count(*): one more row */
Datum
enc_count_star_trans(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(checked_add(PG_GETARG_INT64(0), 1, "enc_count"));
}

/* enc_count(expr): one more non-null value */
Datum
enc_count_trans(PG_FUNCTION_ARGS)
{
	int64		count = PG_GETARG_INT64(0);

	if (!PG_ARGISNULL(1))
		count = checked_add(count, 1, "enc_count");
	PG_RETURN_INT64(count);
}

/* enc_sum(smallint) */
Datum
enc_int2_sum_trans(PG_FUNCTION_ARGS)
{
	int64		sum = PG_GETARG_INT64(0);

	if (!PG_ARGISNULL(1))
		sum = checked_add(sum, PG_GETARG_INT16(1), "enc_sum");
	PG_RETURN_INT64(sum);
}

/* enc_sum(integer) */
Datum
enc_int4_sum_trans(PG_FUNCTION_ARGS)
{
	int64		sum = PG_GETARG_INT64(0);

	if (!PG_ARGISNULL(1))
		sum = checked_add(sum, PG_GETARG_INT32(1), "enc_sum");
	PG_RETURN_INT64(sum);
}

/* enc_sum(bigint) */
Datum
enc_int8_sum_trans(PG_FUNCTION_ARGS)
{
	int64		sum = PG_GETARG_INT64(0);

	if (!PG_ARGISNULL(1))
		sum = checked_add(sum, PG_GETARG_INT64(1), "enc_sum");
	PG_RETURN_INT64(sum);
}

/*
 * Combine two partial counts or sums (parallel aggregation).  enc_count and
 * enc_sum share this function, so an overflow names the aggregate that
 * called it.
 */
Datum
enc_int_sum_combine(PG_FUNCTION_ARGS)
{
	int64		result;

	if (unlikely(pg_add_s64_overflow(PG_GETARG_INT64(0), PG_GETARG_INT64(1), &result)))
	{
		Aggref	   *aggref = AggGetAggref(fcinfo);
		char	   *aggname = aggref ? get_func_name(aggref->aggfnoid) : NULL;

		report_overflow(aggname ? aggname : "enc_count or enc_sum");
	}
	PG_RETURN_INT64(result);
}

/* Encrypt the finished count or sum under the network key */
Datum
enc_int_final(PG_FUNCTION_ARGS)
{
	PG_RETURN_CIPHERTEXT_P(scor_encrypt_value(PG_GETARG_INT64(0), 0));
}

/* scor.encrypt(bigint): one value under the network key */
Datum
scor_encrypt_int8(PG_FUNCTION_ARGS)
{
	PG_RETURN_CIPHERTEXT_P(scor_encrypt_value(PG_GETARG_INT64(0), 0));
}

/* 10^scale as a numeric */
static Numeric
power_of_ten(int scale)
{
	char		buf[CIPHERTEXT_MAX_SCALE + 3];

	buf[0] = '1';
	memset(buf + 1, '0', scale);
	buf[scale + 1] = '\0';
	return DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(buf),
											   ObjectIdGetDatum(InvalidOid),
											   Int32GetDatum(-1)));
}

/* Check a declared scale */
static int32
check_scale(int32 scale)
{
	if (scale < 0 || scale > CIPHERTEXT_MAX_SCALE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("enc_sum scale %d is out of range", scale),
				 errdetail("The scale must be between 0 and %d.", CIPHERTEXT_MAX_SCALE)));
	return scale;
}

/*
 * value * 10^scale as a bigint, exactly: a value with more decimal places
 * than the scale, or too large, is an error that names it.
 */
static int64
scale_numeric(Numeric value, int32 scale)
{
	Datum		scaled;
	Datum		truncated;
	char	   *text;
	int64		result;
	bool		have_error = false;

	if (numeric_is_nan(value) || numeric_is_inf(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("enc_sum cannot add %s",
						numeric_out_sci(value, 0))));
	scaled = NumericGetDatum(numeric_mul_opt_error(value, power_of_ten(scale), &have_error));
	/* value * 10^scale beyond numeric's own range: far beyond any bigint */
	if (have_error)
		report_overflow("enc_sum");
	truncated = DirectFunctionCall2(numeric_trunc, scaled, Int32GetDatum(0));
	if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, scaled, truncated)) != 0)
	{
		text = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(value)));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("value %s has more decimal places than the enc_sum scale %d", text, scale),
				 errhint("Round the values explicitly, for example enc_sum(round(x, %d), %d).",
						 scale, scale)));
	}
	text = DatumGetCString(DirectFunctionCall1(numeric_out, truncated));
	errno = 0;
	result = strtoi64(text, NULL, 10);
	if (errno == ERANGE)
		report_overflow("enc_sum");
	return result;
}

/* The scale an aggregate call declares as its constant second argument */
static int32
declared_scale(FunctionCallInfo fcinfo)
{
	Aggref	   *aggref = AggGetAggref(fcinfo);
	TargetEntry *tle;

	if (aggref == NULL || list_length(aggref->args) != 2)
		elog(ERROR, "enc_sum(numeric, integer) called in a non-aggregate context");
	tle = (TargetEntry *) lsecond(aggref->args);
	if (!IsA(tle->expr, Const))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the scale of enc_sum(numeric, scale) must be a constant")));
	if (((Const *) tle->expr)->constisnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the scale of enc_sum(numeric, scale) must not be null")));
	return check_scale(DatumGetInt32(((Const *) tle->expr)->constvalue));
}

/* Allocate a numeric-sum state in the aggregate's memory context */
static NumericSumState *
numeric_state_create(FunctionCallInfo fcinfo, const char *caller)
{
	MemoryContext aggcontext;
	NumericSumState *state;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "%s called in non-aggregate context", caller);
	state = MemoryContextAllocZero(aggcontext, sizeof(NumericSumState));
	state->scale = -1;
	return state;
}

/* enc_sum(numeric, scale): add value * 10^scale */
Datum
enc_numeric_sum_trans(PG_FUNCTION_ARGS)
{
	NumericSumState *state;

	if (PG_ARGISNULL(0))
	{
		state = numeric_state_create(fcinfo, "enc_numeric_sum_trans");
		state->scale = declared_scale(fcinfo);
	}
	else
		state = (NumericSumState *) PG_GETARG_POINTER(0);

	if (!PG_ARGISNULL(1))
		state->sum = checked_add(state->sum,
								 scale_numeric(PG_GETARG_NUMERIC(1), state->scale),
								 "enc_sum");
	PG_RETURN_POINTER(state);
}

/* Combine two partial numeric sums */
Datum
enc_numeric_sum_combine(PG_FUNCTION_ARGS)
{
	NumericSumState *a = PG_ARGISNULL(0) ? NULL : (NumericSumState *) PG_GETARG_POINTER(0);
	NumericSumState *b = PG_ARGISNULL(1) ? NULL : (NumericSumState *) PG_GETARG_POINTER(1);

	if (b == NULL)
		PG_RETURN_POINTER(a);
	if (a == NULL)
	{
		a = numeric_state_create(fcinfo, "enc_numeric_sum_combine");
		*a = *b;
		PG_RETURN_POINTER(a);
	}
	if (a->scale != b->scale)
		elog(ERROR, "enc_sum: partial sums have different scales");
	a->sum = checked_add(a->sum, b->sum, "enc_sum");
	PG_RETURN_POINTER(a);
}

/* Serialize a numeric-sum state for a parallel worker */
Datum
enc_numeric_sum_serial(PG_FUNCTION_ARGS)
{
	NumericSumState *state = (NumericSumState *) PG_GETARG_POINTER(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint64(&buf, state->sum);
	pq_sendint32(&buf, state->scale);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Deserialize a numeric-sum state from a parallel worker */
Datum
enc_numeric_sum_deserial(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	NumericSumState *state = numeric_state_create(fcinfo, "enc_numeric_sum_deserial");
	StringInfoData buf;

	bytea_reader(&buf, data);
	state->sum = pq_getmsgint64(&buf);
	state->scale = pq_getmsgint(&buf, 4);
	pq_getmsgend(&buf);
	PG_RETURN_POINTER(state);
}

/* Encrypt the finished numeric sum, tagged with its scale */
Datum
enc_numeric_sum_final(PG_FUNCTION_ARGS)
{
	NumericSumState *state = PG_ARGISNULL(0) ? NULL : (NumericSumState *) PG_GETARG_POINTER(0);

	if (state == NULL)
		PG_RETURN_CIPHERTEXT_P(scor_encrypt_value(0, declared_scale(fcinfo)));
	PG_RETURN_CIPHERTEXT_P(scor_encrypt_value(state->sum, state->scale));
}

/* m / 10^scale as an exact numeric */
Datum
scor_numeric_from_scaled(int64 m, int scale)
{
	char		digits[32];
	char		buf[64];
	const char *sign = m < 0 ? "-" : "";
	uint64		magnitude = m < 0 ? -(uint64) m : (uint64) m;
	int			len;

	len = snprintf(digits, sizeof(digits), "%llu", (unsigned long long) magnitude);
	if (scale == 0)
		snprintf(buf, sizeof(buf), "%s%s", sign, digits);
	else if (len > scale)
		snprintf(buf, sizeof(buf), "%s%.*s.%s", sign, len - scale, digits, digits + len - scale);
	else
		snprintf(buf, sizeof(buf), "%s0.%.*s%s", sign, scale - len,
				 "000000000000000000", digits);
	return DirectFunctionCall3(numeric_in, CStringGetDatum(buf),
							   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

/* Allocate a ciphertext-sum state in the aggregate's memory context */
static CiphertextSumState *
ciphertext_state_create(FunctionCallInfo fcinfo, const char *caller)
{
	MemoryContext aggcontext;
	CiphertextSumState *state;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "%s called in non-aggregate context", caller);
	state = MemoryContextAllocZero(aggcontext, sizeof(CiphertextSumState));
	scor_point_identity(&state->c1);
	scor_point_identity(&state->c2);
	return state;
}

/* Add one ciphertext's points into a running sum */
static void
ciphertext_state_add(CiphertextSumState *state, const uint8 *key_fpr, int scale,
					 const scor_point *c1, const scor_point *c2)
{
	if (!state->seen)
	{
		memcpy(state->key_fpr, key_fpr, SCOR_FINGERPRINT_BYTES);
		state->scale = scale;
		state->c1 = *c1;
		state->c2 = *c2;
		state->seen = true;
		return;
	}
	ciphertext_check_same_key(state->key_fpr, key_fpr);
	ciphertext_check_same_scale(state->scale, scale);
	scor_point_add(&state->c1, &state->c1, c1);
	scor_point_add(&state->c2, &state->c2, c2);
}

/* enc_sum(ciphertext): homomorphic sum, kept decoded between rows */
Datum
enc_ciphertext_sum_trans(PG_FUNCTION_ARGS)
{
	CiphertextSumState *state;
	Ciphertext *ct;
	scor_point	c1,
				c2;

	if (PG_ARGISNULL(0))
		state = ciphertext_state_create(fcinfo, "enc_ciphertext_sum_trans");
	else
		state = (CiphertextSumState *) PG_GETARG_POINTER(0);
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(state);

	ct = PG_GETARG_CIPHERTEXT_P(1);
	scor_point_from_affine(&c1, &ct->c1);
	scor_point_from_affine(&c2, &ct->c2);
	ciphertext_state_add(state, ct->key_fpr, ct->scale, &c1, &c2);
	PG_FREE_IF_COPY(ct, 1);
	PG_RETURN_POINTER(state);
}

/* Combine two partial homomorphic sums */
Datum
enc_ciphertext_sum_combine(PG_FUNCTION_ARGS)
{
	CiphertextSumState *a = PG_ARGISNULL(0) ? NULL : (CiphertextSumState *) PG_GETARG_POINTER(0);
	CiphertextSumState *b = PG_ARGISNULL(1) ? NULL : (CiphertextSumState *) PG_GETARG_POINTER(1);

	if (b == NULL || !b->seen)
		PG_RETURN_POINTER(a);
	if (a == NULL)
		a = ciphertext_state_create(fcinfo, "enc_ciphertext_sum_combine");
	ciphertext_state_add(a, b->key_fpr, b->scale, &b->c1, &b->c2);
	PG_RETURN_POINTER(a);
}

/* Serialize a homomorphic-sum state (affine points) for a parallel worker */
Datum
enc_ciphertext_sum_serial(PG_FUNCTION_ARGS)
{
	CiphertextSumState *state = (CiphertextSumState *) PG_GETARG_POINTER(0);
	scor_point	pts[2];
	scor_affine aff[2];
	StringInfoData buf;

	pts[0] = state->c1;
	pts[1] = state->c2;
	scor_point_to_affine_batch(aff, pts, 2);
	pq_begintypsend(&buf);
	pq_sendbyte(&buf, state->seen ? 1 : 0);
	pq_sendbyte(&buf, state->scale);
	pq_sendbytes(&buf, (char *) state->key_fpr, SCOR_FINGERPRINT_BYTES);
	pq_sendbytes(&buf, (char *) aff, sizeof(aff));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Deserialize a homomorphic-sum state from a parallel worker */
Datum
enc_ciphertext_sum_deserial(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	CiphertextSumState *state = ciphertext_state_create(fcinfo, "enc_ciphertext_sum_deserial");
	scor_affine aff[2];
	StringInfoData buf;

	bytea_reader(&buf, data);
	state->seen = pq_getmsgbyte(&buf) != 0;
	state->scale = pq_getmsgbyte(&buf);
	pq_copymsgbytes(&buf, (char *) state->key_fpr, SCOR_FINGERPRINT_BYTES);
	pq_copymsgbytes(&buf, (char *) aff, sizeof(aff));
	pq_getmsgend(&buf);
	scor_point_from_affine(&state->c1, &aff[0]);
	scor_point_from_affine(&state->c2, &aff[1]);
	PG_RETURN_POINTER(state);
}

/*
 * The finished homomorphic sum.  An empty input (or one of only NULLs) is a
 * fresh encryption of 0 with scale 0: a ciphertext column has no declared
 * scale, so there is none to inherit.  Adding that result to a scaled
 * ciphertext is the usual different-scales error, whose hint explains it.
 */
Datum
enc_ciphertext_sum_final(PG_FUNCTION_ARGS)
{
	CiphertextSumState *state = PG_ARGISNULL(0) ? NULL : (CiphertextSumState *) PG_GETARG_POINTER(0);

	if (state == NULL || !state->seen)
		PG_RETURN_CIPHERTEXT_P(scor_encrypt_value(0, 0));
	PG_RETURN_CIPHERTEXT_P(ciphertext_from_points(&state->c1, &state->c2,
												  state->key_fpr, state->scale));
}
