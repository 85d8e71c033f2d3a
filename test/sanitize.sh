#!/usr/bin/env bash
# The whole test suite against an AddressSanitizer + UndefinedBehaviorSanitizer
# build of scor (make sanitize-check).  Usage: bash test/sanitize.sh
#
# Builds scor.so with gcc -fsanitize=address,undefined and the crypto core's
# unit tests likewise, then runs test/run-tests.sh (unit tests, pg_regress,
# the TAP tests and the driver tests) with the ASan and UBSan runtimes
# preloaded into every PostgreSQL server process.  Fails if any test fails or
# if any sanitizer report was written (ASan and UBSan log to files, which are
# printed; the server logs that survive are searched as well).
#
# The system PostgreSQL is never touched: the script makes a private copy of
# the PostgreSQL 15 installation (bin, lib, share, include: about 60 MB) in a
# temporary directory, which PostgreSQL finds its files relative to (it is
# relocatable), replaces the copy's postgres binary by a wrapper that sets
# LD_PRELOAD, ASAN_OPTIONS and UBSAN_OPTIONS and execs the real one, and
# installs the ASan build of scor into that copy only.  So nothing needs to
# be restored afterwards, other users of the machine never load the ASan
# build, and clients (psql, perl, java, node) run without the runtimes.
#
# As root (like test/ci.sh) it runs everything as the postgres user from a
# postgres-owned copy of the tree; as any other user, as that user.  Set
# SCOR_SANITIZE_KEEP=1 to keep the temporary directory.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)

# --inner WORK: the unprivileged part, run from the copy of the tree in WORK
if [ "${1:-}" = "--inner" ]; then
	work=$2
	tree=$work/scor
	cd "$tree" || exit 2

	asan=$(gcc -print-file-name=libasan.so)
	ubsan=$(gcc -print-file-name=libubsan.so)
	for lib in "$asan" "$ubsan"; do
		case "$lib" in
			/*) [ -e "$lib" ] || { echo "sanitize: $lib is missing" >&2; exit 2; } ;;
			*) echo "sanitize: gcc has no $lib (install gcc's libasan and libubsan)" >&2; exit 2 ;;
		esac
	done

	echo "== a private copy of PostgreSQL $(pg_config --version | sed 's/^PostgreSQL //')"
	pgcopy=$work/pg
	sysbin=$(pg_config --bindir)
	for d in "$(dirname "$sysbin")" "$(pg_config --sharedir)" "$(pg_config --includedir)"; do
		mkdir -p "$pgcopy$(dirname "$d")"
		cp -a "$d" "$pgcopy$(dirname "$d")/" || exit 2
	done
	pgbin=$pgcopy$sysbin
	if [ "$("$pgbin/pg_config" --pkglibdir)" != "$pgcopy$(pg_config --pkglibdir)" ]; then
		echo "sanitize: the copy of PostgreSQL does not relocate" >&2
		exit 2
	fi

	# Only the server processes get the runtimes: a wrapper for postgres
	# preloads them, with preload.so between them for two workarounds:
	# - a preloaded ASan runtime initialises lazily, at the first malloc; in
	#   postgres that is inside libgpg-error's constructor, which holds
	#   glibc's gettext lock while ASan's start-up calls
	#   dlsym("swift_demangle") and then dlerror(), which takes that lock
	#   again: postgres hangs at its first bindtextdomain().  A stub
	#   swift_demangle (NULL: "not a Swift name") makes that dlsym succeed,
	#   so dlerror() takes no lock.
	# - the UBSan runtime starts at its first report and reads its options
	#   from /proc/self/environ, which a backend has overwritten with its
	#   process title by then: the options are compiled in instead
	#   (__ubsan_default_options), and the report path is set on load.
	logs=$work/sanitizer-logs
	mkdir -p "$logs"
	cat >"$work/preload.c" <<EOF
/* test/sanitize.sh: preloaded into postgres between libasan and libubsan */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

