#!/usr/bin/env bash
# Load and soak test of scor: three sites as three PostgreSQL clusters on
# 127.0.0.1, peers wired over TCP with scram-sha-256, and 16 analysts
# running federated queries at one coordinator without pause.
#
#   0. single: one analyst alone for 15 s, the latency without contention;
#   1. steady load: 60 s; zero errors, every answer equal to the plaintext
#      truth, the coordinator's and the peers' backends flat in memory, no
#      connection left behind at any peer once the analysts disconnect;
#   2. peer restart: the same load for 60 s, with site_b stopped at 20 s and
#      started again 5 s later; every error during the outage must name
#      site_b, every query started after site_b is back must succeed.
#
# Prints a summary and writes the figures to docs/load.md (see load.py).
#
# Usage: bash test/load/run.sh [--pgbench] [--no-doc] [--keep]
#   --pgbench  run phase 1 with pgbench (-c 16 -j 2 -T 60 -n, per-transaction
#              log) instead of the Python client; pgbench 15 aborts a client
#              on its first error, so phase 2 always uses the Python client
#   --no-doc   do not rewrite docs/load.md
#   --keep     leave the clusters running and the directory in place
#
# As root, the clusters run as the postgres OS user (as in test/drivers/run.sh
# and demo/demo.sh); as another user, as that user.  scor must be installed
# (make && sudo make install).  Environment: SCOR_LOAD_CLIENTS (16),
# SCOR_LOAD_DURATION (60), SCOR_LOAD_ROWS (100000 per site),
# SCOR_LOAD_RESTART_AT (20), SCOR_LOAD_OUTAGE (5 s), SCOR_LOAD_DOC
# (docs/load.md).  Exits non-zero when any check fails.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

client=python
write_doc=1
keep=0
for arg in "$@"; do
	case "$arg" in
	--pgbench) client=pgbench ;;
	--no-doc) write_doc=0 ;;
	--keep) keep=1 ;;
	*)
		echo "usage: bash test/load/run.sh [--pgbench] [--no-doc] [--keep]" >&2
		exit 2
		;;
	esac
done

load_at_start=$(cut -d' ' -f1 /proc/loadavg)
clients=${SCOR_LOAD_CLIENTS:-16}
duration=${SCOR_LOAD_DURATION:-60}
rows=${SCOR_LOAD_ROWS:-100000}
restart_at=${SCOR_LOAD_RESTART_AT:-20}
outage=${SCOR_LOAD_OUTAGE:-5}
doc=${SCOR_LOAD_DOC:-$repo/docs/load.md}

die() {
	echo "load: $*" >&2
	exit 1
}

command -v pg_config >/dev/null || die "pg_config not found: install PostgreSQL 15 (bash test/install-deps.sh as root)"
bindir=$(pg_config --bindir)
[ -x "$bindir/initdb" ] || die "no initdb in $bindir: install postgresql-15"
[ -x "$bindir/pgbench" ] || die "no pgbench in $bindir: install postgresql-15"
if [ ! -f "$(pg_config --sharedir)/extension/scor.control" ] || [ ! -f "$(pg_config --pkglibdir)/scor.so" ]; then
	die "scor is not installed: run make && sudo make install first"
fi
if [ -f "$repo/scor.so" ] && ! cmp -s "$repo/scor.so" "$(pg_config --pkglibdir)/scor.so"; then
	echo "load: warning: the installed scor.so differs from $repo/scor.so (make install?)" >&2
fi
python=/usr/bin/python3
[ -x "$python" ] || python=python3
"$python" -c 'import psycopg2' 2>/dev/null || die "$python has no psycopg2 (apt-get install python3-psycopg2)"

if [ "$(id -u)" -eq 0 ]; then
	id postgres >/dev/null 2>&1 || die "there is no postgres user: is postgresql-15 installed?"
	owner=postgres
	as_owner() { (cd / && runuser -u postgres -- "$@"); }
else
	owner=$(id -un)
	as_owner() { (cd / && "$@"); }
fi

