#include "harness/cells.h"

#include <fmt/format.h>

#include <numeric>
#include <random>
#include <regex>

namespace hoardlab::harness {

std::string series_label(const std::string& allocator,
                         const std::vector<std::pair<std::string, std::string>>& params) {
  if (params.empty()) return allocator;
  std::string out = allocator + "[";
  for (std::size_t i = 0; i < params.size(); ++i) {
    auto dot = params[i].first.rfind('.');
    std::string key = dot == std::string::npos ? params[i].first : params[i].first.substr(dot + 1);
    out += fmt::format("{}{}={}", i ? "," : "", key, params[i].second);
  }
  return out + "]";
}

std::vector<Cell> expand_cells(const Experiment& ex) {
  // Grid points as a mixed-radix counter over the axes; the last axis varies fastest.
  std::vector<std::vector<std::pair<std::string, std::string>>> points(1);
  for (const auto& axis : ex.grid) {
    std::vector<std::vector<std::pair<std::string, std::string>>> next;
    for (const auto& p : points)
      for (const auto& v : axis.values) {
        auto q = p;
        q.emplace_back(axis.name, v);
        next.push_back(std::move(q));
      }
    points = std::move(next);
  }
  std::vector<Cell> cells;
  for (std::size_t b = 0; b < ex.benchmarks.size(); ++b) {
    const auto& bench = ex.benchmarks[b];
    const auto& threads = bench.threads.empty() ? ex.threads : bench.threads;
    for (int t : threads)
      for (const auto& a : ex.allocators) {
        const bool swept = a.name == "hoardlab" && !ex.grid.empty();
        const auto& grid = swept ? points : decltype(points)(1);
        for (const auto& p : grid) {
          Cell c;
          c.benchmark = bench.name;
          c.benchmark_index = b;
          c.allocator = a.name;
          c.threads = t;
          c.params = p;
          c.series = series_label(a.name, p);
          c.id = fmt::format("{}/t{}/{}", bench.name, t, c.series);
          cells.push_back(std::move(c));
        }
      }
  }
  return cells;
}

std::vector<Cell> filter_cells(const std::vector<Cell>& cells, const std::string& regex) {
  std::regex re;
  try {
    re = std::regex(regex, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw ConfigError(fmt::format("--filter '{}': not a regular expression ({})", regex, e.what()));
  }
  std::vector<Cell> out;
  for (const auto& c : cells)
    if (std::regex_search(c.id, re)) out.push_back(c);
  return out;
}

std::vector<std::size_t> round_order(const std::vector<Cell>& cells, bool shuffle,
                                     std::uint64_t seed, int round) {
  std::vector<std::size_t> order(cells.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  if (!shuffle) return order;
  // Fisher-Yates over mt19937_64, whose output the standard fixes, with a bounded draw by
  // rejection: std::shuffle and uniform_int_distribution differ between standard libraries,
  // and the order must be the same wherever the run is resumed.
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(round + 1000));
  auto draw = [&rng](std::uint64_t bound) {
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % bound; // draws below it are unbiased
    std::uint64_t x = rng();
    while (x >= limit)
      x = rng();
    return static_cast<std::size_t>(x % bound);
  };
  for (std::size_t first = 0; first < cells.size();) {
    std::size_t end = first + 1;
    while (end < cells.size() && cells[end].benchmark_index == cells[first].benchmark_index &&
           cells[end].threads == cells[first].threads)
      ++end;
    for (std::size_t n = end - first; n > 1; --n)
      std::swap(order[first + n - 1], order[first + draw(n)]);
    first = end;
  }
  return order;
}

std::string slug(const std::string& id) {
  std::string out;
  for (char ch : id) {
    bool keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                ch == '-' || ch == '_' || ch == '.' || ch == '=';
    out += keep ? ch : '_';
  }
  return out;
}

} // namespace hoardlab::harness
