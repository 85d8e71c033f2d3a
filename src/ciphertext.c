/*
 * ciphertext.c
 *	  The scor.ciphertext type: text and binary I/O, homomorphic operators.
 *
 * Text form: the base64url encoding (no padding) of the wire form, which is
 * version (1 byte), decimal scale (1 byte), key fingerprint (8 bytes), then
 * the canonical ristretto255 encodings of C1 and C2.  Binary send/recv use
 * the wire form itself.  Both input paths validate through one function.
 */
#include "postgres.h"

#include "libpq/pqformat.h"
#include "utils/builtins.h"

#include "scor.h"

PG_FUNCTION_INFO_V1(ciphertext_in);
PG_FUNCTION_INFO_V1(ciphertext_out);
PG_FUNCTION_INFO_V1(ciphertext_recv);
PG_FUNCTION_INFO_V1(ciphertext_send);
PG_FUNCTION_INFO_V1(ciphertext_add);
PG_FUNCTION_INFO_V1(ciphertext_sub);
PG_FUNCTION_INFO_V1(ciphertext_neg);
PG_FUNCTION_INFO_V1(ciphertext_key_fingerprint);
PG_FUNCTION_INFO_V1(ciphertext_scale);

static const char base64url_alphabet[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Encode bytes as unpadded base64url, palloc'd */
char *
scor_base64url_encode(const uint8 *data, size_t len)
{
	char	   *out = palloc((len + 2) / 3 * 4 + 1);
	char	   *p = out;
	size_t		i;

	for (i = 0; i + 2 < len; i += 3)
	{
		uint32		v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];

		*p++ = base64url_alphabet[(v >> 18) & 63];
		*p++ = base64url_alphabet[(v >> 12) & 63];
		*p++ = base64url_alphabet[(v >> 6) & 63];
		*p++ = base64url_alphabet[v & 63];
	}
	if (len - i == 1)
	{
		uint32		v = data[i] << 16;

		*p++ = base64url_alphabet[(v >> 18) & 63];
		*p++ = base64url_alphabet[(v >> 12) & 63];
	}
	else if (len - i == 2)
	{
		uint32		v = (data[i] << 16) | (data[i + 1] << 8);

		*p++ = base64url_alphabet[(v >> 18) & 63];
		*p++ = base64url_alphabet[(v >> 12) & 63];
		*p++ = base64url_alphabet[(v >> 6) & 63];
	}
	*p = '\0';
	return out;
}

/* Value of one base64url character, or -1 */
static int
base64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/*
 * Strictly decode unpadded base64url text of exactly out_len bytes.  Unused
 * trailing bits must be zero, so that every value has one text form.
 */
bool
scor_base64url_decode(const char *text, size_t text_len, uint8 *out, size_t out_len)
{
	uint32		acc = 0;
	int			bits = 0;
	size_t		n = 0;

	if (text_len != (out_len * 4 + 2) / 3)
		return false;
	for (size_t i = 0; i < text_len; i++)
	{
		int			v = base64url_value(text[i]);

		if (v < 0)
			return false;
		acc = (acc << 6) | v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			out[n++] = (acc >> bits) & 0xFF;
		}
	}
	return n == out_len && (acc & ((1u << bits) - 1)) == 0;
}

/* A bytea holding a copy of len bytes, palloc'd */
bytea *
scor_bytea(const void *data, size_t len)
{
	bytea	   *b = palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), data, len);
	return b;
}

/* Hex form of a key fingerprint, palloc'd */
char *
fingerprint_to_text(const uint8 *fpr)
{
	char	   *out = palloc(2 * SCOR_FINGERPRINT_BYTES + 1);

	for (int i = 0; i < SCOR_FINGERPRINT_BYTES; i++)
		snprintf(out + 2 * i, 3, "%02x", fpr[i]);
	return out;
}

/* Build a ciphertext datum from two decoded points */
Ciphertext *
ciphertext_from_points(const scor_point *c1, const scor_point *c2,
					   const uint8 *key_fpr, int scale)
{
	Ciphertext *ct = palloc0(sizeof(Ciphertext));
	scor_point	pts[2];
	scor_affine aff[2];

	SET_VARSIZE(ct, sizeof(Ciphertext));
	ct->version = CIPHERTEXT_VERSION;
	ct->scale = scale;
	memcpy(ct->key_fpr, key_fpr, SCOR_FINGERPRINT_BYTES);
	pts[0] = *c1;
	pts[1] = *c2;
	scor_point_to_affine_batch(aff, pts, 2);
	ct->c1 = aff[0];
	ct->c2 = aff[1];
	return ct;
}