char *
swift_demangle(const char *m, size_t n, char *o, size_t *l, unsigned f)
{
	return NULL;
}

const char *
__ubsan_default_options(void)
{
	return "print_stacktrace=1:halt_on_error=1";
}

__attribute__((constructor)) static void
ubsan_report_path(void)
{
	void	   *h = dlopen("libubsan.so.1", RTLD_NOW | RTLD_NOLOAD);
	void		(*set) (const char *) = h ? (void (*) (const char *)) dlsym(h, "__sanitizer_set_report_path") : NULL;

	if (set)
		set("$logs/ubsan");
}
EOF
	gcc -shared -fPIC -o "$work/preload.so" "$work/preload.c" -ldl || exit 2
	mv "$pgbin/postgres" "$pgbin/postgres.bin"
	cat >"$pgbin/postgres" <<EOF
#!/bin/bash
# scor sanitize-check: the server with the ASan and UBSan runtimes preloaded
export LD_PRELOAD="$asan $work/preload.so $ubsan"
# the postmaster is not leak-clean: no leak detection
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:log_path=$logs/asan"
# (a backend cannot read this: see preload.c; it is there for the postmaster)
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$logs/ubsan"
# argv[0] names this wrapper, so that postmaster.opts does too and pg_ctl
# restart (which reruns the command recorded there) comes back through it
exec -a "$pgbin/postgres" "$pgbin/postgres.bin" "\$@"
EOF
	chmod 755 "$pgbin/postgres"
	if ! timeout 60 "$pgbin/postgres" -V >/dev/null; then
		echo "sanitize: postgres does not start with the sanitizer runtimes preloaded" >&2
		exit 2
	fi
	export PATH="$pgbin:$PATH"
	export PG_CONFIG="$pgbin/pg_config"

	echo "== building scor with -fsanitize=address,undefined and installing it into the copy"
	san="-fsanitize=address,undefined -fno-omit-frame-pointer"
	make -s clean >/dev/null
	# COPT goes into CFLAGS and LDFLAGS; no LLVM bitcode, so the JIT cannot inline uninstrumented code
	make -s COPT="$san" with_llvm=no || exit 1
	make -s COPT="$san" with_llvm=no install >/dev/null || exit 1
	if ! readelf -d "$("$PG_CONFIG" --pkglibdir)/scor.so" | grep -q 'libasan'; then
		echo "sanitize: the installed scor.so is not linked with ASan" >&2
		exit 1
	fi
	# the crypto core's unit tests: instrumented too (run-tests.sh finds them built)
	# (no -Werror: gcc's -Wmaybe-uninitialized has false positives under sanitizers)
	units=$(ls test/unit/test_*.c | sed 's/\.c$/.bin/')
	rm -f $units
	make -s UNIT_CFLAGS="-O1 -g -Wall -std=gnu11 -Isrc $san -fno-sanitize-recover=undefined" \
		$units 2>&1 | grep -v 'Wmaybe-uninitialized' || true
	for u in $units; do [ -x "$u" ] || { echo "sanitize: could not build $u" >&2; exit 1; }; done
	export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
	export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

	echo "== positive control: the runtimes catch a heap overflow and an integer overflow in a server"
	canary=$work/canary
	mkdir -p "$canary"
	cat >"$canary/canary.c" <<'EOF'
