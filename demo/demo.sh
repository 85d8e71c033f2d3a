#!/usr/bin/env bash
# The scor demo: three hospitals as three PostgreSQL clusters on loopback,
# each with its own synthetic OMOP-shaped COVID-19 registry, joined into one
# scor network and queried with federated, encrypted aggregates.  Every
# federated result is printed beside the plaintext truth, which only the demo
# can compute because it may query every hospital directly.
#
#   bash demo/demo.sh start   install, build, (re)create the hospitals, run the use cases
#   bash demo/demo.sh run     run the use cases again on the running hospitals
#   bash demo/demo.sh stop    stop the hospitals and remove the demo directory
#
# As root, start installs the Debian packages that building and running scor
# need (test/install-deps.sh --build), builds
# and installs scor, and runs the clusters as the postgres user.  As another
# user, scor must already be installed and the clusters run as that user.
#
# Environment: SCOR_DEMO_DIR (default /tmp/scor-demo), SCOR_DEMO_PORT (first
# of three ports, default 55431).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
demo_dir=${SCOR_DEMO_DIR:-/tmp/scor-demo}
demo_dir=$(realpath -m "$demo_dir")
base_port=${SCOR_DEMO_PORT:-55431}
marker=.scor-demo

sites=(A B C)
declare -A site_name=([A]=hospital_a [B]=hospital_b [C]=hospital_c)
declare -A port=([A]=$base_port [B]=$((base_port + 1)) [C]=$((base_port + 2)))
declare -A about=(
	[A]="university hospital, 20000 patients, hit hard by the spring wave"
	[B]="regional hospital, 12000 older patients, more comorbidity"
	[C]="community hospital, 6000 younger patients, few COVID-19 cases"
)
# Parameters of demo/omop.sql, per hospital
declare -A gen=(
	[A]="-v persons=20000 -v id_base=1000000 -v p_child=0.10 -v p_old=0.28 -v covid=0.12 -v comorb=1.0 -v mean_los=7 -v readmit=0.10 -v wave1=0.55"
	[B]="-v persons=12000 -v id_base=2000000 -v p_child=0.04 -v p_old=0.42 -v covid=0.16 -v comorb=1.3 -v mean_los=9 -v readmit=0.14 -v wave1=0.35"
	[C]="-v persons=6000 -v id_base=3000000 -v p_child=0.16 -v p_old=0.15 -v covid=0.07 -v comorb=0.8 -v mean_los=5 -v readmit=0.08 -v wave1=0.25"
)
coordinator=A

start_time=$EPOCHREALTIME
failures=0

