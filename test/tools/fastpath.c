/*
 * fastpath.c
 *	  scor_fastpath CONNINFO FUNCTION_OID: call a function of two int4
 *	  arguments, (1, 2), through libpq's fast-path interface (PQfn), which
 *	  sends no SQL statement, and print "result N" or "error: MESSAGE".
 *
 * test/t/001_federation.pl uses it to show that a locked-down peer login
 * cannot call functions this way either.
 */
#include <stdio.h>
#include <stdlib.h>

#include "libpq-fe.h"

int
main(int argc, char **argv)
{
	PGconn	   *conn;
	PGresult   *res;
	PQArgBlock	args[2];
	int			result = 0;
	int			result_len = 0;

	if (argc != 3)
	{
		fprintf(stderr, "usage: scor_fastpath CONNINFO FUNCTION_OID\n");
		return 2;
	}
	conn = PQconnectdb(argv[1]);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "scor_fastpath: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return 2;
	}
	for (int i = 0; i < 2; i++)
	{
		args[i].len = 4;
		args[i].isint = 1;
		args[i].u.integer = i + 1;
	}
	res = PQfn(conn, atoi(argv[2]), &result, &result_len, 1, args, 2);
	if (PQresultStatus(res) == PGRES_COMMAND_OK)
		printf("result %d\n", result);
	else
		printf("error: %s", PQerrorMessage(conn));
	PQclear(res);
	PQfinish(conn);
	return 0;
}
