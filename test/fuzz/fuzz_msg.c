/*
 * fuzz_msg.c
 *	  The fixed network of the PostgreSQL-side fuzz targets and valid
 *	  answers for it, built with scor's own protocol.c (see fuzz_msg.h).
 *	  Also the one stand-in for keys.c those targets need:
 *	  scor_network_key(), which returns the fixed network's key.
 */
#include "postgres.h"

#include "fuzz_msg.h"

uint8		fuzz_network_id[SCOR_NETWORK_ID_BYTES];
uint8		fuzz_query_id[SCOR_QUERY_ID_BYTES];
uint8		fuzz_query_digest[SCOR_DIGEST_BYTES];
ScorNetworkKey fuzz_network_key;
ScorMember	fuzz_member;

/* keys.c stand-in: the network of one member, the fixed site */
const ScorNetworkKey *
scor_network_key(void)
{
	return &fuzz_network_key;
}

void
fuzz_msg_init(void)
{
	fuzz_init_keys();
	memset(fuzz_network_id, 0xa1, sizeof(fuzz_network_id));
	memset(fuzz_query_id, 0xb2, sizeof(fuzz_query_id));
	scor_query_digest(fuzz_query_digest, FUZZ_QUERY_SQL);

	memcpy(fuzz_network_key.public_key, fuzz_site_keys.elgamal_public, SCOR_ELEMENT_BYTES);
	scor_key_fingerprint(fuzz_network_key.fingerprint, fuzz_network_key.public_key);
	memcpy(fuzz_network_key.network_id, fuzz_network_id, sizeof(fuzz_network_id));
	fuzz_network_key.members = 1;

	fuzz_member.site_name = FUZZ_SITE_NAME;
	fuzz_member.server_name = NULL;
	memcpy(fuzz_member.public_key, fuzz_site_keys.elgamal_public, SCOR_ELEMENT_BYTES);
	memcpy(fuzz_member.verify_key, fuzz_site_keys.sign_public, SCOR_SIGN_PUBLIC_BYTES);
}

/* Mark len bytes from off as free for the signer to choose */
static void
unprotect(uint8 *mask, size_t off, size_t len)
{
	memset(mask + off, 0, len);
}

uint8 *
fuzz_build_answer(int variant, size_t *len_out, uint8 **protect)
{
	static const char *const keys[3][2] = {{"north", "2023"}, {NULL, "2024"}, {"", ""}};
	ScorColumn	cols[4];
	int			ncols;
	int			ngroups;
	StringInfoData buf;
	uint8	   *out;
	uint8	   *mask;
	size_t		off;

	memset(cols, 0, sizeof(cols));
	if (variant == 0)
	{
		ncols = 4;
		ngroups = 3;
		cols[0].name = "region";
		cols[0].kind = COLUMN_KEY;
		cols[1].name = "total";
		cols[1].kind = COLUMN_CIPHERTEXT;
		cols[2].name = "year";
		cols[2].kind = COLUMN_KEY;
		cols[3].name = "amount";
		cols[3].kind = COLUMN_CIPHERTEXT;
		cols[3].scale = 2;
		cols[3].noise.noised = true;
		cols[3].noise.epsilon = 0.5;
		cols[3].noise.sensitivity = 10;
		cols[3].noise.honest_sites = 2;
	}
	else
	{
		ncols = 1;
		ngroups = variant == 1 ? 0 : 1;
		cols[0].name = "n";
		cols[0].kind = COLUMN_CIPHERTEXT;
	}

	pgstub_begin();
	scor_answer_begin(&buf, FUZZ_SITE_NAME, fuzz_network_id, fuzz_query_id,
					  fuzz_query_digest, 5, 1, cols, ncols, ngroups);
	for (int g = 0; g < ngroups; g++)
	{
		StringInfoData key;
		int			k = 0;

		initStringInfo(&key);
		for (int i = 0; i < ncols; i++)
			if (cols[i].kind == COLUMN_KEY)
				scor_group_key_append(&key, keys[g][k++]);
		k = 0;
		for (int i = 0; i < ncols; i++)
		{
			uint8		wire[CIPHERTEXT_WIRE_BYTES];
			uint8		r[SCOR_SCALAR_BYTES];
			uint8		proof[SCOR_PROOF_BYTES];
			scor_transcript t;

			if (cols[i].kind == COLUMN_KEY)
			{
				scor_group_key_append(&buf, keys[g][k++]);
				continue;
			}
			wire[0] = CIPHERTEXT_VERSION;
			wire[1] = cols[i].scale;
			memcpy(wire + 2, fuzz_network_key.fingerprint, SCOR_FINGERPRINT_BYTES);
			if (scor_elgamal_encrypt(wire + 10, wire + 42, 1000 * g + i,
									 fuzz_network_key.public_key, r) != 0)
				abort();
			scor_contribution_transcript(&t, fuzz_network_id, fuzz_query_id,
										 FUZZ_SITE_NAME, i, &key, wire);
			if (scor_schnorr_prove(proof, r, wire + 10, &t) != 0)
				abort();
			appendBinaryStringInfo(&buf, (char *) wire, sizeof(wire));
			appendBinaryStringInfo(&buf, (char *) proof, sizeof(proof));
		}
	}
	scor_answer_sign(&buf, &fuzz_site_keys);

	out = malloc(buf.len);
	memcpy(out, buf.data, buf.len);
	*len_out = buf.len;

	if (protect)
	{
		mask = malloc(buf.len);
		memset(mask, 1, buf.len);
		/* magic, version, network, query, site (length-prefixed), digest */
		off = 4 + 1 + SCOR_NETWORK_ID_BYTES + SCOR_QUERY_ID_BYTES + 4 +
			strlen(FUZZ_SITE_NAME) + SCOR_DIGEST_BYTES;
		unprotect(mask, off, 4);	/* min_cell */
		off += 4;
		unprotect(mask, off, 4);	/* release_rounding */
		off += 4 + 2;			/* and ncolumns */
		for (int i = 0; i < ncols; i++)
		{
			off += 2 + 4;		/* kind, scale, name length */
			unprotect(mask, off, strlen(cols[i].name));
			off += strlen(cols[i].name);
			unprotect(mask, off, 1 + 8 + 8 + 4);	/* noise */
			off += 1 + 8 + 8 + 4;
		}
		*protect = mask;
	}
	pgstub_end();
	return out;
}
