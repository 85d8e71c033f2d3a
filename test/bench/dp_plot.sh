#!/usr/bin/env bash
# Measure the accuracy of scor's distributed DP noise with the real sampler
# (test/bench/dp_plot.c + src/noise.c) and draw it as a PNG.
#
#     bash test/bench/dp_plot.sh [out.png]        (default docs/dp-error.png)
#
# Environment: TRIALS (per cell, default 20000), SEED (a number: use the
# deterministic test stream, for reproducible numbers; default: the system
# RNG), DATA (keep the data file there; default: a temporary file).
# Run from the top of the source tree.
# Depends on a C compiler, libsodium-dev, libgmp-dev, and gnuplot with its
# pngcairo terminal: apt-get install gnuplot-nox.
set -euo pipefail

out=${1:-docs/dp-error.png}
trials=${TRIALS:-20000}
command -v gnuplot >/dev/null || { echo "dp_plot.sh: needs gnuplot (apt-get install gnuplot-nox)" >&2; exit 1; }
[ -f src/noise.c ] || { echo "dp_plot.sh: run from the top of the scor tree" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
data=${DATA:-$work/dp-error.tsv}

cc -O2 -Wall -Wextra -Werror -std=gnu11 -Isrc -o "$work/dp_plot" \
	test/bench/dp_plot.c src/noise.c -lsodium -lgmp
"$work/dp_plot" -n "$trials" ${SEED:+-s "$SEED"} "$data"

gnuplot <<EOF
set terminal pngcairo size 860,560 font ",10"
set output "$out"
set datafile separator "\t"
set datafile commentschars "#"
set title "scor DP noise: expected |error| of a noisy total (sensitivity 1)"
set xlabel "epsilon"
set ylabel "E |total noise|"
set logscale xy
set xrange [0.05:4]
set yrange [0.1:60]
set xtics (0.05, 0.1, 0.25, 0.5, 1, 2, 4)
set ytics (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50)
set grid
set key bottom left Left reverse
plot \
  '$data' index 1 using 1:4 with lines lw 2 lc rgb "#d95f02" title 'n = 10 sites, t = 5 (predicted)', \
  '$data' index 0 using (\$1 == 10 ? \$3 : 1/0):4:(2*\$5) with yerrorbars pt 7 ps 1.2 lc rgb "#d95f02" title 'n = 10, t = 5 (measured, 2 SE)', \
  '$data' index 1 using 1:3 with lines lw 2 lc rgb "#1b9e77" title 'n = 3 sites, t = 2 (predicted)', \
  '$data' index 0 using (\$1 == 3 ? \$3 : 1/0):4:(2*\$5) with yerrorbars pt 5 ps 1.2 lc rgb "#1b9e77" title 'n = 3, t = 2 (measured, 2 SE)', \
  '$data' index 1 using 1:6 with lines lw 1 dt 2 lc rgb "#d95f02" title 'n = 10, t = 1 (any 9 may collude)', \
  '$data' index 1 using 1:5 with lines lw 1 dt 2 lc rgb "#1b9e77" title 'n = 3, t = 1 (any 2 may collude)', \
  '$data' index 1 using 1:2 with lines lw 2 dt 3 lc rgb "black" title 'central discrete Laplace (one trusted curator)'
EOF
echo "wrote $out"
