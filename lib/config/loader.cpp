#include "config/loader.h"

#include "config/value.h"
#include "pal/env.h"

namespace hoardlab::config {
namespace {

constexpr const char kPrefix[] = "hoardlab: config: ";
constexpr const char kOptionsName[] = "HOARDLAB_OPTIONS";
constexpr std::size_t kShownValueMax = 80; // longer values are cut in messages

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

// The value of variable `name` in an environment block, or nullptr.
const char* variable(const char* const* environment, const char* name) {
  if (environment == nullptr) return nullptr;
  const std::size_t size = text_length(name);
  for (const char* const* entry = environment; *entry != nullptr; ++entry) {
    std::size_t n = 0;
    while (n < size && (*entry)[n] == name[n])
      ++n;
    if (n == size && (*entry)[n] == '=') return *entry + n + 1;
  }
  return nullptr;
}
bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

// Writes a value as the user gave it, cut to a readable length, control bytes escaped.
void put_shown(TextSink& sink, const char* text, std::size_t size) {
  const std::size_t shown = size > kShownValueMax ? kShownValueMax : size;
  sink.put_escaped(text, shown);
  if (shown < size) sink.put("...");
}

void put_from(TextSink& sink, const Provenance& from) {
  sink.put(describe(from.source));
  if (from.source == Source::kFile) {
    sink.put(' ');
    if (from.file != nullptr)
      sink.put_escaped(from.file, text_length(from.file));
    else
      sink.put("file");
    sink.put(':').put_u64(from.line);
  }
}

void put_current(TextSink& sink, const Options& options, std::size_t index,
                 const Provenance& from) {
  const Value current = get_value(options, index);
  if (from.source == Source::kDefault) {
    sink.put("using the default ");
    if (kOptions[index].type == Type::Text && current.text.empty())
      sink.put("(empty)");
    else
      format_value(index, current, sink);
    return;
  }
  sink.put("keeping ");
  format_value(index, current, sink);
  sink.put(" (");
  put_from(sink, from);
  sink.put(')');
}

// `section.key = "text": what is wrong; allowed: ...; ` and what is kept: a value from the
// environment or HOARDLAB_OPTIONS that parse_value refused.
void put_refused_value(TextSink& sink, const Options& options, std::size_t index, const char* text,
                       std::size_t size, ValueError error, const Provenance& from) {
  sink.put(kOptions[index].section).put('.').put(kOptions[index].key).put(" = \"");
  put_shown(sink, text, size);
  sink.put("\": ").put(describe(error)).put("; allowed: ");
  describe_allowed(index, sink);
  sink.put("; ");
  put_current(sink, options, index, from);
}

// One message: "hoardlab: config: " then, from begin_message, "<where>: ", then the caller's
// text, then end_message's newline. Names and paths are the user's text, so escaped.
TextSink& begin_bare_message(Messages& messages) {
  ++messages.count;
  messages.start = messages.sink.size();
  return messages.sink.put(kPrefix);
}
TextSink& begin_message(Messages& messages, const char* file, std::uint32_t line,
                        const char* env_name, std::size_t env_size) {
  TextSink& sink = begin_bare_message(messages);
  if (file != nullptr) {
    sink.put_escaped(file, text_length(file));
    if (line > 0) sink.put(':').put_u64(line);
  } else {
    sink.put("environment ").put_escaped(env_name, env_size);
  }
  return sink.put(": ");
}
// A message that did not fit whole goes, and so does every later one (Messages).
void end_message(Messages& messages) {
  messages.sink.put('\n');
  if (messages.dropped > 0 || messages.sink.truncated()) {
    messages.sink.truncate_to(messages.start);
    ++messages.dropped;
  }
}

// The closest name among candidates, when close enough to be a likely misspelling.
struct Suggestion {
  int index = -1;
  unsigned distance = 255;
};
unsigned allowed_distance(std::size_t size) {
  return size < 6 ? 1 : (size < 12 ? 2 : 3);
}
// The distance is at least the difference in length: names that differ more need no table.
unsigned bounded_distance(const char* a, std::size_t a_size, const char* b, std::size_t b_size) {
  const std::size_t gap = a_size > b_size ? a_size - b_size : b_size - a_size;
  return gap > allowed_distance(a_size) ? 255 : edit_distance(a, a_size, b, b_size);
}

Suggestion suggest_key(const char* key, std::size_t key_size, const char* section,
                       std::size_t section_size) {
  Suggestion best;
  for (std::size_t i = 0; i < kOptionCount; ++i) {
    if (section != nullptr && !text_equal(section, section_size, kOptions[i].section)) continue;
    const unsigned d =
        bounded_distance(key, key_size, kOptions[i].key, text_length(kOptions[i].key));
    if (d < best.distance) {
      best.distance = d;
      best.index = static_cast<int>(i);
    }
  }
  if (best.distance > allowed_distance(key_size)) best.index = -1;
  return best;
}

// Appends "; did you mean KEY under [SECTION]?" for the nearest key of any section; false when
// no key is near enough.
bool put_suggestion_in_any_section(TextSink& sink, const char* key, std::size_t key_size) {
  const Suggestion s = suggest_key(key, key_size, nullptr, 0);
  if (s.index < 0) return false;
  sink.put("; did you mean ")
      .put(kOptions[s.index].key)
      .put(" under [")
      .put(kOptions[s.index].section)
      .put("]?");
  return true;
}

// Appends "; did you mean SECTION.KEY?" for option i (the HOARDLAB_OPTIONS spelling).
void put_dotted_suggestion(TextSink& sink, int i) {
  sink.put("; did you mean ").put(kOptions[i].section).put('.').put(kOptions[i].key).put('?');
}

Suggestion suggest_section(const char* name, std::size_t size) {
  Suggestion best;
  for (std::size_t i = 0; i < kOptionCount; ++i) {
    const char* s = kOptions[i].section;
    const unsigned d = bounded_distance(name, size, s, text_length(s));
    if (d < best.distance) {
      best.distance = d;
      best.index = static_cast<int>(i);
    }
  }
  if (best.distance > allowed_distance(size)) best.index = -1;
  return best;
}

void put_sections(TextSink& sink) {
  const char* last = nullptr;
  for (const OptionInfo& info : kOptions) {
    if (last != nullptr && text_equal(info.section, text_length(info.section), last)) continue;
    bool seen = false;
    for (const OptionInfo& before : kOptions) {
      if (&before == &info) break;
      seen = seen || text_equal(info.section, text_length(info.section), before.section);
    }
    if (seen) continue;
    if (last != nullptr) sink.put(", ");
    sink.put(info.section);
    last = info.section;
  }
}

// A decoded value of one line: its text for the option parser, and the raw token for messages.
struct Token {
  char text[512];
  std::size_t size = 0;
  const char* raw = nullptr;
  std::size_t raw_size = 0;
  const char* error = nullptr; // why the token is not a supported TOML value
};

bool looks_like_number(const char* p, std::size_t size) {
  std::size_t i = 0;
  if (i < size && (p[i] == '+' || p[i] == '-')) ++i;
  if (i == size) return false;
  bool digits = false;
  for (; i < size; ++i) {
    const char c = p[i];
    if (c >= '0' && c <= '9')
      digits = true;
    else if (c != '_' && c != '.' && c != 'e' && c != 'E' && c != '+' && c != '-')
      return false;
  }
  return digits;
}

// Reads a value at p (the line ends at end); advances p past it.
void read_token(const char*& p, const char* end, Token& token) {
  token.raw = p;
  auto add = [&token](char c) {
    if (token.size + 1 < sizeof(token.text)) token.text[token.size] = c;
    ++token.size; // counted past the buffer so an overlong value is reported as too long
  };
  if (*p == '"') {
    if (end - p >= 3 && p[1] == '"' && p[2] == '"') {
      token.error = "multi-line strings (\"\"\") are not supported";
      p = end;
    } else {
      ++p;
      bool closed = false;
      while (p < end && token.error == nullptr) {
        const char c = *p++;
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\') {
          if (p == end) break;
          const char e = *p++;
          switch (e) {
          case '"':
          case '\\':
            add(e);
            break;
          case 'n':
            add('\n');
            break;
          case 't':
            add('\t');
            break;
          case 'r':
            add('\r');
            break;
          case 'b':
            add('\b');
            break;
          case 'f':
            add('\f');
            break;
          default:
            token.error =
                "unsupported escape in a string (use \\\\, \\\", \\n, \\t, \\r, \\b, \\f)";
          }
        } else if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) {
          token.error = "control character in a string";
        } else {
          add(c);
        }
      }
      if (!closed && token.error == nullptr)
        token.error = "unterminated string (a closing \" is missing)";
    }
  } else if (*p == '\'') {
    if (end - p >= 3 && p[1] == '\'' && p[2] == '\'') {
      token.error = "multi-line strings (''') are not supported";
      p = end;
    } else {
      ++p;
      bool closed = false;
      while (p < end) {
        const char c = *p++;
        if (c == '\'') {
          closed = true;
          break;
        }
        if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) {
          token.error = "control character in a string";
          break;
        }
        add(c);
      }
      if (!closed && token.error == nullptr)
        token.error = "unterminated string (a closing ' is missing)";
    }
  } else if (*p == '[' || *p == '{') {
    token.error = "arrays and inline tables are not supported";
    p = end;
  } else {
    const char* begin = p;
    while (p < end && !is_space(*p) && *p != '#')
      ++p;
    const auto size = static_cast<std::size_t>(p - begin);
    const bool boolean = text_equal(begin, size, "true") || text_equal(begin, size, "false");
    if (!boolean && !looks_like_number(begin, size))
      token.error = "not a TOML value: words, sizes with units and fractions are quoted strings "
                    "(superblock_size = \"64KiB\", mapping = \"cpu\")";
    for (std::size_t i = 0; i < size; ++i)
      add(begin[i]);
  }
  token.raw_size = static_cast<std::size_t>(p - token.raw);
}

} // namespace

