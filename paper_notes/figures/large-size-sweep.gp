# Throughput of a malloc/free loop against the size (paper_notes/large-objects.md, "Size sweep").
# gnuplot large-size-sweep.gp  (reads large-size-sweep.dat beside it, writes large-size-sweep.png)
set terminal pngcairo size 1000,600
set output "large-size-sweep.png"
set logscale x 2
set xlabel "size (KiB)"
set ylabel "thousand malloc/free pairs per CPU second"
set key outside right
set grid
set arrow from 16, graph 0 to 16, graph 1 nohead dt 2
set label "large.threshold" at 16, graph 0.97 offset 0.5,0
plot "large-size-sweep.dat" using 1:2 with linespoints lw 3 lc rgb "#000080" title columnheader(2), \
     for [i=3:11] "large-size-sweep.dat" using 1:i with linespoints title columnheader(i)
