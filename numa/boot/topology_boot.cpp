// The boot topology: sysfs and synthetic descriptions, computed once inside malloc without
// allocating, and the slot where the hwloc loader publishes its fuller view.
#include "numa/topology.h"

#include "config/loader.h"
#include "config/options.h"
#include "core/atomic.h"
#include "numa/boot/text.h"
#include "pal/env.h"
#include "pal/process_claim.h"

#include <new>
#include <sched.h>

namespace hoardlab::numa {
namespace {

// ---------------------------------------------------------------------------------------------
// Once-only computation of the boot topology.
//
/// Protocol:   boot_topology(): any thread. The first caller moves state_ from kIdle to its
///             process's claim (pal/process_claim.h), fills boot_ and stores kReady; every other
///             caller waits (sched_yield) until kReady. publish_topology(): any thread, outside
///             malloc; the first caller moves published_state_ from kIdle to its claim, fills
///             published_ and stores kReady. Either step can be under way when a program forks
///             before the allocator's fork handlers exist (a first topology read, or init, in
///             another thread): the child finds a claim naming its parent, whose thread it does
///             not have, takes the claim over by CAS (one winner) and does the step from the
///             start, over what the lost thread had written.
/// Invariants: I1: boot_ is written only while state_ is a claim of this process, by the one
///             thread that made it; it is read only after state_ == kReady, and never written
///             again. I2: the same for published_ and published_state_.
/// Ordering:   [BT1] the builder's store_release of kReady publishes boot_;
///             [BT2] readers' load_acquire of state_ (and the claim CASes' acquire on failure)
///             pair with [BT1]. [BT3] publish's store_release of kReady publishes published_;
///             [BT4] load_acquire of published_state_ (in boot and topology()) pairs with [BT3].
/// ABA:        states only move forward (kIdle -> claim -> kReady), but for a fork child's move
///             from its parent's claim to its own, which no thread of the child can have made;
///             so none (pid reuse within one fork lineage aside, as pal::ProcessLock says).
constexpr int kIdle = 0;
constexpr int kReady = 2; // a claim in between (pal::is_claim)
static_assert(!pal::is_claim(kIdle) && !pal::is_claim(kReady));

// Claims `state` (kIdle, or a claim lost to fork, -> this process's claim) and returns true, or
// returns false once it reads kReady; waits while another thread of this process holds it.
bool claim_or_wait(core::Atomic<int>& state) noexcept {
  const int self = pal::own_claim();
  for (;;) {
    int seen = kIdle;
    if (pal::try_claim(state, kIdle, self, seen) != pal::ClaimResult::kBusy) return true;
    if (seen == kReady) return false; // [BT2]/[BT4]: the failed CAS loaded it acquire
    sched_yield();
  }
}

constinit core::Atomic<int> state_{kIdle};
constinit Topology boot_{};
constinit core::Atomic<int> published_state_{kIdle};
// Read only once published_state_ is kReady, after publish has built a whole topology in it, so
// it has no first value of its own: zeros, in .bss, rather than 15 KiB of .data that every
// process maps whether or not anything publishes.
union PublishedSlot {
  char none = 0;
  Topology t;
};
constinit PublishedSlot published_{};
// Set once by the loader, read by boot: a flag with nothing to publish, so relaxed.
constinit core::Atomic<bool> load_failed_{false};

// Static buffers for sysfs files: the largest, a cpulist of 1024 CPUs written out one by one,
// stays under 5 KiB; a distance row of 64 nodes under 256 bytes. Only the builder (I1) uses them.
constexpr std::size_t kFileBuffer = 8192;
constinit char file_buf_[kFileBuffer] = {};
constinit char path_buf_[128] = {};

void copy_topology(Topology& to, const Topology& from) noexcept {
  // Member-wise copy of a trivially copyable record; written out so -fno-builtin's lack of
  // memcpy inlining costs nothing noticeable (it runs once).
  to = from;
}

// Reads a sysfs file into file_buf_; returns its length or -1.
long read_sys(const char* path) noexcept {
  const pal::ReadResult r = pal::read_file(path, file_buf_, kFileBuffer - 1);
  if (r.error != 0) return -1;
  file_buf_[r.bytes] = '\0';
  return static_cast<long>(r.bytes);
}

const char* node_path(int os_node, const char* leaf) noexcept {
  text::Appender(path_buf_, sizeof path_buf_)
      .str("/sys/devices/system/node/node")
      .num(static_cast<std::uint64_t>(os_node))
      .str("/")
      .str(leaf);
  return path_buf_;
}

const char* cpu_path(int cpu, const char* leaf) noexcept {
  text::Appender(path_buf_, sizeof path_buf_)
      .str("/sys/devices/system/cpu/cpu")
      .num(static_cast<std::uint64_t>(cpu))
      .str("/")
      .str(leaf);
  return path_buf_;
}

// Reads a one-number sysfs file; -1 when unreadable.
long read_number(const char* path) noexcept {
  const long n = read_sys(path);
  if (n <= 0) return -1;
  const char* p = file_buf_;
  std::uint64_t v = 0;
  if (!text::parse_uint(p, file_buf_ + n, 1u << 30, v)) return -1;
  return static_cast<long>(v);
}

// The first number of a list file ("3-5,9" -> 3); -1 when unreadable.
long read_first_of_list(const char* path) noexcept {
  return read_number(path);
}

void write_warning(const char* what, const char* value, const char* why,
                   const char* consequence) noexcept {
  char msg[512];
  text::Appender a(msg, sizeof msg);
  a.str("hoardlab: ").str(what).str("=\"").str(value, 200).str("\": ").str(why).str("; ");
  a.str(consequence).str("\n");
  pal::write_stderr(msg, a.length());
}

// numa.topology as the options give it (HOARDLAB_TOPOLOGY, HOARDLAB_OPTIONS or the file), through
// config's one path: loaded first if nothing has loaded the options yet (a topology query before
// the allocator's first use), so that a value the loader refused (too long, say) is never taken
// from the raw environment instead, and setuid processes read none.
const char* topology_description() noexcept {
  config::load();
  return config::options().numa_topology.value;
}

// An XML file rather than a synthetic description: synthetic descriptions never hold '/' and
// never end in ".xml".
bool looks_like_xml_path(const char* s) noexcept {
  std::size_t n = 0;
  bool slash = false;
  for (; s[n] != '\0'; ++n)
    slash = slash || s[n] == '/';
  const bool xml_suffix = n >= 4 && s[n - 4] == '.' && (s[n - 3] | 0x20) == 'x' &&
                          (s[n - 2] | 0x20) == 'm' && (s[n - 1] | 0x20) == 'l';
  return slash || xml_suffix;
}

bool blank(const char* s) noexcept {
  for (; *s != '\0'; ++s)
    if (!text::is_space(*s)) return false;
  return true;
}

// Cold: once per process, as read_sysfs (lib/config/loader.cpp's apply_file_text says why).
[[gnu::cold]] void build_boot(Topology& t) noexcept {
  // [BT4] an hwloc view published before the allocator's first use wins: it is the same
  // machine, seen more fully (or the XML file, which cannot be read here).
  if (published_state_.load_acquire() == kReady) {
    copy_topology(t, published_.t);
    return;
  }
  const char* desc = topology_description();
  if (desc != nullptr && !blank(desc)) {
    if (looks_like_xml_path(desc)) {
      // hwloc's XML parser (libxml2 or its own) allocates and may dlopen plugins, which cannot
      // run inside malloc. libhoardlab's constructor loads the file with hwloc before the first
      // allocation and publishes it (handled above); reaching here means the allocator started
      // earlier (the preloaded shim, or an allocation from another library's constructor).
      if (!load_failed_.load_relaxed())
        write_warning("HOARDLAB_TOPOLOGY", desc,
                      "an XML topology cannot be read before the allocator's first use",
                      "using the real topology (`hoardlab topology --to-synthetic FILE` gives an "
                      "equivalent synthetic description)");
    } else {
      char err[160];
      if (parse_synthetic(desc, t, err, sizeof err)) return;
      // A bad option like any other: named with its source, and fatal under strict config.
      config::reject_loaded_option(config::OptionId::numa_topology, err);
    }
  }
  read_sysfs(t);
}

} // namespace

const char* source_name(Source s) noexcept {
  switch (s) {
  case Source::kFallback:
    return "fallback";
  case Source::kSysfs:
    return "sysfs";
  case Source::kSynthetic:
    return "synthetic";
  case Source::kHwloc:
    return "hwloc";
  case Source::kHwlocXml:
    return "hwloc-xml";
  }
  return "unknown";
}

void make_fallback(Topology& t, int pus) noexcept {
  reset_topology(t);
  if (pus < 1) pus = 1;
  if (pus > kMaxPus) pus = kMaxPus;
  t.source = Source::kFallback;
  t.nodes = 1;
  t.pus = static_cast<std::uint16_t>(pus);
  t.online_pus = t.pus;
  t.cores = t.pus;
  t.packages = 1;
  for (int p = 0; p < pus; ++p)
    t.pu_core[p] = static_cast<std::uint16_t>(p);
  t.node_os_index[0] = 0;
  finish_topology(t);
}

void finish_topology(Topology& t) noexcept {
  const int n = t.nodes;
  for (int i = 0; i < n; ++i)
    t.node_pus[i] = 0;
  for (int p = 0; p < t.pus; ++p)
    if (t.pu_node[p] < n) ++t.node_pus[t.pu_node[p]];
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j)
      if (t.distance[i][j] == 0)
        t.distance[i][j] = i == j                                   ? kDistanceLocal
                           : t.node_package[i] == t.node_package[j] ? kDistanceSamePackage
                                                                    : kDistanceOtherPackage;
  // nearest[i]: insertion sort by (distance, (j - i) mod n). At most 64 x 64: runs once.
  for (int i = 0; i < n; ++i) {
    int count = 0;
    for (int k = 0; k < n; ++k) {
      const int j = (i + k) % n; // candidates in rotation order, so ties keep (j - i) mod n
      int pos = count;
      while (pos > 0 && t.distance[i][t.nearest[i][pos - 1]] > t.distance[i][j]) {
        t.nearest[i][pos] = t.nearest[i][pos - 1];
        --pos;
      }
      t.nearest[i][pos] = static_cast<std::uint8_t>(j);
      ++count;
    }
  }
}