void finish_messages(Messages& messages) noexcept {
  if (messages.dropped == 0) return;
  messages.sink.set_capacity(Messages::kCapacity);
  messages.sink.put(kPrefix).put_u64(messages.dropped).put(" more message");
  messages.sink.put(messages.dropped == 1 ? " was" : "s were").put(" dropped\n");
}

const char* describe(Source source) noexcept {
  switch (source) {
  case Source::kDefault:
    return "default";
  case Source::kProgram:
    return "set by the program";
  case Source::kFile:
    return "from";
  case Source::kEnvironment:
    return "from the environment";
  case Source::kDerived:
    return "derived from other options";
  case Source::kOptionsVariable:
    return "from HOARDLAB_OPTIONS";
  }
  return "?";
}

// Cold, as the loader's other entry points: they run once, at init (or at hl_option_set), so
// GCC compiles them for size and keeps them apart from the allocation paths: with the statistics
// report, the topology reader and the checks, the shared libraries' code is 32 KiB smaller
// (paper_notes/peers-research.md, "Fifth pass").
[[gnu::cold]] void apply_file_text(const char* text, std::size_t size, const char* source_name,
                                   Options& options, Provenance (&provenance)[kOptionCount],
                                   Messages& messages) noexcept {
  // What this file set: the first value of a key wins, as a TOML reader would refuse the rest.
  std::uint32_t set_on_line[kOptionCount] = {};
  // The sections already opened, by the index of their first option.
  std::uint32_t section_line[kOptionCount] = {};
  int section = -1;          // index of an option of the current section; -1 before any header
  bool section_valid = true; // false under an unknown section (its keys are skipped)
  const char* const text_end = text + size;
  std::uint32_t line = 0;

  for (const char* p = text; p < text_end;) {
    ++line;
    const char* end = p;
    while (end < text_end && *end != '\n')
      ++end;
    const char* next = end < text_end ? end + 1 : end;
    if (end > p && end[-1] == '\r') --end;
    while (p < end && is_space(*p))
      ++p;
    if (p == end || *p == '#') {
      p = next;
      continue;
    }

    auto rest_is_blank = [](const char* q, const char* e) {
      while (q < e && is_space(*q))
        ++q;
      return q == e || *q == '#';
    };

    if (*p == '[') {
      const char* q = p + 1;
      if (q < end && *q == '[') {
        begin_message(messages, source_name, line, nullptr, 0)
            .put("arrays of tables ([[...]]) are not supported");
        end_message(messages);
        section_valid = false;
        p = next;
        continue;
      }
      while (q < end && is_space(*q))
        ++q;
      const char* name = q;
      while (q < end && is_key_char(*q))
        ++q;
      const auto name_size = static_cast<std::size_t>(q - name);
      while (q < end && is_space(*q))
        ++q;
      if (q < end && *q == '.') {
        begin_message(messages, source_name, line, nullptr, 0)
            .put("nested tables ([a.b]) are not supported; sections are ");
        put_sections(messages.sink);
        end_message(messages);
        section_valid = false;
      } else if (name_size == 0 || q == end || *q != ']' || !rest_is_blank(q + 1, end)) {
        TextSink& sink = begin_message(messages, source_name, line, nullptr, 0);
        sink.put("malformed section header '");
        put_shown(sink, p, static_cast<std::size_t>(end - p));
        sink.put("'; expected [section]");
        end_message(messages);
        section_valid = false;
      } else {
        section = -1;
        for (std::size_t i = 0; i < kOptionCount && section < 0; ++i)
          if (text_equal(name, name_size, kOptions[i].section)) section = static_cast<int>(i);
        section_valid = section >= 0;
        if (!section_valid) {
          TextSink& sink = begin_message(messages, source_name, line, nullptr, 0);
          sink.put("unknown section [");
          put_shown(sink, name, name_size);
          sink.put("]");
          const Suggestion s = suggest_section(name, name_size);
          if (s.index >= 0) sink.put("; did you mean [").put(kOptions[s.index].section).put("]?");
          sink.put("; sections are ");
          put_sections(sink);
          sink.put(" (its keys are ignored)");
          end_message(messages);
        } else if (section_line[section] != 0) {
          begin_message(messages, source_name, line, nullptr, 0)
              .put("section [")
              .put(kOptions[section].section)
              .put("] already opened on line ")
              .put_u64(section_line[section])
              .put(" (TOML allows a table once); its keys still apply");
          end_message(messages);
        } else {
          section_line[section] = line;
        }
      }
      p = next;
      continue;
    }

    // key = value
    const char* key = p;
    while (p < end && is_key_char(*p))
      ++p;
    const auto key_size = static_cast<std::size_t>(p - key);
    while (p < end && is_space(*p))
      ++p;
    if (key_size == 0 || p == end || (*p != '=' && *p != '.')) {
      TextSink& sink = begin_message(messages, source_name, line, nullptr, 0);
      sink.put("malformed line '");
      put_shown(sink, key, static_cast<std::size_t>(end - key));
      sink.put("'; expected key = value, [section] or # comment");
      end_message(messages);
      p = next;
      continue;
    }
    if (*p == '.') {
      TextSink& sink = begin_message(messages, source_name, line, nullptr, 0);
      sink.put("dotted key '");
      put_shown(sink, key, static_cast<std::size_t>(end - key));
      sink.put("' is not supported; write the key under its [section]");
      end_message(messages);
      p = next;
      continue;
    }
    ++p; // '='
    while (p < end && is_space(*p))
      ++p;
    if (p == end) {
      TextSink& sink = begin_message(messages, source_name, line, nullptr, 0);
      put_shown(sink, key, key_size);
      sink.put(" has no value; expected key = value");
      end_message(messages);
      p = next;
      continue;
    }
    Token token;
    read_token(p, end, token);
    if (token.error == nullptr && !rest_is_blank(p, end))
      token.error = "unexpected text after the value (a comment starts with #)";

    if (!section_valid) {
      p = next;
      continue;
    }
    if (section < 0) {
      TextSink& sink = begin_message(messages, source_name, line, nullptr, 0);
      put_shown(sink, key, key_size);
      sink.put(" is outside any section");
      if (!put_suggestion_in_any_section(sink, key, key_size))
        sink.put("; put it under its [section]");
      end_message(messages);
      p = next;
      continue;
    }
    const char* section_name = kOptions[section].section;
    const std::size_t section_size = text_length(section_name);
    const int index = find_option(section_name, section_size, key, key_size);
    if (index < 0) {
      TextSink& sink = begin_message(messages, source_name, line, nullptr, 0);
      sink.put("unknown key ").put(section_name).put('.');
      put_shown(sink, key, key_size);
      const Suggestion s = suggest_key(key, key_size, section_name, section_size);
      if (s.index >= 0) {
        sink.put("; did you mean ").put(kOptions[s.index].key).put("?");
      } else {
        if (!put_suggestion_in_any_section(sink, key, key_size))
          sink.put("; `hoardlab options` lists the keys");
      }
      end_message(messages);
      p = next;
      continue;
    }
    const auto i = static_cast<std::size_t>(index);
    if (set_on_line[i] != 0) {
      TextSink& sink = begin_message(messages, source_name, line, nullptr, 0);
      sink.put(section_name).put('.').put(kOptions[i].key).put(" is set again (first on line ");
      sink.put_u64(set_on_line[i]).put(", TOML allows a key once); ");
      put_current(sink, options, i, provenance[i]);
      end_message(messages);
      p = next;
      continue;
    }
    set_on_line[i] = line;

    Value value;
    ValueError error = ValueError::kNone;
    if (token.error == nullptr)
      error = token.size >= sizeof(token.text) ? ValueError::kTooLong
                                               : parse_value(i, token.text, token.size, value);
    if (token.error != nullptr || error != ValueError::kNone) {
      TextSink& sink = begin_message(messages, source_name, line, nullptr, 0);
      sink.put(section_name).put('.').put(kOptions[i].key).put(" = ");
      put_shown(sink, token.raw, token.raw_size);
      sink.put(": ").put(token.error != nullptr ? token.error : describe(error));
      sink.put("; allowed: ");
      describe_allowed(i, sink);
      sink.put("; ");
      put_current(sink, options, i, provenance[i]);
      end_message(messages);
      p = next;
      continue;
    }
    set_value(options, i, value);
    provenance[i] = Provenance{Source::kFile, line, source_name};
    p = next;
  }
}