# A directory of our own; the trap stops our clusters and removes only it
work=$(mktemp -d /var/tmp/scor-load.XXXXXX) || die "could not create a directory under /var/tmp"
chmod 700 "$work" # its sockets trust local connections: only its owner (and root) may reach them
[ "$owner" = postgres ] && [ "$(id -u)" -eq 0 ] && chown postgres: "$work"

sites=(a b c)
declare -A port=()
declare -A started=()
declare -A mult=([a]=7 [b]=11 [c]=13) # a different distribution of x and g per site
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	local s
	trap - EXIT INT TERM
	if [ "$keep" -eq 1 ]; then
		echo "load: --keep: clusters still running in $work (ports ${port[a]:-} ${port[b]:-} ${port[c]:-})"
		return
	fi
	for s in "${sites[@]}"; do
		if [ -n "${started[$s]:-}" ] && [ -f "$work/$s/data/postmaster.pid" ]; then
			as_owner "$bindir/pg_ctl" -D "$work/$s/data" -m immediate -w -t 60 stop >/dev/null 2>&1
		fi
	done
	case "$work" in
	/var/tmp/scor-load.*) rm -rf "$work" ;;
	esac
}
trap cleanup EXIT
trap 'exit 130' INT TERM

setup_failed() {
	local f
	echo "load: setup failed: $*" >&2
	for f in "$work"/*.log "$work"/*/server.log; do
		[ -e "$f" ] || continue
		echo "--- $f" >&2
		grep -v -e 'connection authorized' -e 'connection authenticated' -e 'connection received' \
			-e 'disconnection:' "$f" | tail -n 20 >&2
	done
	exit 1
}

secret() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
peer_password=$(secret)
analyst_password=$(secret)

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for try in $(seq 1 20); do
	base=$((20000 + RANDOM % 20000))
	port_in_use "$base" || port_in_use $((base + 1)) || port_in_use $((base + 2)) || break
	[ "$try" -eq 20 ] && die "could not find three free ports"
done
port[a]=$base
port[b]=$((base + 1))
port[c]=$((base + 2))

psql_at() {
	local s=$1
	shift
	as_owner timeout 300 "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$work" -p "${port[$s]}" -U postgres "$@"
}

echo "== setup: three clusters in $work, ports ${port[a]} ${port[b]} ${port[c]} on 127.0.0.1"
t0=$SECONDS
for s in "${sites[@]}"; do
	as_owner mkdir -p "$work/$s"
	as_owner timeout 120 "$bindir/initdb" -D "$work/$s/data" -U postgres -A trust --auth-host=scram-sha-256 \
		-E UTF8 --no-locale --no-sync >"$work/initdb-$s.log" 2>&1 || setup_failed "initdb of site_$s"
	as_owner tee -a "$work/$s/data/postgresql.conf" >/dev/null <<-EOF

		# scor load test: site_$s
		port = ${port[$s]}
		listen_addresses = '127.0.0.1'
		unix_socket_directories = '$work'
		password_encryption = 'scram-sha-256'
		max_connections = $((4 * clients + 20))
		shared_buffers = 128MB
		synchronous_commit = off
		log_connections = on
		log_disconnections = on
		log_line_prefix = '%m [%p] %q%a %u '
	EOF
	as_owner tee "$work/$s/data/pg_hba.conf" >/dev/null <<-EOF
		# scor load test: the script's own psql on the socket directory; over TCP,
		# the peers' login and the analyst, with passwords
		local all all                        trust
		host  all scor_peer     127.0.0.1/32 scram-sha-256
		host  all load_analyst  127.0.0.1/32 scram-sha-256
	EOF
	as_owner "$bindir/pg_ctl" -D "$work/$s/data" -l "$work/$s/server.log" -w -t 60 start >/dev/null ||
		setup_failed "could not start site_$s"
	started[$s]=1
done

