// Statistics of repeated runs: medians with bootstrap 95% intervals, on single cells, on
// ratios between two cells, and on geometric means of ratios over many cells.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace hoardlab::harness {

struct Interval {
  double estimate = 0, lo = 0, hi = 0;
};

double median(std::vector<double> v);
// Linear interpolation between order statistics, q in [0, 1].
double quantile(std::vector<double> v, double q);
double geomean(const std::vector<double>& v);

// Percentile bootstrap of the median: resample with replacement `rounds` times. Seeded, so a
// table is reproducible from the same runs.
Interval bootstrap_median(const std::vector<double>& v, std::uint64_t seed, int rounds = 2000);

// median(num) / median(den), resampling both sides independently.
Interval bootstrap_ratio(const std::vector<double>& num, const std::vector<double>& den,
                         std::uint64_t seed, int rounds = 2000);

// Geometric mean over pairs of median(num_i) / median(den_i), each pair resampled in each round.
Interval bootstrap_geomean_ratio(
    const std::vector<std::pair<std::vector<double>, std::vector<double>>>& pairs,
    std::uint64_t seed, int rounds = 1000);

} // namespace hoardlab::harness
