# bench/plot.gp: the benchmark's two charts, from bench/report.py's data.
#   gnuplot -e "dir='bench/out/RUN'" bench/plot.gp
if (!exists("dir")) dir = "."
set terminal pngcairo size 820,600 font "sans,10" noenhanced
set grid
set key below

set output dir."/throughput_vs_batch.png"
set title "Consumer throughput against batch.max_events (backlog, 2 cores)"
set xlabel "batch.max_events"
set ylabel "rows committed per second"
set logscale x
set yrange [0:*]
copy = system("awk 'NR==2 { print $4 }' ".dir."/sweep.dat") + 0
copytx = system("awk 'NR==2 { print $6 }' ".dir."/sweep.dat") + 0
copy2 = system("awk 'NR==2 { print $7 }' ".dir."/sweep.dat") + 0
set key below
set xrange [300:30000]
set yrange [0:*]
plot dir."/sweep.dat" using 1:2 with linespoints lw 2 pt 7 title "consumer, from start (incl. group join)", \
     dir."/sweep.dat" using 1:3 with linespoints lw 2 pt 5 title "consumer, first to last batch", \
     copy with lines dt 2 lw 2 title "COPY ceiling (psql \\copy, one transaction)", \
     copytx with lines dt 3 lw 2 title "COPY, one connection, 5000-row transactions", \
     copy2 with lines dt 4 lw 2 title "COPY, two connections, 5000-row transactions"

set output dir."/latency_vs_rate.png"
set title "Delay from produce to commit, default settings"
set xlabel "produce rate (events/s)"
set ylabel "delay (ms)"
unset logscale x
set key below
set logscale y
set yrange [1:*]
set xrange [0:*]
plot dir."/latency.dat" using 1:2 with linespoints lw 2 pt 7 title "p50", \
     dir."/latency.dat" using 1:3 with linespoints lw 2 pt 5 title "p99", \
     dir."/latency.dat" using 1:4 with linespoints lw 2 pt 9 title "max", \
     100 with lines dt 2 lw 1 title "100 ms target"
