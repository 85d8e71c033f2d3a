/*
 * fuzz_ciphertext.c
 *	  The scor.ciphertext input functions of src/ciphertext.c
 *	  (ciphertext_in: scor_base64url_decode + ciphertext_from_wire;
 *	  ciphertext_recv) and the operators on what they accept, called through
 *	  the fmgr interface as the server calls them, with pgstub.c instead of
 *	  the backend.
 *
 * Input: a mode byte, then
 *	0 text     the type's text input (a C string: it ends at a zero byte)
 *	1 binary   the type's binary input
 *	2 pair     two binary inputs of 74 bytes each, then added
 * Oracles: only invalid-input errors are raised; an accepted value prints
 * (ciphertext_out / ciphertext_send) to exactly its input, so every value
 * has one form; scale() and key_fingerprint() are the header's fields;
 * a + (-a) has the identity in both components, (a + a) + (-a) = a, and
 * a - (-a) = a + a; a + b is libsodium's component-wise sum when a and b
 * are under the same key and scale, and an error otherwise.
 */
#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "scor.h"

#include "fuzz_common.h"
#include "pgstub.h"

extern Datum ciphertext_in(PG_FUNCTION_ARGS);
extern Datum ciphertext_out(PG_FUNCTION_ARGS);
extern Datum ciphertext_recv(PG_FUNCTION_ARGS);
extern Datum ciphertext_send(PG_FUNCTION_ARGS);
extern Datum ciphertext_add(PG_FUNCTION_ARGS);
extern Datum ciphertext_sub(PG_FUNCTION_ARGS);
extern Datum ciphertext_neg(PG_FUNCTION_ARGS);
extern Datum ciphertext_key_fingerprint(PG_FUNCTION_ARGS);
extern Datum ciphertext_scale(PG_FUNCTION_ARGS);

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TEXT_LEN ((CIPHERTEXT_WIRE_BYTES * 4 + 2) / 3)

static Datum
call(PGFunction fn, int nargs, Datum a, Datum b)
{
	LOCAL_FCINFO(fcinfo, 2);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, NULL, nargs, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = a;
	fcinfo->args[0].isnull = false;
	fcinfo->args[1].value = b;
	fcinfo->args[1].isnull = false;
	result = fn(fcinfo);
	if (fcinfo->isnull)
		pgstub_finding("a ciphertext function returned NULL");
	return result;
}

/* A valid wire form under the fixed key */
static void
make_wire(uint8 *wire, int64 m, int scale)
{
	wire[0] = CIPHERTEXT_VERSION;
	wire[1] = (uint8) scale;
	scor_key_fingerprint(wire + 2, fuzz_site_keys.elgamal_public);
	if (scor_elgamal_encrypt(wire + 10, wire + 42, m, fuzz_site_keys.elgamal_public, NULL) != 0)
		abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init_keys();
	if (fuzz_seed_dir())
	{
		uint8		w[2 * CIPHERTEXT_WIRE_BYTES];
		char	   *text;

		pgstub_begin();
		make_wire(w, 42, 0);
		text = scor_base64url_encode(w, CIPHERTEXT_WIRE_BYTES);
		fuzz_write_seed("text", 0, text, strlen(text));
		fuzz_write_seed("binary", 1, w, CIPHERTEXT_WIRE_BYTES);
		make_wire(w + CIPHERTEXT_WIRE_BYTES, -7, 0);
		fuzz_write_seed("pair", 2, w, sizeof(w));
		make_wire(w + CIPHERTEXT_WIRE_BYTES, 5, 3);
		fuzz_write_seed("pair-scales", 2, w, sizeof(w));
		make_wire(w, 0, 18);
		text = scor_base64url_encode(w, CIPHERTEXT_WIRE_BYTES);
		fuzz_write_seed("text-zero", 0, text, strlen(text));
		pgstub_end();
		exit(0);
	}
	return 0;
}

/* The wire form of a ciphertext datum, through ciphertext_send */
static void
to_wire(uint8 *wire, Datum ct)
{
	bytea	   *b = DatumGetByteaPP(call(ciphertext_send, 1, ct, 0));

	if (VARSIZE_ANY_EXHDR(b) != CIPHERTEXT_WIRE_BYTES)
		pgstub_finding("ciphertext_send gave %zu bytes", (size_t) VARSIZE_ANY_EXHDR(b));
	memcpy(wire, VARDATA_ANY(b), CIPHERTEXT_WIRE_BYTES);
}

static void
same(const char *what, Datum x, Datum y)
{
	uint8		a[CIPHERTEXT_WIRE_BYTES],
				b[CIPHERTEXT_WIRE_BYTES];

	to_wire(a, x);
	to_wire(b, y);
	if (memcmp(a, b, sizeof(a)) != 0)
		pgstub_finding("%s does not hold", what);
}

