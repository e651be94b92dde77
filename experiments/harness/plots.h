// Plots drawn with gnuplot, PNG and SVG: per benchmark throughput, speedup and peak RSS
// against threads (one line per series), and one line plot per swept hoardlab parameter.
#pragma once

#include "harness/records.h"

#include <string>
#include <vector>

namespace hoardlab::harness {

struct PlotResult {
  std::vector<std::string> files; // images written
  std::string warning;            // e.g. gnuplot missing: the data and scripts are still there
};

// Writes data files and gnuplot scripts under `dir` and runs gnuplot on each.
PlotResult draw_plots(const std::string& dir, const std::vector<CellSummary>& cells);

} // namespace hoardlab::harness
