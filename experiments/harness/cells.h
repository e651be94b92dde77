// Cells: the cross product benchmarks x threads x allocators x (hoardlab) parameter grid.
#pragma once

#include "harness/experiment.h"

#include <string>
#include <utility>
#include <vector>

namespace hoardlab::harness {

struct Cell {
  std::string benchmark;
  std::size_t benchmark_index = 0;
  std::string allocator;
  int threads = 1;
  // Grid values of this cell, by option name ("heap.superblock_size" -> "16KiB").
  std::vector<std::pair<std::string, std::string>> params;
  std::string series; // allocator plus params: one line in a plot, one column in a table
  std::string id;     // benchmark/t<threads>/series: unique in the experiment
};

// "hoardlab[superblock_size=16KiB,emptiness_f=1/8]"; plain names for no params.
std::string series_label(const std::string& allocator,
                         const std::vector<std::pair<std::string, std::string>>& params);

// Every cell, in a stable order: benchmark, threads, allocator, grid point.
std::vector<Cell> expand_cells(const Experiment& ex);

// Keeps the cells whose id matches the ECMAScript regular expression (searched, not anchored).
// Throws ConfigError for a bad expression.
std::vector<Cell> filter_cells(const std::vector<Cell>& cells, const std::string& regex);

// A file-name-safe form of an id.
std::string slug(const std::string& id);

} // namespace hoardlab::harness
