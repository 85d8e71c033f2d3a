#!/usr/bin/env bash
# Draw the scaling curve of benchmark 6 as a PNG.
#
#     bash test/bench/plot_scaling.sh scaling.tsv scaling.png [cpu.tsv]
#
# scaling.tsv is what test/bench/run.sh writes (a header line, then
# sites, scor_median_ms, scor_p90_ms, dblink_median_ms, first_ms).  With
# run.sh's cpu.tsv (sites, wall, coordinator, each peer, all peers, rest: CPU
# ms per query), the chart also shows the CPU all sites use per query divided
# by the number of cores: the floor that one machine hosting every site sets.
# Depends on gnuplot with its png terminal: apt-get install gnuplot-nox.
set -euo pipefail

usage="usage: plot_scaling.sh scaling.tsv scaling.png [cpu.tsv]"
in=${1:?$usage}
out=${2:?$usage}
cpu=${3:-}
ncpu=$(nproc)
command -v gnuplot >/dev/null || { echo "plot_scaling.sh: needs gnuplot (apt-get install gnuplot-nox)" >&2; exit 1; }

plot="plot '$in' every ::1 using 1:2 with linespoints lw 2 pt 7 title 'scor.federate, median'"
plot+=", '$in' every ::1 using 1:3 with linespoints lw 1 pt 6 dt 3 title 'scor.federate, p90'"
plot+=", '$in' every ::1 using 1:4 with linespoints lw 2 pt 5 title 'dblink fan-out of the plaintext query, median'"
if [ -n "$cpu" ]; then
	plot+=", '$cpu' every ::1 using 1:((\$3 + \$5 + \$6) / $ncpu) with linespoints lw 1 pt 2 dt 2"
	plot+=" title 'CPU of all sites per query / $ncpu cores'"
fi

gnuplot <<EOF
set terminal png size 800,500 font ",11"
set output "$out"
set datafile separator "\t"
set key top left Left reverse
set title "scor.federate, small query (proofs on): latency vs number of sites"
set xlabel "sites (databases of one cluster, loopback, $ncpu cores)"
set ylabel "latency, ms"
set grid
set logscale x 2
set xtics (3, 6, 12, 24, 48)
set yrange [0:*]
set arrow from 40,100 to 56,100 nohead lw 2 dt 2 lc rgb "red"
set label "goal at 48 sites: 100 ms" at 20,100 offset 0,1 textcolor rgb "red"
$plot
EOF
