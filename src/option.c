/*
 * option.c
 *	  Options of the scor foreign-data wrapper: the validator, and the
 *	  libpq connection parameters of a peer built from a foreign server and
 *	  a user mapping.
 *
 * A peer is a foreign server of the scor wrapper.  Its options are libpq
 * connection options plus scor's own ("site", "query_timeout"); the user
 * mapping holds the credentials.  Options that scor sets itself
 * (client_encoding, fallback_application_name) or that make no sense for a
 * peer (replication, debug options) are refused.
 */
#include "postgres.h"

#include <limits.h>

#include "access/reloptions.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#if PG_VERSION_NUM >= 150020
#include "libpq/libpq-be-fe-helpers.h"
#endif
#include "mb/pg_wchar.h"
#include "miscadmin.h"

#include "connection.h"

/*
 * One valid option: its keyword, the catalog whose objects may carry it,
 * and whether it is passed to libpq.
 */
typedef struct ScorFdwOption
{
	const char *keyword;
	Oid			optcontext;
	bool		is_libpq_opt;
} ScorFdwOption;

/* All valid options, built on first use; lives as long as the backend */
static ScorFdwOption *scor_fdw_options = NULL;

/*
 * Options that are not taken from libpq's list: scor's own server options,
 * and everything a user mapping may hold.  Secrets (password, sslpassword)
 * and client certificates belong to a user, never to a server.
 */
static const ScorFdwOption scor_own_options[] = {
	{"site", ForeignServerRelationId, false},
	{"query_timeout", ForeignServerRelationId, false},
	{"user", UserMappingRelationId, true},
	{"password", UserMappingRelationId, true},
	{"sslpassword", UserMappingRelationId, true},
	{"sslkey", UserMappingRelationId, true},
	{"sslcert", UserMappingRelationId, true},
	{"password_required", UserMappingRelationId, false},
	{NULL, InvalidOid, false}
};

/*
 * libpq options that may not appear on a server: those that belong on the
 * user mapping, those scor sets itself, and replication connections.
 */
static const char *const scor_refused_libpq_options[] = {
	"user",
	"password",
	"sslpassword",
	"sslkey",
	"sslcert",
	"client_encoding",
	"fallback_application_name",
	"replication",
	NULL
};

static void InitScorFdwOptions(void);
static bool is_valid_option(const char *keyword, Oid context);
static bool is_libpq_option(const char *keyword);
static bool parse_decimal_int(const char *value, int *result);

PG_FUNCTION_INFO_V1(scor_fdw_validator);

/*
 * Validate the options of a FOREIGN DATA WRAPPER, SERVER or USER MAPPING
 * that uses the scor wrapper; ERROR on an option or value that is not
 * valid there.
 */