bool apply_file(const char* path, char* buffer, std::size_t capacity, Options& options,
                Provenance (&provenance)[kOptionCount], Messages& messages) noexcept {
  const pal::ReadResult read = pal::read_file(path, buffer, capacity);
  if (read.error != 0 || read.truncated || read.not_regular) {
    TextSink& sink = begin_message(messages, path, 0, nullptr, 0);
    if (read.error != 0)
      sink.put("cannot read the config file (").put(pal::errno_text(read.error)).put(')');
    else if (read.not_regular)
      sink.put("not a regular file (a FIFO, device or pipe such as /dev/stdin could block the "
               "program's start)");
    else
      sink.put("config file larger than ").put_size(capacity).put(", the most it may be");
    sink.put("; no option is taken from it");
    end_message(messages);
    return false;
  }
  apply_file_text(buffer, read.bytes, path, options, provenance, messages);
  return true;
}

namespace {

// HOARDLAB_PEER_<NAME> is the experiment harness's namespace, not the allocator's: it names a
// locally built peer allocator (HOARDLAB_PEER_SNMALLOC=/path/libsnmallocshim.so) for
// experiments/configs and paper_notes, so it is set in the shell that runs every program,
// hoardlab's included, and is no misspelt option.
bool is_peer_variable(const char* name, std::size_t name_size) noexcept {
  constexpr char kPeerPrefix[] = "HOARDLAB_PEER_";
  constexpr std::size_t kPeerPrefixSize = sizeof(kPeerPrefix) - 1;
  if (name_size < kPeerPrefixSize) return false;
  for (std::size_t i = 0; i < kPeerPrefixSize; ++i)
    if (name[i] != kPeerPrefix[i]) return false;
  return true;
}

} // namespace