/*
 * Validate a wire form and build the datum: the one validator behind text
 * input, binary input and protocol messages.
 */
Ciphertext *
ciphertext_from_wire(const uint8 *wire)
{
	scor_point	c1;
	scor_point	c2;

	if (wire[0] != CIPHERTEXT_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unsupported ciphertext version %d", wire[0]),
				 errdetail("This version of scor reads ciphertext version %d.",
						   CIPHERTEXT_VERSION)));
	if (wire[1] > CIPHERTEXT_MAX_SCALE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ciphertext scale %d is out of range", wire[1]),
				 errdetail("The scale must be between 0 and %d.", CIPHERTEXT_MAX_SCALE)));
	if (scor_point_decode(&c1, wire + 2 + SCOR_FINGERPRINT_BYTES) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ciphertext component C1 is not a valid ristretto255 encoding")));
	if (scor_point_decode(&c2, wire + 2 + SCOR_FINGERPRINT_BYTES + SCOR_ELEMENT_BYTES) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ciphertext component C2 is not a valid ristretto255 encoding")));

	return ciphertext_from_points(&c1, &c2, wire + 2, wire[1]);
}

/* Produce the canonical wire form of a ciphertext */
void
ciphertext_to_wire(uint8 *wire, const Ciphertext *ct)
{
	scor_point	p;

	wire[0] = CIPHERTEXT_VERSION;
	wire[1] = ct->scale;
	memcpy(wire + 2, ct->key_fpr, SCOR_FINGERPRINT_BYTES);
	scor_point_from_affine(&p, &ct->c1);
	scor_point_encode(wire + 2 + SCOR_FINGERPRINT_BYTES, &p);
	scor_point_from_affine(&p, &ct->c2);
	scor_point_encode(wire + 2 + SCOR_FINGERPRINT_BYTES + SCOR_ELEMENT_BYTES, &p);
}

/* Refuse to combine ciphertexts under different keys: the result is garbage */
void
ciphertext_check_same_key(const uint8 *a, const uint8 *b)
{
	if (memcmp(a, b, SCOR_FINGERPRINT_BYTES) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine ciphertexts encrypted under different keys"),
				 errdetail("One is under key %s, the other under key %s.",
						   fingerprint_to_text(a), fingerprint_to_text(b))));
}

/*
 * Refuse to combine ciphertexts of different decimal scales: the sum of
 * m1/10^s1 and m2/10^s2 is not (m1 + m2)/10^s for any one s.  An
 * enc_sum(ciphertext) over no rows has no scale to inherit and is an
 * encryption of 0 at scale 0; the hint says so when a scale 0 is involved.
 */
void
ciphertext_check_same_scale(int a, int b)
{
	if (a != b)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine ciphertexts of different scales"),
				 errdetail("One has scale %d, the other scale %d.", a, b),
				 (a == 0 || b == 0) ?
				 errhint("A ciphertext of scale 0 may be an enc_sum(ciphertext) over no rows, which has no scale to inherit.") : 0));
}

/* Check that two ciphertexts can be added or subtracted */
static void
check_compatible(const Ciphertext *a, const Ciphertext *b)
{
	ciphertext_check_same_key(a->key_fpr, b->key_fpr);
	ciphertext_check_same_scale(a->scale, b->scale);
}

/* Convert textual representation to internal representation */
Datum
ciphertext_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	uint8		wire[CIPHERTEXT_WIRE_BYTES];
	size_t		len = strlen(str);

	if (!scor_base64url_decode(str, len, wire, sizeof(wire)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type ciphertext: \"%s\"", str),
				 errdetail("A ciphertext is %d characters of unpadded base64url (%d bytes).",
						   (CIPHERTEXT_WIRE_BYTES * 4 + 2) / 3, CIPHERTEXT_WIRE_BYTES)));

	PG_RETURN_CIPHERTEXT_P(ciphertext_from_wire(wire));
}

