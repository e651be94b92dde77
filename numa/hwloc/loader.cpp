// The hwloc loader: hwloc's view of the machine (or of a synthetic / XML description) as a
// plain numa::Topology, published for the allocator and the stats. Runs outside malloc only.
#include "numa/hwloc/loader.h"

#include "config/options.h"
#include "config/value.h"
#include "numa/boot/text.h"
#include "pal/env.h"

#include <hwloc.h>

#include <cstdlib>
#include <cstring>

namespace hoardlab::numa {

bool is_xml_path_for_loader(const char* s) noexcept {
  const std::size_t n = std::strlen(s);
  return std::strchr(s, '/') != nullptr ||
         (n >= 4 && (std::strcmp(s + n - 4, ".xml") == 0 || std::strcmp(s + n - 4, ".XML") == 0));
}

namespace {

bool is_xml_path(const char* s) noexcept {
  return is_xml_path_for_loader(s);
}

bool blank(const char* s) noexcept {
  for (; *s != '\0'; ++s)
    if (!text::is_space(*s)) return false;
  return true;
}

void set_error(char* err, std::size_t size, const char* what, const char* detail) noexcept {
  text::Appender a(err, size);
  a.str(what);
  if (detail != nullptr) a.str(": ").str(detail);
}

// Owns an hwloc topology for the length of one load.
class HwlocHandle {
public:
  HwlocHandle() noexcept { ok_ = hwloc_topology_init(&topo_) == 0; }
  ~HwlocHandle() {
    if (ok_) hwloc_topology_destroy(topo_);
  }
  HwlocHandle(const HwlocHandle&) = delete;
  HwlocHandle& operator=(const HwlocHandle&) = delete;
  bool ok() const noexcept { return ok_; }
  hwloc_topology_t get() const noexcept { return topo_; }

  // description as for load_hwloc. On failure err says why.
  bool load(const char* description, char* err, std::size_t err_size) noexcept {
    if (!ok_) return set_error(err, err_size, "hwloc_topology_init failed", nullptr), false;
    // I/O devices (PCI, disks, NICs) are of no use to placement and are the slow part.
    hwloc_topology_set_io_types_filter(topo_, HWLOC_TYPE_FILTER_KEEP_NONE);
    hwloc_topology_set_type_filter(topo_, HWLOC_OBJ_L1ICACHE, HWLOC_TYPE_FILTER_KEEP_NONE);
    // The whole machine, as sysfs shows it, not only the CPUs this process's cpuset allows.
    hwloc_topology_set_flags(topo_, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED);
    if (description != nullptr && !blank(description)) {
      const bool xml = is_xml_path(description);
      const int rc = xml ? hwloc_topology_set_xml(topo_, description)
                         : hwloc_topology_set_synthetic(topo_, description);
      if (rc != 0)
        return set_error(err, err_size,
                         xml ? "hwloc cannot read the XML file"
                             : "hwloc rejects the synthetic description",
                         description),
               false;
    }
    if (hwloc_topology_load(topo_) != 0)
      return set_error(err, err_size, "hwloc_topology_load failed", description), false;
    return true;
  }

private:
  hwloc_topology_t topo_ = nullptr;
  bool ok_ = false;
};

// Fills t from a loaded hwloc topology. `logical`: PUs and nodes are numbered by hwloc's
// logical index and nothing maps to the OS (synthetic and XML); otherwise PU index = OS CPU
// number and node_os_index = OS node id.
bool fill(hwloc_topology_t topo, bool logical, Topology& t, char* err,
          std::size_t err_size) noexcept {
  reset_topology(t);
  const int pu_count = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
  int node_count = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
  if (pu_count <= 0) return set_error(err, err_size, "hwloc found no PU", nullptr), false;
  if (node_count <= 0) node_count = 1;
  if (node_count > kMaxNodes)
    return set_error(err, err_size, "more than 64 NUMA nodes", nullptr), false;

  // Nodes by increasing OS index (hwloc's logical order already is, on every machine seen; the
  // sort makes it a guarantee, matching numa/boot's sysfs order).
  hwloc_obj_t nodes[kMaxNodes] = {};
  for (int i = 0; i < node_count; ++i)
    nodes[i] = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, static_cast<unsigned>(i));
  if (!logical)
    for (int i = 1; i < node_count; ++i)
      for (int j = i; j > 0 && nodes[j] != nullptr && nodes[j - 1] != nullptr &&
                      nodes[j]->os_index < nodes[j - 1]->os_index;
           --j) {
        hwloc_obj_t tmp = nodes[j];
        nodes[j] = nodes[j - 1];
        nodes[j - 1] = tmp;
      }

