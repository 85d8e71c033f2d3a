#!/usr/bin/env bash
# Run scor's libFuzzer targets (built by `make fuzz`, which this runs first).
#
# Usage: bash test/fuzz/run.sh [LIMIT] [TARGET...]
#   LIMIT   60 (the default): seconds per target; 10000000r: executions per
#           target (a number ending in r)
#   TARGET  fuzz_point_decode fuzz_proofs fuzz_dlog_table fuzz_ciphertext
#           fuzz_answer fuzz_bundle fuzz_federate fuzz_manifest fuzz_keyseed
#           (default: all)
# Environment: FUZZ_WORK (default test/fuzz/work) holds one corpus directory
# per target, seeded by the target itself (SCOR_FUZZ_WRITE_SEEDS), the logs
# and any crash input; FUZZ_FLAGS adds libFuzzer flags.  A target's
# checked-in inputs, test/fuzz/corpus/<target> (real inputs from the tests,
# and the input of every finding, kept as a regression seed), are read as a
# second corpus directory and never written to.
#
# Prints one line per target: executions, seconds, executions per second,
# coverage (edges) and features, and the crash file if there was one.
# Exits non-zero if any target crashed (a finding: see docs/fuzzing.md).
set -uo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
limit=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(fuzz_point_decode fuzz_proofs fuzz_dlog_table
	fuzz_ciphertext fuzz_answer fuzz_bundle fuzz_federate fuzz_manifest fuzz_keyseed)
work=${FUZZ_WORK:-$repo/test/fuzz/work}

case "$limit" in
	*r) limit_flag="-runs=${limit%r}" ;;
	*) limit_flag="-max_total_time=$limit" ;;
esac

make -C "$repo" -s fuzz || exit 2
mkdir -p "$work"

failed=0
printf '%-18s %12s %8s %10s %8s %8s  %s\n' target executions seconds exec/s cov ft result
for t in "${targets[@]}"; do
	bin=$repo/test/fuzz/bin/$t
	corpus=$work/corpus/$t
	log=$work/$t.log
	mkdir -p "$corpus" "$work/crashes"
	SCOR_FUZZ_WRITE_SEEDS=$corpus ASAN_OPTIONS=detect_leaks=0 "$bin" >/dev/null 2>&1 || { echo "$t: could not write seeds"; failed=1; continue; }
	start=$(date +%s.%N)
	# -rss_limit_mb: a parser that allocates what a length field says is a finding
	seeds=()
	[ -d "$repo/test/fuzz/corpus/$t" ] && seeds=("$repo/test/fuzz/corpus/$t")
	"$bin" "$corpus" "${seeds[@]}" "$limit_flag" -print_final_stats=1 -rss_limit_mb=2048 \
		-malloc_limit_mb=512 -timeout=25 -artifact_prefix="$work/crashes/$t-" \
		${FUZZ_FLAGS:-} >"$log" 2>&1
	rc=$?
	end=$(date +%s.%N)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	last=$(grep -E '^#[0-9]+' "$log" | tail -1)
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
	secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')
	if [ $rc -eq 0 ]; then
		result=ok
	else
		failed=1
		crash=$(grep -o "Test unit written to .*" "$log" | tail -1 | sed 's/Test unit written to //')
		result="CRASH (exit $rc) ${crash:-see $log}"
		grep -m3 -E "scor fuzz finding|ERROR: (AddressSanitizer|libFuzzer)|runtime error:" "$log" | sed 's/^/    /'
	fi
	printf '%-18s %12s %8s %10s %8s %8s  %s\n' "$t" "${execs:-?}" "$secs" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
exit $failed
