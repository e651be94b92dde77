#include "harness/allocators.h"

#include "harness/elf_info.h"
#include "harness/process.h"

#include <fmt/format.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace hoardlab::harness {
namespace fs = std::filesystem;

namespace {

std::string self_dir() {
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : exe.parent_path().string();
}

std::string real(const std::string& p) {
  std::error_code ec;
  auto r = fs::canonical(p, ec);
  return ec ? p : r.string();
}

} // namespace

Locations find_locations(const std::string& bench_dir_flag, const std::string& lib_flag) {
  Locations w;
  std::string bin = self_dir();
  // A build tree keeps the workloads beside hoardlab and the drop-in in ../lib; an installed
  // tree keeps the workloads in <libexecdir>/hoardlab and the drop-in in <libdir>, each
  // reached from <bindir> (cmake/HoardlabInstall.cmake).
  std::error_code ec;
  fs::path prefix = fs::path(bin);
  const fs::path bindir = HOARDLAB_INSTALL_BINDIR;
  for (auto part = bindir.begin(); part != bindir.end(); ++part)
    prefix = prefix.parent_path();
  fs::path installed_bench = prefix / HOARDLAB_INSTALL_LIBEXECDIR / "hoardlab";
  fs::path installed_lib = prefix / HOARDLAB_INSTALL_LIBDIR / "libhoardlab-malloc.so";
  const bool installed = fs::is_directory(installed_bench, ec);
  w.bench_dir = installed ? installed_bench.string() : bin;
  w.hoardlab_lib = installed && fs::exists(installed_lib, ec)
                       ? installed_lib.string()
                       : (fs::path(bin).parent_path() / "lib" / "libhoardlab-malloc.so").string();
  if (const char* e = std::getenv("HOARDLAB_BENCH_DIR"); e && *e) w.bench_dir = e;
  if (const char* e = std::getenv("HOARDLAB_MALLOC_LIB"); e && *e) w.hoardlab_lib = e;
  if (!bench_dir_flag.empty()) w.bench_dir = bench_dir_flag;
  if (!lib_flag.empty()) w.hoardlab_lib = lib_flag;
  // Absolute, so the recorded commands and emitted jobs run from any directory.
  w.bench_dir = fs::absolute(w.bench_dir, ec).lexically_normal().string();
  w.hoardlab_lib = fs::absolute(w.hoardlab_lib, ec).lexically_normal().string();
  return w;
}

std::string debian_package_of(const std::string& path) {
  std::string owner = capture_output({"dpkg-query", "-S", path}, 10);
  auto colon = owner.find(':');
  if (owner.empty() || colon == std::string::npos) return {};
  std::string pkg = owner.substr(0, colon);
  // "pkg:amd64: /path" names the architecture too; dpkg-query -W takes it as written.
  auto rest = owner.substr(colon + 1);
  if (!rest.empty() && rest[0] != ' ') {
    auto second = rest.find(':');
    if (second != std::string::npos) pkg += fmt::format(":{}", rest.substr(0, second));
  }
  std::string version = capture_output({"dpkg-query", "-W", "-f=${Version}", pkg}, 10);
  return version.empty() ? pkg : pkg + " " + version;
}

std::string build_tree_flavour(const std::string& path) {
  std::error_code ec;
  for (fs::path dir = fs::path(path).parent_path(); !dir.empty() && dir != dir.root_path();
       dir = dir.parent_path()) {
    std::ifstream cache(dir / "CMakeCache.txt");
    if (!cache) continue;
    std::string line, type, sanitizer;
    while (std::getline(cache, line)) {
      if (line.starts_with("CMAKE_BUILD_TYPE:"))
        type = line.substr(line.find('=') + 1);
      else if (line.starts_with("HOARDLAB_SANITIZER:"))
        sanitizer = line.substr(line.find('=') + 1);
    }
    if (!sanitizer.empty() && sanitizer != "none") type += "+" + sanitizer;
    return type.empty() ? "unknown" : type;
  }
  return {};
}

std::vector<ResolvedAllocator> resolve_allocators(const Experiment& ex, const Locations& where,
                                                  bool allow_debug) {
  std::vector<ResolvedAllocator> out;
  for (const auto& spec : ex.allocators) {
    ResolvedAllocator a;
    a.name = spec.name;
    if (spec.name == "glibc") {
      a.note = "the C library's malloc (no preload)";
      a.usable = true;
      std::string libc = "/lib/x86_64-linux-gnu/libc.so.6";
      a.realpath = real(libc);
      auto info = inspect_elf(libc);
      a.build_id = info.build_id;
      a.hash = info.hash;
      a.package = debian_package_of(libc);
      out.push_back(std::move(a));
      continue;
    }
    if (spec.name == "hoardlab") {
      a.preload = where.hoardlab_lib;
      a.note = "hoardlab's drop-in malloc";
    } else if (!spec.path.empty()) {
      a.preload = spec.path;
      a.note = "user-supplied library";
      for (const auto& p : known_peers())
        if (spec.name == p.name) a.note = std::string(p.note) + ", relocated by [allocator_paths]";
    } else {
      for (const auto& p : known_peers())
        if (spec.name == p.name) {
          a.preload = p.path;
          a.note = p.note;
        }
    }
    std::error_code ec;
    if (!fs::exists(a.preload, ec)) {
      a.problem = spec.name == "hoardlab"
                      ? fmt::format("{} is not built (build the hoardlab-malloc target, or "
                                    "give --hoardlab-lib)",
                                    a.preload)
                      : fmt::format("{} not found", a.preload);
      a.skipped = !spec.required;
      out.push_back(std::move(a));
      continue;
    }
    a.realpath = real(a.preload);
    auto info = inspect_elf(a.realpath);
    a.build_id = info.build_id;
    a.hash = info.hash;
    if (!info.is_elf)
      a.problem = fmt::format("{}: {}", a.preload, info.error);
    else if (info.sanitized)
      a.problem = fmt::format("{} is a sanitizer build; refused for timing", a.preload);
    if (a.problem.empty() && spec.name == "hoardlab") {
      std::string flavour = build_tree_flavour(a.realpath);
      bool optimized = flavour.empty() || flavour == "Release" || flavour == "RelWithDebInfo";
      if (!optimized && !allow_debug)
        a.problem = fmt::format("{} comes from a {} build; refused for timing (use the release "
                                "preset, or --allow-debug-build for a functional run)",
                                a.preload, flavour);
    }
    if (spec.name != "hoardlab") a.package = debian_package_of(a.realpath);
    a.usable = a.problem.empty();
    out.push_back(std::move(a));
  }
  return out;
}

nlohmann::json to_json(const ResolvedAllocator& a) {
  return {{"name", a.name},     {"preload", a.preload}, {"realpath", a.realpath},
          {"usable", a.usable}, {"skipped", a.skipped}, {"problem", a.problem},
          {"note", a.note},     {"package", a.package}, {"build_id", a.build_id},
          {"hash", a.hash}};
}

} // namespace hoardlab::harness
