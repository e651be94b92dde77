#include "config/value.h"

namespace hoardlab::config {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
bool equal_ignoring_case(const char* a, std::size_t a_size, const char* b) {
  for (std::size_t i = 0; i < a_size; ++i)
    if (b[i] == '\0' || lower(a[i]) != lower(b[i])) return false;
  return b[a_size] == '\0';
}

// Decimal digits with `_` only between digits (TOML's rule); false on overflow or bad text.
bool parse_digits(const char* text, std::size_t size, std::uint64_t& out) {
  if (size == 0) return false;
  std::uint64_t value = 0;
  bool previous_digit = false;
  for (std::size_t i = 0; i < size; ++i) {
    const char c = text[i];
    if (c == '_') {
      if (!previous_digit || i + 1 == size || !is_digit(text[i + 1])) return false;
      previous_digit = false;
      continue;
    }
    if (!is_digit(c)) return false;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (value > (UINT64_MAX - d) / 10) return false;
    value = value * 10 + d;
    previous_digit = true;
  }
  out = value;
  return true;
}

ValueError check_range(std::size_t index, double value) {
  const OptionInfo& info = kOptions[index];
  return (value < info.min || value > info.max) ? ValueError::kOutOfRange : ValueError::kNone;
}

ValueError parse_size(std::size_t index, const char* text, std::size_t size, Value& out) {
  std::size_t digits = 0;
  while (digits < size && (is_digit(text[digits]) || text[digits] == '_'))
    ++digits;
  std::uint64_t number = 0;
  if (!parse_digits(text, digits, number)) return ValueError::kMalformed;
  std::size_t unit = digits;
  while (unit < size && text[unit] == ' ')
    ++unit;
  const char* suffix = text + unit;
  const std::size_t suffix_size = size - unit;
  // Binary units only: "KB" would be ambiguous (1000 or 1024), so it is refused.
  static constexpr struct {
    const char* name;
    unsigned shift;
  } kUnits[] = {{"", 0},     {"b", 0},  {"k", 10},   {"kib", 10}, {"m", 20},
                {"mib", 20}, {"g", 30}, {"gib", 30}, {"t", 40},   {"tib", 40}};
  for (const auto& u : kUnits) {
    if (equal_ignoring_case(suffix, suffix_size, u.name)) {
      if (u.shift > 0 && number > (UINT64_MAX >> u.shift)) return ValueError::kOutOfRange;
      out.size = number << u.shift;
      return check_range(index, static_cast<double>(out.size));
    }
  }
  return ValueError::kMalformed;
}

ValueError parse_int(std::size_t index, const char* text, std::size_t size, Value& out) {
  bool negative = false;
  if (size > 0 && (text[0] == '-' || text[0] == '+')) {
    negative = text[0] == '-';
    ++text;
    --size;
  }
  std::uint64_t magnitude = 0;
  if (!parse_digits(text, size, magnitude)) return ValueError::kMalformed;
  if (magnitude > static_cast<std::uint64_t>(INT64_MAX)) return ValueError::kOutOfRange;
  out.integer =
      negative ? -static_cast<std::int64_t>(magnitude) : static_cast<std::int64_t>(magnitude);
  return check_range(index, static_cast<double>(out.integer));
}

ValueError parse_bool(const char* text, std::size_t size, Value& out) {
  static constexpr const char* kTrue[] = {"true", "1", "yes", "on"};
  static constexpr const char* kFalse[] = {"false", "0", "no", "off"};
  for (const char* t : kTrue)
    if (equal_ignoring_case(text, size, t)) {
      out.boolean = true;
      return ValueError::kNone;
    }
  for (const char* f : kFalse)
    if (equal_ignoring_case(text, size, f)) {
      out.boolean = false;
      return ValueError::kNone;
    }
  return ValueError::kMalformed;
}

// "k/n" with integers, or a decimal "0.125" / ".5" / "1". Decimals are accumulated as an integer
// over a power of ten and divided once, so "0.125" is exactly 1/8 and "0.1" rounds once.
ValueError parse_fraction(std::size_t index, const char* text, std::size_t size, Value& out) {
  for (std::size_t i = 0; i < size; ++i) {
    if (text[i] == '/') {
      std::uint64_t k = 0;
      std::uint64_t n = 0;
      std::size_t k_end = i;
      while (k_end > 0 && text[k_end - 1] == ' ')
        --k_end;
      std::size_t n_begin = i + 1;
      while (n_begin < size && text[n_begin] == ' ')
        ++n_begin;
      if (!parse_digits(text, k_end, k) || !parse_digits(text + n_begin, size - n_begin, n))
        return ValueError::kMalformed;
      if (n == 0) return ValueError::kMalformed;
      out.fraction = static_cast<double>(k) / static_cast<double>(n);
      return check_range(index, out.fraction);
    }
  }
  std::size_t point = 0;
  while (point < size && text[point] != '.')
    ++point;
  std::uint64_t whole = 0;
  if (point > 0 && !parse_digits(text, point, whole)) return ValueError::kMalformed;
  std::uint64_t part = 0;
  std::uint64_t scale = 1;
  if (point < size) {
    const std::size_t decimals = size - point - 1;
    if (decimals == 0 || decimals > 18) return ValueError::kMalformed;
    if (!parse_digits(text + point + 1, decimals, part)) return ValueError::kMalformed;
    for (std::size_t i = 0; i < decimals; ++i)
      scale *= 10;
  } else if (point == 0) {
    return ValueError::kMalformed;
  }
  if (whole > (1ULL << 40)) return ValueError::kOutOfRange;
  if (whole <= (UINT64_MAX - part) / scale)
    out.fraction = static_cast<double>(whole * scale + part) / static_cast<double>(scale);
  else
    out.fraction =
        static_cast<double>(whole) + static_cast<double>(part) / static_cast<double>(scale);
  return check_range(index, out.fraction);
}

// The i-th word of "a|b|c": its start and length; false past the last word.
bool nth_word(const char* words, unsigned n, const char*& begin, std::size_t& size) {
  const char* p = words;
  for (unsigned i = 0;; ++i) {
    const char* end = p;
    while (*end != '\0' && *end != '|')
      ++end;
    if (i == n) {
      begin = p;
      size = static_cast<std::size_t>(end - p);
      return end != p || *words != '\0';
    }
    if (*end == '\0') return false;
    p = end + 1;
  }
}

ValueError parse_word(std::size_t index, const char* text, std::size_t size, Value& out) {
  const char* word;
  std::size_t word_size;
  for (unsigned i = 0; nth_word(kOptions[index].words, i, word, word_size); ++i) {
    if (word_size == size) {
      bool same = true;
      for (std::size_t j = 0; j < size && same; ++j)
        same = lower(text[j]) == word[j];
      if (same) {
        out.word = static_cast<std::uint8_t>(i);
        return ValueError::kNone;
      }
    }
  }
  return ValueError::kUnknownWord;
}

template <typename T>
void store(T& field, const Value& v);
template <>
void store(std::size_t& field, const Value& v) {
  field = v.size;
}
template <>
void store(std::int64_t& field, const Value& v) {
  field = v.integer;
}
template <>
void store(bool& field, const Value& v) {
  field = v.boolean;
}
template <>
void store(double& field, const Value& v) {
  field = v.fraction;
}
template <>
void store(std::uint8_t& field, const Value& v) {
  field = v.word;
}
template <>
void store(TextValue& field, const Value& v) {
  field = v.text;
}

void load_field(const std::size_t& field, Value& v) {
  v.size = field;
}
void load_field(const std::int64_t& field, Value& v) {
  v.integer = field;
}
void load_field(const bool& field, Value& v) {
  v.boolean = field;
}
void load_field(const double& field, Value& v) {
  v.fraction = field;
}
void load_field(const std::uint8_t& field, Value& v) {
  v.word = field;
}
void load_field(const TextValue& field, Value& v) {
  v.text = field;
}

} // namespace

