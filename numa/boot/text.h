// Small text helpers for numa/boot: number and CPU-list parsing, and a bounded appender for
// messages. Written here rather than taken from libc because they run inside malloc, where
// snprintf/strtol pull in locale machinery that may allocate. Layer: numa (internal).
#pragma once

#include <cstddef>
#include <cstdint>

namespace hoardlab::numa::text {

// Appends to a fixed buffer, always NUL-terminated, silently truncating.
class Appender {
public:
  Appender(char* buf, std::size_t size) noexcept : buf_(buf), size_(size) {
    if (size_ > 0) buf_[0] = '\0';
  }
  Appender& str(const char* s) noexcept {
    while (s != nullptr && *s != '\0')
      put(*s++);
    return *this;
  }
  Appender& str(const char* s, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n && s[i] != '\0'; ++i)
      put(s[i]);
    return *this;
  }
  Appender& num(std::uint64_t v) noexcept {
    char digits[24];
    int n = 0;
    do {
      digits[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    while (n > 0)
      put(digits[--n]);
    return *this;
  }
  std::size_t length() const noexcept { return len_; }

private:
  void put(char c) noexcept {
    if (len_ + 1 < size_) {
      buf_[len_++] = c;
      buf_[len_] = '\0';
    }
  }
  char* buf_;
  std::size_t size_;
  std::size_t len_ = 0;
};

inline bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}
inline bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',';
}

// Parses a decimal at *p, advancing it; false when there is no digit or it overflows `limit`.
inline bool parse_uint(const char*& p, const char* end, std::uint64_t limit,
                       std::uint64_t& out) noexcept {
  if (p >= end || !is_digit(*p)) return false;
  std::uint64_t v = 0;
  while (p < end && is_digit(*p)) {
    v = v * 10 + static_cast<std::uint64_t>(*p - '0');
    if (v > limit) return false;
    ++p;
  }
  out = v;
  return true;
}

// Calls f(first, last) for each range of a kernel CPU/node list ("0-3,8,10-11\n").
// Returns false on malformed text. Strides ("0-7:2") are not used by sysfs lists.
template <typename F>
bool for_each_range(const char* p, const char* end, F&& f) noexcept {
  while (p < end) {
    if (*p == ',' || *p == '\n' || *p == ' ') {
      ++p;
      continue;
    }
    std::uint64_t a = 0;
    if (!parse_uint(p, end, 1u << 20, a)) return false;
    std::uint64_t b = a;
    if (p < end && *p == '-') {
      ++p;
      if (!parse_uint(p, end, 1u << 20, b) || b < a) return false;
    }
    f(static_cast<int>(a), static_cast<int>(b));
  }
  return true;
}

} // namespace hoardlab::numa::text
