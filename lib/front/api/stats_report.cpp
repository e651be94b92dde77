// hl_stats_print, and the statistics written at exit (HOARDLAB_STATS=1 to stderr,
// HOARDLAB_STATS_FILE=path as JSON).
//
// This runs in a process whose malloc may be hoardlab itself, possibly at exit after other
// libraries have torn down: text is formatted by config::TextSink into a static buffer and
// written with write(2), never through stdio buffers (which malloc) or snprintf.
//
// The at-exit hook is a destructor function of this library (`__attribute__((destructor))`):
// it runs when the process exits normally (after main's atexit handlers) or when the library is
// unloaded, needs no registration call, and so works the same for libhoardlab and the shim.
#include "hoardlab/hoardlab.h"

#include "config/loader.h"
#include "config/options.h"
#include "config/text_sink.h"
#include "config/value.h"
#include "pal/env.h"

#include <cerrno>
#include <dlfcn.h>
#include <unistd.h>

namespace hoardlab::front {
namespace {

using config::kOptionCount;
using config::kOptions;
using config::TextSink;

struct FdTarget {
  int fd;
  FILE* stream;  // used when the stream has no descriptor (fmemopen, open_memstream)
  int error = 0; // the first failed write's errno
};

void flush_to(void* context, const char* data, std::size_t size) {
  auto* target = static_cast<FdTarget*>(context);
  if (target->fd >= 0) {
    const int error = pal::write_all(target->fd, data, size);
    if (target->error == 0) target->error = error;
  } else if (target->stream != nullptr) {
    fwrite(data, 1, size, target->stream);
  }
}

double ratio(std::uint64_t a, std::uint64_t b) {
  return b == 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(b);
}

// The options and their provenance, copied under the options lock: hl_option_set may change a
// run-time option while a report is written (config/options.cpp, "Protocol"). Static: a report
// runs from one thread at a time in practice (see g_buffer), and the record is large for a stack
// that may be a small thread's at exit.
struct OptionsSnapshot {
  config::Options options;
  config::Provenance provenance[kOptionCount];
};
constinit OptionsSnapshot g_snapshot{};

const OptionsSnapshot& take_snapshot() {
  config::with_options([](const config::Options& o) {
    g_snapshot.options = o;
    for (std::size_t i = 0; i < kOptionCount; ++i)
      g_snapshot.provenance[i] = config::provenance_of(i);
  });
  return g_snapshot;
}

// Whether option i's value in effect differs from the table's default.
bool differs_from_default(const config::Options& now, std::size_t i) {
  static constexpr config::Options kDefaults{};
  return !config::values_equal(i, config::get_value(now, i), config::get_value(kDefaults, i));
}

void put_source(TextSink& out, const config::Provenance& from) {
  out.put(config::describe(from.source));
  if (from.source == config::Source::kFile)
    out.put(' ').put(from.file != nullptr ? from.file : "file").put(':').put_u64(from.line);
}

// Cold: on request, at most once per call (config/loader.cpp's apply_file_text says why).
[[gnu::cold]] void write_text_report(TextSink& out) {
  const OptionsSnapshot& now = take_snapshot();
  out.put("hoardlab statistics (pid ").put_i64(getpid()).put(")\n");
  out.put("options that differ from the defaults:\n");
  bool any = false;
  for (std::size_t i = 0; i < kOptionCount; ++i) {
    if (!differs_from_default(now.options, i)) continue;
    any = true;
    out.put("  ").put(kOptions[i].section).put('.').put(kOptions[i].key).put(" = ");
    config::format_value(i, config::get_value(now.options, i), out);
    out.put("  (");
    put_source(out, now.provenance[i]);
    out.put(")\n");
  }
  if (!any) out.put("  (none)\n");
  hl_stats s{};
  hl_stats_get(&s);
  constexpr std::size_t kColumn = 26;
  out.put("totals:\n");
  out.put("  allocations").pad_to(kColumn).put_u64(s.allocations);
  out.put("  (large ").put_u64(s.large_allocations).put(")\n");
  out.put("  frees").pad_to(kColumn).put_u64(s.frees).put('\n');
  out.put("  cache hit rate")
      .pad_to(kColumn)
      .put_fixed(100.0 * ratio(s.cache_hits, s.allocations), 1);
  out.put("%  (").put_u64(s.cache_hits).put(" hits)\n");
  out.put("  remote frees").pad_to(kColumn).put("sent ").put_u64(s.remote_frees_sent);
  out.put(", drained ").put_u64(s.remote_frees_drained);
  out.put(", in ").put_u64(s.remote_batches_sent).put(" sends\n");
  out.put("  superblocks").pad_to(kColumn).put("to pool ").put_u64(s.superblocks_to_pool);
  out.put(", from pool ").put_u64(s.superblocks_from_pool).put('\n');
  out.put("  heap pass-overs").pad_to(kColumn).put_u64(s.heap_pass_overs).put('\n');
  out.put("  in use U").pad_to(kColumn).put_human_bytes(s.bytes_in_use);
  out.put("  (peak at most ").put_human_bytes(s.peak_bytes_in_use);
  out.put("; large ").put_human_bytes(s.large_bytes_in_use).put(")\n");
  out.put("  in thread caches").pad_to(kColumn).put_human_bytes(s.bytes_in_caches).put('\n');
  out.put("  in remote lists").pad_to(kColumn).put_human_bytes(s.bytes_in_remote_lists);
  out.put('\n');
  out.put("  free in heaps and pools").pad_to(kColumn).put_human_bytes(s.bytes_free_in_heaps);
  out.put('\n');
  out.put("  held A").pad_to(kColumn).put_human_bytes(s.bytes_held).put('\n');
  out.put("  blowup A/U").pad_to(kColumn);
  if (s.bytes_in_use == 0)
    out.put("n/a (nothing in use)\n");
  else
    out.put_fixed(ratio(s.bytes_held, s.bytes_in_use), 3).put('\n');
  out.put("  OS bytes").pad_to(kColumn).put("mapped ").put_human_bytes(s.os_bytes_mapped);
  out.put(", resident at most ").put_human_bytes(s.os_bytes_resident);
  out.put(", purged ").put_human_bytes(s.os_bytes_purged);
  if (s.background_purged_bytes != 0)
    out.put(" (purge thread ").put_human_bytes(s.background_purged_bytes).put(")");
  out.put('\n');
  out.put("  large objects cached").pad_to(kColumn).put_human_bytes(s.large_cached_bytes);
  out.put('\n');

  out.put("heaps (").put_u64(s.heaps).put("):\n");
  out.put("  heap  node   allocations         frees  remote drained         u_i    peak u_i  "
          "       a_i  u/a  superblocks  classes C_i\n");
  for (std::uint32_t h = 0; h < s.heaps; ++h) {
    hl_heap_stats hs{};
    if (hl_stats_heap(h, &hs) != 0) break;
    // Right-aligned columns: numbers are formatted first, then padded on the left.
    auto column = [&out](std::uint64_t value, std::size_t width) {
      char digits[24];
      TextSink d(digits, sizeof(digits));
      d.put_u64(value);
      for (std::size_t i = d.size(); i < width; ++i)
        out.put(' ');
      out.put(digits, d.size());
    };
    out.put(' ');
    column(h, 5);
    column(hs.node, 6);
    column(hs.allocations, 14);
    column(hs.frees, 14);
    column(hs.remote_frees_drained, 16);
    column(hs.bytes_in_use, 12);
    column(hs.peak_bytes_in_use, 12);
    column(hs.bytes_held, 12);
    out.put("  ");
    out.put_fixed(ratio(hs.bytes_in_use, hs.bytes_held), 2);
    column(hs.superblocks, 13);
    column(hs.partial_classes, 13);
    out.put('\n');
  }
  out.put("nodes (").put_u64(s.nodes).put("), topology from ");
  out.put(hl_topology_source()).put(":\n");
  out.put("  node  os node  bound  superblocks  bytes placed  local allocs  remote allocs  "
          "cross-node frees\n");
  for (std::uint32_t n = 0; n < s.nodes; ++n) {
    hl_node_stats ns{};
    if (hl_stats_node(n, &ns) != 0) break;
    out.put("  ").put_u64(n).pad_to(8);
    if (ns.os_node < 0)
      out.put("synthetic");
    else
      out.put_i64(ns.os_node);
    out.pad_to(17).put(ns.bound != 0 ? "yes" : "no").pad_to(24).put_u64(ns.superblocks_held);
    out.pad_to(37).put_human_bytes(ns.bytes_placed).pad_to(51).put_u64(ns.local_allocations);
    out.pad_to(65).put_u64(ns.remote_allocations).pad_to(80).put_u64(ns.cross_node_remote_frees);
    out.put('\n');
  }
}

void put_json_option_value(TextSink& out, const config::Options& now, std::size_t i) {
  const config::Value v = config::get_value(now, i);
  switch (kOptions[i].type) {
  case config::Type::Size:
    out.put_u64(v.size);
    break;
  case config::Type::Int:
    out.put_i64(v.integer);
    break;
  case config::Type::Bool:
    out.put(v.boolean ? "true" : "false");
    break;
  case config::Type::Fraction:
    out.put_fixed(v.fraction, 9);
    break;
  case config::Type::Word:
  case config::Type::Text: {
    char text[config::TextValue::kCapacity + 8];
    TextSink t(text, sizeof(text));
    config::format_value(i, v, t);
    out.put_json_string(text);
    break;
  }
  }
}

void write_json_report(TextSink& out) {
  const OptionsSnapshot& now = take_snapshot();
  out.put("{\n  \"pid\": ").put_i64(getpid()).put(",\n  \"options\": {");
  for (std::size_t i = 0; i < kOptionCount; ++i) {
    char name[96];
    TextSink n(name, sizeof(name));
    n.put(kOptions[i].section).put('.').put(kOptions[i].key);
    char text[config::TextValue::kCapacity + 8];
    TextSink t(text, sizeof(text));
    config::format_value(i, config::get_value(now.options, i), t);
    char source[config::TextValue::kCapacity + 64];
    TextSink src(source, sizeof(source));
    put_source(src, now.provenance[i]);
    out.put(i == 0 ? "\n    " : ",\n    ").put_json_string(name).put(": {\"value\": ");
    put_json_option_value(out, now.options, i);
    out.put(", \"text\": ").put_json_string(text);
    out.put(", \"default\": ").put_json_string(kOptions[i].default_text);
    out.put(", \"source\": ").put_json_string(source).put('}');
  }
  out.put("\n  }");
  hl_stats s{};
  hl_stats_get(&s);
  out.put(",\n  \"topology_source\": ").put_json_string(hl_topology_source());
  auto field = [&out](const char* name, std::uint64_t value, bool first = false) {
    out.put(first ? "\n    \"" : ",\n    \"").put(name).put("\": ").put_u64(value);
  };
  out.put(",\n  \"totals\": {");
  field("allocations", s.allocations, true);
  field("frees", s.frees);
  field("cache_hits", s.cache_hits);
  field("remote_frees_sent", s.remote_frees_sent);
  field("remote_frees_drained", s.remote_frees_drained);
  field("remote_batches_sent", s.remote_batches_sent);
  field("superblocks_to_pool", s.superblocks_to_pool);
  field("superblocks_from_pool", s.superblocks_from_pool);
  field("heap_pass_overs", s.heap_pass_overs);
  field("bytes_in_use", s.bytes_in_use);
  field("large_bytes_in_use", s.large_bytes_in_use);
  field("bytes_in_caches", s.bytes_in_caches);
  field("bytes_in_remote_lists", s.bytes_in_remote_lists);
  field("bytes_free_in_heaps", s.bytes_free_in_heaps);
  field("bytes_held", s.bytes_held);
  field("peak_bytes_in_use", s.peak_bytes_in_use);
  field("os_bytes_mapped", s.os_bytes_mapped);
  field("os_bytes_resident", s.os_bytes_resident);
  field("os_bytes_purged", s.os_bytes_purged);
  field("large_allocations", s.large_allocations);
  field("large_cached_bytes", s.large_cached_bytes);
  field("background_purged_bytes", s.background_purged_bytes);
  field("heaps", s.heaps);
  field("nodes", s.nodes);
  out.put(",\n    \"cache_hit_rate\": ").put_fixed(ratio(s.cache_hits, s.allocations), 6);
  out.put(",\n    \"blowup\": ");
  if (s.bytes_in_use == 0)
    out.put("null");
  else
    out.put_fixed(ratio(s.bytes_held, s.bytes_in_use), 6);
  out.put("\n  },\n  \"heaps\": [");
  for (std::uint32_t h = 0; h < s.heaps; ++h) {
    hl_heap_stats hs{};
    if (hl_stats_heap(h, &hs) != 0) break;
    out.put(h == 0 ? "\n    {" : ",\n    {");
    out.put("\"heap\": ").put_u64(h).put(", \"node\": ").put_u64(hs.node);
    out.put(", \"allocations\": ").put_u64(hs.allocations).put(", \"frees\": ").put_u64(hs.frees);
    out.put(", \"remote_frees_drained\": ").put_u64(hs.remote_frees_drained);
    out.put(", \"bytes_in_use\": ").put_u64(hs.bytes_in_use);
    out.put(", \"bytes_held\": ").put_u64(hs.bytes_held);
    out.put(", \"superblocks\": ").put_u64(hs.superblocks);
    out.put(", \"partial_classes\": ").put_u64(hs.partial_classes);
    out.put(", \"peak_bytes_in_use\": ").put_u64(hs.peak_bytes_in_use).put('}');
  }
  out.put("\n  ],\n  \"nodes\": [");
  for (std::uint32_t n = 0; n < s.nodes; ++n) {
    hl_node_stats ns{};
    if (hl_stats_node(n, &ns) != 0) break;
    out.put(n == 0 ? "\n    {" : ",\n    {");
    out.put("\"node\": ").put_u64(n).put(", \"os_node\": ").put_i64(ns.os_node);
    out.put(", \"bound\": ").put(ns.bound != 0 ? "true" : "false");
    out.put(", \"superblocks_held\": ").put_u64(ns.superblocks_held);
    out.put(", \"bytes_placed\": ").put_u64(ns.bytes_placed);
    out.put(", \"local_allocations\": ").put_u64(ns.local_allocations);
    out.put(", \"remote_allocations\": ").put_u64(ns.remote_allocations);
    out.put(", \"cross_node_remote_frees\": ").put_u64(ns.cross_node_remote_frees).put('}');
  }
  out.put("\n  ]\n}\n");
}

// One buffer for both reports: they are written at exit or on request, rarely and from one
// thread at a time in practice; a report racing another may interleave its text, nothing worse.
constinit char g_buffer[4096];

// The statistics file holds one report per line (JSON Lines): every process that exits with
// HOARDLAB_STATS_FILE set appends its own, so the processes of a pipeline, or a program that
// forks, never overwrite each other's. The report is gathered into one line here and written
// with one write(2) where it fits (O_APPEND puts each write whole at the end of the file), so
// that processes exiting together do not interleave their lines. A longer one (hundreds of
// heaps) takes several writes; so that another process's report cannot land between them, each
// writer holds an exclusive flock(2) of the file while it writes its report, whole or in parts
// (a whole line written without it could still split another's parts). One lock per report, at
// exit; a file system that refuses flock leaves the parts unguarded, as they were.
constinit char g_line[1 << 16];

struct LineTarget {
  FdTarget* file;
  std::size_t size = 0;
  bool indenting = false; // after a newline: the indentation is dropped with it
};

void put_line(LineTarget& line, const char* data, std::size_t size) {
  if (line.size + size > sizeof(g_line)) { // a report of hundreds of heaps: written in parts
    flush_to(line.file, g_line, line.size);
    line.size = 0;
  }
  for (std::size_t i = 0; i < size; ++i)
    g_line[line.size++] = data[i];
}

// Drops the report's newlines and indentation: JSON strings escape their own control characters,
// so every raw newline is layout.
void flush_to_line(void* context, const char* data, std::size_t size) {
  auto* line = static_cast<LineTarget*>(context);
  std::size_t start = 0;
  for (std::size_t i = 0; i < size; ++i) {
    const char c = data[i];
    if (c == '\n' || (line->indenting && c == ' ')) {
      if (i > start) put_line(*line, data + start, i - start);
      start = i + 1;
      line->indenting = true;
    } else {
      line->indenting = false;
    }
  }
  if (size > start) put_line(*line, data + start, size - start);
}

// Expands %p (process id), %h (host name) and %% in the statistics file's name; false when the
// result does not fit or the pattern ends in a lone %. Any other %x stays as it is.
bool expand_path(const char* pattern, TextSink& out) {
  for (const char* c = pattern; *c != '\0'; ++c) {
    if (*c != '%') {
      out.put(*c);
      continue;
    }
    switch (*++c) {
    case 'p':
      out.put_i64(getpid());
      break;
    case 'h': {
      char host[256] = {};
      if (gethostname(host, sizeof(host) - 1) != 0) return false;
      out.put(host);
      break;
    }
    case '%':
      out.put('%');
      break;
    case '\0':
      return false;
    default:
      out.put('%').put(*c);
    }
  }
  return !out.truncated();
}

void report_file_failure(const char* path, const char* why) {
  TextSink msg(g_buffer, sizeof(g_buffer));
  msg.put("hoardlab: cannot write the statistics file ").put(path);
  msg.put(" (HOARDLAB_STATS_FILE): ").put(why).put('\n');
  pal::write_stderr(msg.data(), msg.size());
}

// Cold: at exit, when asked for (config/loader.cpp's apply_file_text says why).
[[gnu::cold]] void write_statistics_file(const char* pattern) {
  char path[config::TextValue::kCapacity + 512];
  TextSink expanded(path, sizeof(path));
  if (!expand_path(pattern, expanded)) {
    report_file_failure(pattern, "cannot expand %p or %h in the name");
    return;
  }
  const pal::AppendFile file = pal::open_regular_for_append(path);
  if (file.fd < 0) {
    report_file_failure(path, file.not_regular ? "not a regular file (a FIFO, device or socket)"
                                               : pal::errno_text(file.error));
    return;
  }
  pal::lock_file_exclusive(file.fd); // released by the close below
  FdTarget target{file.fd, nullptr};
  LineTarget line{&target};
  TextSink out(g_buffer, sizeof(g_buffer), flush_to_line, &line);
  write_json_report(out);
  out.flush();
  put_line(line, "\n", 1);
  flush_to(&target, g_line, line.size);
  pal::close_file(file.fd);
  if (target.error != 0) report_file_failure(path, pal::errno_text(target.error));
}

// libhoardlab.so and libhoardlab-malloc.so both carry this destructor. When a process loads
// both, the one allocator is the library that hl_stats_print resolves to (the shim, which comes
// first in the search order); the other library stays silent, so the report appears once.
bool reports_for_this_process() {
  Dl_info mine{}, resolved{};
  void* in_use = dlsym(RTLD_DEFAULT, "hl_stats_print");
  if (in_use == nullptr || dladdr(in_use, &resolved) == 0 ||
      dladdr(reinterpret_cast<void*>(&reports_for_this_process), &mine) == 0)
    return true;
  return resolved.dli_fbase == mine.dli_fbase;
}

__attribute__((destructor)) void write_statistics_at_exit() {
  if (!reports_for_this_process()) return;
  config::load(); // no-op when the allocator has loaded the options already
  const config::Options& o = take_snapshot().options;
  if (o.general_stats) hl_stats_print(nullptr);
  if (!o.general_stats_file.empty()) write_statistics_file(o.general_stats_file.value);
}

} // namespace
} // namespace hoardlab::front

extern "C" HOARDLAB_API void hl_stats_print(FILE* stream) {
  using namespace hoardlab::front;
  FdTarget target{2, nullptr};
  if (stream != nullptr) {
    fflush(stream); // keep the order with what the caller already wrote to the stream
    target.fd = fileno(stream);
    target.stream = stream;
  }
  hoardlab::config::TextSink out(g_buffer, sizeof(g_buffer), flush_to, &target);
  write_text_report(out);
  out.flush();
}