const char* describe(ValueError error) noexcept {
  switch (error) {
  case ValueError::kNone:
    return "valid";
  case ValueError::kEmpty:
    return "empty value";
  case ValueError::kMalformed:
    return "not a valid value";
  case ValueError::kOutOfRange:
    return "out of range";
  case ValueError::kNotPowerOfTwo:
    return "not a power of two";
  case ValueError::kUnknownWord:
    return "not one of the allowed words";
  case ValueError::kTooLong:
    return "too long";
  }
  return "invalid";
}

// Cold: at init and at hl_option_set (config/loader.cpp's apply_file_text says why).
[[gnu::cold]] ValueError parse_value(std::size_t index, const char* text, std::size_t size,
                                     Value& out) noexcept {
  const OptionInfo& info = kOptions[index];
  if (size == 0 && info.type != Type::Text) return ValueError::kEmpty;
  Value parsed;
  ValueError error = ValueError::kNone;
  switch (info.type) {
  case Type::Size:
    error = parse_size(index, text, size, parsed);
    if (error == ValueError::kNone && index == index_of(OptionId::heap_superblock_size) &&
        (parsed.size & (parsed.size - 1)) != 0)
      error = ValueError::kNotPowerOfTwo;
    break;
  case Type::Int:
    error = parse_int(index, text, size, parsed);
    break;
  case Type::Bool:
    error = parse_bool(text, size, parsed);
    break;
  case Type::Fraction:
    error = parse_fraction(index, text, size, parsed);
    break;
  case Type::Word:
    error = parse_word(index, text, size, parsed);
    break;
  case Type::Text:
    if (size >= TextValue::kCapacity) return ValueError::kTooLong;
    for (std::size_t i = 0; i < size; ++i) {
      if (text[i] == '\0') return ValueError::kMalformed;
      parsed.text.value[i] = text[i];
    }
    parsed.text.value[size] = '\0';
    break;
  }
  if (error == ValueError::kNone) out = parsed;
  return error;
}