Datum
scor_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options_list = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	ListCell   *cell;

	InitScorFdwOptions();

	foreach(cell, options_list)
	{
		DefElem    *def = (DefElem *) lfirst(cell);

		if (!is_valid_option(def->defname, catalog))
		{
			ScorFdwOption *opt;
			StringInfoData buf;

			/* Unknown option: list the valid ones for this object type */
			initStringInfo(&buf);
			for (opt = scor_fdw_options; opt->keyword; opt++)
			{
				if (opt->optcontext == catalog)
					appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "",
									 opt->keyword);
			}

			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid option \"%s\"", def->defname),
					 buf.len > 0 ?
					 errhint("Valid options in this context are: %s.", buf.data) :
					 errhint("There are no valid options in this context.")));
		}

		/* Check the values we can check without connecting */
		if (strcmp(def->defname, "query_timeout") == 0)
		{
			char	   *value = defGetString(def);
			int			ms;

			if (!parse_decimal_int(value, &ms))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid value for integer option \"%s\": %s",
								def->defname, value),
						 errhint("Give a whole number of milliseconds.")));
			if (ms <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("\"%s\" must be an integer value greater than zero",
								def->defname)));
		}
		else if (strcmp(def->defname, "connect_timeout") == 0)
		{
			char	   *value = defGetString(def);
			int			seconds;

			/* libpq reads this as a whole number of seconds */
			if (!parse_decimal_int(value, &seconds) || seconds < 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid value for integer option \"%s\": %s",
								def->defname, value),
						 errhint("Give a whole number of seconds; zero waits indefinitely.")));
		}
		else if (strcmp(def->defname, "site") == 0)
		{
			if (defGetString(def)[0] == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"%s\" must not be empty", def->defname)));
		}
		else if (strcmp(def->defname, "password_required") == 0)
		{
			bool		pw_required = defGetBoolean(def);

			/*
			 * Only a superuser may let a mapping connect without a password.
			 * A non-superuser may remove the setting (we cannot see the old
			 * options when an ALTER is validated, only the new list).
			 */
			if (!pw_required && !superuser())
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("password_required=false is superuser-only"),
						 errhint("User mappings with the password_required option set to false may only be created or modified by the superuser.")));
		}
		else if (strcmp(def->defname, "sslcert") == 0 ||
				 strcmp(def->defname, "sslkey") == 0)
		{
			/* These name files that the server's OS user can read */
			if (!superuser())
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("sslcert and sslkey are superuser-only"),
						 errhint("User mappings with the sslcert or sslkey options set may only be created or modified by the superuser.")));
		}
	}

	PG_RETURN_VOID();
}

/*
 * Build the list of valid options once per backend: libpq's own options
 * (as the libpq we are linked with knows them) minus the refused ones,
 * then scor's.
 */
static void
InitScorFdwOptions(void)
{
	PQconninfoOption *libpq_options;
	PQconninfoOption *lopt;
	ScorFdwOption *popt;
	int			num_libpq_opts = 0;

	if (scor_fdw_options)
		return;

	/*
	 * PQconndefaults allocates with malloc; we keep its result for the life
	 * of the backend, so the keyword strings need not be copied.
	 */
	libpq_options = PQconndefaults();
	if (libpq_options == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Could not get libpq's default connection options.")));

	for (lopt = libpq_options; lopt->keyword; lopt++)
		num_libpq_opts++;

	scor_fdw_options = (ScorFdwOption *)
		malloc(sizeof(ScorFdwOption) * num_libpq_opts + sizeof(scor_own_options));
	if (scor_fdw_options == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OUT_OF_MEMORY),
				 errmsg("out of memory")));

	popt = scor_fdw_options;
	for (lopt = libpq_options; lopt->keyword; lopt++)
	{
		const char *const *refused;
		bool		skip = false;

		/* Debug options and secrets never go on a server */
		if (strchr(lopt->dispchar, 'D') || strchr(lopt->dispchar, '*'))
			continue;
		for (refused = scor_refused_libpq_options; *refused; refused++)
		{
			if (strcmp(lopt->keyword, *refused) == 0)
			{
				skip = true;
				break;
			}
		}
		if (skip)
			continue;
#if PG_VERSION_NUM >= 150020

		/*
		 * A libpq newer than the server may offer options that the server
		 * has not vetted for use by server-side connections.
		 */
		if (!libpqsrv_is_valid_proxy_option(lopt->keyword))
			continue;
#endif

		popt->keyword = lopt->keyword;
		popt->optcontext = ForeignServerRelationId;
		popt->is_libpq_opt = true;
		popt++;
	}

	memcpy(popt, scor_own_options, sizeof(scor_own_options));
}

/*
 * Is keyword a valid option for an object of the catalog "context"?
 */
static bool
is_valid_option(const char *keyword, Oid context)
{
	ScorFdwOption *opt;

	for (opt = scor_fdw_options; opt->keyword; opt++)
	{
		if (opt->optcontext == context && strcmp(opt->keyword, keyword) == 0)
			return true;
	}
	return false;
}

/*
 * Is keyword an option that is passed to libpq?
 */
