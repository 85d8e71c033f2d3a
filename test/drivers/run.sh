#!/usr/bin/env bash
# scor through real client drivers: psycopg (psycopg2, and psycopg 3 when
# installed), node-postgres and JDBC, in text and binary result formats.
#
# As an unprivileged user (the postgres OS user in CI): makes a throw-away
# cluster listening on 127.0.0.1 at a free port (scram-sha-256 password
# authentication over TCP, trust on its private unix socket for the setup),
# builds the sites of setup.sql, writes the plaintext truth, runs each driver's
# test as the analyst login over TCP, then stops and removes the cluster.
#
# Usage: bash test/drivers/run.sh [--strict] [psycopg] [node] [jdbc]   (default: all three)
# With --strict, or in CI (CI=true, as test/ci.sh sets), a check that cannot
# run here (psycopg 3 not installed, node-postgres' binary results unusable)
# fails instead of being skipped: the tests get SCOR_DRV_STRICT=1.
# Each test prints "<driver>: N passed, N failed".  When SCOR_DRIVER_REPORT
# names a file, one line "<name> <exit code>" per driver (and "setup 1" if
# the cluster could not be built) is appended to it.  Exits non-zero on any
# failure.  Every step has a time limit (timeout 300).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
strict=0
[ "${CI:-}" = true ] && strict=1
if [ "${1:-}" = --strict ]; then
	strict=1
	shift
fi
export SCOR_DRV_STRICT=$strict
drivers=("$@")
[ ${#drivers[@]} -eq 0 ] && drivers=(psycopg node jdbc)
report=${SCOR_DRIVER_REPORT:-/dev/null}
bindir=$(pg_config --bindir)
export PATH="$bindir:$PATH"
python=/usr/bin/python3
[ -x "$python" ] || python=python3

tmp=$(mktemp -d /tmp/scor-drivers.XXXXXX)
data="$tmp/pgdata"
started=0
cleanup() {
	[ $started -eq 1 ] && pg_ctl -D "$data" -m immediate stop >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT

setup_failed() {
	echo "drivers: $1" >&2
	for f in "$tmp"/*.log; do
		[ -e "$f" ] || continue
		echo "--- $f" >&2
		tail -n 40 "$f" >&2
	done
	echo "setup 1" >>"$report"
	exit 1
}

secret() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }
peer_password=$(secret)
analyst_password=$(secret)

# The cluster: TCP on 127.0.0.1 with passwords, trust only on a socket in $tmp
initdb -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
	>"$tmp/initdb.log" 2>&1 || setup_failed "initdb failed"
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for try in 1 2 3 4 5 6 7 8; do
	port=$((20000 + RANDOM % 20000))
	port_in_use "$port" && continue
	if pg_ctl -D "$data" -l "$tmp/server.log" -w -t 60 \
		-o "-p $port -k $tmp -c listen_addresses=127.0.0.1" start >/dev/null 2>&1; then
		started=1
		break
	fi
done
[ $started -eq 1 ] || setup_failed "could not start the cluster"

export PGHOST="$tmp" PGPORT="$port" PGUSER=postgres
psql -X -q -d postgres -v port="$port" -v peer_password="$peer_password" \
	-v analyst_password="$analyst_password" -f "$here/setup.sql" >"$tmp/setup.log" 2>&1 ||
	setup_failed "setup.sql failed"

# The plaintext truth, which only the sites' superuser can see:
#   total <n> <los>           COVID-19 admissions and their total length of stay
#   group <age_band> <n> <los> the same per age band
truth="$tmp/truth.txt"
: >"$tmp/truth.raw"
for db in site_a site_b site_c; do
	psql -X -At -F ' ' -d "$db" >>"$tmp/truth.raw" \
		-c "SELECT age_band, count(*), sum(los) FROM admissions WHERE covid GROUP BY age_band" ||
		setup_failed "could not compute the truth"
done
awk '{ n[$1] += $2; l[$1] += $3; tn += $2; tl += $3 }
	END { print "total", tn, tl; for (b in n) print "group", b, n[b], l[b] }' "$tmp/truth.raw" |
	sort >"$truth"
[ -s "$truth" ] || setup_failed "empty truth"
echo "plaintext truth:"
sed 's/^/  /' "$truth"

# What the tests connect with: the analyst, over TCP, with its password
export SCOR_DRV_HOST=127.0.0.1 SCOR_DRV_PORT="$port" SCOR_DRV_USER=scor_drv_analyst
export SCOR_DRV_PASSWORD="$analyst_password" SCOR_DRV_TRUTH="$truth"
unset PGHOST PGPORT PGUSER

run_psycopg() {
	timeout 300 "$python" "$here/test_psycopg.py"
}

run_node() {
	# node-postgres from the npm registry, at the version package-lock.json pins
	local npm_log="$tmp/npm.log"
	(cd "$here" && HOME="$tmp/home" npm_config_cache="$tmp/npm-cache" \
		npm_config_update_notifier=false timeout 300 npm ci --no-audit --no-fund --loglevel=error) \
		>"$npm_log" 2>&1 || {
		cat "$npm_log"
		echo "node: 0 passed, 1 failed"
		return 1
	}
	timeout 300 node "$here/test_node.js"
}

run_jdbc() {
	local jar=/usr/share/java/postgresql.jar classes="$tmp/classes"
	mkdir -p "$classes"
	javac -cp "$jar" -d "$classes" "$here/TestScor.java" || {
		echo "jdbc: 0 passed, 1 failed"
		return 1
	}
	timeout 300 java -cp "$classes:$jar" TestScor
}

failed=0
for d in "${drivers[@]}"; do
	echo "== driver $d"
	case "$d" in
	psycopg) run_psycopg ;;
	node) run_node ;;
	jdbc) run_jdbc ;;
	*)
		echo "unknown driver $d" >&2
		false
		;;
	esac
	rc=$?
	echo "$d $rc" >>"$report"
	[ $rc -ne 0 ] && failed=1
done

if [ $failed -ne 0 ]; then
	echo "--- server log (tail)"
	tail -n 30 "$tmp/server.log"
fi
exit $failed
