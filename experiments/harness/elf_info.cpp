#include "harness/elf_info.h"

#include <fmt/format.h>

#include <elf.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string_view>

namespace hoardlab::harness {

std::string fnv1a_hex(const std::string& bytes) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return fmt::format("{:016x}", h);
}

namespace {

template <typename T>
bool read_at(const std::string& data, std::size_t off, T& out) {
  if (off > data.size() || data.size() - off < sizeof(T)) return false;
  std::memcpy(&out, data.data() + off, sizeof(T));
  return true;
}

void scan_notes(const std::string& data, std::size_t off, std::size_t size, ElfInfo& info) {
  std::size_t end = off + size;
  if (end > data.size()) return;
  while (off + sizeof(Elf64_Nhdr) <= end) {
    Elf64_Nhdr nh;
    read_at(data, off, nh);
    std::size_t name_off = off + sizeof(nh);
    std::size_t desc_off = name_off + ((nh.n_namesz + 3) & ~3u);
    std::size_t next = desc_off + ((nh.n_descsz + 3) & ~3u);
    if (next > end) return;
    if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
        std::memcmp(data.data() + name_off, "GNU", 4) == 0) {
      std::string hex;
      for (std::size_t i = 0; i < nh.n_descsz; ++i)
        hex += fmt::format("{:02x}", static_cast<unsigned char>(data[desc_off + i]));
      info.build_id = hex;
    }
    off = next;
  }
}

} // namespace

ElfInfo inspect_elf(const std::string& path) {
  ElfInfo info;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    info.error = "cannot read " + path;
    return info;
  }
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  info.readable = true;
  info.hash = fnv1a_hex(data);
  Elf64_Ehdr eh;
  if (!read_at(data, 0, eh) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64) {
    info.error = "not a 64-bit ELF file";
    return info;
  }
  info.is_elf = true;
  for (unsigned i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr sh;
    if (!read_at(data, eh.e_shoff + std::size_t{i} * eh.e_shentsize, sh)) break;
    if (sh.sh_type == SHT_NOTE) scan_notes(data, sh.sh_offset, sh.sh_size, info);
    if (sh.sh_type != SHT_DYNSYM && sh.sh_type != SHT_SYMTAB) continue;
    Elf64_Shdr strtab;
    if (!read_at(data, eh.e_shoff + std::size_t{sh.sh_link} * eh.e_shentsize, strtab)) continue;
    for (std::size_t s = 0; s + sizeof(Elf64_Sym) <= sh.sh_size; s += sizeof(Elf64_Sym)) {
      Elf64_Sym sym;
      if (!read_at(data, sh.sh_offset + s, sym) || sym.st_name >= strtab.sh_size) continue;
      std::size_t at = strtab.sh_offset + sym.st_name;
      if (at >= data.size()) continue;
      std::string_view name(data.data() + at, strnlen(data.data() + at, data.size() - at));
      if (name == "__asan_init" || name == "__tsan_init" || name == "__msan_init" ||
          name == "__hwasan_init")
        info.sanitized = true;
    }
  }
  return info;
}

} // namespace hoardlab::harness