// Cold: once per process (lib/config/loader.cpp's apply_file_text says why).
[[gnu::cold]] bool read_sysfs(Topology& t) noexcept {
  // Possible CPUs size the PU table: sched_getcpu() never returns a number outside it.
  int pus = 1;
  long n = read_sys("/sys/devices/system/cpu/possible");
  if (n > 0) {
    int highest = 0;
    if (text::for_each_range(file_buf_, file_buf_ + n, [&](int, int b) {
          if (b > highest) highest = b;
        }))
      pus = highest + 1;
  }
  if (pus > kMaxPus) pus = kMaxPus; // current_pu() folds larger CPU numbers into range
  make_fallback(t, pus);

  // Online CPUs; the rest are holes in the numbering.
  bool online[kMaxPus] = {};
  int online_count = 0;
  n = read_sys("/sys/devices/system/cpu/online");
  if (n > 0 && text::for_each_range(file_buf_, file_buf_ + n, [&](int a, int b) {
        for (int c = a; c <= b && c < pus; ++c)
          if (!online[c]) {
            online[c] = true;
            ++online_count;
          }
      })) {
    t.online_pus = static_cast<std::uint16_t>(online_count > 0 ? online_count : pus);
  }
  if (online_count == 0)
    for (int c = 0; c < pus; ++c)
      online[c] = true;
  for (int c = 0; c < pus; ++c)
    if (!online[c]) mark_pu_offline(t, c);

  // Cores and packages: a core is named by the first CPU of its thread_siblings_list, a package
  // by physical_package_id; both renumbered densely in CPU order.
  {
    std::int16_t core_of_leader[kMaxPus];
    for (int c = 0; c < kMaxPus; ++c)
      core_of_leader[c] = -1;
    constexpr int kMaxPackageIds = 256;
    std::int16_t package_index[kMaxPackageIds];
    for (int i = 0; i < kMaxPackageIds; ++i)
      package_index[i] = -1;
    int cores = 0;
    int packages = 0;
    bool readable = true;
    for (int c = 0; c < pus && readable; ++c) {
      if (!online[c]) continue;
      const long leader = read_first_of_list(cpu_path(c, "topology/thread_siblings_list"));
      const long package = read_number(cpu_path(c, "topology/physical_package_id"));
      if (leader < 0 || leader >= kMaxPus || package < 0) {
        readable = false;
        break;
      }
      if (core_of_leader[leader] < 0) core_of_leader[leader] = static_cast<std::int16_t>(cores++);
      t.pu_core[c] = static_cast<std::uint16_t>(core_of_leader[leader]);
      const int slot = static_cast<int>(package % kMaxPackageIds);
      if (package_index[slot] < 0) package_index[slot] = static_cast<std::int16_t>(packages++);
      t.pu_package[c] = static_cast<std::uint16_t>(package_index[slot]);
    }
    if (readable && cores > 0) {
      t.cores = static_cast<std::uint16_t>(cores);
      t.packages = static_cast<std::uint16_t>(packages);
    }
  }

  // Nodes: /sys/devices/system/node/online lists the node ids; each node's cpulist and distance
  // row (one entry per online node, in the same order).
  n = read_sys("/sys/devices/system/node/online");
  if (n <= 0) return false;
  int os_ids[kMaxNodes];
  int nodes = 0;
  bool too_many = false;
  if (!text::for_each_range(file_buf_, file_buf_ + n,
                            [&](int a, int b) {
                              for (int id = a; id <= b; ++id) {
                                if (nodes == kMaxNodes) {
                                  too_many = true;
                                  return;
                                }
                                os_ids[nodes++] = id;
                              }
                            }) ||
      nodes == 0)
    return false;
  if (too_many) {
    static constexpr char kMsg[] = "hoardlab: more than 64 NUMA nodes; CPUs of the others count "
                                   "as node 0's\n";
    pal::write_stderr(kMsg, sizeof kMsg - 1);
  }
  t.nodes = static_cast<std::uint16_t>(nodes);
  for (int i = 0; i < nodes; ++i) {
    t.node_os_index[i] = static_cast<std::int16_t>(os_ids[i]);
    n = read_sys(node_path(os_ids[i], "cpulist"));
    if (n > 0) {
      text::for_each_range(file_buf_, file_buf_ + n, [&](int a, int b) {
        for (int c = a; c <= b && c < pus; ++c)
          t.pu_node[c] = static_cast<std::uint16_t>(i);
      });
    }
    n = read_sys(node_path(os_ids[i], "distance"));
    if (n > 0) {
      const char* p = file_buf_;
      const char* end = file_buf_ + n;
      for (int j = 0; j < nodes; ++j) {
        while (p < end && text::is_space(*p))
          ++p;
        std::uint64_t d = 0;
        if (!text::parse_uint(p, end, 255, d)) break;
        t.distance[i][j] = static_cast<std::uint8_t>(d);
      }
    }
    // "Node 0 MemTotal:       4679876 kB"
    n = read_sys(node_path(os_ids[i], "meminfo"));
    if (n > 0) {
      const char* end = file_buf_ + n;
      for (const char* p = file_buf_; p + 9 < end; ++p) {
        if (p[0] == 'M' && p[1] == 'e' && p[2] == 'm' && p[3] == 'T' && p[4] == 'o' &&
            p[5] == 't' && p[6] == 'a' && p[7] == 'l' && p[8] == ':') {
          p += 9;
          while (p < end && *p == ' ')
            ++p;
          std::uint64_t kib = 0;
          if (text::parse_uint(p, end, std::uint64_t{1} << 50, kib)) t.node_memory[i] = kib * 1024;
          break;
        }
      }
    }
  }
  // A node's package: that of its first PU (nodes without CPUs stay in package 0).
  for (int i = 0; i < nodes; ++i)
    t.node_package[i] = 0;
  for (int c = pus - 1; c >= 0; --c)
    if (online[c]) t.node_package[t.pu_node[c]] = t.pu_package[c];
  t.source = Source::kSysfs;
  finish_topology(t);
  return true;
}