  int pus = 0;
  bool seen[kMaxPus] = {};
  for (int i = 0; i < pu_count; ++i) {
    hwloc_obj_t pu = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PU, static_cast<unsigned>(i));
    const unsigned index = logical ? pu->logical_index : pu->os_index;
    if (index >= static_cast<unsigned>(kMaxPus))
      return set_error(err, err_size, "a PU number is 1024 or more", nullptr), false;
    if (static_cast<int>(index) + 1 > pus) pus = static_cast<int>(index) + 1;
    seen[index] = true;
    hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_CORE, pu);
    hwloc_obj_t package = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_PACKAGE, pu);
    t.pu_core[index] = static_cast<std::uint16_t>(core != nullptr ? core->logical_index : i);
    t.pu_package[index] =
        static_cast<std::uint16_t>(package != nullptr ? package->logical_index : 0);
    for (int n = 0; n < node_count; ++n)
      if (nodes[n] != nullptr && hwloc_bitmap_isset(nodes[n]->cpuset, pu->os_index))
        t.pu_node[index] = static_cast<std::uint16_t>(n);
  }
  t.pus = static_cast<std::uint16_t>(pus);
  t.online_pus = static_cast<std::uint16_t>(pu_count);
  for (int p = 0; p < pus; ++p)
    if (!seen[p]) mark_pu_offline(t, p); // a hole in the OS numbering
  t.nodes = static_cast<std::uint16_t>(node_count);
  const int cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
  const int packages = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE);
  t.cores = static_cast<std::uint16_t>(cores > 0 ? cores : pu_count);
  t.packages = static_cast<std::uint16_t>(packages > 0 ? packages : 1);

  for (int n = 0; n < node_count; ++n) {
    hwloc_obj_t node = nodes[n];
    t.node_os_index[n] = static_cast<std::int16_t>(
        logical || node == nullptr ? -1 : static_cast<int>(node->os_index));
    if (node == nullptr) continue;
    t.node_memory[n] = node->attr != nullptr ? node->attr->numanode.local_memory : 0;
    hwloc_obj_t package = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_PACKAGE, node);
    if (package == nullptr) { // a node spanning packages: filed under its first PU's
      const int first = hwloc_bitmap_first(node->cpuset);
      hwloc_obj_t pu =
          first >= 0 ? hwloc_get_pu_obj_by_os_index(topo, static_cast<unsigned>(first)) : nullptr;
      package =
          pu != nullptr ? hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_PACKAGE, pu) : nullptr;
    }
    t.node_package[n] = static_cast<std::uint16_t>(package != nullptr ? package->logical_index : 0);
  }

  // Distances between NUMA nodes, as the firmware (ACPI SLIT) or the XML file gives them.
  unsigned nr = 1;
  hwloc_distances_s* dist = nullptr;
  if (hwloc_distances_get_by_type(topo, HWLOC_OBJ_NUMANODE, &nr, &dist, 0, 0) == 0 && nr >= 1 &&
      dist != nullptr) {
    for (unsigned i = 0; i < dist->nbobjs; ++i)
      for (unsigned j = 0; j < dist->nbobjs; ++j) {
        int a = -1;
        int b = -1;
        for (int n = 0; n < node_count; ++n) {
          a = nodes[n] == dist->objs[i] ? n : a;
          b = nodes[n] == dist->objs[j] ? n : b;
        }
        const hwloc_uint64_t v = dist->values[i * dist->nbobjs + j];
        if (a >= 0 && b >= 0) t.distance[a][b] = static_cast<std::uint8_t>(v > 255 ? 255 : v);
      }
    hwloc_distances_release(topo, dist);
  }

  // Data/unified cache sizes per level, from the first object of each level.
  const hwloc_obj_type_t cache_types[kMaxCacheLevels] = {HWLOC_OBJ_L1CACHE, HWLOC_OBJ_L2CACHE,
                                                         HWLOC_OBJ_L3CACHE, HWLOC_OBJ_L4CACHE};
  for (int level = 0; level < kMaxCacheLevels; ++level) {
    hwloc_obj_t cache = hwloc_get_obj_by_type(topo, cache_types[level], 0);
    if (cache == nullptr || cache->attr == nullptr) continue;
    t.cache_size[level] = static_cast<std::uint32_t>(cache->attr->cache.size);
    if (level == 0 && cache->attr->cache.linesize > 0)
      t.cache_line = static_cast<std::uint16_t>(cache->attr->cache.linesize);
  }
  finish_topology(t);
  return true;
}