# Every site: the extension, its key, 100k rows of its own, the analyst
for s in "${sites[@]}"; do
	psql_at "$s" -d postgres -c "CREATE DATABASE loaddb" >/dev/null || setup_failed "createdb at site_$s"
	psql_at "$s" -d loaddb -v site="site_$s" -v rows="$rows" -v mult="${mult[$s]}" \
		-v peer_password="$peer_password" -v analyst_password="$analyst_password" \
		>"$work/setup-$s.log" 2>&1 <<-'EOF' || setup_failed "setup of site_$s"
		CREATE EXTENSION scor;
		ALTER ROLE scor_peer LOGIN PASSWORD :'peer_password';
		ALTER ROLE scor_peer SET session_preload_libraries = 'scor';
		CREATE ROLE load_analyst LOGIN PASSWORD :'analyst_password' IN ROLE scor_analyst;
		ALTER DATABASE loaddb SET search_path = public, scor;
		SELECT site_name FROM scor.init_site(:'site');
		CREATE TABLE t (id integer PRIMARY KEY, x integer NOT NULL, flag boolean NOT NULL, g text NOT NULL);
		INSERT INTO t
		SELECT i, (i * :mult) % 1000, i % 3 = 0,
		       (ARRAY['0-17', '18-64', '65-79', '80+'])[1 + (i % :mult) % 4]
		FROM generate_series(1, :rows) i;
		VACUUM ANALYZE t;
	EOF
done

# Every site declares the two others and pins their keys
for s in "${sites[@]}"; do
	for p in "${sites[@]}"; do
		[ "$s" = "$p" ] && continue
		psql_at "$s" -d loaddb -v peer="site_$p" -v peer_port="${port[$p]}" -v peer_password="$peer_password" \
			>>"$work/setup-$s.log" 2>&1 <<-'EOF' || setup_failed "site_$s could not add site_$p"
			SET client_min_messages = warning;
			CREATE SERVER :"peer" FOREIGN DATA WRAPPER scor
				OPTIONS (host '127.0.0.1', port :'peer_port', dbname 'loaddb', site :'peer');
			CREATE USER MAPPING FOR PUBLIC SERVER :"peer"
				OPTIONS (user 'scor_peer', password :'peer_password');
			GRANT USAGE ON FOREIGN SERVER :"peer" TO scor_analyst;
			SELECT site_name, fingerprint FROM scor.add_peer(:'peer');
		EOF
	done
done
ids=$(for s in "${sites[@]}"; do psql_at "$s" -d loaddb -At -c "SELECT members || ' ' || network_id FROM scor.network_key()"; done | sort -u)
if [ "$(wc -l <<<"$ids")" != 1 ] || [ "${ids%% *}" != 3 ]; then
	setup_failed "the sites disagree on the network: $ids"
fi
echo "   3 sites, ${rows} rows each, network ${ids#* } (setup $((SECONDS - t0)) s)"

# What load.py needs; the analyst connects over TCP with its password
export SCOR_LOAD_PASSWORD=$analyst_password
cat >"$work/config.json" <<-EOF
	{
	  "work": "$work",
	  "repo": "$repo",
	  "bindir": "$bindir",
	  "host": "127.0.0.1",
	  "socket_dir": "$work",
	  "dbname": "loaddb",
	  "analyst": "load_analyst",
	  "sites": {"site_a": ${port[a]}, "site_b": ${port[b]}, "site_c": ${port[c]}},
	  "coordinator": "site_a",
	  "restarted": "site_b",
	  "restart_data": "$work/b/data",
	  "restart_log": "$work/b/server.log",
	  "owner": "$owner",
	  "as_root": $([ "$(id -u)" -eq 0 ] && echo true || echo false),
	  "clients": $clients,
	  "duration": $duration,
	  "rows": $rows,
	  "restart_at": $restart_at,
	  "outage": $outage,
	  "steady_client": "$client",
	  "load_at_start": $load_at_start
	}
EOF

doc_args=()
[ $write_doc -eq 1 ] && doc_args=(--doc "$doc")
# load.py bounds its own run: each phase ends after duration + 120 s at most
timeout --foreground $((4 * duration + 600)) "$python" "$here/load.py" "$work/config.json" "${doc_args[@]}"
rc=$?
if [ $rc -ne 0 ]; then
	echo "== load test FAILED (exit $rc); server log tails:"
	for s in "${sites[@]}"; do
		echo "--- site_$s"
		grep -v -e 'connection authorized' -e 'connection authenticated' -e 'connection received' \
			-e 'disconnection:' "$work/$s/server.log" | tail -n 15
	done
fi
exit $rc
