# emit.gp: bench/emit.png, emit cost against subscriber count, one line per
# implementation, from the table bench_notify --plot writes (tab separated,
# a header line, then one row per subscriber count). scripts/bench runs
#   gnuplot -e "datafile='...'; outfile='...'; subtitle='...'" bench/emit.gp
if (!exists("datafile")) datafile = "emit.dat"
if (!exists("outfile")) outfile = "emit.png"
if (!exists("subtitle")) subtitle = ""

if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
    set terminal pngcairo noenhanced size 1100,700 font ",11"
} else {
    set terminal png noenhanced size 1100,700
}
set output outfile
set datafile separator "\t"
set title "Emit cost against subscriber count\n".subtitle
set logscale x 2
set logscale y 10
set format y "%g"
set xlabel "subscribers (log scale; 0 is in the table only)"
set ylabel "ns per emit (median, log scale)"
set xtics (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
set grid xtics ytics mytics
set key top left box opaque
columns = 8   # subscriber count, then 7 implementations
# one colour per column (2: qomnotify ... 8: qom_lite event), colour-blind safe
set linetype 2 lc rgb "black"
set linetype 3 lc rgb "#009e73"
set linetype 4 lc rgb "#56b4e9"
set linetype 5 lc rgb "#e69f00"
set linetype 6 lc rgb "#cc79a7"
set linetype 7 lc rgb "#0072b2"
set linetype 8 lc rgb "#d55e00"
# qomnotify (column 2) last and thickest, qom_lite's event property (the
# last column) dashed: the two coincide, and neither should hide the other
plot for [i = 3:columns - 1] datafile using 1:i with linespoints lt i lw 2 pt (i - 1) \
         title columnheader(i), \
     datafile using 1:columns with linespoints lt columns lw 2 pt 7 dashtype 2 \
         title columnheader(columns), \
     datafile using 1:2 with linespoints lt 2 lw 3 pt 1 title columnheader(2)