// Cold: once, at init (apply_file_text says why).
[[gnu::cold]] void apply_environment(const char* const* environment, Options& options,
                                     Provenance (&provenance)[kOptionCount],
                                     Messages& messages) noexcept {
  if (environment == nullptr) return;
  constexpr char kEnvPrefix[] = "HOARDLAB_";
  constexpr std::size_t kEnvPrefixSize = sizeof(kEnvPrefix) - 1;
  bool seen[kOptionCount] = {};
  for (const char* const* entry = environment; *entry != nullptr; ++entry) {
    const char* e = *entry;
    std::size_t n = 0;
    while (n < kEnvPrefixSize && e[n] == kEnvPrefix[n])
      ++n;
    if (n < kEnvPrefixSize) continue;
    std::size_t name_size = n;
    while (e[name_size] != '\0' && e[name_size] != '=')
      ++name_size;
    if (e[name_size] != '=') continue;
    if (text_equal(e, name_size, "HOARDLAB_CONFIG") || text_equal(e, name_size, kOptionsName))
      continue;
    if (is_peer_variable(e, name_size)) continue;
    const char* text = e + name_size + 1;
    const std::size_t size = text_length(text);
    const int index = find_option_by_env(e, name_size);
    if (index < 0) {
      TextSink& sink = begin_message(messages, nullptr, 0, e, name_size);
      sink.put("unknown variable");
      Suggestion best;
      for (std::size_t i = 0; i < kOptionCount; ++i) {
        const unsigned d = bounded_distance(e + kEnvPrefixSize, name_size - kEnvPrefixSize,
                                            kOptions[i].env + kEnvPrefixSize,
                                            text_length(kOptions[i].env) - kEnvPrefixSize);
        if (d < best.distance) {
          best.distance = d;
          best.index = static_cast<int>(i);
        }
      }
      if (best.distance <= allowed_distance(name_size - kEnvPrefixSize))
        sink.put("; did you mean ").put(kOptions[best.index].env).put("?");
      else
        sink.put("; `hoardlab options` lists the variables");
      end_message(messages);
      continue;
    }
    const auto i = static_cast<std::size_t>(index);
    if (seen[i]) continue; // a repeated name: the first wins, as getenv would have it
    seen[i] = true;
    Value value;
    const ValueError error = parse_value(i, text, size, value);
    if (error != ValueError::kNone) {
      TextSink& sink = begin_message(messages, nullptr, 0, e, name_size);
      put_refused_value(sink, options, i, text, size, error, provenance[i]);
      end_message(messages);
      continue;
    }
    set_value(options, i, value);
    provenance[i] = Provenance{Source::kEnvironment, 0, nullptr};
  }
}