/* Convert internal representation to textual representation */
Datum
ciphertext_out(PG_FUNCTION_ARGS)
{
	Ciphertext *ct = PG_GETARG_CIPHERTEXT_P(0);
	uint8		wire[CIPHERTEXT_WIRE_BYTES];

	ciphertext_to_wire(wire, ct);
	PG_FREE_IF_COPY(ct, 0);
	PG_RETURN_CSTRING(scor_base64url_encode(wire, sizeof(wire)));
}

/* Convert external binary representation to internal representation */
Datum
ciphertext_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	uint8		wire[CIPHERTEXT_WIRE_BYTES];
	int			remaining = buf->len - buf->cursor;

	if (remaining != CIPHERTEXT_WIRE_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary ciphertext length %d", remaining),
				 errdetail("A binary ciphertext has %d bytes.", CIPHERTEXT_WIRE_BYTES)));
	pq_copymsgbytes(buf, (char *) wire, CIPHERTEXT_WIRE_BYTES);

	PG_RETURN_CIPHERTEXT_P(ciphertext_from_wire(wire));
}

/* Convert internal representation to the external binary representation */
Datum
ciphertext_send(PG_FUNCTION_ARGS)
{
	Ciphertext *ct = PG_GETARG_CIPHERTEXT_P(0);
	uint8		wire[CIPHERTEXT_WIRE_BYTES];
	StringInfoData buf;

	ciphertext_to_wire(wire, ct);
	pq_begintypsend(&buf);
	pq_sendbytes(&buf, (char *) wire, sizeof(wire));
	PG_FREE_IF_COPY(ct, 0);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* a + b or a - b, componentwise on the points */
static Ciphertext *
ciphertext_combine(const Ciphertext *a, const Ciphertext *b, bool subtract)
{
	scor_point	pa,
				pb,
				c1,
				c2;

	check_compatible(a, b);
	scor_point_from_affine(&pa, &a->c1);
	scor_point_from_affine(&pb, &b->c1);
	if (subtract)
		scor_point_sub(&c1, &pa, &pb);
	else
		scor_point_add(&c1, &pa, &pb);
	scor_point_from_affine(&pa, &a->c2);
	scor_point_from_affine(&pb, &b->c2);
	if (subtract)
		scor_point_sub(&c2, &pa, &pb);
	else
		scor_point_add(&c2, &pa, &pb);
	return ciphertext_from_points(&c1, &c2, a->key_fpr, a->scale);
}

/* Homomorphic addition: Enc(a) + Enc(b) = Enc(a + b) */
Datum
ciphertext_add(PG_FUNCTION_ARGS)
{
	PG_RETURN_CIPHERTEXT_P(ciphertext_combine(PG_GETARG_CIPHERTEXT_P(0),
											  PG_GETARG_CIPHERTEXT_P(1), false));
}

/* Homomorphic subtraction: Enc(a) - Enc(b) = Enc(a - b) */
Datum
ciphertext_sub(PG_FUNCTION_ARGS)
{
	PG_RETURN_CIPHERTEXT_P(ciphertext_combine(PG_GETARG_CIPHERTEXT_P(0),
											  PG_GETARG_CIPHERTEXT_P(1), true));
}

/* Homomorphic negation: -Enc(a) = Enc(-a) */
Datum
ciphertext_neg(PG_FUNCTION_ARGS)
{
	Ciphertext *a = PG_GETARG_CIPHERTEXT_P(0);
	scor_point	p,
				c1,
				c2;

	scor_point_from_affine(&p, &a->c1);
	scor_point_neg(&c1, &p);
	scor_point_from_affine(&p, &a->c2);
	scor_point_neg(&c2, &p);

	PG_RETURN_CIPHERTEXT_P(ciphertext_from_points(&c1, &c2, a->key_fpr, a->scale));
}

/* The fingerprint of the key a ciphertext is encrypted under */
Datum
ciphertext_key_fingerprint(PG_FUNCTION_ARGS)
{
	Ciphertext *a = PG_GETARG_CIPHERTEXT_P(0);

	PG_RETURN_TEXT_P(cstring_to_text(fingerprint_to_text(a->key_fpr)));
}

/* The decimal scale of a ciphertext (0 for integers) */
Datum
ciphertext_scale(PG_FUNCTION_ARGS)
{
	Ciphertext *a = PG_GETARG_CIPHERTEXT_P(0);

	PG_RETURN_INT32(a->scale);
}
