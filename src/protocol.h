/*
 * protocol.h
 *	  The messages of a federated query and what binds them together.
 *
 * Phase 1: the coordinator sends (network id, query id, coordinator, SQL),
 * signed with its signing key for the member it is sent to, to every
 * member; each checks the signature and answers with a signed ANSWER: per group and ciphertext
 * column, a fresh ciphertext and a proof of knowledge of its randomness.
 * Phase 2: the coordinator sends every member the BUNDLE of all answers;
 * each checks all of them, recomputes the sums and returns a SHARES message:
 * per group and column, D = x·ΣC1 with a DLEQ proof.  docs/protocol.md
 * describes every field.
 */
#ifndef SCOR_PROTOCOL_H
#define SCOR_PROTOCOL_H

#include "lib/stringinfo.h"

#include "scor.h"

#define SCOR_PROTOCOL_VERSION 1
#define SCOR_NETWORK_ID_BYTES 32
#define SCOR_QUERY_ID_BYTES 16
#define SCOR_DIGEST_BYTES 32

#define COLUMN_KEY 0			/* a GROUP BY key, sent as text */
#define COLUMN_CIPHERTEXT 1

/* The output columns of a shipped query */
typedef struct ScorColumn
{
	char	   *name;
	uint8		kind;			/* COLUMN_KEY or COLUMN_CIPHERTEXT */
	uint8		scale;			/* ciphertext columns */
	ScorNoiseInfo noise;		/* ciphertext columns: dp_noise, if any */
} ScorColumn;

/* One group (row) of an answer */
typedef struct ScorGroup
{
	StringInfoData key;			/* canonical bytes of the key values */
	StringInfoData slot_key;	/* what groups are combined by: key, or site and key */
	const char *site_name;		/* the site whose answer this group is from */
	char	  **key_values;		/* per column; NULL for non-key columns and SQL NULL */
	uint8	   *wires;			/* per ciphertext column: CIPHERTEXT_WIRE_BYTES */
	uint8	   *proofs;			/* per ciphertext column: SCOR_PROOF_BYTES */
} ScorGroup;

/* A parsed, not yet verified ANSWER */
typedef struct ScorAnswer
{
	char	   *site_name;
	uint8		network_id[SCOR_NETWORK_ID_BYTES];
	uint8		query_id[SCOR_QUERY_ID_BYTES];
	uint8		query_digest[SCOR_DIGEST_BYTES];
	int32		min_cell;		/* the site's small-cell threshold */
	int32		release_rounding;	/* the site's rounding of released totals (1: none) */
	int			ncolumns;
	int			nciphertexts;
	ScorColumn *columns;
	int			ngroups;
	ScorGroup  *groups;
	const uint8 *signed_part;	/* the bytes the signature covers */
	size_t		signed_len;
	uint8		signature[SCOR_SIGNATURE_BYTES];
} ScorAnswer;

/* A member as pinned at this site */
typedef struct ScorMember
{
	char	   *site_name;
	char	   *server_name;	/* NULL for this site */
	Oid			serverid;
	uint8		public_key[SCOR_ELEMENT_BYTES];
	uint8		verify_key[SCOR_SIGN_PUBLIC_BYTES];
} ScorMember;

/*
 * A round-1 request: what the coordinator asks one member to answer, all of
 * it covered by the coordinator's signature (scor_request_sign)
 */
typedef struct ScorRequest
{
	const uint8 *network_id;	/* SCOR_NETWORK_ID_BYTES */
	const uint8 *query_id;		/* SCOR_QUERY_ID_BYTES */
	const char *coordinator;	/* the site that asks, and signs */
	const char *site;			/* the member asked */
	const char *analyst;		/* the analyst role at the coordinator */
	const char *sql;			/* shipped SQL, or the canonical template call */
	bool		per_site;
	const char *template_name;	/* "" for shipped SQL */
	int			nparams;
	char	  **params;			/* template parameters; NULL for SQL NULL */
} ScorRequest;

/* One event of the site's audit log (audit.c) */
typedef struct ScorAuditEvent
{
	const char *event;			/* "answer", "decrypt", "budget", ... */
	const char *peer;			/* the site that asked (the coordinator) */
	const char *analyst;		/* the analyst role at that site */
	const uint8 *query_id;		/* SCOR_QUERY_ID_BYTES, or NULL */
	const char *query;			/* or NULL */
	bool		has_epsilon;
	double		epsilon;
	const uint8 *digest;		/* SCOR_DIGEST_BYTES of what was returned, or NULL */
	struct ScorAuditEvent *next;	/* another event to log with this one */
} ScorAuditEvent;

/* audit.c */
extern void scor_audit_append(const ScorAuditEvent *ev);

/* protocol.c */
extern void scor_query_digest(uint8 *digest, const char *sql);
extern void scor_contribution_transcript(scor_transcript *t, const uint8 *network_id,
										 const uint8 *query_id, const char *site_name,
										 int column, const StringInfo group_key,
										 const uint8 *wire);
extern void scor_share_transcript(scor_transcript *t, const uint8 *network_id,
								  const uint8 *query_id, const char *site_name,
								  int column, const StringInfo group_key);
extern void scor_answer_begin(StringInfo buf, const char *site_name,
							  const uint8 *network_id, const uint8 *query_id,
							  const uint8 *query_digest, int32 min_cell,
							  int32 release_rounding,
							  const ScorColumn *columns, int ncolumns, int ngroups);
extern void scor_answer_sign(StringInfo buf, const scor_site_keys *keys);
extern void scor_group_key_append(StringInfo key, const char *value);
extern ScorAnswer *scor_answer_parse(const uint8 *data, size_t len, const char *from_site);
extern void scor_answer_verify(const ScorAnswer *answer, const ScorMember *member,
							   const uint8 *network_id, const uint8 *query_id,
							   const uint8 *query_digest, scor_batch *batch);
extern void scor_request_sign(uint8 *signature, const ScorRequest *req,
							  const scor_site_keys *keys);
extern void scor_request_authenticate(ScorRequest *req, const uint8 *signature,
									  size_t signature_len);
extern bytea *scor_bundle_build(bytea **answers, int nanswers);
extern bytea **scor_bundle_parse(const uint8 *data, size_t len, int *nanswers);
extern ScorMember *scor_members(int *nmembers, int *self_index);

/* federate.c */
extern void scor_pin_member(const char *site_name, const char *server_name,
							const uint8 *public_key, const uint8 *verify_key,
							const uint8 *proof);
extern void scor_check_network_id(const uint8 *requested, const char *requester);
extern char *scor_hex(const uint8 *data, size_t len);

#endif							/* SCOR_PROTOCOL_H */