// Cold: once, at init (apply_file_text says why).
[[gnu::cold]] void apply_options_text(const char* text, Options& options,
                                      Provenance (&provenance)[kOptionCount],
                                      Messages& messages) noexcept {
  constexpr std::size_t kNameSize = sizeof(kOptionsName) - 1;
  bool seen[kOptionCount] = {};
  for (const char* p = text;;) {
    const char* begin = p;
    while (*p != '\0' && *p != ',')
      ++p;
    const char* end = p;
    while (begin < end && is_space(*begin))
      ++begin;
    while (end > begin && is_space(end[-1]))
      --end;
    if (begin < end) {
      const char* eq = begin;
      while (eq < end && *eq != '=')
        ++eq;
      const char* name_end = eq;
      while (name_end > begin && is_space(name_end[-1]))
        --name_end;
      const char* dot = begin;
      while (dot < name_end && *dot != '.')
        ++dot;
      const auto section_size = static_cast<std::size_t>(dot - begin);
      const char* key = dot < name_end ? dot + 1 : name_end;
      const auto key_size = static_cast<std::size_t>(name_end - key);
      const char* value = eq < end ? eq + 1 : end;
      while (value < end && is_space(*value))
        ++value;
      const auto value_size = static_cast<std::size_t>(end - value);
      const int index = dot < name_end ? find_option(begin, section_size, key, key_size) : -1;
      if (eq == end || dot == name_end || index < 0) {
        TextSink& sink = begin_message(messages, nullptr, 0, kOptionsName, kNameSize);
        if (eq == end || begin == name_end) {
          sink.put("'");
          put_shown(sink, begin, static_cast<std::size_t>(end - begin));
          sink.put("' is not section.key=value (entries are separated by commas)");
        } else if (dot == name_end) {
          put_shown(sink, begin, static_cast<std::size_t>(name_end - begin));
          sink.put(" has no section; write section.key=value");
          const Suggestion s = suggest_key(begin, section_size, nullptr, 0);
          if (s.index >= 0) put_dotted_suggestion(sink, s.index);
        } else {
          sink.put("unknown option ");
          put_shown(sink, begin, static_cast<std::size_t>(name_end - begin));
          const Suggestion in_section = suggest_key(key, key_size, begin, section_size);
          if (in_section.index >= 0)
            put_dotted_suggestion(sink, in_section.index);
          else if (!put_suggestion_in_any_section(sink, key, key_size))
            sink.put("; `hoardlab options` lists the options");
        }
        end_message(messages);
      } else {
        const auto i = static_cast<std::size_t>(index);
        Value parsed;
        const ValueError error =
            seen[i] ? ValueError::kNone : parse_value(i, value, value_size, parsed);
        if (seen[i] || error != ValueError::kNone) {
          TextSink& sink = begin_message(messages, nullptr, 0, kOptionsName, kNameSize);
          if (seen[i]) {
            sink.put(kOptions[i].section).put('.').put(kOptions[i].key);
            sink.put(" is set again (the first value counts); ");
            put_current(sink, options, i, provenance[i]);
          } else {
            put_refused_value(sink, options, i, value, value_size, error, provenance[i]);
          }
          end_message(messages);
        } else {
          set_value(options, i, parsed);
          provenance[i] = Provenance{Source::kOptionsVariable, 0, nullptr};
        }
        seen[i] = true;
      }
    }
    if (*p == '\0') break;
    ++p;
  }
}