say() { printf '%s\n' "$*"; }
step() { printf "\n== %s  [%s s]\n" "$*" "$(elapsed)"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }
elapsed() { awk -v a="$start_time" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# Run a command as the owner of the clusters, from a directory it can read
if [ "$(id -u)" -eq 0 ]; then
	as_owner() { (cd / && runuser -u postgres -- "$@"); }
else
	as_owner() { (cd / && "$@"); }
fi

find_bindir() {
	command -v pg_config >/dev/null || die "pg_config not found: install PostgreSQL 15 (bash test/install-deps.sh as root)"
	bindir=$(pg_config --bindir)
	[ -x "$bindir/initdb" ] || die "no initdb in $bindir: install postgresql-15"
}

# psql at one hospital, as the superuser, over the demo's socket directory;
# SQL comes on stdin (the repository need not be readable by postgres)
psql_at() {
	local s=$1
	shift
	as_owner "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$demo_dir" -p "${port[$s]}" -U postgres -d clinic "$@"
}

running() { [ -f "$demo_dir/$1/data/postmaster.pid" ]; }

stop_clusters() {
	local s
	for s in "${sites[@]}"; do
		if running "$s"; then
			as_owner "$bindir/pg_ctl" -D "$demo_dir/$s/data" -m fast -w stop >/dev/null ||
				die "could not stop hospital $s (see $demo_dir/$s/server.log)"
		fi
	done
}

remove_demo_dir() {
	[ -e "$demo_dir" ] || return 0
	[ -f "$demo_dir/$marker" ] || die "$demo_dir exists but is not a demo directory: not removing it (set SCOR_DEMO_DIR)"
	rm -rf "$demo_dir"
}

do_stop() {
	find_bindir
	if [ ! -e "$demo_dir" ]; then
		say "The scor demo is not running (no $demo_dir)."
		return 0
	fi
	stop_clusters
	remove_demo_dir
	say "The scor demo is stopped and $demo_dir is removed."
}

build_deps_present() {
	command -v pg_config >/dev/null && [ -f /usr/include/sodium.h ] &&
		{ [ -f /usr/include/gmp.h ] || compgen -G "/usr/include/*/gmp.h" >/dev/null; }
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# One hospital: a fresh cluster, password authentication over TCP for the
# peers' login, trust on the demo's own socket directory
create_cluster() {
	local s=$1 d="$demo_dir/$1"
	as_owner mkdir -p "$d"
	as_owner "$bindir/initdb" -D "$d/data" -U postgres -A trust --auth-host=scram-sha-256 \
		-E UTF8 --no-locale --no-sync >"$d/initdb.log" 2>&1 || { cat "$d/initdb.log"; return 1; }
	as_owner tee -a "$d/data/postgresql.conf" >/dev/null <<-EOF

		# scor demo: hospital $s
		port = ${port[$s]}
		listen_addresses = '127.0.0.1'
		unix_socket_directories = '$demo_dir'
		password_encryption = 'scram-sha-256'
		max_connections = 40
		shared_buffers = 64MB
		# a throw-away demo: speed over durability
		fsync = off
		synchronous_commit = off
		full_page_writes = off
	EOF
	as_owner tee "$d/data/pg_hba.conf" >/dev/null <<-EOF
		# scor demo: the demo's own psql on the socket directory, the peers over TCP
		local all all                    trust
		host  all scor_peer 127.0.0.1/32 scram-sha-256
	EOF
	as_owner "$bindir/pg_ctl" -D "$d/data" -l "$d/server.log" -w start >/dev/null ||
		{ tail -n 20 "$d/server.log"; return 1; }
}

# One hospital's database, site key and registry
load_site() {
	local s=$1
	as_owner "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$demo_dir" -p "${port[$s]}" -U postgres -d postgres \
		-c "CREATE DATABASE clinic"
	psql_at "$s" -v site_name="${site_name[$s]}" -v peer_password="$peer_password" >/dev/null <<-'EOF'
		CREATE EXTENSION scor;
		-- the login that the other hospitals' user mappings use
		ALTER ROLE scor_peer LOGIN PASSWORD :'peer_password';
		-- scor locks the peer login's sessions down from their start
		ALTER ROLE scor_peer SET session_preload_libraries = 'scor';
		ALTER DATABASE clinic SET search_path = public, scor;
		SELECT site_name FROM scor.init_site(:'site_name');
	EOF
	# shellcheck disable=SC2086
	psql_at "$s" -At -F'|' -v site="$s" ${gen[$s]} <"$repo/demo/omop.sql" >"$demo_dir/$s/load.out"
}

# Every hospital declares the two others as foreign servers of the scor
# wrapper, with a user mapping, and pins their keys
register_peers() {
	local s p pinned
	for s in "${sites[@]}"; do
		pinned=""
		for p in "${sites[@]}"; do
			[ "$s" = "$p" ] && continue
			pinned+="${pinned:+, }$(psql_at "$s" -At -F' ' -v peer="${site_name[$p]}" -v peer_port="${port[$p]}" \
				-v peer_password="$peer_password" <<-'EOF'
				SET client_min_messages = warning;
				CREATE SERVER :"peer" FOREIGN DATA WRAPPER scor
					OPTIONS (host '127.0.0.1', port :'peer_port', dbname 'clinic', site :'peer');
				CREATE USER MAPPING FOR PUBLIC SERVER :"peer"
					OPTIONS (user 'scor_peer', password :'peer_password');
				SELECT site_name, 'key ' || fingerprint FROM scor.add_peer(:'peer');
			EOF
			)"
		done
		say "   ${site_name[$s]} pinned $pinned"
	done
}

#
# Federated queries and their plaintext truth
#

# The plaintext twin of a shipped query: the same SQL with plain aggregates
plaintext_of() {
	sed -E 's/enc_sum\(([^(),]+), *[0-9]+\)/sum(\1)/g; s/enc_sum\(/sum(/g; s/enc_count\(/count(/g' <<<"$1"
}

# Sum rows of "key|...|value|..." by their first $1 fields; every value
# column keeps the largest number of decimals it had (empty is 0)
sum_by_key() {
	awk -F'|' -v nk="$1" '
		{
			key = ""
			for (i = 1; i <= nk; i++) key = key $i "|"
			if (!(key in seen)) { seen[key] = 1; keys[++n] = key }
			if (NF > nf) nf = NF
			for (i = nk + 1; i <= NF; i++) {
				sum[key, i] += $i
				d = index($i, ".") ? length($i) - index($i, ".") : 0
				if (d > dec[i]) dec[i] = d
			}
		}
		END {
			for (k = 1; k <= n; k++) {
				line = keys[k]
				for (i = nk + 1; i <= nf; i++)
					line = line sprintf("%." (dec[i] + 0) "f", sum[keys[k], i]) (i < nf ? "|" : "")
				print line
			}
		}'
}

# federate <key columns> <strict_groups> <column definitions> <shipped query>
# Runs the query as a federated query at the coordinator and its plaintext
# twin at every hospital; leaves in $work/merged one line per group:
#   keys | federated 1 | truth 1 | federated 2 | truth 2 | ... | ok
# (ok is 1 when every value matches, exactly), and in $work/site_X each
# hospital's own plaintext rows.  Adds the groups that differ to $failures.
federate() {
	local nk=$1 strict=$2 cols=$3 query=$4 s order=""
	local i
	for ((i = 1; i <= nk; i++)); do order+="${order:+, }$i"; done
	if ! psql_at "$coordinator" -At -F'|' >"$work/fed.raw" 2>"$work/fed.err" <<-EOF
		SELECT * FROM scor.federate(\$shipped\$ $query \$shipped\$, strict_groups => $strict)
			AS t($cols) ${order:+ORDER BY $order};
	EOF
	then
		say "   ✗ the federated query failed:"
		sed 's/^/     /' "$work/fed.err"
		failures=$((failures + 1))
		: >"$work/merged"
		return 0
	fi
	: >"$work/truth.raw"
	for s in "${sites[@]}"; do
		psql_at "$s" -At -F'|' >"$work/site_$s" <<<"$(plaintext_of "$query");"
		cat "$work/site_$s" >>"$work/truth.raw"
	done
	sum_by_key "$nk" <"$work/truth.raw" >"$work/truth"
	awk -F'|' -v nk="$nk" '
		NR == FNR {
			key = ""
			for (i = 1; i <= nk; i++) key = key $i "|"
			truth[key] = $0
			next
		}
		{
			key = ""
			for (i = 1; i <= nk; i++) key = key $i "|"
			ok = (key in truth)
			split(ok ? truth[key] : "", t, "|")
			line = key
			for (i = nk + 1; i <= NF; i++) {
				line = line $i "|" t[i] "|"
				if (!ok || ($i + 0) != (t[i] + 0)) ok = 0
			}
			delete truth[key]
			print line ok
		}
		END {
			# a group the truth has and the federated answer lacks
			for (key in truth) {
				n = split(truth[key], t, "|")
				line = key
				for (i = nk + 1; i <= n; i++) line = line "-|" t[i] "|"
				print line 0
			}
		}' "$work/truth" "$work/fed.raw" >"$work/merged"
	local bad
	bad=$(awk -F'|' '$NF != 1' "$work/merged" | wc -l)
	failures=$((failures + bad))
}

mark() { if [ "$1" = 1 ]; then printf '✓'; else printf '✗'; fi; }

# "A 12 + B 30 + C 4": column $1 of each hospital's plaintext row
per_site() {
	local s out=""
	for s in "${sites[@]}"; do
		out+="${out:+ + }$s $(cut -d'|' -f"$1" "$work/site_$s")"
	done
	printf '%s' "$out"
}

ratio() { awk -v a="$1" -v b="$2" -v d="${3:-1}" 'BEGIN { if (b == 0) print "-"; else printf "%." d "f", a / b }'; }

# The queries below are what an analyst at hospital A ships to the network:
# each hospital runs them on its own data and returns only ciphertexts.

usecase_cohort() {
	step "1. Cohort count with several criteria"
	say "   COVID-19 patients, then aged over 65 at diagnosis, then with type 2 diabetes,"
	say "   then with a C-reactive protein above 100 mg/L"
	federate 0 false "covid bigint, over_65 bigint, diabetes bigint, crp_over_100 bigint" "
		SELECT enc_count(*),
		       enc_count(CASE WHEN x.age > 65 THEN 1 END),
		       enc_count(CASE WHEN x.age > 65 AND x.diabetes THEN 1 END),
		       enc_count(CASE WHEN x.age > 65 AND x.diabetes AND x.high_crp THEN 1 END)
		FROM (SELECT extract(year FROM c.condition_start_date) - p.year_of_birth AS age,
		             EXISTS (SELECT 1 FROM condition_occurrence d
		                     WHERE d.person_id = c.person_id AND d.condition_concept_id = 201826) AS diabetes,
		             EXISTS (SELECT 1 FROM measurement m
		                     WHERE m.person_id = c.person_id AND m.measurement_concept_id = 3020460
		                       AND m.value_as_number > 100) AS high_crp
		      FROM condition_occurrence c JOIN person p ON p.person_id = c.person_id
		      WHERE c.condition_concept_id = 37311061) x"
	[ -s "$work/merged" ] || return 0
	local f1 t1 f2 t2 f3 t3 f4 t4 ok
	IFS='|' read -r f1 t1 f2 t2 f3 t3 f4 t4 ok <"$work/merged"
	printf '   %-34s %10s %10s    %s\n' "criteria" "federated" "truth" "truth per hospital"
	printf '   %-34s %10s %10s %s  %s\n' "COVID-19" "$f1" "$t1" "$(mark $((f1 == t1)))" "$(per_site 1)"
	printf '   %-34s %10s %10s %s  %s\n' "  and aged over 65" "$f2" "$t2" "$(mark $((f2 == t2)))" "$(per_site 2)"
	printf '   %-34s %10s %10s %s  %s\n' "  and type 2 diabetes" "$f3" "$t3" "$(mark $((f3 == t3)))" "$(per_site 3)"
	printf '   %-34s %10s %10s %s  %s\n' "  and CRP > 100 mg/L (the cohort)" "$f4" "$t4" "$(mark $((f4 == t4)))" "$(per_site 4)"
}

usecase_length_of_stay() {
	step "2. Mean length of stay of COVID-19 admissions"
	say "   federated enc_sum(length of stay) / enc_count(*), and the mean C-reactive protein"
	say "   at admission from an exact decimal sum, enc_sum(value, 1) / enc_count(value)"
	federate 0 false "stays bigint, bed_days bigint, crp_tests bigint, crp_total numeric" "
		SELECT enc_count(*),
		       enc_sum(v.visit_end_date - v.visit_start_date),
		       enc_count(m.value_as_number),
		       enc_sum(m.value_as_number, 1)
		FROM visit_occurrence v
		JOIN condition_occurrence c
		  ON c.visit_occurrence_id = v.visit_occurrence_id AND c.condition_concept_id = 37311061
		LEFT JOIN measurement m
		  ON m.visit_occurrence_id = v.visit_occurrence_id AND m.measurement_concept_id = 3020460
		 AND m.measurement_date = v.visit_start_date
		WHERE v.visit_concept_id = 9201"
	[ -s "$work/merged" ] || return 0
	local f1 t1 f2 t2 f3 t3 f4 t4 ok
	IFS='|' read -r f1 t1 f2 t2 f3 t3 f4 t4 ok <"$work/merged"
	printf '   %-34s %10s %10s    %s\n' "" "federated" "truth" "truth per hospital"
	printf '   %-34s %10s %10s %s  %s\n' "COVID-19 admissions" "$f1" "$t1" "$(mark $((f1 == t1)))" "$(per_site 1)"
	printf '   %-34s %10s %10s %s  %s\n' "bed days" "$f2" "$t2" "$(mark $((f2 == t2)))" "$(per_site 2)"
	printf '   %-34s %10s %10s %s\n' "mean length of stay (days)" "$(ratio "$f2" "$f1" 2)" "$(ratio "$t2" "$t1" 2)" "$(mark "$ok")"
	printf '   %-34s %10s %10s %s  %s\n' "CRP tests at admission" "$f3" "$t3" "$(mark $((f3 == t3)))" "$(per_site 3)"
	printf '   %-34s %10s %10s %s  %s\n' "CRP total (mg/L)" "$f4" "$t4" \
		"$(mark "$(awk -v a="$f4" -v b="$t4" 'BEGIN { print (a + 0 == b + 0) }')")" "$(per_site 4)"
	printf '   %-34s %10s %10s %s\n' "mean CRP at admission (mg/L)" "$(ratio "$f4" "$f3" 1)" "$(ratio "$t4" "$t3" 1)" "$(mark "$ok")"
}

usecase_readmissions() {
	step "3. 30-day readmissions after a COVID-19 stay, by month of discharge"
	say "   the month domain is declared (VALUES ... LEFT JOIN) so that every hospital"
	say "   answers every month, and strict_groups => true refuses any group that it does not"
	federate 1 true "month text, discharges bigint, readmitted bigint" "
		SELECT d.month,
		       enc_count(s.visit_occurrence_id),
		       enc_count(CASE WHEN EXISTS (
		           SELECT 1 FROM visit_occurrence r
		           WHERE r.person_id = s.person_id AND r.visit_concept_id = 9201
		             AND r.visit_start_date > s.visit_end_date
		             AND r.visit_start_date <= s.visit_end_date + 30) THEN 1 END)
		FROM (VALUES ('2020-03'), ('2020-04'), ('2020-05'), ('2020-06'), ('2020-07'), ('2020-08'),
		             ('2020-09'), ('2020-10'), ('2020-11'), ('2020-12'), ('2021-01'), ('2021-02')) d(month)
		LEFT JOIN (SELECT v.visit_occurrence_id, v.person_id, v.visit_end_date
		           FROM visit_occurrence v
		           JOIN condition_occurrence c
		             ON c.visit_occurrence_id = v.visit_occurrence_id AND c.condition_concept_id = 37311061
		           WHERE v.visit_concept_id = 9201) s
		  ON to_char(s.visit_end_date, 'YYYY-MM') = d.month
		GROUP BY d.month"
	[ -s "$work/merged" ] || return 0
	printf '   %-8s %22s %22s %9s\n' "month" "discharges fed/truth" "readmitted fed/truth" "rate"
	local month f1 t1 f2 t2 ok
	while IFS='|' read -r month f1 t1 f2 t2 ok; do
		printf '   %-8s %11s / %-8s %11s / %-8s %8s%% %s\n' "$month" "$f1" "$t1" "$f2" "$t2" \
			"$(awk -v a="$f2" -v b="$f1" 'BEGIN { if (b == 0) print "-"; else printf "%.1f", 100 * a / b }')" "$(mark "$ok")"
	done <"$work/merged"
}

usecase_age_comorbidity() {
	step "4. COVID-19 patients by age band and comorbidity (GROUP BY two keys)"
	say "   age at diagnosis; CKD chronic kidney disease, COPD chronic obstructive lung"
	say "   disease, diabetes type 2; both domains declared, strict_groups => true"
	federate 2 true "age_band text, comorbidity text, patients bigint" "
		SELECT b.band, k.comorbidity, enc_count(x.person_id)
		FROM (VALUES ('0-44', 0, 45), ('45-64', 45, 65), ('65-79', 65, 80), ('80+', 80, 200)) b(band, lo, hi)
		CROSS JOIN (VALUES ('CKD', 46271022), ('COPD', 255573),
		                   ('diabetes', 201826), ('hypertension', 320128)) k(comorbidity, concept_id)
		LEFT JOIN (SELECT c.person_id, d.condition_concept_id,
		                  extract(year FROM c.condition_start_date) - p.year_of_birth AS age
		           FROM condition_occurrence c
		           JOIN person p ON p.person_id = c.person_id
		           JOIN condition_occurrence d ON d.person_id = c.person_id
		           WHERE c.condition_concept_id = 37311061) x
		  ON x.condition_concept_id = k.concept_id AND x.age >= b.lo AND x.age < b.hi
		GROUP BY b.band, k.comorbidity"
	[ -s "$work/merged" ] || return 0
	# one line per age band, one column per comorbidity: federated/truth
	awk -F'|' '
		function mark(ok) { return ok ? "✓" : "✗" }
		{
			if (!($1 in row)) { bands[++nb] = $1; row[$1] = 1 }
			if (!($2 in col)) { names[++nc] = $2; col[$2] = 1 }
			cell[$1, $2] = sprintf("%5s/%-5s %s", $3, $4, mark($5))
		}
		END {
			line = sprintf("   %-8s", "age")
			for (c = 1; c <= nc; c++) line = line sprintf("  %-14s", names[c])
			sub(/ +$/, "", line)
			print line
			for (b = 1; b <= nb; b++) {
				line = sprintf("   %-8s", bands[b])
				for (c = 1; c <= nc; c++) line = line sprintf("  %-14s", cell[bands[b], names[c]])
				sub(/ +$/, "", line)
				print line
			}
		}' "$work/merged"
	say "   (each cell: federated/truth)"
}

usecase_dp_count() {
	step "5. Differentially private count of COVID-19 patients (epsilon = 0.5)"
	local has_dp
	has_dp=$(psql_at "$coordinator" -At -c \
		"SELECT count(*) FROM pg_proc WHERE proname = 'dp_noise' AND pronamespace = 'scor'::regnamespace")
	if [ "$has_dp" = 0 ]; then
		say "   The DP count is not yet available in this version of scor (no scor.dp_noise)."
		return 0
	fi
	local query="SELECT dp_noise(enc_count(*), 0.5) FROM condition_occurrence WHERE condition_concept_id = 37311061"
	local noisy truth s n
	# every hospital grants this analyst, at this coordinator, a privacy budget of its own
	for s in "${sites[@]}"; do
		psql_at "$s" -q -c "SELECT scor.grant_budget('${site_name[$coordinator]}', current_user, 0.5)" >/dev/null
	done
	if ! noisy=$(psql_at "$coordinator" -qAt 2>&1 <<<"SET client_min_messages = warning; SELECT * FROM scor.federate(\$shipped\$ $query \$shipped\$) AS t(n bigint);"); then
		say "   ✗ the federated DP query failed:"
		say "     $noisy"
		failures=$((failures + 1))
		return 0
	fi
	truth=0
	for s in "${sites[@]}"; do
		n=$(psql_at "$s" -At -c "SELECT count(*) FROM condition_occurrence WHERE condition_concept_id = 37311061")
		truth=$((truth + n))
	done
	# The noise scor adds to this total: every hospital adds its share, so it
	# is Z = X - Y with X, Y independent NB(n/t, 1 - e^-epsilon), n = 3 sites,
	# t honest sites (scor.dp_expected_error says which t).  Its standard
	# deviation as scor states it, and the bound B with P(|Z| <= B) >= 99.9 %,
	# from Z's exact distribution.  The check uses that same bound.
	local sd bound
	read -r sd bound < <(psql_at "$coordinator" -At -F ' ' <<SQL
WITH RECURSIVE
	e AS (SELECT honest_sites AS t, standard_deviation AS sd FROM scor.dp_expected_error(${#sites[@]}, 0.5)),
	par AS (SELECT ${#sites[@]}::float8 / t AS beta, exp(-0.5::float8) AS q FROM e),
	nb(k, f) AS (SELECT 0, power(1 - q, beta) FROM par
	             UNION ALL SELECT k + 1, f * (k + beta) * q / (k + 1) FROM nb, par WHERE k < 400),
	z(x, p) AS (SELECT a.k - b.k, sum(a.f * b.f) FROM nb a, nb b GROUP BY 1),
	tail(x, s) AS (SELECT x, sum(p) OVER (ORDER BY x DESC) FROM z WHERE x > 0)
SELECT round(sd::numeric, 2), (SELECT min(x) - 1 FROM tail WHERE s <= 0.0005) FROM e
SQL
	) || true
	[ -n "$bound" ] || die "could not compute the 99.9 % interval of the DP noise"
	printf '   %-34s %10s %10s\n' "" "noisy" "truth"
	if awk -v d="$((noisy - truth))" -v b="$bound" 'BEGIN { exit !(d <= b && d >= -b) }'; then
		printf '   %-34s %10s %10s ✓ difference %d, within ±%s, the 99.9 %% interval of the noise (standard deviation %s)\n' \
			"COVID-19 patients" "$noisy" "$truth" "$((noisy - truth))" "$bound" "$sd"
	else
		printf '   %-34s %10s %10s ✗ difference %d is outside ±%s, the 99.9 %% interval of the noise (standard deviation %s)\n' \
			"COVID-19 patients" "$noisy" "$truth" "$((noisy - truth))" "$bound" "$sd"
		failures=$((failures + 1))
	fi
}

run_usecases() {
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	say ""
	say "Federated queries, coordinated by ${site_name[$coordinator]}: each hospital answers with"
	say "ciphertexts only, and the three decrypt the totals together.  The truth beside them"
	say "is computed by querying every hospital in plaintext, which only this demo can do."
	usecase_cohort
	usecase_length_of_stay
	usecase_readmissions
	usecase_age_comorbidity
	usecase_dp_count
}

finish() {
	say ""
	if [ "$failures" -eq 0 ]; then
		say "All federated results match the plaintext truth ✓"
	else
		say "✗ $failures federated result(s) failed or do not match the plaintext truth"
	fi
	say "Elapsed: $(elapsed) s"
}

print_try() {
	cat <<-EOF

		The three hospitals keep running.  Try your own federated queries at hospital A:

		  psql -h $demo_dir -p ${port[A]} -U postgres clinic

		  SELECT * FROM scor.federate(\$\$
		      SELECT p.gender_concept_id, enc_count(*)
		      FROM condition_occurrence c JOIN person p ON p.person_id = c.person_id
		      WHERE c.condition_concept_id = 37311061
		      GROUP BY p.gender_concept_id \$\$) AS t(gender integer, covid_patients bigint);

		(hospitals B and C listen on ports ${port[B]} and ${port[C]}; the tables are person,
		visit_occurrence, condition_occurrence and measurement.)  Stop everything with:

		  make demo-stop
	EOF
}

do_start() {
	say "scor demo: three hospitals, one encrypted federation"
	if [ -e "$demo_dir" ]; then
		say "The demo is already set up in $demo_dir: stopping it and starting afresh."
		find_bindir
		stop_clusters
		remove_demo_dir
	fi
	if [ "$(id -u)" -eq 0 ]; then
		step "Installing packages and building scor"
		# only what building and running scor needs: the test and driver
		# packages (JDK, node, ...) are CI's (test/ci.sh)
		if ! bash "$repo/test/install-deps.sh" --build; then
			# offline, say: go on if what the build needs is already there
			build_deps_present || die "could not install the packages scor needs (test/install-deps.sh)"
			say "   could not run apt-get; the packages scor needs seem to be installed, going on"
		fi
		find_bindir
		id postgres >/dev/null 2>&1 || die "there is no postgres user: is postgresql-15 installed?"
		make -C "$repo" -s -j"$(nproc)"
		make -C "$repo" -s install >/dev/null
		say "   built and installed scor ($(elapsed) s)"
	else
		find_bindir
		[ -f "$(pg_config --sharedir)/extension/scor.control" ] ||
			die "scor is not installed: run the demo as root (it installs and builds), or make install first"
	fi

	local s
	for s in "${sites[@]}"; do
		if port_in_use "${port[$s]}"; then
			die "port ${port[$s]} on 127.0.0.1 is in use: set SCOR_DEMO_PORT to a free range"
		fi
	done

	step "Starting three hospitals as three PostgreSQL clusters on 127.0.0.1"
	mkdir -p "$demo_dir"
	touch "$demo_dir/$marker"
	[ "$(id -u)" -eq 0 ] && chown -R postgres: "$demo_dir"
	chmod 755 "$demo_dir"
	peer_password=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
	local -A pids=()
	for s in "${sites[@]}"; do
		create_cluster "$s" >"$demo_dir/$s.setup.log" 2>&1 &
		pids[$s]=$!
	done
	for s in "${sites[@]}"; do
		wait "${pids[$s]}" || { cat "$demo_dir/$s.setup.log"; die "hospital $s did not start"; }
		say "   hospital $s  ${site_name[$s]}  port ${port[$s]}  (${about[$s]})"
	done

	step "Loading the synthetic OMOP registries (demo/omop.sql) and creating the site keys"
	for s in "${sites[@]}"; do
		load_site "$s" >"$demo_dir/$s.load.log" 2>&1 &
		pids[$s]=$!
	done
	for s in "${sites[@]}"; do
		wait "${pids[$s]}" || { cat "$demo_dir/$s.load.log"; die "loading hospital $s failed"; }
	done
	printf '   %-10s %9s %9s %11s %13s %15s\n' hospital persons visits conditions measurements "COVID-19 cases"
	local h n_p n_v n_c n_m n_cov
	for s in "${sites[@]}"; do
		IFS='|' read -r h n_p n_v n_c n_m n_cov <"$demo_dir/$s/load.out"
		printf '   %-10s %9s %9s %11s %13s %15s\n' "$h" "$n_p" "$n_v" "$n_c" "$n_m" "$n_cov"
	done

	step "Registering the peers: foreign servers, user mappings, scor.add_peer()"
	register_peers
	local ids
	ids=$(for s in "${sites[@]}"; do psql_at "$s" -At -F' ' -c "SELECT members, network_id FROM scor.network_key()"; done | sort -u)
	[ "$(wc -l <<<"$ids")" = 1 ] || die "the hospitals disagree on the network: $ids"
	local nid=${ids#* }
	say "   all three agree on the network: ${ids%% *} members, network id ${nid:0:16}…"
	say "   ($(elapsed) s so far)"

	run_usecases
	finish
	print_try
	[ "$failures" -eq 0 ]
}

do_run() {
	find_bindir
	local s
	for s in "${sites[@]}"; do
		running "$s" || die "hospital $s is not running: make demo"
	done
	run_usecases
	finish
	[ "$failures" -eq 0 ]
}

case "${1:-}" in
	start) do_start ;;
	run) do_run ;;
	stop) do_stop ;;
	*)
		echo "usage: bash demo/demo.sh start|run|stop" >&2
		exit 2
		;;
esac