/* Properties of an accepted ciphertext whose wire form is wire */
static void
check_value(Datum ct, const uint8 *wire)
{
	char	   *printed = DatumGetCString(call(ciphertext_out, 1, ct, 0));
	text	   *fpr_text = DatumGetTextPP(call(ciphertext_key_fingerprint, 1, ct, 0));
	char	   *fpr = pnstrdup(VARDATA_ANY(fpr_text), VARSIZE_ANY_EXHDR(fpr_text));
	uint8		w[CIPHERTEXT_WIRE_BYTES];
	char		hex[2 * SCOR_FINGERPRINT_BYTES + 1];
	Datum		neg,
				zero,
				twice;

	to_wire(w, ct);
	if (memcmp(w, wire, sizeof(w)) != 0)
		pgstub_finding("an accepted ciphertext does not send back as its input");
	if (strlen(printed) != TEXT_LEN)
		pgstub_finding("ciphertext_out printed %zu characters", strlen(printed));
	if (DatumGetInt32(call(ciphertext_scale, 1, ct, 0)) != wire[1])
		pgstub_finding("scale() is not the header's scale");
	sodium_bin2hex(hex, sizeof(hex), wire + 2, SCOR_FINGERPRINT_BYTES);
	if (strcmp(fpr, hex) != 0)
		pgstub_finding("key_fingerprint() is %s, not %s", fpr, hex);

	neg = call(ciphertext_neg, 1, ct, 0);
	zero = call(ciphertext_add, 2, ct, neg);
	to_wire(w, zero);
	for (int i = 2 + SCOR_FINGERPRINT_BYTES; i < CIPHERTEXT_WIRE_BYTES; i++)
		if (w[i] != 0)
			pgstub_finding("a + (-a) is not the identity");
	twice = call(ciphertext_add, 2, ct, ct);
	same("(a + a) + (-a) = a", call(ciphertext_add, 2, twice, neg), ct);
	same("a - (-a) = a + a", call(ciphertext_sub, 2, ct, neg), twice);
}

static void
do_text(const uint8 *data, size_t len)
{
	char	   *str = palloc(len + 1);
	Datum		ct;
	uint8		wire[CIPHERTEXT_WIRE_BYTES];
	sigjmp_buf	jb;

	memcpy(str, data, len);
	str[len] = '\0';
	if (pgstub_catch(&jb) != 0)
	{
		pgstub_expect_sqlstate("ciphertext_in", "22P02", "22023", NULL);
		return;
	}
	ct = call(ciphertext_in, 1, CStringGetDatum(str), 0);
	pgstub_error_jmp = NULL;
	if (!scor_base64url_decode(str, strlen(str), wire, sizeof(wire)))
		pgstub_finding("ciphertext_in accepted what the decoder refuses");
	if (strcmp(DatumGetCString(call(ciphertext_out, 1, ct, 0)), str) != 0)
		pgstub_finding("an accepted ciphertext does not print as its input");
	check_value(ct, wire);
}

/* ciphertext_recv on len bytes; (Datum) 0 if refused */
static Datum
recv(const uint8 *data, size_t len)
{
	StringInfoData buf;
	sigjmp_buf	jb;
	Datum		ct;

	buf.data = palloc(len + 1);
	memcpy(buf.data, data, len);
	buf.data[len] = '\0';
	buf.len = (int) len;
	buf.maxlen = (int) len + 1;
	buf.cursor = 0;
	if (pgstub_catch(&jb) != 0)
	{
		pgstub_expect_sqlstate("ciphertext_recv", "22P03", "22023", NULL);
		return (Datum) 0;
	}
	ct = call(ciphertext_recv, 1, PointerGetDatum(&buf), 0);
	pgstub_error_jmp = NULL;
	if (buf.cursor != buf.len)
		pgstub_finding("ciphertext_recv left %d bytes unread", buf.len - buf.cursor);
	return ct;
}

static void
do_pair(const uint8 *data, size_t len)
{
	uint8		wa[CIPHERTEXT_WIRE_BYTES],
				wb[CIPHERTEXT_WIRE_BYTES],
				ws[CIPHERTEXT_WIRE_BYTES],
				ref[SCOR_ELEMENT_BYTES];
	fuzz_input	in = {data, len, 0};
	Datum		a,
				b,
				sum;
	bool		compatible;
	sigjmp_buf	jb;

	fuzz_take(&in, wa, sizeof(wa));
	fuzz_take(&in, wb, sizeof(wb));
	if ((a = recv(wa, sizeof(wa))) == 0 || (b = recv(wb, sizeof(wb))) == 0)
		return;
	compatible = wa[1] == wb[1] && memcmp(wa + 2, wb + 2, SCOR_FINGERPRINT_BYTES) == 0;
	if (pgstub_catch(&jb) != 0)
	{
		pgstub_expect_sqlstate("ciphertext_add", "22023", NULL);
		if (compatible)
			pgstub_finding("adding compatible ciphertexts failed: %s", pgstub_message());
		return;
	}
	sum = call(ciphertext_add, 2, a, b);
	pgstub_error_jmp = NULL;
	if (!compatible)
		pgstub_finding("ciphertexts under different keys or scales were added");
	to_wire(ws, sum);
	for (int c = 0; c < 2; c++)
	{
		int			off = 2 + SCOR_FINGERPRINT_BYTES + c * SCOR_ELEMENT_BYTES;

		if (crypto_core_ristretto255_add(ref, wa + off, wb + off) != 0 ||
			memcmp(ref, ws + off, SCOR_ELEMENT_BYTES) != 0)
			pgstub_finding("component %d of a + b is not libsodium's sum", c + 1);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int			mode;
	Datum		ct;

	if (size == 0)
		return 0;
	mode = data[0] % 3;
	data++;
	size--;
	pgstub_begin();
	if (mode == 0)
		do_text(data, size);
	else if (mode == 1)
	{
		if ((ct = recv(data, size)) != 0)
			check_value(ct, data);
	}
	else
		do_pair(data, size);
	pgstub_end();
	return 0;
}