void check_consistency(Options& options, Provenance (&provenance)[kOptionCount],
                       Messages& messages) noexcept {
  constexpr std::size_t kThreshold = index_of(OptionId::large_threshold);
  constexpr std::size_t kSuperblock = index_of(OptionId::heap_superblock_size);
  const std::size_t half = options.heap_superblock_size / 2;
  const std::size_t table_default = Options{}.large_threshold;
  const std::size_t fallback = table_default < half ? table_default : half;
  const Source source = provenance[kThreshold].source;
  if (source == Source::kDefault || source == Source::kDerived) {
    // Nobody chose the threshold: it follows S.
    options.large_threshold = fallback;
    provenance[kThreshold] =
        Provenance{fallback == table_default ? Source::kDefault : Source::kDerived, 0, nullptr};
    return;
  }
  if (options.large_threshold > half) {
    TextSink& sink = begin_bare_message(messages);
    sink.put("large.threshold = ").put_size(options.large_threshold).put(" (");
    put_from(sink, provenance[kThreshold]);
    sink.put(") exceeds half the superblock size, S/2 = ").put_size(half);
    sink.put(" (heap.superblock_size = ").put_size(options.heap_superblock_size).put(", ");
    put_from(sink, provenance[kSuperblock]);
    sink.put("); allowed: at most S/2; using min(").put_size(table_default).put(", S/2) = ");
    sink.put_size(fallback);
    end_message(messages);
    options.large_threshold = fallback;
    provenance[kThreshold] = Provenance{Source::kDerived, 0, nullptr};
  }
}

