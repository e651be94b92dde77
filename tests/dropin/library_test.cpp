// The shared object itself: what it exports, what runs when it loads, what it leaves
// unresolved, and that a process with both libhoardlab.so and the shim has one allocator.
#include "process.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <string>

namespace hoardlab::dropin {
namespace {

std::string command_output(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0)
    out.append(buffer, n);
  pclose(pipe);
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    lines.push_back(line);
  return lines;
}

// The shim of this build tree (these tests are about hoardlab's own library).
std::string shim() {
  return HOARDLAB_DROPIN_DEFAULT_LIB;
}

const std::set<std::string>& malloc_family() {
  static const std::set<std::string> names = {"malloc",
                                              "free",
                                              "calloc",
                                              "realloc",
                                              "reallocarray",
                                              "posix_memalign",
                                              "aligned_alloc",
                                              "memalign",
                                              "valloc",
                                              "pvalloc",
                                              "malloc_usable_size",
                                              "free_sized",
                                              "free_aligned_sized",
                                              "malloc_trim",
                                              "mallinfo",
                                              "mallinfo2",
                                              "malloc_stats"};
  return names;
}

const std::set<std::string>& new_delete() {
  static const std::set<std::string> names = {"_Znwm",
                                              "_Znam",
                                              "_ZnwmRKSt9nothrow_t",
                                              "_ZnamRKSt9nothrow_t",
                                              "_ZnwmSt11align_val_t",
                                              "_ZnamSt11align_val_t",
                                              "_ZnwmSt11align_val_tRKSt9nothrow_t",
                                              "_ZnamSt11align_val_tRKSt9nothrow_t",
                                              "_ZdlPv",
                                              "_ZdaPv",
                                              "_ZdlPvRKSt9nothrow_t",
                                              "_ZdaPvRKSt9nothrow_t",
                                              "_ZdlPvm",
                                              "_ZdaPvm",
                                              "_ZdlPvSt11align_val_t",
                                              "_ZdaPvSt11align_val_t",
                                              "_ZdlPvmSt11align_val_t",
                                              "_ZdaPvmSt11align_val_t",
                                              "_ZdlPvSt11align_val_tRKSt9nothrow_t",
                                              "_ZdaPvSt11align_val_tRKSt9nothrow_t"};
  return names;
}

TEST(SharedObject, ExportsOnlyTheMallocFamilyNewDeleteAndTheHlApi) {
  std::set<std::string> exported;
  for (const auto& line : lines_of(command_output("nm -D --defined-only '" + shim() + "'"))) {
    std::istringstream fields(line);
    std::string address, type, name;
    if (!(fields >> address >> type >> name)) continue;
    exported.insert(name.substr(0, name.find('@')));
  }
  ASSERT_FALSE(exported.empty()) << "nm printed nothing for " << shim();
  for (const auto& name : exported) {
    const bool allowed =
        malloc_family().count(name) || new_delete().count(name) || name.rfind("hl_", 0) == 0;
    EXPECT_TRUE(allowed) << "unexpected export: " << name;
  }
  for (const auto& name : malloc_family())
    EXPECT_TRUE(exported.count(name)) << "missing export: " << name;
  for (const auto& name : new_delete())
    EXPECT_TRUE(exported.count(name)) << "missing export: " << name;
  for (const char* name : {"hl_malloc", "hl_free", "hl_stats_get", "hl_owns"})
    EXPECT_TRUE(exported.count(name)) << "missing export: " << name;
}

// Static initialisers run before main and before other libraries' constructors, which already
// call malloc (libstdc++'s emergency pool): anything malloc reaches is constinit instead.
// gcc's crtbegin.o adds one entry of its own, frame_dummy (exception frame registration).
TEST(SharedObject, HasNoInitArrayEntryBeyondTheToolchainsFrameDummy) {
  std::uint64_t addr = 0, size = 0;
  for (const auto& line : lines_of(command_output("readelf -W -S '" + shim() + "'"))) {
    const auto at = line.find(".init_array");
    if (at == std::string::npos) continue;
    std::istringstream fields(line.substr(at));
    std::string name, type, a, off, sz;
    fields >> name >> type >> a >> off >> sz;
    addr = std::stoull(a, nullptr, 16);
    size = std::stoull(sz, nullptr, 16);
  }
  if (size == 0) return; // no .init_array at all
  std::set<std::uint64_t> targets;
  for (const auto& line : lines_of(command_output("readelf -W -r '" + shim() + "'"))) {
    std::istringstream fields(line);
    std::string offset, info, type;
    if (!(fields >> offset >> info >> type)) continue;
    std::uint64_t where = 0;
    try {
      where = std::stoull(offset, nullptr, 16);
    } catch (...) {
      continue;
    }
    if (where < addr || where >= addr + size) continue;
    ASSERT_EQ(type, "R_X86_64_RELATIVE") << line;
    std::string addend;
    fields >> addend;
    targets.insert(std::stoull(addend, nullptr, 16));
  }
  EXPECT_EQ(targets.size(), size / 8) << "every entry is a relative relocation";
  std::map<std::uint64_t, std::string> symbols;
  for (const auto& line : lines_of(command_output("nm '" + shim() + "'"))) {
    std::istringstream fields(line);
    std::string a, type, name;
    if (!(fields >> a >> type >> name)) continue;
    try {
      symbols[std::stoull(a, nullptr, 16)] = name;
    } catch (...) {
    }
  }
  for (std::uint64_t target : targets) {
    const std::string name = symbols.count(target) ? symbols[target] : "?";
    EXPECT_EQ(name, "frame_dummy") << "unexpected .init_array entry at 0x" << std::hex << target;
  }
}

// A program's first touch of a .data page reads it from the file, and the kernel maps the
// 64 KiB around it as well (fault-around); a .bss page reads as the zero page until written. The
// allocator's state (mem::g, 725 KiB) is all zero until init for that reason (mem/state.h): one
// non-zero default put all of it in .data, and a small program held 116 KiB of clean file pages.
TEST(SharedObject, KeepsTheAllocatorStateInBssAndDataUnderTheFaultAroundWindow) {
  std::string type_of_g;
  for (const auto& line : lines_of(command_output("nm '" + shim() + "'"))) {
    std::istringstream fields(line);
    std::string address, type, name;
    if ((fields >> address >> type >> name) && name == "_ZN8hoardlab3mem1gE") type_of_g = type;
  }
  ASSERT_FALSE(type_of_g.empty()) << "nm found no hoardlab::mem::g in " << shim();
  EXPECT_TRUE(type_of_g == "b" || type_of_g == "B")
      << "hoardlab::mem::g is in section type '" << type_of_g << "', not .bss";
  std::uint64_t data_bytes = 0;
  for (const auto& line : lines_of(command_output("readelf -W -S '" + shim() + "'"))) {
    const auto at = line.find(" .data ");
    if (at == std::string::npos) continue;
    std::istringstream fields(line.substr(at));
    std::string name, type, a, off, sz;
    fields >> name >> type >> a >> off >> sz;
    data_bytes = std::stoull(sz, nullptr, 16);
  }
  ASSERT_NE(data_bytes, 0u) << "readelf found no .data section in " << shim();
  EXPECT_LE(data_bytes, 64u * 1024) << ".data holds " << data_bytes << " bytes";
}

// dlclose must never unmap the allocator: a thread's exit runs its pthread key destructor, the
// purge thread runs detached, and blocks it handed out may still be freed. Both libraries are
// linked -z nodelete (DT_FLAGS_1 NODELETE), so the loader keeps them mapped.
TEST(SharedObject, BothLibrariesAreMarkedNodelete) {
  for (const std::string& lib : {shim(), std::string(HOARDLAB_DROPIN_API_LIB)}) {
    bool nodelete = false;
    for (const auto& line : lines_of(command_output("readelf -W -d '" + lib + "'")))
      if (line.find("(FLAGS_1)") != std::string::npos && line.find("NODELETE") != std::string::npos)
        nodelete = true;
    EXPECT_TRUE(nodelete) << lib << " has no DT_FLAGS_1 NODELETE";
  }
}

ProcessResult run_dlclose_host(const std::string& tag, bool purge_thread) {
  const ScratchDir scratch(tag);
  auto env = pinned_environment(scratch.path);
  if (purge_thread) env["HOARDLAB_PURGE_BACKGROUND"] = "1";
  return run_process({build_program("dropin_dlclose_host"), HOARDLAB_DROPIN_API_LIB}, env, "", 30);
}

TEST(SharedObject, AThreadThatUsedLibhoardlabExitsCleanlyAfterDlclose) {
  const ProcessResult r = run_dlclose_host("dlclose", false);
  ASSERT_FALSE(r.timed_out) << r.out << r.err;
  EXPECT_EQ(r.exit_code, 0) << "a crash is 128 + its signal\n" << r.out << r.err;
  EXPECT_NE(r.out.find("library still mapped after dlclose: yes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ok: "), std::string::npos) << r.out << r.err;
}

TEST(SharedObject, ThePurgeThreadKeepsRunningSafelyAfterDlclose) {
  const ProcessResult r = run_dlclose_host("dlclose-purge", true);
  ASSERT_FALSE(r.timed_out) << r.out << r.err;
  EXPECT_EQ(r.exit_code, 0) << "a crash is 128 + its signal\n" << r.out << r.err;
  EXPECT_NE(r.out.find("purge thread running: yes"), std::string::npos)
      << "the purge thread did not start, so the test proves nothing:\n"
      << r.out;
}

TEST(SharedObject, LeavesNoSymbolUnresolved) {
  const std::string out = command_output("ldd -r '" + shim() + "' 2>&1");
  EXPECT_EQ(out.find("undefined symbol"), std::string::npos) << out;
}

} // namespace
} // namespace hoardlab::dropin