// Cold: only for messages (config/loader.cpp's apply_file_text says why).
[[gnu::cold]] void describe_allowed(std::size_t index, TextSink& sink) noexcept {
  const OptionInfo& info = kOptions[index];
  switch (info.type) {
  case Type::Size:
    if (index == index_of(OptionId::heap_superblock_size)) sink.put("a power of two ");
    sink.put("from ")
        .put_size(static_cast<std::uint64_t>(info.min))
        .put(" to ")
        .put_size(static_cast<std::uint64_t>(info.max))
        .put(" (bytes, or with a unit B, KiB, MiB, GiB, TiB)");
    break;
  case Type::Int:
    sink.put("an integer from ")
        .put_i64(static_cast<std::int64_t>(info.min))
        .put(" to ")
        .put_i64(static_cast<std::int64_t>(info.max));
    break;
  case Type::Bool:
    sink.put("true or false (also 1/0, yes/no, on/off)");
    break;
  case Type::Fraction:
    sink.put("a fraction from ")
        .put_fraction(info.min)
        .put(" to ")
        .put_fraction(info.max)
        .put(" (\"1/8\" or \"0.125\")");
    break;
  case Type::Word: {
    sink.put("one of ");
    const char* word;
    std::size_t word_size;
    for (unsigned i = 0; nth_word(info.words, i, word, word_size); ++i) {
      if (i > 0) sink.put(", ");
      sink.put(word, word_size);
    }
    break;
  }
  case Type::Text:
    sink.put("text of at most ").put_u64(TextValue::kCapacity - 1).put(" bytes");
    break;
  }
}

void format_value(std::size_t index, const Value& value, TextSink& sink) noexcept {
  const OptionInfo& info = kOptions[index];
  switch (info.type) {
  case Type::Size:
    sink.put_size(value.size);
    break;
  case Type::Int:
    sink.put_i64(value.integer);
    break;
  case Type::Bool:
    sink.put(value.boolean ? "true" : "false");
    break;
  case Type::Fraction:
    sink.put_fraction(value.fraction);
    break;
  case Type::Word: {
    const char* word;
    std::size_t word_size;
    if (nth_word(info.words, value.word, word, word_size))
      sink.put(word, word_size);
    else
      sink.put("?");
    break;
  }
  case Type::Text:
    sink.put(value.text.value);
    break;
  }
}

