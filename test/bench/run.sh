#!/usr/bin/env bash
# scor benchmarks: sets up throw-away PostgreSQL clusters, runs the
# benchmarks, prints a table of results against their goals, and tears the
# clusters down.  Timings are never assertions: this is a script, not a test.
#
# Usage, from the top of the source tree, after `make && make install`:
#
#     bash test/bench/run.sh [options] [subset ...]
#
# Subsets (default: all of them):
#   core         = agg decode micro ctsum
#   federation   = fed small scale
#   agg      1. enc_count(*), enc_sum(x) vs count(*), sum(x) over 10M rows,
#               parallel off and default, alternated in one session
#   decode   2. scor.decrypt of random |m| < 2^32 and < 2^40 (SQL), the size
#               of $PGDATA/scor/dlog-21.tbl and its build time
#   micro    2. the C micro benchmark test/bench/bench_core.c, when present
#               (needs cc and libsodium-dev)
#   ctsum    3. enc_sum(ciphertext) over a 1M-row ciphertext column, rows/s
#               on one core (parallelism off)
#   fed      4. scor.federate vs a dblink fan-out of the plaintext aggregates,
#               3 sites x 3M rows, parallel off and default
#   small    5. a small federated query (3 sites x 1k rows), warm
#               connections: p50 and p99
#   scale    6. the small query at 3, 12 and 48 sites: median latency, and
#               scaling.png when gnuplot is installed (apt-get install gnuplot-nox)
#
# Options:
#   --quick       small tables and few runs: checks the script, not scor
#   --out DIR     results.tsv, results.txt, logs and scaling.png go here
#                 (default /tmp/scor-bench-out; emptied first)
#   --port N      first of the two ports the clusters use (default 56400);
#                 they listen on a unix socket in their work directory only
#   --keep        leave the clusters running and their work directory in place
#   --perf        also profile the cluster with perf (user space) while the
#                 CPU of small/scale queries is accounted: perf-<sites>.txt
#
# Sizes and run counts can be overridden from the environment: AGG_ROWS,
# AGG_RUNS, CT_ROWS, CT_RUNS, FED_ROWS, FED_RUNS, SMALL_ROWS, SMALL_RUNS,
# SCALE_SITES ("3 12 48"), SCALE_RUNS, DEC32_N, DEC40_N, BUILD_RUNS.
#
# Run as root, the script re-executes itself as the postgres OS user (initdb
# refuses root); run as anyone else, it runs as that user.  It needs the
# PostgreSQL 15 server, postgresql-contrib (dblink), pg_config and scor
# installed.  Full run: about 10-15 minutes on 2 idle cores (twice that on a
# loaded machine), most of it loading data and encrypting 1M ciphertexts.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)

quick=0
keep=0
perf=0
out=/tmp/scor-bench-out
port0=56400
subsets=()
orig_args=("$@")
while [ $# -gt 0 ]; do
	case "$1" in
		--quick) quick=1 ;;
		--keep) keep=1 ;;
		--perf) perf=1 ;;
		--out) out=$2; shift ;;
		--out=*) out=${1#--out=} ;;
		--port) port0=$2; shift ;;
		--port=*) port0=${1#--port=} ;;
		-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
		core) subsets+=(agg decode micro ctsum) ;;
		federation) subsets+=(fed small scale) ;;
		agg|decode|micro|ctsum|fed|small|scale) subsets+=("$1") ;;
		*) echo "run.sh: unknown argument \"$1\" (try --help)" >&2; exit 2 ;;
	esac
	shift
