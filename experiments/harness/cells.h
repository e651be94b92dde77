// Cells: the cross product benchmarks x threads x allocators x (hoardlab) parameter grid.
#pragma once

#include "harness/experiment.h"

#include <cstddef>
#include <cstdint>
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

// The order in which round `round` (negative: a warm-up) runs `cells` (in expand_cells' order):
// as they are, or with `shuffle` each group of one benchmark and thread count kept together (so
// the runs a ratio pairs stay seconds apart) and its cells in an order drawn from (seed, round,
// group), the same each time, so that a resumed run skips what it finds done. Why shuffled by
// default: a run pays for the memory state the run before it left (on a virtual machine, a
// fault on a page another process just gave back cost several times one on a page long free:
// large-loop's system time under hoardlab and mimalloc v3 went from 0.02-0.04 s to 0.2-0.5 s
// right after glibc's run), and in a fixed order each allocator always follows the same
// neighbour, a bias no number of repetitions averages out.
std::vector<std::size_t> round_order(const std::vector<Cell>& cells, bool shuffle,
                                     std::uint64_t seed, int round);

// A file-name-safe form of an id.
std::string slug(const std::string& id);

} // namespace hoardlab::harness
