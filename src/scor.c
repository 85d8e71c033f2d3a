/*
 * scor.c
 *	  Module entry point: settings and initialisation of scor's parts.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "connection.h"
#include "lockdown.h"
#include "remote.h"
#include "scor.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Initialise libsodium and define every scor.* setting */
void
_PG_init(void)
{
	if (scor_crypto_init() != 0)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not initialize libsodium")));

	ScorKeysInit();
	ScorDecodeInit();
	ScorConnectionInit();
	ScorRemoteInit();
	ScorDpInit();
	ScorManifestInit();
	ScorLockdownInit();

	MarkGUCPrefixReserved("scor");
}
