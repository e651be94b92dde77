#include "config/text_sink.h"

namespace hoardlab::config {

void TextSink::clear() noexcept {
  size_ = 0;
  truncated_ = false;
  buffer_[0] = '\0';
}

void TextSink::truncate_to(std::size_t size) noexcept {
  if (size < size_) size_ = size;
  buffer_[size_] = '\0';
  truncated_ = false;
  column_ = 0;
  for (std::size_t i = size_; i > 0 && buffer_[i - 1] != '\n'; --i)
    ++column_;
}

void TextSink::flush() noexcept {
  if (flush_ != nullptr && size_ > 0) {
    flush_(context_, buffer_, size_);
    size_ = 0;
    buffer_[0] = '\0';
  }
}

TextSink& TextSink::put(char c) noexcept {
  if (size_ == capacity_) {
    if (flush_ == nullptr || capacity_ == 0) {
      truncated_ = true;
      return *this;
    }
    flush();
  }
  buffer_[size_++] = c;
  buffer_[size_] = '\0';
  column_ = c == '\n' ? 0 : column_ + 1;
  return *this;
}

TextSink& TextSink::put(const char* text, std::size_t size) noexcept {
  for (std::size_t i = 0; i < size; ++i)
    put(text[i]);
  return *this;
}

TextSink& TextSink::put(const char* text) noexcept {
  if (text == nullptr) return put("(null)");
  while (*text != '\0')
    put(*text++);
  return *this;
}

TextSink& TextSink::put_u64(std::uint64_t value) noexcept {
  char digits[20];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  while (n > 0)
    put(digits[--n]);
  return *this;
}

TextSink& TextSink::put_i64(std::int64_t value) noexcept {
  if (value < 0) {
    put('-');
    // Negating in unsigned arithmetic keeps INT64_MIN defined.
    return put_u64(0 - static_cast<std::uint64_t>(value));
  }
  return put_u64(static_cast<std::uint64_t>(value));
}

TextSink& TextSink::put_fixed(double value, int decimals) noexcept {
  if (value != value) return put("nan");
  if (value < 0) {
    put('-');
    value = -value;
  }
  if (value > 1.8e19) return put("inf");
  if (decimals < 0) decimals = 0;
  if (decimals > 9) decimals = 9;
  std::uint64_t scale = 1;
  for (int i = 0; i < decimals; ++i)
    scale *= 10;
  // Split before scaling so large values keep their integer part exact.
  std::uint64_t whole = static_cast<std::uint64_t>(value);
  double rest = (value - static_cast<double>(whole)) * static_cast<double>(scale);
  std::uint64_t part = static_cast<std::uint64_t>(rest + 0.5);
  if (part >= scale) {
    ++whole;
    part -= scale;
  }
  put_u64(whole);
  if (decimals > 0) {
    put('.');
    for (std::uint64_t div = scale / 10; div > 0; div /= 10)
      put(static_cast<char>('0' + (part / div) % 10));
  }
  return *this;
}

TextSink& TextSink::put_size(std::uint64_t bytes) noexcept {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes == 0) return put('0');
  int unit = -1;
  while (unit < 3 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++unit;
  }
  put_u64(bytes);
  if (unit >= 0) put(kUnits[unit]);
  return *this;
}

TextSink& TextSink::put_fraction(double value) noexcept {
  if (value == 0.0) return put('0');
  for (int n = 1; n <= 64; ++n) {
    const double scaled = value * n;
    const double k =
        static_cast<double>(static_cast<std::int64_t>(scaled + (scaled < 0 ? -0.5 : 0.5)));
    const double error = scaled - k;
    if (error < 1e-12 && error > -1e-12 && k / n == value) {
      put_i64(static_cast<std::int64_t>(k));
      if (n > 1) put('/').put_u64(static_cast<std::uint64_t>(n));
      return *this;
    }
  }
  // Not a small fraction: six decimals, trailing zeros dropped.
  char digits[32];
  TextSink tmp(digits, sizeof(digits));
  tmp.put_fixed(value, 6);
  std::size_t size = tmp.size();
  while (size > 0 && digits[size - 1] == '0')
    --size;
  if (size > 0 && digits[size - 1] == '.') --size;
  return put(digits, size);
}

TextSink& TextSink::put_human_bytes(std::uint64_t bytes) noexcept {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 5) {
    value /= 1024.0;
    ++unit;
  }
  if (unit == 0)
    put_u64(bytes);
  else
    put_fixed(value, 2);
  return put(' ').put(kUnits[unit]);
}

TextSink& TextSink::put_json_string(const char* text) noexcept {
  static constexpr char kHex[] = "0123456789abcdef";
  put('"');
  for (; *text != '\0'; ++text) {
    const auto c = static_cast<unsigned char>(*text);
    if (c == '"' || c == '\\') {
      put('\\').put(static_cast<char>(c));
    } else if (c == '\n') {
      put("\\n");
    } else if (c == '\t') {
      put("\\t");
    } else if (c < 0x20) {
      put("\\u00").put(kHex[c >> 4]).put(kHex[c & 15]);
    } else {
      put(static_cast<char>(c));
    }
  }
  return put('"');
}

TextSink& TextSink::put_escaped(const char* text, std::size_t size) noexcept {
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < size; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n')
      put("\\n");
    else if (c == '\t')
      put("\\t");
    else if (c == '\r')
      put("\\r");
    else if (c < 0x20 || c == 0x7f)
      put("\\x").put(kHex[c >> 4]).put(kHex[c & 15]);
    else
      put(static_cast<char>(c));
  }
  return *this;
}

TextSink& TextSink::pad_to(std::size_t column) noexcept {
  do {
    put(' ');
  } while (column_ < column);
  return *this;
}

} // namespace hoardlab::config