#include "postgres.h"
#include "fmgr.h"
#include <stdlib.h>
PG_MODULE_MAGIC;
PG_FUNCTION_INFO_V1(asan_canary);
PG_FUNCTION_INFO_V1(ubsan_canary);
Datum
asan_canary(PG_FUNCTION_ARGS)
{
	volatile char *p = malloc(8 + PG_GETARG_INT32(0));

	p[8] = 1;					/* one past the end when the argument is 0 */
	free((void *) p);
	PG_RETURN_VOID();
}
Datum
ubsan_canary(PG_FUNCTION_ARGS)
{
	int32		x = PG_INT32_MAX;

	x += PG_GETARG_INT32(0);	/* overflows when the argument is positive */
	PG_RETURN_INT32(x);
}
EOF
	gcc -shared -fPIC -O1 $san -I"$("$PG_CONFIG" --includedir-server)" \
		-o "$canary/canary.so" "$canary/canary.c" || exit 2
	initdb -D "$canary/data" -A trust -U postgres >"$canary/initdb.log" 2>&1 || { cat "$canary/initdb.log"; exit 2; }
	cport=$((20000 + RANDOM % 20000))
	pg_ctl -D "$canary/data" -l "$canary/server.log" -w \
		-o "-p $cport -k $canary -c listen_addresses=''" start >/dev/null || { cat "$canary/server.log"; exit 2; }
	cpsql() { psql -X -q -h "$canary" -p "$cport" -U postgres -d postgres "$@"; }
	cpsql -c "CREATE FUNCTION asan_canary(int) RETURNS void AS '$canary/canary.so' LANGUAGE C;
		CREATE FUNCTION ubsan_canary(int) RETURNS int AS '$canary/canary.so' LANGUAGE C" || exit 2
	cpsql -c "SELECT asan_canary(0)" >/dev/null 2>&1
	for try in $(seq 30); do cpsql -c "SELECT 1" >/dev/null 2>&1 && break; sleep 1; done
	cpsql -c "SELECT ubsan_canary(1)" >/dev/null 2>&1
	pg_ctl -D "$canary/data" -m immediate stop >/dev/null 2>&1
	if ! cat "$logs"/asan.* 2>/dev/null | grep -q 'ERROR: AddressSanitizer: heap-buffer-overflow'; then
		echo "sanitize: ASan did not report the canary's heap overflow: the server is not checked" >&2
		exit 2
	fi
	if ! cat "$logs"/ubsan.* "$logs"/asan.* 2>/dev/null | grep -q 'runtime error: signed integer overflow'; then
		echo "sanitize: UBSan did not report the canary's integer overflow: the server is not checked" >&2
		exit 2
	fi
	echo "ASan and UBSan reports of the canaries seen: the server processes are checked"
	mkdir -p "$work/canary-reports"
	mv "$logs"/* "$work/canary-reports/"

	echo "== the test suite"
	bash test/run-tests.sh "$tree"
	tests_rc=$?

	echo "== sanitizer reports"
	reports=0
	for f in "$logs"/*; do
		[ -e "$f" ] || continue
		reports=$((reports + 1))
		echo "--- $f"
		head -n 80 "$f"
	done
	# server logs that remain (the last TAP test's, pg_regress output)
	if grep -rlE 'ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer' \
		tmp_check results regression.diffs 2>/dev/null; then
		reports=$((reports + 1))
	fi
	echo "sanitize: test suite exit code $tests_rc, $reports sanitizer report(s)"
	[ "$tests_rc" -eq 0 ] && [ "$reports" -eq 0 ]
	exit $?
fi

echo "sanitize-check: started $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
work=$(mktemp -d /tmp/scor-sanitize.XXXXXX)
chmod 755 "$work"
cleanup() {
	if [ "${SCOR_SANITIZE_KEEP:-0}" = 1 ]; then
		echo "sanitize-check: kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
cp -a "$repo" "$work/scor"
rm -rf "$work/scor/tmp_check" "$work/scor/results" "$work/scor/test/fuzz/work"

if [ "$(id -u)" -eq 0 ]; then
	chown -R postgres: "$work"
	runuser -u postgres -- bash "$work/scor/test/sanitize.sh" --inner "$work"
else
	bash "$work/scor/test/sanitize.sh" --inner "$work"
fi
rc=$?
echo "sanitize-check: finished $(date -u '+%Y-%m-%d %H:%M:%S UTC'): $([ $rc -eq 0 ] && echo PASS || echo FAIL)"
exit $rc
