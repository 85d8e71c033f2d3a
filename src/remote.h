/*
 * remote.h
 *	  The site side of a federated query, shared with the coordinator, which
 *	  runs it for its own site without a connection.
 */
#ifndef SCOR_REMOTE_H
#define SCOR_REMOTE_H

#include "protocol.h"
#include "utils/array.h"

/* A group's slot in the union of all answers' groups */
typedef struct ScorGroupSlot
{
	ScorGroup  *group;			/* hash key */
	int			index;
} ScorGroupSlot;

/* What a site runs for a request: shipped SQL, or a template with parameters */
typedef struct ScorShippedQuery
{
	const char *sql;
	int			nparams;
	Oid		   *types;
	Datum	   *values;
} ScorShippedQuery;

/* The verified, summed contributions of a bundle, in canonical group order */
typedef struct ScorCombined
{
	ScorAnswer *layout;			/* columns, from the first answer */
	int			nciphertexts;
	int			ngroups;
	ScorGroup **groups;			/* key values of each group */
	scor_point *sums;			/* per group, per ciphertext column: ΣC1, ΣC2 */
	int		   *contributors;	/* per group: how many sites contributed */
	int32		min_cell;		/* the largest small-cell threshold of any site */
	int32		release_rounding;	/* the largest rounding of any site (1: none) */
	bool		per_site;		/* one slot per site and group, not per group */
} ScorCombined;

extern char *scor_published_schemas;
extern bool scor_allow_per_site;
extern bool scor_answering_per_site(void);

/* dp.c */
extern int	scor_dp_honest_sites;
extern bool scor_require_dp;
extern double scor_max_epsilon;
extern int	scor_min_cell;
extern int	scor_release_rounding;
extern void ScorDpInit(void);
extern int	scor_dp_t(int nmembers);
extern void scor_charge_budget(const char *coordinator, const char *analyst, double epsilon);

extern void ScorRemoteInit(void);
extern bytea *scor_contribute(const uint8 *network_id, const uint8 *query_id,
							  const char *coordinator, const char *analyst,
							  const char *sql, bool per_site,
							  const char *template_name, int nparams,
							  char **params, ScorAuditEvent **audit_out);
extern char *scor_template_call(const char *template_name, int nparams, char **params);
extern char **scor_text_array_strings(ArrayType *arr, int *nitems);
extern bool scor_own_part_uncommitted;
extern bool scor_request_may_charge(const char *site, const char *sql,
									const char *template_name, int nparams,
									char **params);
extern ScorCombined *scor_bundle_combine(const uint8 *network_id, const uint8 *query_id,
										 const uint8 *query_digest,
										 const uint8 *bundle, size_t len,
										 const ScorMember *members, int nmembers,
										 int self, const uint8 *own_digest,
										 bool per_site);
extern bytea *scor_decrypt_bundle(const uint8 *network_id, const uint8 *query_id,
								  const uint8 *bundle, size_t len,
								  ScorCombined **combined_out,
								  ScorAuditEvent **audit_out);

#endif							/* SCOR_REMOTE_H */
