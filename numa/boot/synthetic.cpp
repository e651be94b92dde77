// Synthetic topologies: the subset of hwloc's synthetic description language the allocator
// understands, parsed inside malloc.
//
// Why not hwloc here: hwloc_topology_set_synthetic + load allocate through malloc (the very
// function being served) and initialise hwloc's plugin machinery, which may dlopen; neither can
// run inside malloc. The grammar needed is tiny (levels of `type:count`), so it is parsed here
// without allocating, and tests check that it agrees with hwloc's own parser.
#include "numa/topology.h"

#include "numa/boot/text.h"

namespace hoardlab::numa {
namespace {

enum class Level : std::uint8_t { kGroup, kPackage, kNuma, kCache, kCore, kPu };

bool equals(const char* a, std::size_t n, const char* b) noexcept {
  std::size_t i = 0;
  for (; i < n && b[i] != '\0'; ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != b[i]) return false;
  }
  return i == n && b[i] == '\0';
}

// hwloc's names for the levels (and its abbreviations); caches are l<digit>[d|i|u][cache].
bool classify(const char* name, std::size_t n, Level& level, int& cache_level) noexcept {
  if (equals(name, n, "pu") || equals(name, n, "thread")) return level = Level::kPu, true;
  if (equals(name, n, "core")) return level = Level::kCore, true;
  if (equals(name, n, "numa") || equals(name, n, "node") || equals(name, n, "numanode"))
    return level = Level::kNuma, true;
  if (equals(name, n, "pack") || equals(name, n, "package") || equals(name, n, "socket"))
    return level = Level::kPackage, true;
  if (equals(name, n, "machine") || equals(name, n, "group") || equals(name, n, "die"))
    return level = Level::kGroup, true;
  if (n >= 2 && (name[0] == 'l' || name[0] == 'L') && name[1] >= '1' && name[1] <= '5') {
    std::size_t i = 2;
    if (i < n && (name[i] == 'd' || name[i] == 'i' || name[i] == 'u')) ++i;
    if (i == n || equals(name + i, n - i, "cache")) {
      cache_level = name[1] - '0';
      return level = Level::kCache, true;
    }
  }
  return false;
}

void fail(char* err, std::size_t size, const char* what, const char* token,
          std::size_t token_len) noexcept {
  text::Appender a(err, size);
  a.str(what);
  if (token != nullptr) a.str(" at '").str(token, token_len < 40 ? token_len : 40).str("'");
}

} // namespace

