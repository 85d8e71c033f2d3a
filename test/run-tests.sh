#!/usr/bin/env bash
# Run every test of an already installed scor, as an unprivileged user:
# unit tests of the crypto core, pg_regress on a throw-away cluster, the
# multi-cluster TAP tests, and the client-driver tests (test/drivers).
# Prints one line per suite and a closing "scor: N passed, N failed" over
# all of them; exits non-zero on any failure.
# Usage: bash test/run-tests.sh [source-dir]
set -uo pipefail

src=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$src"
bindir=$(pg_config --bindir)
export PATH="$bindir:$PATH"
passed=0
failed=0

# Record one suite's outcome
tally() {
	if [ "$2" -eq 0 ]; then
		passed=$((passed + 1))
		echo "PASS $1"
	else
		failed=$((failed + 1))
		echo "FAIL $1"
	fi
}

echo "== unit tests of the crypto core"
for src in test/unit/test_*.c; do
	t=${src%.c}.bin
	name=$(basename "$src" .c)
	if make -s "$t"; then
		./"$t"
		rc=$?
	else
		rc=1
	fi
	tally "unit $name" $rc
done

echo "== pg_regress"
data=$(mktemp -d /tmp/scor-regress.XXXXXX)
port=$((20000 + RANDOM % 20000))
initdb -D "$data/pgdata" -A trust -U postgres >"$data/initdb.log" 2>&1 || { cat "$data/initdb.log"; exit 1; }
pg_ctl -D "$data/pgdata" -l "$data/server.log" -w \
	-o "-p $port -k $data -c listen_addresses=''" start >/dev/null
make -s installcheck PGHOST="$data" PGPORT="$port" PGUSER=postgres 2>&1 | tee "$data/regress.log"
regress_rc=${PIPESTATUS[0]}
[ "$regress_rc" -ne 0 ] && cat regression.diffs 2>/dev/null
ran=0
for t in $(sed -n 's/^test \([a-z_0-9]*\) .*\(ok\|FAILED\).*/\1:\2/p' "$data/regress.log"); do
	[ "${t#*:}" = ok ]
	tally "regress ${t%%:*}" $?
	ran=1
done
[ "$regress_rc" -ne 0 ] && [ $ran -eq 0 ] && tally "regress (did not run)" 1
pg_ctl -D "$data/pgdata" -m fast stop >/dev/null
rm -rf "$data"

echo "== TAP tests"
for t in test/t/*.pl; do
	[ -e "$t" ] || continue
	make -s prove_installcheck PROVE_TESTS="$t"
	rc=$?
	if [ $rc -ne 0 ]; then
		for f in tmp_check/log/*; do
			echo "--- $f"
			tail -n 60 "$f"
		done
	fi
	tally "tap $(basename "$t")" $rc
done

echo "== driver tests"
# psycopg, node-postgres and JDBC against a throw-away cluster of their own;
# run.sh reports one "<driver> <exit code>" line per driver (or "setup 1")
report=$(mktemp /tmp/scor-drivers-report.XXXXXX)
SCOR_DRIVER_REPORT="$report" bash test/drivers/run.sh
rc=$?
while read -r name code; do
	tally "driver $name" "$code"
done <"$report"
[ "$rc" -ne 0 ] && [ ! -s "$report" ] && tally "driver tests (did not run)" 1
rm -f "$report"

echo "scor: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