Value get_value(const Options& options, std::size_t index) noexcept {
  Value v;
  switch (static_cast<OptionId>(index)) {
#define HOARDLAB_OPTION(section, key, env, kind, dv, dt, mn, mx, words, init, doc)                 \
  case OptionId::section##_##key:                                                                  \
    load_field(options.section##_##key, v);                                                        \
    break;
#include "config/options.def"
#undef HOARDLAB_OPTION
  }
  return v;
}

void set_value(Options& options, std::size_t index, const Value& value) noexcept {
  switch (static_cast<OptionId>(index)) {
#define HOARDLAB_OPTION(section, key, env, kind, dv, dt, mn, mx, words, init, doc)                 \
  case OptionId::section##_##key:                                                                  \
    store(options.section##_##key, value);                                                         \
    break;
#include "config/options.def"
#undef HOARDLAB_OPTION
  }
}

bool values_equal(std::size_t index, const Value& a, const Value& b) noexcept {
  switch (kOptions[index].type) {
  case Type::Size:
    return a.size == b.size;
  case Type::Int:
    return a.integer == b.integer;
  case Type::Bool:
    return a.boolean == b.boolean;
  case Type::Fraction:
    return a.fraction == b.fraction;
  case Type::Word:
    return a.word == b.word;
  case Type::Text:
    for (std::size_t i = 0; i < TextValue::kCapacity; ++i) {
      if (a.text.value[i] != b.text.value[i]) return false;
      if (a.text.value[i] == '\0') return true;
    }
    return true;
  }
  return false;
}

int find_option(const char* section, std::size_t section_size, const char* key,
                std::size_t key_size) noexcept {
  for (std::size_t i = 0; i < kOptionCount; ++i)
    if (text_equal(section, section_size, kOptions[i].section) &&
        text_equal(key, key_size, kOptions[i].key))
      return static_cast<int>(i);
  return -1;
}

int find_option_by_name(const char* dotted_name) noexcept {
  std::size_t dot = 0;
  while (dotted_name[dot] != '\0' && dotted_name[dot] != '.')
    ++dot;
  if (dotted_name[dot] != '.') return -1;
  const char* key = dotted_name + dot + 1;
  return find_option(dotted_name, dot, key, text_length(key));
}

int find_option_by_env(const char* name, std::size_t size) noexcept {
  for (std::size_t i = 0; i < kOptionCount; ++i)
    if (text_equal(name, size, kOptions[i].env)) return static_cast<int>(i);
  return -1;
}

unsigned edit_distance(const char* a, std::size_t a_size, const char* b,
                       std::size_t b_size) noexcept {
  constexpr std::size_t kMax = 64;
  if (a_size > kMax || b_size > kMax) return 255;
  // Three rows of the optimal-string-alignment table, on the stack.
  unsigned rows[3][kMax + 1];
  unsigned* before = rows[0];
  unsigned* previous = rows[1];
  unsigned* current = rows[2];
  for (std::size_t j = 0; j <= b_size; ++j)
    previous[j] = static_cast<unsigned>(j);
  for (std::size_t i = 1; i <= a_size; ++i) {
    current[0] = static_cast<unsigned>(i);
    for (std::size_t j = 1; j <= b_size; ++j) {
      const unsigned cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      unsigned best = previous[j] + 1;
      if (current[j - 1] + 1 < best) best = current[j - 1] + 1;
      if (previous[j - 1] + cost < best) best = previous[j - 1] + cost;
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
          lower(a[i - 2]) == lower(b[j - 1]) && before[j - 2] + 1 < best)
        best = before[j - 2] + 1;
      current[j] = best;
    }
    unsigned* recycled = before;
    before = previous;
    previous = current;
    current = recycled;
  }
  return previous[b_size];
}

} // namespace hoardlab::config