bool parse_synthetic(const char* text_in, Topology& t, char* err, std::size_t err_size) noexcept {
  constexpr int kMaxLevels = 16;
  std::uint32_t counts[kMaxLevels];
  int levels = 0;
  constexpr int kNoNuma = -1;
  constexpr int kMachineNuma = -2; // "[numa]" before the first level: one node
  int numa_level = kNoNuma;
  int package_level = -1;
  int core_level = -1;
  int pu_level = -1;
  std::uint64_t total = 1;

  const char* p = text_in;
  while (true) {
    while (*p != '\0' && text::is_space(*p))
      ++p;
    if (*p == '\0') break;
    const char* token = p;
    // hwloc 2's notation for memory attached to each object of the previous level:
    // "pack:2 [numa] core:2 pu:1" (what `lstopo --of synthetic` writes).
    if (*p == '[') {
      ++p;
      const char* name = p;
      while (*p != '\0' && *p != ']' && *p != '(' && !text::is_space(*p))
        ++p;
      Level level{};
      int unused = 0;
      if (!classify(name, static_cast<std::size_t>(p - name), level, unused) ||
          level != Level::kNuma)
        return fail(err, err_size, "only [numa] may be attached in brackets", token,
                    static_cast<std::size_t>(p - token)),
               false;
      int depth = 0;
      while (*p != '\0' && (*p != ']' || depth > 0)) {
        depth += *p == '(' ? 1 : *p == ')' ? -1 : 0;
        ++p;
      }
      if (*p != ']')
        return fail(err, err_size, "missing ']'", token, static_cast<std::size_t>(p - token)),
               false;
      ++p;
      if (numa_level != kNoNuma)
        return fail(err, err_size, "one NUMA level only", token,
                    static_cast<std::size_t>(p - token)),
               false;
      if (pu_level >= 0)
        return fail(err, err_size, "pu must be the last level", token,
                    static_cast<std::size_t>(p - token)),
               false;
      // Attached to each object of the previous level; before any level: to the machine.
      numa_level = levels > 0 ? levels - 1 : kMachineNuma;
      continue;
    }
    while (*p != '\0' && *p != ':' && *p != '(' && !text::is_space(*p))
      ++p;
    const std::size_t name_len = static_cast<std::size_t>(p - token);
    Level level{};
    int cache_level = 0;
    if (name_len == 0 || !classify(token, name_len, level, cache_level))
      return fail(err, err_size, "unknown level type", token, name_len + (*p == ':' ? 1 : 0)),
             false;
    if (pu_level >= 0)
      return fail(err, err_size, "pu must be the last level", token, name_len), false;
    if (*p != ':')
      return fail(err, err_size, "expected ':' and a count", token, name_len + 1), false;
    ++p;
    std::uint64_t count = 0;
    const char* end = p;
    while (*end != '\0' && text::is_digit(*end))
      ++end;
    if (!text::parse_uint(p, end, kMaxPus, count) || count == 0)
      return fail(err, err_size, "count must be a number from 1 to 1024", token,
                  static_cast<std::size_t>(end - token) + 1),
             false;
    // Attributes such as "(memory=1GB)" or "(indexes=...)" change nothing the allocator uses.
    if (*p == '(') {
      int depth = 0;
      do {
        if (*p == '(')
          ++depth;
        else if (*p == ')')
          --depth;
        ++p;
      } while (*p != '\0' && depth > 0);
      if (depth != 0)
        return fail(err, err_size, "unbalanced '(' in attributes", token, name_len + 1), false;
    }
    if (*p != '\0' && !text::is_space(*p))
      return fail(err, err_size, "expected a space after the count", token,
                  static_cast<std::size_t>(p - token) + 1),
             false;
    if (levels == kMaxLevels)
      return fail(err, err_size, "more than 16 levels", token, name_len), false;
    int* slot = level == Level::kNuma      ? &numa_level
                : level == Level::kPackage ? &package_level
                : level == Level::kCore    ? &core_level
                : level == Level::kPu      ? &pu_level
                                           : nullptr;
    if (slot != nullptr) {
      if (*slot != kNoNuma) return fail(err, err_size, "level given twice", token, name_len), false;
      *slot = levels;
    }
    counts[levels] = static_cast<std::uint32_t>(count);
    ++levels;
    total *= count;
    if (total > kMaxPus)
      return fail(err, err_size, "more than 1024 PUs in all", token, name_len), false;
  }
  if (levels == 0) return fail(err, err_size, "empty description", nullptr, 0), false;
  if (pu_level < 0) return fail(err, err_size, "the last level must be pu", nullptr, 0), false;
  if (core_level >= 0 && core_level > pu_level)
    return fail(err, err_size, "core must come before pu", nullptr, 0), false;

  // below[l]: PUs under one object of level l (product of the counts of deeper levels).
  std::uint64_t below[kMaxLevels];
  below[levels - 1] = 1;
  for (int l = levels - 2; l >= 0; --l)
    below[l] = below[l + 1] * counts[l + 1];
  const std::uint64_t nodes = numa_level >= 0 ? total / below[numa_level] : 1;
  if (nodes > kMaxNodes) return fail(err, err_size, "more than 64 NUMA nodes", nullptr, 0), false;

  reset_topology(t);
  t.source = Source::kSynthetic;
  t.synthetic = true;
  t.pus = static_cast<std::uint16_t>(total);
  t.online_pus = t.pus;
  t.nodes = static_cast<std::uint16_t>(nodes);
  t.packages = static_cast<std::uint16_t>(package_level >= 0 ? total / below[package_level] : 1);
  t.cores = static_cast<std::uint16_t>(core_level >= 0 ? total / below[core_level] : total);
  for (std::uint64_t pu = 0; pu < total; ++pu) {
    // The object of level l holding PU p is p / below[l]: a mixed-radix digit prefix.
    t.pu_node[pu] = static_cast<std::uint16_t>(numa_level >= 0 ? pu / below[numa_level] : 0);
    t.pu_package[pu] =
        static_cast<std::uint16_t>(package_level >= 0 ? pu / below[package_level] : 0);
    t.pu_core[pu] = static_cast<std::uint16_t>(core_level >= 0 ? pu / below[core_level] : pu);
  }
  for (std::uint64_t n = 0; n < nodes; ++n) {
    t.node_os_index[n] = -1; // nothing to mbind to: binding is only recorded as intended
    // A node spanning several packages (numa above pack) is filed under its first PU's.
    t.node_package[n] = t.pu_package[n * (total / nodes)];
  }
  finish_topology(t); // distances 10 / 20 same package / 30 other package
  return true;
}

} // namespace hoardlab::numa
