# bench/chart.gp: the chart of one bench/run, from the data files report.py writes.
#   gnuplot -e "prefix='/tmp/x'; output='chart.png'; ntargets=3; subtitle='...'" bench/chart.gp
# Top: MB/s of the headline cells per target; bottom: target CPU seconds per GB moved.
set terminal pngcairo size 1200,960 font ",10" noenhanced
set output output
set multiplot layout 2,1 title "AoE targets over a veth pair, independent fixed-window load client\n".subtitle
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key top left
set xtics nomirror
set yrange [0:*]
set bmargin 3

set title "Throughput (MB/s, higher is better)"
set ylabel "MB/s"
plot for [i=2:ntargets+1] prefix.".mbps.dat" using i:xtic(1) title columnheader(i)

set title "Target CPU seconds per GB moved (lower is better)"
set ylabel "CPU s / GB"
plot for [i=2:ntargets+1] prefix.".cpu.dat" using i:xtic(1) title columnheader(i)
unset multiplot
