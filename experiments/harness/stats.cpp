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

Interval bootstrap_geomean_ratio(
    const std::vector<std::pair<std::vector<double>, std::vector<double>>>& pairs,
    std::uint64_t seed, int rounds) {
  std::vector<double> point;
  for (const auto& [n, d] : pairs) {
    if (n.empty() || d.empty()) return {NAN, NAN, NAN};
    point.push_back(median(n) / median(d));
  }
  if (point.empty()) return {NAN, NAN, NAN};
  std::mt19937_64 rng(seed);
  std::vector<double> g;
  for (int r = 0; r < rounds; ++r) {
    std::vector<double> ratios;
    for (const auto& [n, d] : pairs)
      ratios.push_back(median(resample(n, rng)) / median(resample(d, rng)));
    g.push_back(geomean(ratios));
  }
  return from_rounds(geomean(point), std::move(g));
}

} // namespace hoardlab::harness
