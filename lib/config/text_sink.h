// Text formatting into a caller's fixed buffer, without allocation and without stdio: config
// messages are written from inside malloc's init, and the statistics report from a process whose
// malloc may be hoardlab. snprintf is avoided because glibc's may allocate (wide or positional
// conversions, locale), and a number formatter of a few lines is enough here. Layer: config.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hoardlab::config {

// Appends text to a buffer. With a flush function, a full buffer is handed to it and reused
// (unbounded output in bounded memory); capacity must be at least 1. Without one, text beyond the
// capacity is dropped and truncated() turns true. The buffer always holds a terminating NUL.
class TextSink {
public:
  using FlushFn = void (*)(void* context, const char* data, std::size_t size);

  // constexpr: a constinit record may hold a sink over its own buffer (config::Messages).
  constexpr TextSink(char* buffer, std::size_t capacity, FlushFn flush = nullptr,
                     void* context = nullptr) noexcept
      : buffer_(buffer), capacity_(capacity > 0 ? capacity - 1 : 0), flush_(flush),
        context_(context) {
    buffer_[0] = '\0';
  }
  // A sink with no buffer yet, all zero (so a static one costs .bss, not .data); bind gives it
  // one. Nothing may be put before.
  constexpr TextSink() noexcept
      : buffer_(nullptr), capacity_(0), flush_(nullptr), context_(nullptr) {}
  void bind(char* buffer, std::size_t capacity) noexcept {
    buffer_ = buffer;
    capacity_ = capacity > 0 ? capacity - 1 : 0;
    clear();
  }
  TextSink(const TextSink&) = delete;
  TextSink& operator=(const TextSink&) = delete;

  TextSink& put(char c) noexcept;
  TextSink& put(const char* text) noexcept;
  TextSink& put(const char* text, std::size_t size) noexcept;
  TextSink& put_u64(std::uint64_t value) noexcept;
  TextSink& put_i64(std::int64_t value) noexcept;
  // value rounded to `decimals` digits after the point (at most 9); non-finite as nan/inf.
  TextSink& put_fixed(double value, int decimals) noexcept;
  // Bytes with a binary unit when exact ("64KiB", "3MiB"), else plain bytes ("1000").
  TextSink& put_size(std::uint64_t bytes) noexcept;
  // A fraction as "k/n" when it is one exactly with n <= 64 ("1/8"), else up to 6 decimals.
  TextSink& put_fraction(double value) noexcept;
  // Bytes scaled for a reader: "1.50 MiB".
  TextSink& put_human_bytes(std::uint64_t bytes) noexcept;
  // A JSON string literal with quotes and escapes.
  TextSink& put_json_string(const char* text) noexcept;
  // Text from a user (a value, a path, a variable's name) with its control bytes escaped: \n,
  // \t, \r, else \xNN (also DEL), so that it cannot break a message's line or reach the
  // terminal as an escape sequence. Other bytes, UTF-8 included, are written as they are.
  TextSink& put_escaped(const char* text, std::size_t size) noexcept;
  // Pads with spaces until `column` characters have been written since the last newline.
  TextSink& pad_to(std::size_t column) noexcept;

  // Hands the buffered text to the flush function (no-op without one).
  void flush() noexcept;
  const char* data() const noexcept { return buffer_; }
  std::size_t size() const noexcept { return size_; }
  bool truncated() const noexcept { return truncated_; }
  void clear() noexcept;
  // Drops what was written after the first `size` bytes (a message that did not fit whole) and
  // clears truncated(). Without a flush function only.
  void truncate_to(std::size_t size) noexcept;
  // Changes how much of the buffer is used (at least size() + 1, at most what the buffer holds):
  // a sink may keep room back for a last line and give it up for that line.
  void set_capacity(std::size_t capacity) noexcept { capacity_ = capacity - 1; }

private:
  char* buffer_;
  std::size_t capacity_; // usable bytes: the real capacity minus the NUL
  std::size_t size_ = 0;
  std::size_t column_ = 0;
  bool truncated_ = false;
  FlushFn flush_;
  void* context_;
};

// Bounded string helpers used by the parser (no <cstring>: -fno-builtin makes those calls real
// library calls, and these are trivially inlined).
inline std::size_t text_length(const char* s) noexcept {
  std::size_t n = 0;
  while (s[n] != '\0')
    ++n;
  return n;
}
inline bool text_equal(const char* a, std::size_t a_size, const char* b) noexcept {
  for (std::size_t i = 0; i < a_size; ++i)
    if (b[i] != a[i] || b[i] == '\0') return false;
  return b[a_size] == '\0';
}

} // namespace hoardlab::config
