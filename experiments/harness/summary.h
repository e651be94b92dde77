// The summary: throughput and peak RSS of every series as ratios to a baseline allocator, per
// benchmark and thread count, with geometric means over all of them; bootstrap 95% intervals.
#pragma once

#include "harness/records.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace hoardlab::harness {

struct Summary {
  std::string text;    // the table as printed
  nlohmann::json json; // the same numbers for results.json
};

// A ratio is flagged noisy (~) when its interval's half-width exceeds noisy_threshold times it.
Summary summarize(const std::vector<CellSummary>& cells, const std::string& baseline,
                  std::uint64_t seed, double noisy_threshold = 0.10);

} // namespace hoardlab::harness