done
[ ${#subsets[@]} -gt 0 ] || subsets=(agg decode micro ctsum fed small scale)

# initdb refuses root: become postgres, with an output directory it can write
if [ "$(id -u)" -eq 0 ]; then
	mkdir -p "$out"
	chown postgres "$out"
	exec runuser -u postgres -- env PATH="$PATH" \
		${AGG_ROWS:+AGG_ROWS=$AGG_ROWS} ${AGG_RUNS:+AGG_RUNS=$AGG_RUNS} \
		${CT_ROWS:+CT_ROWS=$CT_ROWS} ${CT_RUNS:+CT_RUNS=$CT_RUNS} \
		${FED_ROWS:+FED_ROWS=$FED_ROWS} ${FED_RUNS:+FED_RUNS=$FED_RUNS} \
		${SMALL_ROWS:+SMALL_ROWS=$SMALL_ROWS} ${SMALL_RUNS:+SMALL_RUNS=$SMALL_RUNS} \
		${SCALE_SITES:+SCALE_SITES="$SCALE_SITES"} ${SCALE_RUNS:+SCALE_RUNS=$SCALE_RUNS} \
		${DEC32_N:+DEC32_N=$DEC32_N} ${DEC40_N:+DEC40_N=$DEC40_N} \
		${BUILD_RUNS:+BUILD_RUNS=$BUILD_RUNS} \
		bash "$here/run.sh" "${orig_args[@]}"
fi

has() { local s; for s in "${subsets[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

if [ $quick -eq 1 ]; then
	: "${AGG_ROWS:=200000}" "${AGG_RUNS:=3}" "${CT_ROWS:=5000}" "${CT_RUNS:=3}"
	: "${FED_ROWS:=100000}" "${FED_RUNS:=3}" "${SMALL_ROWS:=1000}" "${SMALL_RUNS:=20}"
	: "${SCALE_SITES:=3 5}" "${SCALE_RUNS:=5}" "${DEC32_N:=5}" "${DEC40_N:=2}" "${BUILD_RUNS:=1}"
fi
: "${AGG_ROWS:=10000000}" "${AGG_RUNS:=11}" "${CT_ROWS:=1000000}" "${CT_RUNS:=9}"
: "${FED_ROWS:=3000000}" "${FED_RUNS:=11}" "${SMALL_ROWS:=1000}" "${SMALL_RUNS:=200}"
: "${SCALE_SITES:=3 12 48}" "${SCALE_RUNS:=51}" "${DEC32_N:=101}" "${DEC40_N:=21}" "${BUILD_RUNS:=3}"

command -v pg_config >/dev/null || { echo "run.sh: pg_config not found (PostgreSQL not installed?)" >&2; exit 1; }
bindir=$(pg_config --bindir)
sharedir=$(pg_config --sharedir)
pkglibdir=$(pg_config --pkglibdir)
for f in initdb pg_ctl postgres; do
	[ -x "$bindir/$f" ] || { echo "run.sh: $bindir/$f not found (PostgreSQL server not installed?)" >&2; exit 1; }
done
command -v psql >/dev/null || { echo "run.sh: psql not found" >&2; exit 1; }
[ -f "$sharedir/extension/scor.control" ] || { echo "run.sh: scor is not installed (make install)" >&2; exit 1; }
if has fed || has small || has scale; then
	[ -f "$sharedir/extension/dblink.control" ] ||
		{ echo "run.sh: dblink is not installed (apt-get install postgresql-contrib)" >&2; exit 1; }
fi

mkdir -p "$out"
rm -rf "${out:?}"/*
work=$(mktemp -d /tmp/scor-bench.XXXXXX)

# The clusters run from a private copy of the PostgreSQL installation, scor
# included, taken now: a `make install` while the benchmarks run (scor.so and
# its SQL script change at different moments) cannot mix two versions of scor
# into one run.  PostgreSQL finds its share and lib directories relative to
# its binaries, so the copy keeps their layout under $work/pg.
snapshot_pg() {
	local d
	for d in "$bindir" "$sharedir" "$pkglibdir"; do
		mkdir -p "$work/pg$(dirname "$d")"
		[ -e "$work/pg$d" ] || cp -a "$d" "$work/pg$d"
	done
	bindir=$work/pg$bindir
	[ "$("$bindir/pg_config" --pkglibdir)" = "$work/pg$pkglibdir" ] ||
		{ echo "run.sh: the copy of PostgreSQL in $work/pg does not relocate" >&2; exit 1; }
}
snapshot_pg
export PATH="$bindir:$PATH"
results=$out/results.tsv
printf 'benchmark\tmetric\tmeasured\tgoal\tverdict\n' >"$results"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# ---------------------------------------------------------------- clusters
clusters=()
cleanup() {
	local d
	if [ $keep -eq 1 ]; then
		echo "Kept: $work (stop with: pg_ctl -D $work/<core|fed>/data stop)" >&2
		return
	fi
	for d in "${clusters[@]}"; do
		pg_ctl -D "$d" -m fast -w stop >/dev/null 2>&1 || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "run.sh: failed at line $LINENO" >&2' ERR

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && [ ! -e "$work/.s.PGSQL.$1" ]; }

# start_cluster NAME PORT setting...
start_cluster() {
	local name=$1 port=$2 data=$work/$1/data s
	shift 2
	port_free "$port" || { echo "run.sh: port $port is in use (use --port)" >&2; exit 1; }
	mkdir -p "$work/$name"
	initdb -D "$data" -A trust -U postgres --no-sync >"$work/$name/initdb.log" 2>&1 ||
		{ cat "$work/$name/initdb.log" >&2; exit 1; }
	{
		echo "port = $port"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$work'"
		echo "max_worker_processes = 16"
		for s in "$@"; do echo "$s"; done
	} >>"$data/postgresql.conf"
	pg_ctl -D "$data" -l "$work/$name/server.log" -w start >/dev/null ||
		{ tail -n 30 "$work/$name/server.log" >&2; exit 1; }
	clusters+=("$data")
}

# q PORT DB [psql args]: psql, unaligned, stop at the first error
q() {
	local port=$1 db=$2
	shift 2
	psql -X -q -At -v ON_ERROR_STOP=1 -h "$work" -p "$port" -U postgres -d "$db" "$@"
}

# timed PORT DB SCRIPT: run a script that labels its statements with
# "\echo @label" and prints \timing lines; print "label ms" per statement
timed() {
	q "$1" "$2" -f "$3" | awk '/^@/ { lab = substr($0, 2) } /^Time: / { print lab, $2 }'
}

# stats: numbers on stdin -> "median p99 min max n"
stats() {
	sort -g | awk '{ v[NR] = $1 }
		END {
			n = NR
			if (n == 0) { print "nan nan nan nan 0"; exit }
			med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
			i = int(0.99 * n); if (i < 0.99 * n) i++; if (i < 1) i = 1
			printf "%.3f %.3f %.3f %.3f %d\n", med, v[i], v[1], v[n], n
		}'
}
# field N of a stats line
f() { echo "$2" | awk -v n="$1" '{ print $n }'; }
# of LABEL FILE: the timings of one label
of() { awk -v l="$1" '$1 == l { print $2 }' "$2"; }
# calc EXPR
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
# verdict VALUE OP LIMIT
verdict() { awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
	ok = (op == "<=") ? (v <= l) : (v >= l); print ok ? "met" : "NOT MET" }'; }
# record BENCH METRIC MEASURED GOAL VERDICT
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$results"; }

# alternate PORT DB RUNS OUTFILE LABEL_A SQL_A LABEL_B SQL_B [preamble]:
# warm both twice, then RUNS pairs, A first on odd runs and B first on even
alternate() {
	local port=$1 db=$2 runs=$3 outf=$4 la=$5 qa=$6 lb=$7 qb=$8 pre=${9:-} i
	local script=$work/alt.$$.sql
	{
		echo "$pre"
		echo '\o /dev/null'
		for i in 1 2; do echo "$qa;"; echo "$qb;"; done
		echo '\timing on'
		for ((i = 1; i <= runs; i++)); do
			if [ $((i % 2)) -eq 1 ]; then
				printf '\\echo @%s\n%s;\n\\echo @%s\n%s;\n' "$la" "$qa" "$lb" "$qb"
			else
				printf '\\echo @%s\n%s;\n\\echo @%s\n%s;\n' "$lb" "$qb" "$la" "$qa"
			fi
		done
	} >"$script"
	timed "$port" "$db" "$script" >"$outf"
}

machine() {
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "nproc: $(nproc)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
	echo "memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "postgres: $(postgres --version)"
	echo "kernel: $(uname -r)"
	echo "settings: server defaults (jit on, max_parallel_workers_per_gather 2) except shared_buffers, max_connections and as each benchmark says"
	echo "scor: $(md5sum "$work/pg$pkglibdir/scor.so" | cut -c1-12) (md5 of the installed scor.so, snapshot at $(date -u -r "$work/pg$pkglibdir/scor.so" '+%H:%M:%S UTC') install time)"
	echo "source: $(git -c safe.directory="$src" -C "$src" rev-parse --short HEAD 2>/dev/null || echo '?') plus $(git -c safe.directory="$src" -C "$src" status --porcelain -- src sql 2>/dev/null | wc -l) changed files under src/ sql/"
	echo "sizes: AGG_ROWS=$AGG_ROWS CT_ROWS=$CT_ROWS FED_ROWS=$FED_ROWS SMALL_ROWS=$SMALL_ROWS SCALE_SITES='$SCALE_SITES'"
	echo "runs: AGG_RUNS=$AGG_RUNS CT_RUNS=$CT_RUNS FED_RUNS=$FED_RUNS SMALL_RUNS=$SMALL_RUNS SCALE_RUNS=$SCALE_RUNS DEC32_N=$DEC32_N DEC40_N=$DEC40_N"
}
machine >"$out/machine.txt"
log "results in $out; work directory $work"

CPORT=$port0
FPORT=$((port0 + 1))

# ================================================================ core
if has agg || has decode || has ctsum; then
	log "core cluster on port $CPORT"
	start_cluster core "$CPORT" "shared_buffers = 1GB"
	cdata=$work/core/data
	q $CPORT postgres -c "CREATE DATABASE bench"
	q $CPORT bench <<-'SQL'
		CREATE EXTENSION scor;
		SELECT site_name FROM scor.init_site('bench_core') \g /dev/null
	SQL
fi

# ---------------------------------------------------------------- 2. decode
# First, while the cluster is fresh: the first decode builds the table.
if has decode; then
	log "decode: table build (fresh cluster) and per-value decode times"
	tbl=$cdata/scor/dlog-21.tbl
	[ ! -e "$tbl" ] || { echo "run.sh: $tbl exists before the first decode" >&2; exit 1; }
	: >"$out/decode-build.txt"
	for ((i = 1; i <= BUILD_RUNS; i++)); do
		rm -f "$tbl"
		# one backend: first decode (builds the table), then a second one
		q $CPORT bench >>"$out/decode-build.txt" <<-'SQL'
			\o /dev/null
			SELECT scor.encrypt(1);
			\timing on
			\echo @build
			SELECT scor.decrypt(scor.encrypt(123456));
			\echo @same_backend
			SELECT scor.decrypt(scor.encrypt(123456));
		SQL
		# fresh backends that map the existing file
		for j in 1 2 3; do
			q $CPORT bench >>"$out/decode-build.txt" <<-'SQL'
				\o /dev/null
				SELECT scor.encrypt(1);
				\timing on
				\echo @new_backend
				SELECT scor.decrypt(scor.encrypt(123456));
			SQL
		done
	done
	awk '/^@/ { lab = substr($0, 2) } /^Time: / { print lab, $2 }' "$out/decode-build.txt" >"$out/decode-build.tsv"
	b=$(of build "$out/decode-build.tsv" | stats)
	nb=$(of new_backend "$out/decode-build.tsv" | stats)
	sb=$(of same_backend "$out/decode-build.tsv" | stats)
	size=$(stat -c %s "$tbl")
	mb=$(calc "$size / 1048576")
	record "2 decode" "table file dlog-21.tbl" "$mb MB ($size bytes)" "<= 64 MB" "$(verdict "$mb" '<=' 64)"
	record "2 decode" "first decode, fresh cluster (builds table; median of $(f 5 "$b"))" "$(f 1 "$b") ms" "-" "-"
	record "2 decode" "first decode, new backend (maps table)" "$(f 1 "$nb") ms" "-" "-"
	record "2 decode" "decrypt+decode in a warm backend (m=123456)" "$(f 1 "$sb") ms" "-" "-"

	q $CPORT bench <<-'SQL'
		CREATE FUNCTION bench_decode(bits int, n int, OUT v bigint, OUT enc_ms float8, OUT dec_ms float8)
		RETURNS SETOF record LANGUAGE plpgsql AS $$
		DECLARE
			c scor.ciphertext;
			d numeric;
			t0 timestamptz;
			t1 timestamptz;
			t2 timestamptz;
		BEGIN
			PERFORM setseed(0.5);
			PERFORM scor.decrypt(scor.encrypt(1));	-- map the table
			FOR i IN 1..n LOOP
				-- uniform in (-2^bits, 2^bits)
				v := trunc((random() * 2 - 1) * (2::numeric ^ bits))::bigint;
				t0 := clock_timestamp();
				c := scor.encrypt(v);
				t1 := clock_timestamp();
				d := scor.decrypt(c);
				t2 := clock_timestamp();
				IF d <> v THEN
					RAISE EXCEPTION 'decoded % for %', d, v;
				END IF;
				enc_ms := 1000 * extract(epoch FROM t1 - t0);
				dec_ms := 1000 * extract(epoch FROM t2 - t1);
				RETURN NEXT;
			END LOOP;
		END
		$$;
	SQL
	for bits in 32 40; do
		n=$DEC32_N; goal=5; unit=ms
		[ $bits -eq 40 ] && { n=$DEC40_N; goal=1000; }
		q $CPORT bench -F ' ' -c "SELECT v, enc_ms, dec_ms FROM bench_decode($bits, $n)" >"$out/decode-$bits.tsv"
		d=$(awk '{ print $3 }' "$out/decode-$bits.tsv" | stats)
		e=$(awk '{ print $2 }' "$out/decode-$bits.tsv" | stats)
		record "2 decode" "decrypt |m|<2^$bits, median of $(f 5 "$d") random (max)" \
			"$(f 1 "$d") ms (max $(f 4 "$d"))" "<= $goal ms" "$(verdict "$(f 1 "$d")" '<=' $goal)"
		record "2 decode" "  encrypt alone, same values" "$(f 1 "$e") ms" "-" "-"
	done
fi

# ---------------------------------------------------------------- 2. micro
if has micro; then
	if [ -f "$here/bench_core.c" ]; then
		log "micro: building and running test/bench/bench_core.c"
		if cc -O2 -Wall -Wextra -Werror -std=gnu11 -I"$src/src" -o "$work/bench_core" \
			"$here/bench_core.c" "$src/src/ristretto.c" "$src/src/dlog.c" -lsodium \
			>"$out/bench_core.build.log" 2>&1; then
			if "$work/bench_core" >"$out/bench_core.txt" 2>&1; then
				record "2 micro" "C micro benchmark (bench_core.c)" "see bench_core.txt" "-" "-"
			else
				record "2 micro" "C micro benchmark (bench_core.c)" "FAILED (bench_core.txt)" "-" "-"
			fi
		else
			record "2 micro" "C micro benchmark (bench_core.c)" "did not build (bench_core.build.log)" "-" "-"
		fi
	else
		record "2 micro" "C micro benchmark" "test/bench/bench_core.c absent" "-" "-"
	fi
fi

# ---------------------------------------------------------------- 1. agg
if has agg; then
	log "agg: loading $AGG_ROWS rows"
	q $CPORT bench <<-SQL
		CREATE TABLE t AS SELECT (i % 1000)::integer AS x FROM generate_series(1, $AGG_ROWS) i;
		VACUUM (FREEZE, ANALYZE) t;
	SQL
	for mode in off default; do
		log "agg: $AGG_RUNS alternated runs, parallelism $mode"
		if [ $mode = off ]; then pre='SET max_parallel_workers_per_gather = 0;'; else pre=''; fi
		pre="SET search_path = public, scor; $pre"
		{
			echo "-- plans, parallelism $mode"
			q $CPORT bench -c "$pre" -c "EXPLAIN SELECT count(*), sum(x) FROM t" \
				-c "EXPLAIN SELECT enc_count(*), enc_sum(x) FROM t"
		} >>"$out/agg-plans.txt"
		alternate $CPORT bench "$AGG_RUNS" "$out/agg-$mode.tsv" \
			native "SELECT count(*), sum(x) FROM t" \
			scor "SELECT enc_count(*), enc_sum(x) FROM t" "$pre"
		n=$(of native "$out/agg-$mode.tsv" | stats)
		s=$(of scor "$out/agg-$mode.tsv" | stats)
		r=$(calc "$(f 1 "$s") / $(f 1 "$n")")
		# the ratio of each pair of runs, for the spread
		paste <(of native "$out/agg-$mode.tsv") <(of scor "$out/agg-$mode.tsv") |
			awk '{ print $2 / $1 }' | stats >"$out/agg-$mode.pairs"
		record "1 agg" "parallel $mode: native count+sum ($AGG_ROWS rows, median of $(f 5 "$n"))" "$(f 1 "$n") ms" "-" "-"
		record "1 agg" "parallel $mode: enc_count+enc_sum" "$(f 1 "$s") ms" "-" "-"
		record "1 agg" "parallel $mode: ratio scor/native (pairwise median)" \
			"$r ($(f 1 "$(cat "$out/agg-$mode.pairs")"))" "<= 1.05" "$(verdict "$r" '<=' 1.05)"
	done
	q $CPORT bench -c "DROP TABLE t"
fi

# ---------------------------------------------------------------- 3. ctsum
if has ctsum; then
	log "ctsum: encrypting $CT_ROWS rows (parallel CTAS; takes a while)"
	start=$(date +%s.%N)
	q $CPORT bench <<-SQL
		CREATE TABLE ct_src AS SELECT i FROM generate_series(1, $CT_ROWS) i;
		ANALYZE ct_src;
		SET parallel_setup_cost = 0;
		SET parallel_tuple_cost = 0;
		SET min_parallel_table_scan_size = 0;
		CREATE TABLE ct AS SELECT scor.encrypt(i) AS c FROM ct_src;
		VACUUM (FREEZE, ANALYZE) ct;
		DROP TABLE ct_src;
	SQL
	enc_s=$(calc "$(date +%s.%N) - $start")
	record "3 ctsum" "encrypting $CT_ROWS rows (CTAS, up to 2 workers)" "$enc_s s" "-" "-"
	ok=$(q $CPORT bench -c "SELECT scor.decrypt(scor.enc_sum(c)) = $CT_ROWS::numeric * ($CT_ROWS + 1) / 2 FROM ct")
	[ "$ok" = t ] || { echo "run.sh: enc_sum over ct decrypts to a wrong total" >&2; exit 1; }
	log "ctsum: $CT_RUNS alternated runs, parallelism off"
	alternate $CPORT bench "$CT_RUNS" "$out/ctsum.tsv" \
		scan "SELECT count(c) FROM ct" \
		enc_sum "SELECT scor.enc_sum(c) FROM ct" \
		"SET max_parallel_workers_per_gather = 0;"
	s=$(of enc_sum "$out/ctsum.tsv" | stats)
	b=$(of scan "$out/ctsum.tsv" | stats)
	rps=$(calc "$CT_ROWS / ($(f 1 "$s") / 1000)")
	record "3 ctsum" "enc_sum(ciphertext), $CT_ROWS rows, 1 core (median of $(f 5 "$s"))" "$(f 1 "$s") ms" "-" "-"
	record "3 ctsum" "  rows/s per core" "$(printf '%.0f' "$rps")" ">= 1000000" "$(verdict "$rps" '>=' 1000000)"
	record "3 ctsum" "  count(c) over the same rows (scan floor)" "$(f 1 "$b") ms" "-" "-"
	alternate $CPORT bench 3 "$out/ctsum-parallel.tsv" \
		scan "SELECT count(c) FROM ct" \
		enc_sum "SELECT scor.enc_sum(c) FROM ct"
	s=$(of enc_sum "$out/ctsum-parallel.tsv" | stats)
	record "3 ctsum" "  enc_sum(ciphertext), default parallel plan (median of 3)" "$(f 1 "$s") ms" "-" "-"
fi

# ================================================================ federation
# site DB names: PREFIX_01 .. PREFIX_NN; server of site X: srv_X
site_db() { printf '%s_%02d' "$1" "$2"; }

# make_network PREFIX N BIG_ROWS SMALL_ROWS: N sites, each with scor, a key,
# tables small (and t when BIG_ROWS > 0), and every other site pinned
make_network() {
	local prefix=$1 n=$2 big=$3 small=$4 i j db peer sep dir=$work/net-$1
	mkdir -p "$dir"
	for ((i = 1; i <= n; i++)); do
		db=$(site_db "$prefix" "$i")
		q $FPORT postgres -c "CREATE DATABASE $db"
		{
			echo "CREATE EXTENSION scor;"
			# the login peers use; scor_peer exists once a database has scor
			echo "SET client_min_messages = warning;"
			echo "GRANT scor_peer TO bench_peer;"
			echo "SELECT site_name FROM scor.init_site('$db') \\g /dev/null"
			echo "CREATE TABLE small AS SELECT (i % 1000)::integer AS x, i % 3 = 0 AS flag FROM generate_series(1, $small) i;"
			echo "VACUUM (FREEZE, ANALYZE) small;"
			if [ "$big" -gt 0 ]; then
				echo "CREATE TABLE t AS SELECT (i % 1000)::integer AS x, i % 3 = 0 AS flag FROM generate_series(1, $big) i;"
				echo "VACUUM (FREEZE, ANALYZE) t;"
			fi
			if [ $i -eq 1 ]; then echo "CREATE EXTENSION dblink;"; fi
		} | q $FPORT "$db"
		{
			echo "SET client_min_messages = warning;"
			for ((j = 1; j <= n; j++)); do
				[ $j -eq $i ] && continue
				peer=$(site_db "$prefix" "$j")
				echo "CREATE SERVER srv_$peer FOREIGN DATA WRAPPER scor OPTIONS (host '$work', port '$FPORT', dbname '$peer');"
				echo "CREATE USER MAPPING FOR PUBLIC SERVER srv_$peer OPTIONS (user 'bench_peer', password 'bench');"
			done
			sep=
			echo "SELECT count(*) FROM (VALUES"
			for ((j = 1; j <= n; j++)); do
				[ $j -eq $i ] && continue
				echo "${sep}('srv_$(site_db "$prefix" "$j")')"
				sep=,
			done
			echo ") AS v(s), LATERAL scor.add_peer(v.s);"
		} >"$dir/pin-$i.sql"
	done
	# pin every site's peers, two sites at a time
	seq 1 "$n" | xargs -P 2 -I{} sh -c \
		"psql -X -q -At -v ON_ERROR_STOP=1 -h '$work' -p $FPORT -U postgres -d $prefix\$(printf '_%02d' {}) -f '$dir/pin-{}.sql' >/dev/null" ||
		{ echo "run.sh: pinning peers of network $prefix failed" >&2; exit 1; }
	local members
	members=$(q $FPORT "$(site_db "$prefix" 1)" -c "SELECT members FROM scor.network_key()")
	[ "$members" = "$n" ] || { echo "run.sh: network $prefix has $members members, not $n" >&2; exit 1; }
}

# dblink_setup PREFIX N: psql lines that connect the coordinator's session
# to every site of the network with dblink (the coordinator included)
dblink_setup() {
	local prefix=$1 n=$2 i
	echo "SET search_path = public, scor;"
	for ((i = 1; i <= n; i++)); do
		echo "SELECT dblink_connect('c$i', 'host=$work port=$FPORT dbname=$(site_db "$prefix" "$i") user=postgres') \\g /dev/null"
	done
	echo "SELECT set_config('bench.conns', '{$(seq -s, -f 'c%g' 1 "$n")}', false) \\g /dev/null"
}

FANOUT_FN=$(cat <<-'SQL'
	-- Send the plaintext query to every site at once, sum the answers here
	CREATE FUNCTION bench_fanout(q text, OUT n numeric, OUT s numeric) LANGUAGE plpgsql AS $$
	DECLARE
		conns text[] := current_setting('bench.conns')::text[];
		cn text;
	BEGIN
		FOREACH cn IN ARRAY conns LOOP
			PERFORM dblink_send_query(cn, q);
		END LOOP;
		SELECT sum(r.n), sum(r.s) INTO n, s
		FROM unnest(conns) AS u(c), LATERAL dblink_get_result(u.c) AS r(n bigint, s bigint);
		-- the empty result that frees each connection for the next query
		FOREACH cn IN ARRAY conns LOOP
			PERFORM * FROM dblink_get_result(cn) AS r(n bigint, s bigint);
		END LOOP;
	END
	$$;
SQL
)

if has fed || has small || has scale; then
	log "federation cluster on port $FPORT"
	start_cluster fed "$FPORT" "max_connections = 300" "shared_buffers = 512MB"
	q $FPORT postgres -c "CREATE ROLE bench_peer LOGIN PASSWORD 'bench'"
	q $FPORT postgres -c "ALTER ROLE bench_peer SET session_preload_libraries = 'scor'"
	fed_big=0
	has fed && fed_big=$FED_ROWS
	# the 3-site network serves benchmarks 4, 5 and the 3-site point of 6
	log "federation: 3 sites, $fed_big + $SMALL_ROWS rows each"
	make_network fed 3 "$fed_big" "$SMALL_ROWS"
	echo "$FANOUT_FN" | q $FPORT fed_01
fi

FED_Q='SELECT enc_count(*), enc_sum(x) FROM t WHERE flag'
FED_PLAIN='SELECT count(*), sum(x) FROM t WHERE flag'
SMALL_Q='SELECT enc_count(*), enc_sum(x) FROM small WHERE flag'
SMALL_PLAIN='SELECT count(*), sum(x) FROM small WHERE flag'
federate_sql() { echo "SELECT * FROM scor.federate(\$q\$$1\$q\$) AS r(n bigint, s bigint)"; }
fanout_sql() { echo "SELECT * FROM bench_fanout(\$q\$$1\$q\$)"; }

# check that federate and the fan-out agree: CHECK PREFIX N QUERY PLAIN
check_same() {
	local a b
	a=$( { dblink_setup "$1" "$2"; echo "$(federate_sql "$3");"; } | q $FPORT "$(site_db "$1" 1)")
	b=$( { dblink_setup "$1" "$2"; echo "$(fanout_sql "$4");"; } | q $FPORT "$(site_db "$1" 1)")
	[ "$a" = "$b" ] || { echo "run.sh: federate says $a, the dblink fan-out $b" >&2; exit 1; }
	echo "$a"
}

# ---------------------------------------------------------------- 4. fed
if has fed; then
	log "fed: checking that both variants agree"
	check_same fed 3 "$FED_Q" "$FED_PLAIN" >"$out/fed-answer.txt"
	for mode in off default; do
		if [ $mode = off ]; then
			q $FPORT postgres -c "ALTER SYSTEM SET max_parallel_workers_per_gather = 0" -c "SELECT pg_reload_conf()" >/dev/null
		else
			q $FPORT postgres -c "ALTER SYSTEM RESET max_parallel_workers_per_gather" -c "SELECT pg_reload_conf()" >/dev/null
		fi
		sleep 1
		log "fed: $FED_RUNS alternated runs, parallelism $mode"
		alternate $FPORT fed_01 "$FED_RUNS" "$out/fed-$mode.tsv" \
			dblink "$(fanout_sql "$FED_PLAIN")" \
			scor "$(federate_sql "$FED_Q")" "$(dblink_setup fed 3)"
		d=$(of dblink "$out/fed-$mode.tsv" | stats)
		s=$(of scor "$out/fed-$mode.tsv" | stats)
		r=$(calc "$(f 1 "$s") / $(f 1 "$d")")
		paste <(of dblink "$out/fed-$mode.tsv") <(of scor "$out/fed-$mode.tsv") |
			awk '{ print $2 / $1 }' | stats >"$out/fed-$mode.pairs"
		record "4 fed" "parallel $mode: dblink fan-out, 3 x $FED_ROWS rows (median of $(f 5 "$d"))" "$(f 1 "$d") ms" "-" "-"
		record "4 fed" "parallel $mode: scor.federate" "$(f 1 "$s") ms" "-" "-"
		record "4 fed" "parallel $mode: ratio federate/dblink (pairwise median)" \
			"$r ($(f 1 "$(cat "$out/fed-$mode.pairs")"))" "<= 1.10" "$(verdict "$r" '<=' 1.10)"
	done
	q $FPORT postgres -c "ALTER SYSTEM RESET max_parallel_workers_per_gather" -c "SELECT pg_reload_conf()" >/dev/null
fi

# cpu_account PREFIX N K: run K federated small queries in one session
# (after one that opens the connections) and charge the CPU the cluster's
# processes used to the coordinator, the peers and the rest; prints
# "wall coordinator peer_mean peers_total rest" in ms per query
cpu_account() {
	local prefix=$1 n=$2 k=$3 pm i pp=
	local fq
	fq="$(federate_sql "$SMALL_Q");"
	pm=$(head -1 "$work/fed/data/postmaster.pid")
	{
		echo '\o /dev/null'
		echo "$fq"
		echo "\\! bash '$here/cpu_snapshot.sh' $pm >'$work/cpu-before.txt'"
		echo "\\! date +%s.%N >'$work/cpu-t0'"
		for ((i = 1; i <= k; i++)); do echo "$fq"; done
		echo "\\! date +%s.%N >'$work/cpu-t1'"
		echo "\\! bash '$here/cpu_snapshot.sh' $pm >'$work/cpu-after.txt'"
		echo '\o'
		echo 'SELECT pg_backend_pid();'
	} >"$work/cpu.sql"
	if [ $perf -eq 1 ] && command -v perf >/dev/null; then
		perf record -q -p "$pm" -F 499 --call-graph dwarf,8192 -o "$out/perf-$n.data" >/dev/null 2>&1 &
		pp=$!
		sleep 1
	fi
	local coord
	coord=$(q $FPORT "$(site_db "$prefix" 1)" -f "$work/cpu.sql")
	if [ -n "$pp" ]; then
		kill -INT "$pp"
		wait "$pp" || true
		{
			echo "== CPU by shared object (user space only), $n sites"
			perf report -i "$out/perf-$n.data" --no-children --sort dso -g none --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -15
			echo
			echo "== inclusive time of functions, $n sites"
			perf report -i "$out/perf-$n.data" --children --sort sym -g none --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -80
		} >"$out/perf-$n.txt"
		rm -f "$out/perf-$n.data"
	fi
	awk -v coord="$coord" -v k="$k" -v t0="$(cat "$work/cpu-t0")" -v t1="$(cat "$work/cpu-t1")" '
		NR == FNR { before[$1] = $2; next }
		{
			d = $2 - before[$1]
			if ($1 == coord) c += d
			else if (index($0, "bench_peer")) { p += d; np++ }
			else r += d
		}
		END { printf "%.2f %.2f %.2f %.2f %.2f\n", 1000 * (t1 - t0) / k, c / k, (np ? p / np : 0) / k, p / k, r / k }
	' "$work/cpu-before.txt" "$work/cpu-after.txt"
}
cpu_record() {
	local n=$1 c=$2
	record "$3" "  $n sites: CPU ms/query: coordinator, each peer (mean), all peers, rest" \
		"$(f 2 "$c"), $(f 3 "$c"), $(f 4 "$c"), $(f 5 "$c") (wall $(f 1 "$c"))" "-" "-"
	printf '%s\t%s\n' "$n" "$(echo "$c" | tr ' ' '\t')" >>"$out/cpu.tsv"
}
printf 'sites\twall_ms\tcoordinator_cpu_ms\tpeer_cpu_ms\tpeers_cpu_ms\trest_cpu_ms\n' >"$out/cpu.tsv"

# ---------------------------------------------------------------- 5. small
# small_runs PREFIX N RUNS OUTFILE [extra label]: warm once, then RUNS
# alternated runs of federate and the dblink fan-out of the small query
small_runs() {
	alternate $FPORT "$(site_db "$1" 1)" "$3" "$4" \
		dblink "$(fanout_sql "$SMALL_PLAIN")" \
		scor "$(federate_sql "$SMALL_Q")" "$(dblink_setup "$1" "$2")"
}

if has small; then
	log "small: checking that both variants agree"
	check_same fed 3 "$SMALL_Q" "$SMALL_PLAIN" >"$out/small-answer.txt"
	log "small: $SMALL_RUNS alternated runs"
	small_runs fed 3 "$SMALL_RUNS" "$out/small.tsv"
	s=$(of scor "$out/small.tsv" | stats)
	d=$(of dblink "$out/small.tsv" | stats)
	record "5 small" "federate, 3 sites x $SMALL_ROWS rows: p50 (of $(f 5 "$s"))" "$(f 1 "$s") ms" "<= 5 ms" "$(verdict "$(f 1 "$s")" '<=' 5)"
	record "5 small" "  federate p99" "$(f 2 "$s") ms" "-" "-"
	record "5 small" "  dblink fan-out of the plaintext query: p50 / p99" "$(f 1 "$d") / $(f 2 "$d") ms" "-" "-"

	# where the time goes: the same with synchronous_commit off at the sites
	# (each remote call writes scor.query_log and commits)
	q $FPORT postgres -c "ALTER SYSTEM SET synchronous_commit = off" -c "SELECT pg_reload_conf()" >/dev/null
	sleep 1
	small_runs fed 3 "$(( (SMALL_RUNS + 1) / 2 ))" "$out/small-async.tsv"
	q $FPORT postgres -c "ALTER SYSTEM RESET synchronous_commit" -c "SELECT pg_reload_conf()" >/dev/null
	s=$(of scor "$out/small-async.tsv" | stats)
	record "5 small" "  diagnostic: federate p50 with synchronous_commit = off" "$(f 1 "$s") ms" "-" "-"

	# a federated query that reads no row at all: the protocol's fixed cost
	alternate $FPORT fed_01 "$(( (SMALL_RUNS + 1) / 2 ))" "$out/small-empty.tsv" \
		dblink "$(fanout_sql 'SELECT count(*), sum(x) FROM small WHERE false')" \
		scor "$(federate_sql 'SELECT enc_count(*), enc_sum(x) FROM small WHERE false')" "$(dblink_setup fed 3)"
	s=$(of scor "$out/small-empty.tsv" | stats)
	record "5 small" "  diagnostic: federate p50 of a query that reads no row" "$(f 1 "$s") ms" "-" "-"
	log "small: CPU accounting"
	cpu_record 3 "$(cpu_account fed 3 "$(( (SMALL_RUNS + 1) / 2 ))")" "5 small"
fi

# ---------------------------------------------------------------- 6. scale
if has scale; then
	printf 'sites\tscor_median_ms\tscor_p90_ms\tdblink_median_ms\tfirst_ms\n' >"$out/scaling.tsv"
	for n in $SCALE_SITES; do
		prefix=fed
		if [ "$n" -ne 3 ]; then
			prefix=s$n
			log "scale: setting up $n sites ($((n * (n - 1))) add_peer calls)"
			start=$(date +%s)
			make_network "$prefix" "$n" 0 "$SMALL_ROWS"
			echo "$FANOUT_FN" | q $FPORT "$(site_db "$prefix" 1)"
			record "6 scale" "setup of $n sites" "$(( $(date +%s) - start )) s" "-" "-"
		fi
		# the first query of a session opens the connections
		{
			dblink_setup "$prefix" "$n"
			echo '\o /dev/null'
			echo '\timing on'
			echo '\echo @first'
			echo "$(federate_sql "$SMALL_Q");"
		} >"$work/first.sql"
		first=$(timed $FPORT "$(site_db "$prefix" 1)" "$work/first.sql" | awk '{ print $2 }')
		log "scale: $SCALE_RUNS alternated runs at $n sites"
		small_runs "$prefix" "$n" "$SCALE_RUNS" "$out/scale-$n.tsv"
		s=$(of scor "$out/scale-$n.tsv" | stats)
		p90=$(of scor "$out/scale-$n.tsv" | sort -g | awk '{ v[NR] = $1 } END { i = int(0.9 * NR); if (i < 0.9 * NR) i++; print v[i] }')
		d=$(of dblink "$out/scale-$n.tsv" | stats)
		printf '%s\t%s\t%s\t%s\t%s\n' "$n" "$(f 1 "$s")" "$p90" "$(f 1 "$d")" "$first" >>"$out/scaling.tsv"
		goal=-; v=-
		if [ "$n" -eq 48 ]; then goal="<= 100 ms"; v=$(verdict "$(f 1 "$s")" '<=' 100); fi
		record "6 scale" "$n sites: federate median (of $(f 5 "$s")), p90" "$(f 1 "$s") ms, p90 $p90 ms" "$goal" "$v"
		record "6 scale" "  $n sites: dblink fan-out median; first federate of a session" "$(f 1 "$d") ms; $first ms" "-" "-"
		if [ "$n" -ne 3 ] || ! has small; then
			log "scale: CPU accounting at $n sites"
			cpu_record "$n" "$(cpu_account "$prefix" "$n" "$SCALE_RUNS")" "6 scale"
		fi
	done
	if command -v gnuplot >/dev/null; then
		bash "$here/plot_scaling.sh" "$out/scaling.tsv" "$out/scaling.png" "$out/cpu.tsv" >/dev/null 2>&1 &&
			log "chart: $out/scaling.png" || log "chart: gnuplot failed"
	else
		log "chart: gnuplot not installed (apt-get install gnuplot-nox); skipped"
	fi
fi

# ================================================================ report
for d in "${clusters[@]}"; do
	cp "$(dirname "$d")/server.log" "$out/server-$(basename "$(dirname "$d")").log" 2>/dev/null || true
done
{
	cat "$out/machine.txt"
	echo
	column -t -s "$(printf '\t')" "$results"
	if [ -s "$out/bench_core.txt" ]; then
		echo
		echo "bench_core (C micro benchmark):"
		cat "$out/bench_core.txt"
	fi
} >"$out/results.txt"
cat "$out/results.txt"
