#include "harness/stats.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace hoardlab::harness {
namespace {

std::vector<double> resample(const std::vector<double>& v, std::mt19937_64& rng) {
  std::uniform_int_distribution<std::size_t> pick(0, v.size() - 1);
  std::vector<double> out(v.size());
  for (auto& x : out)
    x = v[pick(rng)];
  return out;
}

Interval from_rounds(double estimate, std::vector<double> rounds) {
  if (rounds.empty()) return {estimate, estimate, estimate};
  return {estimate, quantile(rounds, 0.025), quantile(rounds, 0.975)};
}

} // namespace

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  double pos = q * static_cast<double>(v.size() - 1);
  auto i = static_cast<std::size_t>(pos);
  if (i + 1 >= v.size()) return v.back();
  double frac = pos - static_cast<double>(i);
  return v[i] + frac * (v[i + 1] - v[i]);
}

double median(std::vector<double> v) {
  return quantile(std::move(v), 0.5);
}

double geomean(const std::vector<double>& v) {
  if (v.empty()) return NAN;
  double s = 0;
  for (double x : v) {
    if (!(x > 0)) return NAN;
    s += std::log(x);
  }
  return std::exp(s / static_cast<double>(v.size()));
}

Interval bootstrap_median(const std::vector<double>& v, std::uint64_t seed, int rounds) {
  if (v.empty()) return {NAN, NAN, NAN};
  std::mt19937_64 rng(seed);
  std::vector<double> m;
  m.reserve(rounds);
  for (int r = 0; r < rounds && v.size() > 1; ++r)
    m.push_back(median(resample(v, rng)));
  return from_rounds(median(v), std::move(m));
}

Interval bootstrap_ratio(const std::vector<double>& num, const std::vector<double>& den,
                         std::uint64_t seed, int rounds) {
  if (num.empty() || den.empty()) return {NAN, NAN, NAN};
  std::mt19937_64 rng(seed);
  std::vector<double> m;
  for (int r = 0; r < rounds && (num.size() > 1 || den.size() > 1); ++r)
    m.push_back(median(resample(num, rng)) / median(resample(den, rng)));
  return from_rounds(median(num) / median(den), std::move(m));
}

RatioSample ratio_sample(const std::vector<int>& num_reps, const std::vector<double>& num,
                         const std::vector<int>& den_reps, const std::vector<double>& den) {
  return ratio_sample(std::vector<std::string>(num_reps.size()), num_reps, num,
                      std::vector<std::string>(den_reps.size()), den_reps, den);
}

RatioSample ratio_sample(const std::vector<std::string>& num_sessions,
                         const std::vector<int>& num_reps, const std::vector<double>& num,
                         const std::vector<std::string>& den_sessions,
                         const std::vector<int>& den_reps, const std::vector<double>& den) {
  RatioSample s;
  const std::size_t n = std::min({num.size(), num_reps.size(), num_sessions.size()});
  const std::size_t d = std::min({den.size(), den_reps.size(), den_sessions.size()});
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < d; ++j)
      if (num_reps[i] == den_reps[j] && num_sessions[i] == den_sessions[j] && den[j] != 0)
        s.paired.push_back(num[i] / den[j]);
  if (s.paired.size() < 2) {
    s.paired.clear();
    s.num = num;
    s.den = den;
  }
  return s;
}

namespace {

double point_ratio(const RatioSample& s) {
  if (s.is_paired()) return median(s.paired);
  if (s.num.empty() || s.den.empty()) return NAN;
  return median(s.num) / median(s.den);
}

double resampled_ratio(const RatioSample& s, std::mt19937_64& rng) {
  if (s.is_paired()) return median(resample(s.paired, rng));
  return median(resample(s.num, rng)) / median(resample(s.den, rng));
}

} // namespace

Interval bootstrap_ratio(const RatioSample& s, std::uint64_t seed, int rounds) {
  if (!s.is_paired()) return bootstrap_ratio(s.num, s.den, seed, rounds);
  std::mt19937_64 rng(seed);
  std::vector<double> m;
  for (int r = 0; r < rounds; ++r)
    m.push_back(resampled_ratio(s, rng));
  return from_rounds(point_ratio(s), std::move(m));
}

Interval bootstrap_geomean_ratio(const std::vector<RatioSample>& cells, std::uint64_t seed,
                                 int rounds) {
  std::vector<double> point;
  for (const auto& c : cells) {
    double r = point_ratio(c);
    if (!std::isfinite(r)) return {NAN, NAN, NAN};
    point.push_back(r);
  }
  if (point.empty()) return {NAN, NAN, NAN};
  std::mt19937_64 rng(seed);
  std::vector<double> g;
  for (int r = 0; r < rounds; ++r) {
    std::vector<double> ratios;
    for (const auto& c : cells)
      ratios.push_back(resampled_ratio(c, rng));
    g.push_back(geomean(ratios));
  }
  return from_rounds(geomean(point), std::move(g));
}

} // namespace hoardlab::harness
