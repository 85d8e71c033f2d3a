/*
 * scor.h
 *	  Declarations shared by scor's backend files.
 */
#ifndef SCOR_H
#define SCOR_H

#include "postgres.h"

#include "fmgr.h"

#include "crypto.h"
#include "ristretto.h"

/* scor's own SQLSTATEs, class SC */
#define ERRCODE_SCOR_MEMBER_SET_MISMATCH	MAKE_SQLSTATE('S','C','0','0','1')
#define ERRCODE_SCOR_REPLAY					MAKE_SQLSTATE('S','C','0','0','2')
#define ERRCODE_SCOR_BAD_PROOF				MAKE_SQLSTATE('S','C','0','0','3')
#define ERRCODE_SCOR_KEY_CHANGED			MAKE_SQLSTATE('S','C','0','0','4')
#define ERRCODE_SCOR_QUERY_REFUSED			MAKE_SQLSTATE('S','C','0','0','5')
#define ERRCODE_SCOR_QUERY_FAILED			MAKE_SQLSTATE('S','C','0','0','6')
#define ERRCODE_SCOR_BUDGET_EXHAUSTED		MAKE_SQLSTATE('S','C','0','0','7')
#define ERRCODE_SCOR_MANIFEST_REFUSED		MAKE_SQLSTATE('S','C','0','0','8')
#define ERRCODE_SCOR_MANIFEST_FETCH_FAILED	MAKE_SQLSTATE('S','C','0','0','9')

/* Storage format version of ciphertext datums, and of their wire form */
#define CIPHERTEXT_VERSION 1
/* Largest decimal scale of enc_sum(numeric, scale) */
#define CIPHERTEXT_MAX_SCALE 18

/*
 * A ciphertext datum.  On disk the two points are kept in affine form so
 * that homomorphic sums need no inverse square root per row; the text and
 * binary wire forms carry canonical ristretto255 encodings instead.
 */
typedef struct Ciphertext
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	uint8		version;		/* CIPHERTEXT_VERSION */
	uint8		scale;			/* decimal scale: value = m / 10^scale */
	uint16		unused;			/* reserved for future use, always zero */
	uint8		key_fpr[SCOR_FINGERPRINT_BYTES];	/* key it is encrypted under */
	scor_affine c1;				/* rG */
	scor_affine c2;				/* mG + rX */
} Ciphertext;

/* Wire form: version, scale, fingerprint, C1, C2 */
#define CIPHERTEXT_WIRE_BYTES (2 + SCOR_FINGERPRINT_BYTES + 2 * SCOR_ELEMENT_BYTES)

#define DatumGetCiphertextP(x)		((Ciphertext *) PG_DETOAST_DATUM(x))
#define PG_GETARG_CIPHERTEXT_P(x)	DatumGetCiphertextP(PG_GETARG_DATUM(x))
#define PG_RETURN_CIPHERTEXT_P(x)	PG_RETURN_POINTER(x)

/* ciphertext.c */
extern Ciphertext *ciphertext_from_points(const scor_point *c1, const scor_point *c2,
										  const uint8 *key_fpr, int scale);
extern Ciphertext *ciphertext_from_wire(const uint8 *wire);
extern void ciphertext_to_wire(uint8 *wire, const Ciphertext *ct);
extern void ciphertext_check_same_key(const uint8 *a, const uint8 *b);
extern void ciphertext_check_same_scale(int a, int b);
extern char *fingerprint_to_text(const uint8 *fpr);
extern bytea *scor_bytea(const void *data, size_t len);
extern char *scor_base64url_encode(const uint8 *data, size_t len);
extern bool scor_base64url_decode(const char *text, size_t text_len,
								  uint8 *out, size_t out_len);

/* keys.c */
typedef struct ScorNetworkKey
{
	uint8		public_key[SCOR_ELEMENT_BYTES];
	uint8		fingerprint[SCOR_FINGERPRINT_BYTES];
	uint8		network_id[32];
	int			members;
} ScorNetworkKey;

/* Saved identity while running as the extension's owner */
typedef struct ScorOwnerScope
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
} ScorOwnerScope;

extern char *scor_key_command;
extern Oid	scor_extension_owner(void);
extern void scor_become_owner(ScorOwnerScope *scope, const char *search_path);
extern void scor_end_owner(ScorOwnerScope *scope);
extern void ScorKeysInit(void);
extern const ScorNetworkKey *scor_network_key(void);
extern scor_site_keys *scor_load_site_keys(const char **site_name_out);
extern void scor_free_site_keys(scor_site_keys *keys);
/* The differential-privacy noise dp_noise added to one ciphertext */
typedef struct ScorNoiseInfo
{
	bool		noised;
	double		epsilon;
	int64		sensitivity;
	int32		honest_sites;	/* t: the noise protects while t sites are honest */
} ScorNoiseInfo;

extern Ciphertext *scor_encrypt_value(int64 m, int scale);
extern void scor_capture_begin(void);
extern void scor_capture_end(void);
extern bool scor_capture_active(void);
extern bool scor_capture_lookup(const uint8 *c1, uint8 *r, ScorNoiseInfo *noise);
extern Ciphertext *scor_add_noise(const Ciphertext *ct, int64 share,
								  const ScorNoiseInfo *info);
extern void scor_invalidate_network_key(void);

/* decode.c */
extern int	scor_decode_range_bits;
extern void ScorDecodeInit(void);
extern int64 scor_decode_point(const scor_point *M);

/* aggregates.c */
extern Datum scor_numeric_from_scaled(int64 m, int scale);

/* manifest.c: the settings of a network that follows a signed manifest */
typedef struct ScorNetworkSettings
{
	bool		joined;			/* false: no manifest, the GUCs apply */
	int			dp_honest_sites;	/* t; 0 means ceil(n/2) */
	int			decode_range_bits;
} ScorNetworkSettings;

extern void ScorManifestInit(void);
extern const ScorNetworkSettings *scor_network_settings(void);

#endif							/* SCOR_H */
