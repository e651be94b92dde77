// hwloc's view of a machine as a numa::Topology. Layer: numa; the only user of <hwloc.h>.
// Never call these inside malloc: hwloc allocates and may dlopen its plugins.
#pragma once

#include "numa/topology.h"

#include <cstddef>

namespace hoardlab::numa {

// Loads a topology with hwloc (I/O discovery off):
//   description null or empty  the real machine (Source::kHwloc; PU index = OS CPU number,
//                              node_os_index = OS node id; distances from the firmware, else
//                              the synthetic defaults);
//   an hwloc synthetic text    Source::kSynthetic, synthetic = true, node_os_index = -1,
//                              distances 10/20/30 as numa/boot does;
//   an XML file path           Source::kHwlocXml: a machine to emulate, so it is logical like a
//                              synthetic one (virtual PUs, nothing bound); its distances are
//                              kept when the file has them.
// Returns false with a one-line reason in err.
bool load_hwloc(const char* description, Topology& out, char* err, std::size_t err_size) noexcept;

// hwloc's synthetic description of an XML file or synthetic text (attributes dropped), for
// HOARDLAB_TOPOLOGY where XML cannot be read (inside the preloaded malloc). False on error.
bool to_synthetic(const char* description, char* out, std::size_t out_size, char* err,
                  std::size_t err_size) noexcept;

// Loads the topology HOARDLAB_TOPOLOGY asks for (or the real one) once and publishes it
// (publish_topology); later calls return at once. Returns true when a view was published by
// this or an earlier call. A library constructor runs it when HOARDLAB_TOPOLOGY names an XML
// file; otherwise the first caller outside malloc (API, stats, CLI) pays hwloc's ~12 ms.
bool load_and_publish_topology() noexcept;

// True when HOARDLAB_TOPOLOGY's text names an XML file (holds '/' or ends in ".xml") rather
// than a synthetic description: the same rule numa/boot applies.
bool is_xml_path_for_loader(const char* s) noexcept;

} // namespace hoardlab::numa