const char* config_path(const char* const* environment) noexcept {
  return variable(environment, "HOARDLAB_CONFIG");
}

const char* options_variable(const char* const* environment) noexcept {
  return variable(environment, kOptionsName);
}

void reject_value(std::size_t index, const char* why, Options& options,
                  Provenance (&provenance)[kOptionCount], Messages& messages) noexcept {
  const Provenance from = provenance[index];
  const OptionInfo& info = kOptions[index];
  TextSink* sink = nullptr;
  switch (from.source) {
  case Source::kFile:
    sink =
        &begin_message(messages, from.file != nullptr ? from.file : "file", from.line, nullptr, 0);
    break;
  case Source::kEnvironment:
    sink = &begin_message(messages, nullptr, 0, info.env, text_length(info.env));
    break;
  case Source::kOptionsVariable:
    sink = &begin_message(messages, nullptr, 0, kOptionsName, sizeof(kOptionsName) - 1);
    break;
  default:
    sink = &begin_bare_message(messages).put(describe(from.source)).put(": ");
  }
  const Value bad = get_value(options, index);
  sink->put(info.section).put('.').put(info.key).put(" = \"");
  if (info.type == Type::Text)
    put_shown(*sink, bad.text.value, text_length(bad.text.value));
  else
    format_value(index, bad, *sink);
  sink->put("\": ").put(why).put("; ");
  static constexpr Options kDefaults{};
  set_value(options, index, get_value(kDefaults, index));
  provenance[index] = Provenance{};
  put_current(*sink, options, index, provenance[index]);
  end_message(messages);
}

