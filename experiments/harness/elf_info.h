// What the harness records of a binary: its content hash (resume refuses to mix rebuilt
// binaries), its GNU build-id, and whether it was built with a sanitizer (refused for timing).
#pragma once

#include <string>

namespace hoardlab::harness {

struct ElfInfo {
  bool readable = false;
  bool is_elf = false;
  std::string build_id;   // hex; empty when the file has none
  bool sanitized = false; // references __asan_init, __tsan_init, __msan_init or __hwasan_init
  std::string hash;       // FNV-1a 64 of the bytes, hex
  std::string error;
};

// Reads the file once. The ELF is parsed here rather than by running readelf: it is a few
// dozen lines and leaves no dependency on binutils being installed on a compute node.
ElfInfo inspect_elf(const std::string& path);

// FNV-1a over a byte string, hex.
std::string fnv1a_hex(const std::string& bytes);

} // namespace hoardlab::harness
