#include "bench/strategies/traces.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <unordered_map>

#include "bench/common/bench_common.h"

namespace hoardlab::bench::strategies {

namespace {

// Builds a trace op by op and keeps the live-byte bookkeeping every generator needs.
class Builder {
public:
  explicit Builder(std::string name, std::string description) {
    t_.name = std::move(name);
    t_.description = std::move(description);
  }
  std::uint32_t allocate(std::uint32_t size) {
    std::uint32_t id = t_.ids++;
    t_.ops.push_back(Op{id, size, false});
    sizes_.push_back(size);
    live_bytes_ += size;
    ++live_blocks_;
    ++t_.allocations;
    if (live_bytes_ > t_.peak_bytes) {
      t_.peak_bytes = live_bytes_;
      t_.peak_blocks = live_blocks_;
      t_.peak_op = t_.ops.size() - 1;
    }
    return id;
  }
  void free(std::uint32_t id) {
    t_.ops.push_back(Op{id, 0, true});
    live_bytes_ -= sizes_[id];
    --live_blocks_;
  }
  std::size_t size() const { return t_.ops.size(); }
  Trace take() { return std::move(t_); }

private:
  Trace t_;
  std::vector<std::uint32_t> sizes_;
  std::size_t live_bytes_ = 0;
  std::size_t live_blocks_ = 0;
};

Trace steady(Builder b, Rng& rng, std::size_t ops, std::size_t live_target,
             const std::function<std::uint32_t()>& size) {
  std::vector<std::uint32_t> live;
  live.reserve(live_target * 2);
  while (live.size() < live_target && b.size() < ops / 2)
    live.push_back(b.allocate(size()));
  while (b.size() + live.size() < ops) {
    if (live.empty() || rng.uniform(0, 1) == 0) {
      live.push_back(b.allocate(size()));
    } else {
      std::size_t i = rng.uniform(0, live.size() - 1);
      b.free(live[i]);
      live[i] = live.back();
      live.pop_back();
    }
  }
  // Free the rest in random order, so the replay ends with every block given back.
  for (std::size_t i = live.size(); i > 1; --i)
    std::swap(live[i - 1], live[rng.uniform(0, i - 1)]);
  for (std::uint32_t id : live)
    b.free(id);
  return b.take();
}

} // namespace

Trace uniform_small(std::uint64_t seed, std::size_t ops, std::size_t live_target) {
  Rng rng(seed, 1);
  return steady(Builder("uniform-small", "sizes uniform 16-256 B, random lifetimes"), rng, ops,
                live_target, [&] { return static_cast<std::uint32_t>(rng.uniform(16, 256)); });
}

Trace exponential(std::uint64_t seed, std::size_t ops, std::size_t live_target) {
  Rng rng(seed, 2);
  return steady(Builder("exponential", "sizes 1 + exp(mean 512 B), cap 64 KiB, random lifetimes"),
                rng, ops, live_target, [&] {
                  double u = 1.0 - rng.unit(); // (0, 1]
                  double s = 1.0 + std::floor(-std::log(u) * 512.0);
                  return static_cast<std::uint32_t>(std::min(s, 65536.0));
                });
}

Trace fixed_size(std::uint64_t seed, std::size_t ops, std::size_t live_target) {
  Rng rng(seed, 3);
  return steady(Builder("fixed-64", "every request 64 B, random lifetimes"), rng, ops, live_target,
                [] { return std::uint32_t{64}; });
}

Trace phase_change(std::uint64_t seed, std::size_t ops) {
  Rng rng(seed, 4);
  Builder b("phase-change", "alternating small (16-128 B) and large (1-16 KiB) phases; 1 in 10 "
                            "blocks outlives its phase by 1-8 phases");
  struct Survivor {
    std::uint32_t id;
    std::size_t dies_after_phase;
  };
  std::vector<Survivor> survivors;
  std::vector<std::uint32_t> phase_blocks;
  for (std::size_t phase = 0; b.size() < ops; ++phase) {
    bool small = phase % 2 == 0;
    std::size_t burst = small ? 4000 : 400;
    for (std::size_t i = 0; i < burst; ++i) {
      auto size =
          static_cast<std::uint32_t>(small ? rng.uniform(16, 128) : rng.uniform(1024, 16384));
      std::uint32_t id = b.allocate(size);
      if (rng.uniform(1, 10) == 1) {
        survivors.push_back(Survivor{id, phase + rng.uniform(1, 8)});
      } else {
        phase_blocks.push_back(id);
      }
    }
    for (std::uint32_t id : phase_blocks)
      b.free(id);
    phase_blocks.clear();
    std::erase_if(survivors, [&](const Survivor& s) {
      if (s.dies_after_phase > phase) return false;
      b.free(s.id);
      return true;
    });
  }
  for (const Survivor& s : survivors)
    b.free(s.id);
  return b.take();
}

Trace ramps(std::uint64_t seed, std::size_t ops) {
  Rng rng(seed, 5);
  Builder b("ramps", "rounds of 2000-20000 log-uniform 16 B-4 KiB blocks, all freed at round end");
  std::vector<std::uint32_t> round;
  while (b.size() < ops) {
    std::size_t n = rng.uniform(2000, 20000);
    for (std::size_t i = 0; i < n; ++i)
      round.push_back(b.allocate(static_cast<std::uint32_t>(rng.log_uniform(16, 4096))));
    for (std::size_t i = round.size(); i > 1; --i)
      std::swap(round[i - 1], round[rng.uniform(0, i - 1)]);
    for (std::uint32_t id : round)
      b.free(id);
    round.clear();
  }
  Trace t = b.take();
  t.returns_to_empty = true;
  return t;
}

bool load_recorded(const std::string& path, Trace* out, std::string* error) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    *error = "cannot open '" + path + "'";
    return false;
  }
  char magic[8];
  if (std::fread(magic, 1, sizeof magic, f) != sizeof magic ||
      std::string(magic, sizeof magic) != "HLTRACE1") {
    std::fclose(f);
    *error = "'" + path + "' is not a recorded trace (no HLTRACE1 header)";
    return false;
  }
  std::string name = path.substr(path.find_last_of('/') + 1);
  Builder b(name, "recorded from a real program (" + path + ")");
  std::unordered_map<std::uint64_t, std::uint32_t> live; // address -> block id
  std::size_t unmatched = 0, records = 0;
  std::uint64_t rec[2];
  while (std::fread(rec, sizeof rec, 1, f) == 1) {
    ++records;
    std::uint64_t ptr = rec[0];
    bool is_free = (rec[1] & 1u) != 0;
    std::uint64_t size = rec[1] >> 1;
    auto it = live.find(ptr);
    if (is_free) {
      if (it == live.end()) {
        ++unmatched;
        continue;
      }
      b.free(it->second);
      live.erase(it);
      continue;
    }
    if (size >= (std::uint64_t{1} << 32)) continue;
    // An address handed out again before its free was recorded (threads race the recorder's
    // lock between the real call and the record): the old block ended first.
    if (it != live.end()) {
      b.free(it->second);
      live.erase(it);
    }
    live.emplace(ptr, b.allocate(static_cast<std::uint32_t>(size)));
  }
  std::fclose(f);
  if (records == 0) {
    *error = "'" + path + "' holds no records";
    return false;
  }
  *out = b.take();
  out->description += ", " + std::to_string(unmatched) + " frees of unseen blocks dropped, " +
                      std::to_string(live.size()) + " blocks live at exit";
  return true;
}

} // namespace hoardlab::bench::strategies