void load_into(const char* const* environment, Options& options,
               Provenance (&provenance)[kOptionCount], Messages& messages, char* file_buffer,
               std::size_t file_capacity) noexcept {
  const char* path = config_path(environment);
  if (path != nullptr && *path != '\0') {
    // A file that cannot be read whole changes nothing (apply_file reads before applying).
    apply_file(path, file_buffer, file_capacity, options, provenance, messages);
  }
  if (const char* many = options_variable(environment); many != nullptr)
    apply_options_text(many, options, provenance, messages);
  apply_environment(environment, options, provenance, messages);
  check_consistency(options, provenance, messages);
  finish_messages(messages);
}

void report(const Messages& messages, bool strict) noexcept {
  if (messages.count == 0) return;
  pal::write_stderr(messages.sink.data(), messages.sink.size());
  if (strict) {
    constexpr char kStrict[] =
        "hoardlab: config: HOARDLAB_STRICT_CONFIG is set, so these errors end the process "
        "(exit status 2)\n";
    pal::write_stderr(kStrict, sizeof(kStrict) - 1);
    pal::exit_immediately(2);
  }
}

void load_and_report(const char* const* environment, Options& options,
                     Provenance (&provenance)[kOptionCount]) noexcept {
  // Static: this runs inside malloc's init, where a large stack frame is unwelcome and nothing
  // may allocate. Single use at init, so no lock. constinit: no guard variable, whose
  // __cxa_guard_acquire would need the C++ runtime (the shim links none, cxx_runtime.h).
  static constinit char file_buffer[64 * 1024];
  static constinit Messages messages{Messages::Unbound{}};
  messages.clear();
  load_into(environment, options, provenance, messages, file_buffer, sizeof(file_buffer));
  report(messages, options.general_strict_config);
}

} // namespace hoardlab::config