static bool
is_libpq_option(const char *keyword)
{
	ScorFdwOption *opt;

	for (opt = scor_fdw_options; opt->keyword; opt++)
	{
		if (opt->is_libpq_opt && strcmp(opt->keyword, keyword) == 0)
			return true;
	}
	return false;
}

/*
 * Parse a whole base-10 integer the way libpq reads its integer options
 * (surrounding white space allowed, nothing else): connect_timeout, and
 * query_timeout for consistency with it.
 */
static bool
parse_decimal_int(const char *value, int *result)
{
	char	   *end;
	long		val;

	errno = 0;
	val = strtol(value, &end, 10);
	if (end == value || errno != 0 || val < INT_MIN || val > INT_MAX)
		return false;
	while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')
		end++;
	if (*end != '\0')
		return false;
	*result = (int) val;
	return true;
}

/*
 * Build NULL-terminated libpq keyword and value arrays (palloc'd in the
 * current memory context) for connecting to a server as a user mapping:
 * the libpq options of both, then scor's fixed settings, which therefore
 * win.  Returns the number of parameters.
 */
int
ScorConnectionParams(ForeignServer *server, UserMapping *user,
					 const char ***keywords, const char ***values)
{
	const char **kw;
	const char **val;
	int			n;
	ListCell   *lc;

	InitScorFdwOptions();

	/* every option, plus fallback_application_name, client_encoding, end */
	n = list_length(server->options) + list_length(user->options) + 3;
	kw = (const char **) palloc(n * sizeof(char *));
	val = (const char **) palloc(n * sizeof(char *));

	n = 0;
	foreach(lc, server->options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (is_libpq_option(def->defname))
		{
			kw[n] = def->defname;
			val[n] = defGetString(def);
			n++;
		}
	}
	foreach(lc, user->options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (is_libpq_option(def->defname))
		{
			kw[n] = def->defname;
			val[n] = defGetString(def);
			n++;
		}
	}

	kw[n] = "fallback_application_name";
	val[n] = "scor";
	n++;

	/* so that libpq converts text between the two databases' encodings */
	kw[n] = "client_encoding";
	val[n] = GetDatabaseEncodingName();
	n++;

	kw[n] = NULL;
	val[n] = NULL;

	*keywords = kw;
	*values = val;
	return n;
}

/*
 * Must connections through this user mapping have used a password?  True
 * unless a superuser set password_required to false on it.
 */
bool
ScorPasswordRequired(UserMapping *user)
{
	ListCell   *lc;

	foreach(lc, user->options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, "password_required") == 0)
			return defGetBoolean(def);
	}
	return true;
}

/*
 * The server's "site" option (the site name the peer is expected to have),
 * or NULL if it has none.
 */
const char *
ScorServerSite(ForeignServer *server)
{
	ListCell   *lc;

	foreach(lc, server->options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, "site") == 0)
			return defGetString(def);
	}
	return NULL;
}

/*
 * The server's query_timeout option in milliseconds, or -1 if it has none.
 */
int
ScorServerQueryTimeout(ForeignServer *server)
{
	ListCell   *lc;

	foreach(lc, server->options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);
		int			ms;

		if (strcmp(def->defname, "query_timeout") == 0 &&
			parse_decimal_int(defGetString(def), &ms) && ms > 0)
			return ms;
	}
	return -1;
}

/*
 * The server's libpq connect_timeout option in milliseconds (0: wait
 * indefinitely), or -1 if it has none.
 */
int
ScorServerConnectTimeout(ForeignServer *server)
{
	ListCell   *lc;

	foreach(lc, server->options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);
		int			seconds;

		if (strcmp(def->defname, "connect_timeout") == 0 &&
			parse_decimal_int(defGetString(def), &seconds))
		{
			if (seconds <= 0)
				return 0;
			/* libpq waits at least 2 seconds */
			seconds = Max(seconds, 2);
			return (seconds > INT_MAX / 1000) ? INT_MAX : seconds * 1000;
		}
	}
	return -1;
}
