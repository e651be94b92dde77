#include "harness/option_values.h"

#include "config/options.h"

#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <string_view>

namespace hoardlab::harness {
namespace {

const config::OptionInfo* find_info(const std::string& name) {
  for (const auto& o : config::kOptions)
    if (name == fmt::format("{}.{}", o.section, o.key)) return &o;
  return nullptr;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])))
    ++i;
  return s.substr(i);
}

bool parse_number(const std::string& text, double& out) {
  if (text.empty()) return false;
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  return end != text.c_str() && *end == '\0' && std::isfinite(out);
}

bool parse_fraction(const std::string& text, double& out) {
  auto slash = text.find('/');
  if (slash == std::string::npos) return parse_number(text, out);
  double num = 0, den = 0;
  if (!parse_number(trim(text.substr(0, slash)), num) ||
      !parse_number(trim(text.substr(slash + 1)), den) || den == 0)
    return false;
  out = num / den;
  return true;
}

} // namespace

bool parse_size(const std::string& raw, double& bytes) {
  std::string text = trim(raw);
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  double number = 0;
  if (!parse_number(text.substr(0, i), number) || number < 0) return false;
  std::string unit = trim(text.substr(i));
  double scale = 1;
  if (unit.empty() || unit == "B")
    scale = 1;
  else if (unit == "KiB" || unit == "K" || unit == "k")
    scale = 1024.0;
  else if (unit == "MiB" || unit == "M")
    scale = 1024.0 * 1024;
  else if (unit == "GiB" || unit == "G")
    scale = 1024.0 * 1024 * 1024;
  else
    return false;
  bytes = number * scale;
  return bytes == std::floor(bytes);
}

bool resolve_option(const std::string& key, ResolvedOption& out, std::string& error) {
  if (key.find('.') != std::string::npos) {
    if (const auto* info = find_info(key)) {
      out = {key, info->env};
      return true;
    }
    error = "unknown hoardlab option (see `hoardlab options`)";
    return false;
  }
  const config::OptionInfo* found = nullptr;
  std::string candidates;
  for (const auto& o : config::kOptions) {
    if (key != o.key) continue;
    candidates += fmt::format("{}{}.{}", candidates.empty() ? "" : " or ", o.section, o.key);
    if (found) {
      error = fmt::format("ambiguous option name: write {}", candidates);
      return false;
    }
    found = &o;
  }
  if (!found) {
    error = "unknown hoardlab option (see `hoardlab options`)";
    return false;
  }
  out = {fmt::format("{}.{}", found->section, found->key), found->env};
  return true;
}

bool check_option_value(const std::string& name, const std::string& raw, std::string& normalized,
                        std::string& error) {
  const auto* info = find_info(name);
  if (!info) {
    error = "unknown hoardlab option";
    return false;
  }
  std::string value = trim(raw);
  normalized = value;
  auto range_error = [&](double v) {
    if (v < info->min || v > info->max) {
      error =
          fmt::format("value {} of {} is out of range [{}, {}]", value, name, info->min, info->max);
      return true;
    }
    return false;
  };
  switch (info->type) {
  case config::Type::Size: {
    double bytes = 0;
    if (!parse_size(value, bytes)) {
      error = fmt::format("'{}' is not a size (write e.g. \"64KiB\", \"1MiB\" or bytes)", value);
      return false;
    }
    if (range_error(bytes)) return false;
    // The table documents S as a power of two; the library rejects others at init, and a
    // sweep should learn that before it runs, not from a hundred failed cells.
    auto b = static_cast<unsigned long long>(bytes);
    if (std::string_view(info->key) == "superblock_size" && (b & (b - 1)) != 0) {
      error = fmt::format("superblock_size {} is not a power of two", value);
      return false;
    }
    return true;
  }
  case config::Type::Int: {
    double v = 0;
    if (!parse_number(value, v) || v != std::floor(v)) {
      error = fmt::format("'{}' is not an integer", value);
      return false;
    }
    return !range_error(v);
  }
  case config::Type::Fraction: {
    double v = 0;
    if (!parse_fraction(value, v)) {
      error = fmt::format("'{}' is not a fraction (write \"1/8\" or 0.125)", value);
      return false;
    }
    return !range_error(v);
  }
  case config::Type::Bool:
    if (value == "true" || value == "1" || value == "on" || value == "yes") {
      normalized = std::string(1, '1'); // not = "1": GCC 12 -Wrestrict false positive
      return true;
    }
    if (value == "false" || value == "0" || value == "off" || value == "no") {
      normalized = std::string(1, '0');
      return true;
    }
    error = fmt::format("'{}' is not a boolean (true or false)", value);
    return false;
  case config::Type::Word: {
    std::string_view words = info->words;
    std::size_t start = 0;
    while (start <= words.size()) {
      auto bar = words.find('|', start);
      auto word = words.substr(start, bar == std::string_view::npos ? words.npos : bar - start);
      if (word == value) return true;
      if (bar == std::string_view::npos) break;
      start = bar + 1;
    }
    error = fmt::format("'{}' is not one of {}", value, info->words);
    return false;
  }
  case config::Type::Text:
    if (value.size() >= config::TextValue::kCapacity) {
      error = fmt::format("text longer than {} bytes", config::TextValue::kCapacity - 1);
      return false;
    }
    return true;
  }
  error = "unsupported option type";
  return false;
}

} // namespace hoardlab::harness
