// Plots drawn with gnuplot, PNG and SVG: per benchmark throughput, speedup and peak RSS
// against threads (one line per series), one line plot per swept hoardlab parameter, and, when
// two or more parameters are swept, heat maps over the first two.
#pragma once

#include "harness/records.h"

#include <cmath>
#include <string>
#include <vector>

namespace hoardlab::harness {

struct PlotResult {
  std::vector<std::string> files; // images written
  std::string warning;            // e.g. gnuplot missing: the data and scripts are still there
};

// One heat map: a metric over two swept parameters for one benchmark, allocator and thread
// count. Every (x, y) pair of values is a point; a failed or missing cell has value NaN.
enum class HeatMetric { kThroughput, kPeakRss, kBlowup };
struct HeatMap {
  struct Point {
    std::size_t x = 0, y = 0; // indexes into x_values and y_values
    double value = NAN;       // geometric mean over the cells that differ only in other axes
    std::string label;        // the value as printed in the cell, "FAIL", or "-" (no cell)
  };
  std::vector<std::string> x_values, y_values; // in the experiment file's order
  std::vector<Point> points;                   // y-major: every pair exactly once
};
HeatMap heat_map(const std::vector<CellSummary>& cells, const std::string& benchmark,
                 const std::string& allocator, int threads, const std::string& x_axis,
                 const std::string& y_axis, HeatMetric metric);
// A self-contained gnuplot script (data inline as `$grid`) drawing `h` to out_base.png and .svg.
std::string heat_map_script(const HeatMap& h, const std::string& out_base, const std::string& title,
                            const std::string& x_axis, const std::string& y_axis,
                            const std::string& zlabel);

// Writes data files and gnuplot scripts under `dir` and runs gnuplot on each.
PlotResult draw_plots(const std::string& dir, const std::vector<CellSummary>& cells);

} // namespace hoardlab::harness