// What numa.topology asks for: the options' value once loaded (as numa/boot reads it). Before
// that (this library's constructor, which must not load the options: the program may still set
// init-only ones), HOARDLAB_TOPOLOGY itself, only if the loader will accept it; a refused one is
// reported by the loader and never used.
const char* requested() noexcept {
  if (config::loaded()) return config::options().numa_topology.value;
  if (pal::secure_process()) return nullptr;
  const char* raw = std::getenv("HOARDLAB_TOPOLOGY");
  if (raw == nullptr) return nullptr;
  config::Value unused;
  const std::size_t index = config::index_of(config::OptionId::numa_topology);
  return config::parse_value(index, raw, config::text_length(raw), unused) ==
                 config::ValueError::kNone
             ? raw
             : nullptr;
}

} // namespace

bool load_hwloc(const char* description, Topology& out, char* err, std::size_t err_size) noexcept {
  HwlocHandle h;
  if (!h.load(description, err, err_size)) return false;
  const bool given = description != nullptr && !blank(description);
  const bool xml = given && is_xml_path(description);
  if (!fill(h.get(), given, out, err, err_size)) return false;
  if (given) {
    // A described machine is logical: its nodes are not this machine's, so binding to them can
    // only be intended (see numa/placement.h).
    out.synthetic = true;
    out.source = xml ? Source::kHwlocXml : Source::kSynthetic;
  } else {
    out.source = Source::kHwloc;
  }
  return true;
}

bool to_synthetic(const char* description, char* out, std::size_t out_size, char* err,
                  std::size_t err_size) noexcept {
  HwlocHandle h;
  if (!h.load(description, err, err_size)) return false;
  const int n = hwloc_topology_export_synthetic(h.get(), out, out_size,
                                                HWLOC_TOPOLOGY_EXPORT_SYNTHETIC_FLAG_NO_ATTRS);
  if (n < 0)
    return set_error(err, err_size,
                     "hwloc cannot describe this topology synthetically (asymmetric?)",
                     description),
           false;
  return true;
}

bool load_and_publish_topology() noexcept {
  // Runs outside malloc (a constructor, the API, the CLI), so a function-local static's guard
  // (__cxa_guard_acquire) is the simplest once: concurrent callers wait for the first.
  static const bool published = [] {
    // The Topology record is ~20 KiB: static rather than on a constructor's stack.
    static Topology t;
    char err[256];
    const char* desc = requested();
    if (load_hwloc(desc, t, err, sizeof err)) return publish_topology(t);
    // A bad synthetic description is reported by numa/boot, which reads it too; an XML file
    // only hwloc reads, so its error is reported here. No description: the sysfs view stays.
    if (desc != nullptr && !blank(desc) && is_xml_path(desc)) {
      note_topology_load_failed();
      char msg[320];
      text::Appender a(msg, sizeof msg);
      a.str("hoardlab: HOARDLAB_TOPOLOGY: ").str(err).str("; using the real topology\n");
      pal::write_stderr(msg, a.length());
    }
    return false;
  }();
  return published;
}

} // namespace hoardlab::numa

// An XML topology can only be read by hwloc, and the allocator must see it before its first
// allocation, so libhoardlab (and the shim, when it links these objects) loads it from a
// library constructor. Nothing else is loaded here: hwloc's discovery of the real machine costs
// about 12 ms (measured, paper_notes/numa.md) against 70 us for numa/boot's sysfs read, and
// every process linking the library would pay it at start. The real machine's fuller view
// (caches, hwloc's distances) is loaded on first use instead: load_and_publish_topology() from
// the API, the stats or the CLI. In the preloaded shim the allocator has already started when
// constructors run: the XML view is then published for the stats only.
__attribute__((constructor)) static void hoardlab_numa_load_xml_topology() {
  const char* desc = hoardlab::pal::secure_process() ? nullptr : std::getenv("HOARDLAB_TOPOLOGY");
  if (desc != nullptr && hoardlab::numa::is_xml_path_for_loader(desc))
    hoardlab::numa::load_and_publish_topology();
}
