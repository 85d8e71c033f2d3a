#!/usr/bin/env bash
# Print the CPU time used so far by every child of a postmaster, one line
# each: pid, CPU milliseconds (user + system), and the process title.
# run.sh calls it before and after a series of federated queries, from
# psql's \!, and charges the difference to the coordinator, the peers and
# the rest of the cluster (WAL writer, checkpointer, ...).
#
#     bash test/bench/cpu_snapshot.sh POSTMASTER_PID
#
# Linux only (/proc).  Resolution: one clock tick (usually 10 ms) per process.
set -eu
pm=${1:?usage: cpu_snapshot.sh POSTMASTER_PID}
tck=$(getconf CLK_TCK)
for d in /proc/[0-9]*; do
	pid=${d#/proc/}
	[ -r "$d/stat" ] || continue
	# fields after the ")" that ends the command name: state is 3, ppid 4,
	# utime 14, stime 15
	rest=$(sed 's/^.*) //' "$d/stat" 2>/dev/null) || continue
	set -- $rest
	[ "${2:-}" = "$pm" ] || continue
	title=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null) || continue
	echo "$pid $(( (${12} + ${13}) * 1000 / tck )) $title"
done