const Topology& boot_topology() noexcept {
  // [BT2] the common case: one acquire load.
  if (state_.load_acquire() == kReady) return boot_;
  if (claim_or_wait(state_)) {
    build_boot(boot_);            // from the start (it resets boot_), over what a lost builder left
    state_.store_release(kReady); // [BT1]
  }
  return boot_;
}

const Topology& topology() noexcept {
  if (published_state_.load_acquire() == kReady) // [BT4]
    return published_.t;
  return boot_topology();
}

bool publish_topology(const Topology& t) noexcept {
  // Only the first publish counts; a second waits for the first and is refused.
  if (!claim_or_wait(published_state_)) return false;
  new (&published_.t) Topology(t);        // its lifetime starts here (I2)
  published_state_.store_release(kReady); // [BT3]
  return true;
}

void note_topology_load_failed() noexcept {
  load_failed_.store_relaxed(true);
}

int nearest_nodes(const Topology& t, int node, std::span<int> out) noexcept {
  if (node < 0 || node >= t.nodes) node = 0;
  const int n = static_cast<int>(out.size()) < t.nodes ? static_cast<int>(out.size()) : t.nodes;
  for (int k = 0; k < n; ++k)
    out[static_cast<std::size_t>(k)] = t.nearest[node][k];
  return n;
}

int nearest_nodes(int node, std::span<int> out) noexcept {
  return nearest_nodes(boot_topology(), node, out);
}

} // namespace hoardlab::numa
