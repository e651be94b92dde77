// replay: a compiler's allocation trace, replayed against malloc. Many size classes, a small
// live set, one thread's worth of work (at T threads, T independent replays: a parallel build).
//
// The trace is generated before the timed region, deterministically from the seed, in the shape
// of a compiler front end working through translation units (the phase behaviour Wilson et al.,
// "Dynamic Storage Allocation: A Survey and Critical Review", IWMM 1995, §2.4, describe in real
// programs): per unit, AST nodes of about ten sizes, identifier strings interned in a long-lived
// table (most lookups hit; the table keeps its newest entries), child lists and a symbol table
// that grow by realloc, stack-like temporaries during code generation; at the unit's end its
// nodes, lists and table are freed at once (the arena a compiler would use), and a few nodes
// survive into a long-lived module list. With REPLAY_TRACE=FILE in the environment it replays a
// trace recorded from a real program by bench/strategies' recorder instead (an environment
// variable because the flags are numbers, and the harness passes the environment through). Blocks
// are patterned after each malloc and realloc and verified before each free and after each realloc.
// ops = trace operations (malloc, realloc, free) replayed. Adds `live_peak_bytes` and `trace`
// ("compiler" or the recorded file).
#include <algorithm>
#include <cstdlib>
#include <deque>
#include <string>
#include <vector>

#include "bench/common/bench_common.h"
#include "bench/strategies/traces.h"

using namespace hoardlab::bench;

namespace {

constexpr const char* kName = "replay";

enum class Kind : uint8_t { kMalloc, kRealloc, kFree };

/// Eight bytes, so that the trace (held in memory during the replay, and counted in the peak
/// RSS of every allocator alike) stays small beside the live set it drives.
struct Op {
  uint32_t slot;
  uint32_t size_kind; // size << 2 | kind; the size is the new one for kMalloc and kRealloc

  static Op make(uint32_t slot, uint64_t size, Kind kind) {
    return {slot, static_cast<uint32_t>(size << 2) | static_cast<uint32_t>(kind)};
  }
  uint32_t size() const { return size_kind >> 2; }
  Kind kind() const { return static_cast<Kind>(size_kind & 3); }
};
/// Sizes above this do not fit an Op (a recorded trace's larger requests are clamped to it).
constexpr uint64_t kMaxOpSize = (uint64_t{1} << 30) - 1;

struct Trace {
  std::vector<Op> ops;
  uint32_t slots = 0;
};

/// Builds a trace; slots of freed blocks are reused so the replay's table stays small.
class TraceBuilder {
public:
  explicit TraceBuilder(Trace* trace) : trace_(trace) {}
  uint32_t alloc(uint64_t size) {
    uint32_t slot;
    if (!free_slots_.empty()) {
      slot = free_slots_.back();
      free_slots_.pop_back();
    } else {
      slot = trace_->slots++;
    }
    trace_->ops.push_back(Op::make(slot, size, Kind::kMalloc));
    return slot;
  }
  void realloc(uint32_t slot, uint64_t size) {
    trace_->ops.push_back(Op::make(slot, size, Kind::kRealloc));
  }
  void free(uint32_t slot) {
    trace_->ops.push_back(Op::make(slot, 0, Kind::kFree));
    free_slots_.push_back(slot);
  }

private:
  Trace* trace_;
  std::vector<uint32_t> free_slots_;
};

struct Shape {
  uint64_t units;
  uint64_t max_nodes;
  uint64_t interned;
  uint64_t survivors;
};

/// A vector of pointers that grows by doubling through realloc, as a C compiler's does.
struct GrowingList {
  uint32_t slot;
  uint64_t length = 0;
  uint64_t capacity = 4;
};

void grow(TraceBuilder& b, GrowingList& list) {
  if (++list.length > list.capacity) {
    list.capacity *= 2;
    b.realloc(list.slot, list.capacity * sizeof(void*));
  }
}

Trace compiler_trace(uint64_t seed, uint64_t stream, const Shape& shape) {
  static constexpr uint32_t kNodeSizes[] = {24, 32, 40, 48, 56, 64, 80, 96, 128, 160};
  Rng rng(seed, stream);
  Trace trace;
  TraceBuilder b(&trace);
  std::deque<uint32_t> interned; // long-lived, newest at the back
  std::deque<uint32_t> module;   // nodes that outlive their unit
  for (uint64_t unit = 0; unit < shape.units; ++unit) {
    std::vector<uint32_t> arena; // what the unit's end frees
    GrowingList symbols{b.alloc(16 * sizeof(void*)), 0, 16};
    const uint64_t nodes = rng.log_uniform(64, shape.max_nodes);
    for (uint64_t n = 0; n < nodes; ++n) {
      const uint32_t node_size = kNodeSizes[rng.uniform(0, std::size(kNodeSizes) - 1)];
      const uint32_t node = b.alloc(node_size);
      if (rng.uniform(0, 99) < 2) {
        module.push_back(node);
        if (module.size() > shape.survivors) {
          b.free(module.front());
          module.pop_front();
        }
      } else {
        arena.push_back(node);
      }
      // An identifier: a new one is interned (a short string kept for good), most are found.
      if (rng.uniform(0, 99) < 30 && rng.uniform(0, 99) < 30) {
        interned.push_back(b.alloc(rng.log_uniform(1, 32) + 1));
        if (interned.size() > shape.interned) {
          b.free(interned.front());
          interned.pop_front();
        }
      }
      // A declaration enters the unit's symbol table, which doubles when full.
      if (n % 4 == 0) grow(b, symbols);
      // A compound node: its children are appended to a list that grows by realloc.
      if (rng.uniform(0, 99) < 15) {
        GrowingList children{b.alloc(4 * sizeof(void*))};
        const uint64_t count = rng.log_uniform(1, 64);
        for (uint64_t i = 0; i < count; ++i)
          grow(b, children);
        arena.push_back(children.slot);
      }
      // Code generation for a statement: temporaries with nested (stack) lifetimes.
      if (n % 16 == 15) {
        uint32_t temps[8];
        const uint64_t depth = rng.uniform(1, 8);
        for (uint64_t i = 0; i < depth; ++i)
          temps[i] = b.alloc(rng.log_uniform(16, 4096));
        for (uint64_t i = depth; i-- > 0;)
          b.free(temps[i]);
      }
    }
    for (uint32_t slot : arena)
      b.free(slot);
    b.free(symbols.slot);
  }
  for (uint32_t slot : module)
    b.free(slot);
  for (uint32_t slot : interned)
    b.free(slot);
  return trace;
}

/// A recorded trace's operations as this replay's; its blocks still live at the end stay live
/// until the replay's final clean-up.
Trace recorded_trace(const std::string& path, const Flags& flags) {
  strategies::Trace recorded;
  std::string error;
  if (!strategies::load_recorded(path, &recorded, &error)) flags.usage_error(error);
  Trace trace;
  trace.slots = recorded.ids;
  trace.ops.reserve(recorded.ops.size());
  for (const strategies::Op& op : recorded.ops)
    trace.ops.push_back(
        op.is_free ? Op::make(op.id, 0, Kind::kFree)
                   : Op::make(op.id, std::clamp<uint64_t>(op.size, 1, kMaxOpSize), Kind::kMalloc));
  return trace;
}

struct Live {
  void* p = nullptr;
  uint32_t size = 0;
};

/// Replays the trace once; returns the bytes it held at most.
uint64_t replay(const Trace& trace, std::vector<Live>& table, uint64_t tag_base) {
  LiveBytes live;
  for (const Op& op : trace.ops) {
    Live& block = table[op.slot];
    const uint64_t tag = tag_base + op.slot;
    const uint32_t size = op.size();
    switch (op.kind()) {
    case Kind::kMalloc:
      block.p = checked_malloc(kName, size);
      block.size = size;
      pattern_fill(block.p, size, tag);
      live.add(size);
      break;
    case Kind::kRealloc: {
      void* p = std::realloc(block.p, size);
      if (p == nullptr) check_failed(kName, "realloc to " + std::to_string(size) + " failed");
      pattern_verify(kName, p, std::min(block.size, size), tag);
      pattern_fill(p, size, tag);
      live.sub(block.size);
      live.add(size);
      block = {p, size};
      break;
    }
    case Kind::kFree:
      pattern_verify(kName, block.p, block.size, tag);
      std::free(block.p);
      live.sub(block.size);
      block = {};
      break;
    }
  }
  for (Live& block : table) {
    std::free(block.p);
    block = {};
  }
  return live.peak;
}

} // namespace

