// What must stay in step with the table: the README's options table, and the shipped config
// files, which toml++ (the harness's reader) must read exactly as the allocator does.
#include <gtest/gtest.h>

#include "config/table_text.h"
#include "test_util.h"

#include <toml++/toml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace hoardlab::config {
namespace {

const std::filesystem::path kSource = HOARDLAB_SOURCE_DIR;

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::filesystem::path> shipped_configs() {
  std::vector<std::filesystem::path> files;
  for (const auto& e :
       std::filesystem::directory_iterator(kSource / "experiments" / "configs" / "allocator"))
    if (e.path().extension() == ".toml") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

TEST(Readme, OptionsTableIsTheGeneratedOne) {
  const std::string readme = read_all(kSource / "README.md");
  const std::string begin = "<!-- options:begin -->\n";
  const std::string end = "<!-- options:end -->";
  const auto b = readme.find(begin);
  const auto e = readme.find(end);
  ASSERT_NE(b, std::string::npos) << "README.md lacks " << begin;
  ASSERT_NE(e, std::string::npos) << "README.md lacks " << end;
  ASSERT_LT(b, e);
  std::vector<char> buffer(64 * 1024);
  TextSink sink(buffer.data(), buffer.size());
  write_markdown_table(sink);
  EXPECT_EQ(readme.substr(b + begin.size(), e - b - begin.size()),
            std::string(sink.data(), sink.size()))
      << "regenerate with: hoardlab options --markdown";
}

TEST(ShippedConfigs, ThereAreSome) {
  EXPECT_GE(shipped_configs().size(), 2u);
}

TEST(ShippedConfigs, EachIsValidForTheAllocator) {
  for (const auto& path : shipped_configs()) {
    const auto l = testing::from_file_text(read_all(path), path.c_str());
    EXPECT_EQ(l->count(), 0u) << l->text();
  }
}

// toml++'s view of one value, handed to the allocator's value parser as text (numbers and
// booleans as TOML writes them): both readers must end with the same record.
std::string toml_value_text(const toml::node& node) {
  if (const auto* s = node.as_string()) return s->get();
  if (const auto* i = node.as_integer()) return std::to_string(i->get());
  if (const auto* b = node.as_boolean()) return b->get() ? "true" : "false";
  ADD_FAILURE() << "unexpected TOML type in a shipped config";
  return "";
}

TEST(ShippedConfigs, TomlPlusPlusReadsEachAsTheAllocatorDoes) {
  for (const auto& path : shipped_configs()) {
    SCOPED_TRACE(path.string());
    const auto ours = testing::from_file_text(read_all(path), path.c_str());
    toml::table table;
    ASSERT_NO_THROW(table = toml::parse_file(path.string()));
    Options theirs{};
    Provenance provenance[kOptionCount]{};
    for (const auto& [section, sub] : table) {
      ASSERT_TRUE(sub.is_table()) << section.str();
      for (const auto& [key, node] : *sub.as_table()) {
        const std::string name = std::string(section.str()) + "." + std::string(key.str());
        const int index = find_option_by_name(name.c_str());
        ASSERT_GE(index, 0) << name;
        Value v;
        if (const auto* f = node.as_floating_point()) {
          v.fraction = f->get();
        } else {
          const std::string text = toml_value_text(node);
          ASSERT_EQ(parse_value(index, text.data(), text.size(), v), ValueError::kNone) << name;
        }
        set_value(theirs, index, v);
        provenance[index].source = Source::kFile;
      }
    }
    Messages unused;
    check_consistency(theirs, provenance, unused);
    for (std::size_t i = 0; i < kOptionCount; ++i)
      EXPECT_TRUE(values_equal(i, get_value(ours->options, i), get_value(theirs, i)))
          << kOptions[i].section << "." << kOptions[i].key;
  }
}

} // namespace
} // namespace hoardlab::config
