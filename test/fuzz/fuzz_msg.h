/*
 * fuzz_msg.h
 *	  The fixed one-member network of the PostgreSQL-side fuzz targets, and
 *	  valid ANSWER messages built for it with scor's own code (protocol.c).
 *	  Include after postgres.h.
 */
#ifndef SCOR_FUZZ_MSG_H
#define SCOR_FUZZ_MSG_H

#include "protocol.h"

#include "fuzz_common.h"
#include "pgstub.h"

#define FUZZ_QUERY_SQL "SELECT region, scor.enc_sum(x) FROM t GROUP BY region"

extern uint8 fuzz_network_id[SCOR_NETWORK_ID_BYTES];
extern uint8 fuzz_query_id[SCOR_QUERY_ID_BYTES];
extern uint8 fuzz_query_digest[SCOR_DIGEST_BYTES];
extern ScorNetworkKey fuzz_network_key;
extern ScorMember fuzz_member;

/* Keys, network and member; call once from LLVMFuzzerInitialize */
extern void fuzz_msg_init(void);

/*
 * A valid, signed ANSWER of the fixed site (malloc'd).  Variant 0: two key
 * and two ciphertext columns (one with noise), three groups; 1: one
 * ciphertext column, no group; 2: one ciphertext column, one group.  If
 * protect is not NULL it gets a malloc'd mask, 1 for every byte that no
 * honest change could alter without the answer being refused (all but
 * min_cell, release_rounding, column names and noise fields, which the
 * signing site chooses freely).
 */
extern uint8 *fuzz_build_answer(int variant, size_t *len, uint8 **protect);

#endif							/* SCOR_FUZZ_MSG_H */
