/*
 * unit.h
 *	  A tiny harness for the crypto core's unit tests, which run without a
 *	  server.  Each test binary calls CHECK() and ends with UNIT_DONE(), which
 *	  prints "N passed, N failed" and exits non-zero on any failure.
 */
#ifndef SCOR_UNIT_H
#define SCOR_UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int	unit_passed;
static int	unit_failed;

#define CHECK(cond, ...) \
	do { \
		if (cond) \
			unit_passed++; \
		else \
		{ \
			unit_failed++; \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__); \
			fputc('\n', stderr); \
		} \
	} while (0)

#define UNIT_DONE(name) \
	do { \
		printf("%s: %d passed, %d failed\n", (name), unit_passed, unit_failed); \
		return unit_failed == 0 ? 0 : 1; \
	} while (0)

/* Decode a hex string into out (exactly len bytes); returns 0 or -1 */
static inline int
unit_hex(unsigned char *out, size_t len, const char *hex)
{
	if (strlen(hex) != 2 * len)
		return -1;
	for (size_t i = 0; i < len; i++)
	{
		unsigned int b;

		if (sscanf(hex + 2 * i, "%2x", &b) != 1)
			return -1;
		out[i] = (unsigned char) b;
	}
	return 0;
}

#endif							/* SCOR_UNIT_H */
