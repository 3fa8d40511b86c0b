set terminal pngcairo size 1400,560 font 'DejaVu Sans,10'
set output '/work/main/bench/results/chart.png'
set multiplot layout 1,2 title 'mcp-state-sidecar and the peer, one run (2 cores, 2026-11-24, commit 7e25dde)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.9 border -1
set boxwidth 0.9
set grid ytics
set logscale y
set xtics rotate by -25
set key top right font ',9'
set title 'calls per second (higher is better, log scale)'
plot '/work/main/bench/results/chart.dat' index 0 using 2:xtic(1) title 'sidecar, durability full' lc rgb '#1f6feb', '/work/main/bench/results/chart.dat' index 0 using 3:xtic(1) title 'peer, synchronous FULL' lc rgb '#d1242f', '/work/main/bench/results/chart.dat' index 0 using 4:xtic(1) title 'sidecar, durability normal' lc rgb '#54aeff', '/work/main/bench/results/chart.dat' index 0 using 5:xtic(1) title 'peer, synchronous NORMAL' lc rgb '#ff8182', '/work/main/bench/results/chart.dat' index 0 using 6:xtic(1) title 'sidecar on Redis' lc rgb '#2da44e'
set title 'server CPU µs per call (lower is better, log scale)'
set key top left font ',9'
plot '/work/main/bench/results/chart.dat' index 1 using 2:xtic(1) title 'sidecar, durability full' lc rgb '#1f6feb', '/work/main/bench/results/chart.dat' index 1 using 3:xtic(1) title 'peer, synchronous FULL' lc rgb '#d1242f', '/work/main/bench/results/chart.dat' index 1 using 4:xtic(1) title 'sidecar, durability normal' lc rgb '#54aeff', '/work/main/bench/results/chart.dat' index 1 using 5:xtic(1) title 'peer, synchronous NORMAL' lc rgb '#ff8182', '/work/main/bench/results/chart.dat' index 1 using 6:xtic(1) title 'sidecar on Redis' lc rgb '#2da44e'
unset multiplot
