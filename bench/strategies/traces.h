// Seeded allocation traces for the strategy study: each is a fixed sequence of allocations and
// frees, generated once and replayed against every strategy, so that all of them see exactly
// the same requests.
//
// The shapes follow what Wilson, Johnstone, Neely and Boles ("Dynamic Storage Allocation: A
// Survey and Critical Review", IWMM 1995) describe in real programs — ramps, peaks and
// plateaus, and phases whose objects differ in size and lifetime — and what Johnstone and
// Wilson ("The Memory Fragmentation Problem: Solved?", ISMM 1998) warn about synthetic traces:
// independent random sizes and lifetimes (the steady traces here) understate the fragmentation
// of real programs, whose phase behaviour (the phase-change trace) is what scatters long-lived
// objects among holes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace hoardlab::bench::strategies {

struct Op {
  std::uint32_t id;   // the block's slot in the replay's table
  std::uint32_t size; // bytes requested (allocations only)
  bool is_free;
};

struct Trace {
  std::string name;
  std::string description;
  std::vector<Op> ops;
  std::uint32_t ids = 0;       // distinct block ids; the replay table's size
  std::size_t peak_op = 0;     // the op after which the live requested bytes peak
  std::size_t peak_bytes = 0;  // those bytes
  std::size_t peak_blocks = 0; // live blocks at that point
  std::size_t allocations = 0;
  bool returns_to_empty = false; // every block is freed at the end of each round (ramps)
};

// Steady state: ramp up to live_target blocks, then allocate or free at random (equal odds),
// then free everything. Sizes uniform in [16, 256].
Trace uniform_small(std::uint64_t seed, std::size_t ops, std::size_t live_target);
// The same shape; sizes 1 + exponential with mean 512, capped at 64 KiB (a long tail).
Trace exponential(std::uint64_t seed, std::size_t ops, std::size_t live_target);
// The same shape, every request 64 bytes: the one trace a slab serves.
Trace fixed_size(std::uint64_t seed, std::size_t ops, std::size_t live_target);
// Phases alternate between small objects (16-128 bytes) and large ones (1-16 KiB); each phase
// allocates a burst, frees most of it at its end, and keeps one block in ten alive for 1 to 8
// more phases, so survivors of one phase sit between the holes of the next.
Trace phase_change(std::uint64_t seed, std::size_t ops);
// Ramps: allocate a round of log-uniform blocks (16 B - 4 KiB), then free all of them; the
// nested lifetimes an arena is made for.
Trace ramps(std::uint64_t seed, std::size_t ops);

// A trace recorded from a real program by trace_recorder.c. Frees of blocks the recording never
// saw allocated are dropped (allocations made before the recorder started), and so are
// requests of 4 GiB or more. Blocks still live at the end stay live. On a bad file, returns
// false and says why in *error.
bool load_recorded(const std::string& path, Trace* out, std::string* error);

} // namespace hoardlab::bench::strategies
