// `hoardlab topology`: the machine as hwloc sees it, as the allocator's boot code sees it
// (sysfs, read inside malloc), the machine HOARDLAB_TOPOLOGY describes, and the view the
// allocator in this process uses; with --to-synthetic, hwloc's synthetic description of an XML
// file (what to give HOARDLAB_TOPOLOGY where XML cannot be read: the preloaded malloc).
#include "cli/command.h"

#include "numa/hwloc/loader.h"
#include "numa/topology.h"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace hoardlab::cli {
namespace {

using numa::Topology;

// "0-3,8,10-11": the kernel's list notation for a set of numbers.
std::string list_text(const std::vector<int>& xs) {
  std::string out;
  for (std::size_t i = 0; i < xs.size();) {
    std::size_t j = i;
    while (j + 1 < xs.size() && xs[j + 1] == xs[j] + 1)
      ++j;
    out += fmt::format("{}{}", out.empty() ? "" : ",", xs[i]);
    if (j > i) out += fmt::format("-{}", xs[j]);
    i = j + 1;
  }
  return out.empty() ? "-" : out;
}

std::vector<int> pus_of(const Topology& t, int node) {
  std::vector<int> pus;
  for (int p = 0; p < t.pus; ++p)
    if (t.pu_node[p] == node) pus.push_back(p);
  return pus;
}

std::string bytes_text(std::uint64_t b) {
  if (b == 0) return "?";
  if (b >= (std::uint64_t{1} << 30))
    return fmt::format("{:.1f} GiB", static_cast<double>(b) / (1u << 30));
  if (b >= (1u << 20)) return fmt::format("{} MiB", b >> 20);
  return fmt::format("{} KiB", b >> 10);
}

void print_view(const char* title, const Topology& t) {
  fmt::print("{} (source: {}{})\n", title, numa::source_name(t.source),
             t.synthetic ? ", logical: binding only intended" : "");
  fmt::print("  packages {}  nodes {}  cores {}  PUs {} ({} online)\n", t.packages, t.nodes,
             t.cores, t.pus, t.online_pus);
  std::string caches;
  for (int l = 0; l < numa::kMaxCacheLevels; ++l)
    if (t.cache_size[l] != 0) caches += fmt::format("  L{} {}", l + 1, bytes_text(t.cache_size[l]));
  if (!caches.empty()) fmt::print(" {}  (line {} B)\n", caches, t.cache_line);
  for (int n = 0; n < t.nodes; ++n) {
    std::string os =
        t.node_os_index[n] < 0 ? "synthetic" : fmt::format("OS node {}", t.node_os_index[n]);
    std::string nearest;
    for (int k = 0; k < t.nodes; ++k)
      nearest += fmt::format("{}{}", k == 0 ? "" : " ", t.nearest[n][k]);
    fmt::print("  node {:<2} {:<10} package {}  PUs {:<12} memory {:<9} nearest: {}\n", n, os,
               t.node_package[n], list_text(pus_of(t, n)), bytes_text(t.node_memory[n]), nearest);
  }
  if (t.nodes > 1) {
    fmt::print("  distances:\n       ");
    for (int b = 0; b < t.nodes; ++b)
      fmt::print("{:>4}", b);
    fmt::print("\n");
    for (int a = 0; a < t.nodes; ++a) {
      fmt::print("    {:>3}", a);
      for (int b = 0; b < t.nodes; ++b)
        fmt::print("{:>4}", t.distance[a][b]);
      fmt::print("\n");
    }
  }
  if (t.synthetic) {
    // What current_pu() deals to the first threads: every node early.
    std::string deal;
    const int threads = 2 * t.nodes < 16 ? 2 * t.nodes : 16;
    for (int k = 0; k < threads; ++k) {
      const int pu = numa::virtual_cpu(t, 0, static_cast<std::uint64_t>(k));
      deal += fmt::format("{}t{}->pu{}/n{}", k == 0 ? "" : " ", k, pu, t.pu_node[pu]);
    }
    fmt::print("  threads dealt to virtual PUs: {}\n", deal);
  }
  fmt::print("\n");
}

nlohmann::json view_json(const Topology& t) {
  nlohmann::json j;
  j["source"] = numa::source_name(t.source);
  j["synthetic"] = t.synthetic;
  j["packages"] = t.packages;
  j["nodes"] = t.nodes;
  j["cores"] = t.cores;
  j["pus"] = t.pus;
  j["online_pus"] = t.online_pus;
  j["cache_bytes"] = nlohmann::json::array();
  for (int l = 0; l < numa::kMaxCacheLevels; ++l)
    j["cache_bytes"].push_back(t.cache_size[l]);
  j["cache_line"] = t.cache_line;
  j["node_list"] = nlohmann::json::array();
  for (int n = 0; n < t.nodes; ++n) {
    nlohmann::json node;
    node["index"] = n;
    node["os_index"] = t.node_os_index[n];
    node["package"] = t.node_package[n];
    node["pus"] = list_text(pus_of(t, n));
    node["memory_bytes"] = t.node_memory[n];
    std::vector<int> d(t.distance[n], t.distance[n] + t.nodes);
    node["distances"] = d;
    std::vector<int> near(t.nearest[n], t.nearest[n] + t.nodes);
    node["nearest"] = near;
    j["node_list"].push_back(node);
  }
  return j;
}

struct Args {
  std::string input;
  bool input_given = false;
  bool json = false;
  std::string to_synthetic;
};

int run(const Args& a) {
  if (!a.to_synthetic.empty()) {
    char out[4096];
    char err[512];
    if (!numa::to_synthetic(a.to_synthetic.c_str(), out, sizeof out, err, sizeof err)) {
      fmt::print(stderr, "hoardlab topology: {}\n", err);
      return 1;
    }
    fmt::print("{}\n", out);
    return 0;
  }
  const char* env = std::getenv("HOARDLAB_TOPOLOGY");
  const std::string requested = a.input_given ? a.input : (env != nullptr ? env : "");

  auto hw = std::make_unique<Topology>();
  auto sys = std::make_unique<Topology>();
  char err[512] = {};
  const bool hw_ok = numa::load_hwloc(nullptr, *hw, err, sizeof err);
  const std::string hw_err = err;
  const bool sys_ok = numa::read_sysfs(*sys);

  auto described_hw = std::make_unique<Topology>();
  auto described_boot = std::make_unique<Topology>();
  bool described_hw_ok = false;
  bool described_boot_ok = false;
  std::string described_hw_err, described_boot_err;
  const bool is_xml = numa::is_xml_path_for_loader(requested.c_str());
  if (!requested.empty()) {
    described_hw_ok = numa::load_hwloc(requested.c_str(), *described_hw, err, sizeof err);
    described_hw_err = err;
    if (!is_xml) {
      described_boot_ok =
          numa::parse_synthetic(requested.c_str(), *described_boot, err, sizeof err);
      described_boot_err = err;
    }
  }
  // In this process the allocator's boot view is fixed by HOARDLAB_TOPOLOGY, not by --input.
  const Topology& allocator = numa::boot_topology();

  int status = 0;
  if (!requested.empty() && !described_hw_ok && !described_boot_ok) status = 1;
  if (a.json) {
    nlohmann::json j;
    j["hwloc"] = hw_ok ? view_json(*hw) : nlohmann::json{{"error", hw_err}};
    j["sysfs"] =
        sys_ok ? view_json(*sys) : nlohmann::json{{"error", "no NUMA information in sysfs"}};
    if (!requested.empty()) {
      j["requested"] = requested;
      j["described_by_hwloc"] =
          described_hw_ok ? view_json(*described_hw) : nlohmann::json{{"error", described_hw_err}};
      if (!is_xml)
        j["described_by_boot_parser"] = described_boot_ok
                                            ? view_json(*described_boot)
                                            : nlohmann::json{{"error", described_boot_err}};
    }
    j["allocator"] = view_json(allocator);
    fmt::print("{}\n", j.dump(2));
    return status;
  }
  if (hw_ok)
    print_view("hwloc's view of this machine", *hw);
  else
    fmt::print("hwloc's view of this machine: {}\n\n", hw_err);
  if (sys_ok)
    print_view("sysfs view (what the allocator reads inside malloc)", *sys);
  else
    fmt::print("sysfs view: no NUMA information under /sys/devices/system/node (one-node "
               "fallback)\n\n");
  if (!requested.empty()) {
    fmt::print("HOARDLAB_TOPOLOGY{} = \"{}\"\n", a.input_given ? " (--input)" : "", requested);
    if (described_hw_ok)
      print_view("  as hwloc reads it", *described_hw);
    else
      fmt::print("  hwloc: {}\n", described_hw_err);
    if (is_xml) {
      fmt::print("  an XML file: the preloaded malloc cannot read it before its first use, so it "
                 "uses the real topology there;\n  libhoardlab loads it in its constructor. "
                 "Equivalent synthetic description: `hoardlab topology --to-synthetic {}`\n\n",
                 requested);
    } else if (described_boot_ok) {
      print_view("  as the allocator's boot parser reads it", *described_boot);
      if (described_hw_ok && (described_hw->nodes != described_boot->nodes ||
                              described_hw->pus != described_boot->pus)) {
        fmt::print(
            "  WARNING: hwloc and the boot parser disagree ({} vs {} nodes, {} vs {} PUs)\n\n",
            described_hw->nodes, described_boot->nodes, described_hw->pus, described_boot->pus);
        status = 1;
      }
    } else {
      fmt::print("  the allocator's boot parser rejects it: {}\n  (the allocator then uses the "
                 "real topology)\n\n",
                 described_boot_err);
      status = 1;
    }
  }
  print_view("the allocator in this process uses", allocator);
  return status;
}

const Registrar registrar{
    {"topology", [](CLI::App& app) {
       auto* cmd = app.add_subcommand(
           "topology", "print the machine as hwloc and the allocator see it, and the machine "
                       "HOARDLAB_TOPOLOGY describes");
       auto args = std::make_shared<Args>();
       cmd->add_option("--input", args->input,
                       "describe this synthetic description or XML file instead of "
                       "HOARDLAB_TOPOLOGY's (e.g. \"pack:2 numa:2 core:2 pu:1\")");
       cmd->add_flag("--json", args->json, "print JSON instead of text");
       cmd->add_option("--to-synthetic", args->to_synthetic,
                       "print hwloc's synthetic description of an XML file (or description)");
       cmd->callback([args, cmd] {
         args->input_given = cmd->count("--input") > 0;
         exit_status() = run(*args);
       });
     }}};

} // namespace
} // namespace hoardlab::cli