int main(int argc, char** argv) {
  Flags flags(kName, "A compiler's allocation trace (AST nodes, interned strings, lists grown by "
                     "realloc, per-unit arenas) generated from the seed and replayed.");
  Common c;
  c.threads = 1;
  c.iterations = 40;
  Shape shape{30, 4000, 4000, 2000};
  std::string trace_file;
  add_common(flags, c, kUseIterations);
  flags.add_u64("units", &shape.units, "translation units in the generated trace", 1, 1ULL << 24);
  flags.add_u64("max-nodes", &shape.max_nodes, "most AST nodes in one unit (log-uniform from 64)",
                64, 1ULL << 24);
  flags.add_u64("interned", &shape.interned, "identifier strings the intern table keeps", 1,
                1ULL << 24);
  flags.add_u64("survivors", &shape.survivors, "nodes the module keeps across units", 1,
                1ULL << 24);
  flags.set_quick([&] {
    c.iterations = 2;
    shape.units = 10;
  });
  flags.parse(argc, argv);
  finish_common(flags, c, kUseIterations);
  if (const char* path = std::getenv("REPLAY_TRACE")) trace_file = path;

  // Each thread replays its own trace; all are built before the clock starts.
  std::vector<Trace> traces;
  for (uint64_t t = 0; t < c.threads; ++t)
    traces.push_back(trace_file.empty() ? compiler_trace(c.seed, t, shape)
                                        : recorded_trace(trace_file, flags));
  std::vector<std::vector<Live>> tables;
  for (const Trace& trace : traces)
    tables.emplace_back(trace.slots);
  std::vector<uint64_t> live_peak(c.threads, 0);

  double elapsed = run_threads(c.threads, [&](uint64_t t) {
    for (uint64_t it = 0; it < c.iterations; ++it)
      live_peak[t] = std::max(live_peak[t], replay(traces[t], tables[t], make_tag(t, it << 32)));
  });

  Result r;
  r.elapsed_s = elapsed;
  for (const Trace& trace : traces)
    r.ops += trace.ops.size() * c.iterations;
  uint64_t peak = 0;
  for (uint64_t p : live_peak)
    peak += p;
  // Which trace ran: "compiler" (generated) or the recorded file's path.
  r.extra_json = live_peak_json(peak) +
                 ",\"trace\":" + json_string(trace_file.empty() ? "compiler" : trace_file);
  print_result(flags, c, r);
  return 0;
}
