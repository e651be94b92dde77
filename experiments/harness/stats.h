// Statistics of repeated runs: medians with bootstrap 95% intervals, on single cells, on
// ratios between two cells, and on geometric means of ratios over many cells.
#pragma once

#include <cstdint>
#include <string>
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

// One comparison of two cells, num against den. Where both ran at least two of the same
// repetitions in the same session (one process of the harness), the sample is the per-repetition
// ratios num_r / den_r: the runner runs every cell's repetition r before any cell's r+1, with the
// allocators of one benchmark and thread count next to each other, so num_r and den_r ran seconds
// apart and slow drift of a shared machine (a neighbour's load, which CPU a one-thread run landed
// on) cancels in the ratio. Otherwise (different repetitions failed, or the runs came from separate
// jobs, merged) the sample is the two cells' values, compared through their medians.
struct RatioSample {
  std::vector<double> paired;   // num_r / den_r, when paired
  std::vector<double> num, den; // the two samples, when not
  bool is_paired() const { return !paired.empty(); }
};

// `num_reps[i]` is the repetition `num[i]` came from; likewise for den. All in one session.
RatioSample ratio_sample(const std::vector<int>& num_reps, const std::vector<double>& num,
                         const std::vector<int>& den_reps, const std::vector<double>& den);

// The same, where `num_sessions[i]` names the session `num[i]` ran in: a pair is the same
// repetition of the same session.
RatioSample ratio_sample(const std::vector<std::string>& num_sessions,
                         const std::vector<int>& num_reps, const std::vector<double>& num,
                         const std::vector<std::string>& den_sessions,
                         const std::vector<int>& den_reps, const std::vector<double>& den);

// Paired: the median of the ratios, resampling the repetitions. Unpaired: as above.
Interval bootstrap_ratio(const RatioSample& s, std::uint64_t seed, int rounds = 2000);

// Geometric mean over cells of each comparison's ratio, every comparison resampled in each
// round.
Interval bootstrap_geomean_ratio(const std::vector<RatioSample>& cells, std::uint64_t seed,
                                 int rounds = 1000);

} // namespace hoardlab::harness
