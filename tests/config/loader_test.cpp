// Reading options from the file and the environment: precedence, every kind of bad input and
// its message, strict mode.
#include <gtest/gtest.h>

#include "test_util.h"

#include <cstdlib>
#include <string>
#include <vector>

namespace hoardlab::config {
namespace {

using testing::from_environment;
using testing::from_file_text;
using testing::value_text;
using testing::write_temp_file;

TEST(Precedence, FileOverridesDefaultsAndEnvironmentOverridesFile) {
  const std::string path = write_temp_file("precedence.toml", "[heap]\n"
                                                              "superblock_size = \"128KiB\"\n"
                                                              "emptiness_k = 2\n"
                                                              "[cache]\n"
                                                              "bytes = \"0\"\n");
  const auto l =
      from_environment({"HOARDLAB_CONFIG=" + path, "HOARDLAB_HEAP_EMPTINESS_K=7", "PATH=/usr/bin"});
  EXPECT_EQ(l->count(), 0u) << l->text();
  EXPECT_EQ(l->options.heap_superblock_size, 128u * 1024);            // file
  EXPECT_EQ(l->options.heap_emptiness_k, 7);                          // environment over file
  EXPECT_EQ(l->options.cache_bytes, 0u);                              // file
  EXPECT_EQ(l->options.heap_emptiness_f, Options{}.heap_emptiness_f); // default
  EXPECT_EQ(l->provenance[index_of(OptionId::heap_emptiness_k)].source, Source::kEnvironment);
  EXPECT_EQ(l->provenance[index_of(OptionId::heap_superblock_size)].source, Source::kFile);
  EXPECT_EQ(l->provenance[index_of(OptionId::heap_superblock_size)].line, 2u);
  EXPECT_EQ(l->provenance[index_of(OptionId::heap_emptiness_f)].source, Source::kDefault);
}

TEST(Precedence, ABadEnvironmentValueKeepsTheFilesValue) {
  const std::string path = write_temp_file("keep.toml", "[heap]\nemptiness_k = 2\n");
  const auto l = from_environment({"HOARDLAB_CONFIG=" + path, "HOARDLAB_HEAP_EMPTINESS_K=lots"});
  EXPECT_EQ(l->options.heap_emptiness_k, 2);
  EXPECT_EQ(l->count(), 1u);
  EXPECT_NE(l->text().find("keeping 2 (from " + path + ":2)"), std::string::npos) << l->text();
}

TEST(FileFormat, AcceptsCommentsBlankLinesLiteralStringsAndCrLf) {
  const auto l = from_file_text("# a comment\r\n"
                                "\r\n"
                                "  [ heap ]   # trailing comment\r\n"
                                "\tsuperblock_size='256KiB'  # literal string\r\n"
                                "emptiness_f = 0.125\r\n"
                                "count = 1_0\r\n"
                                "[numa]\n"
                                "topology = \"pack:2 \\\"q\\\"\"\n"
                                "[general]\n"
                                "stats = true\n");
  EXPECT_EQ(l->count(), 0u) << l->text();
  EXPECT_EQ(l->options.heap_superblock_size, 256u * 1024);
  EXPECT_EQ(l->options.heap_emptiness_f, 0.125);
  EXPECT_EQ(l->options.heap_count, 10);
  EXPECT_STREQ(l->options.numa_topology.value, "pack:2 \"q\"");
  EXPECT_TRUE(l->options.general_stats);
}

TEST(BadInput, UnknownKeyIsNamedWithItsLineAndASuggestion) {
  const auto l = from_file_text("[heap]\nsuperblok_size = \"64KiB\"\n", "cfg.toml");
  EXPECT_EQ(l->count(), 1u);
  EXPECT_EQ(l->text(), "hoardlab: config: cfg.toml:2: unknown key heap.superblok_size; did you "
                       "mean superblock_size?\n");
  EXPECT_EQ(l->options.heap_superblock_size, Options{}.heap_superblock_size);
}

TEST(BadInput, KeyInTheWrongSectionPointsToItsSection) {
  const auto l = from_file_text("[cache]\nsuperblock_size = \"64KiB\"\n", "cfg.toml");
  EXPECT_NE(l->text().find("unknown key cache.superblock_size; did you mean superblock_size "
                           "under [heap]?"),
            std::string::npos)
      << l->text();
}

TEST(BadInput, UnknownSectionIsNamedWithASuggestionAndItsKeysAreSkipped) {
  const auto l = from_file_text("[haep]\nsuperblock_size = \"128KiB\"\nbogus = 1\n", "cfg.toml");
  EXPECT_EQ(l->count(), 1u) << l->text();
  EXPECT_NE(l->text().find("cfg.toml:1: unknown section [haep]; did you mean [heap]?"),
            std::string::npos)
      << l->text();
  EXPECT_EQ(l->options.heap_superblock_size, Options{}.heap_superblock_size);
}

TEST(BadInput, OutOfRangeValueNamesKeyValueRangeAndTheDefaultUsed) {
  const auto l = from_file_text("[heap]\nsuperblock_size = \"8MiB\"\n", "cfg.toml");
  EXPECT_EQ(l->text(),
            "hoardlab: config: cfg.toml:2: heap.superblock_size = \"8MiB\": out of range; "
            "allowed: a power of two from 4KiB to 4MiB (bytes, or with a unit B, KiB, MiB, GiB, "
            "TiB); using the default 64KiB\n");
  EXPECT_EQ(l->options.heap_superblock_size, 64u * 1024);
}

TEST(BadInput, NotAPowerOfTwoIsSaidSo) {
  const auto l = from_file_text("[heap]\nsuperblock_size = \"48KiB\"\n", "cfg.toml");
  EXPECT_NE(l->text().find("heap.superblock_size = \"48KiB\": not a power of two"),
            std::string::npos)
      << l->text();
}

TEST(BadInput, UnknownWordListsTheAllowedWords) {
  const auto l = from_file_text("[heap]\nmapping = \"round-robin\"\n", "cfg.toml");
  EXPECT_NE(l->text().find("heap.mapping = \"round-robin\": not one of the allowed words; "
                           "allowed: one of cpu, thread-hash, per-thread; using the default cpu"),
            std::string::npos)
      << l->text();
}

TEST(BadInput, UnquotedWordIsExplainedAsNotTOML) {
  const auto l = from_file_text("[heap]\nsuperblock_size = 64KiB\n", "cfg.toml");
  EXPECT_NE(l->text().find("heap.superblock_size = 64KiB: not a TOML value: words, sizes with "
                           "units and fractions are quoted strings"),
            std::string::npos)
      << l->text();
}

TEST(BadInput, EachMalformedLineGetsOneMessage) {
  const auto l = from_file_text("[heap\n"                     // 1 header without ]
                                "= 3\n"                       // 2 no key
                                "[cache]\n"                   // 3
                                "bytes\n"                     // 4 no '='
                                "batch = \n"                  // 5 no value
                                "batch = 3 4\n"               // 6 trailing text
                                "[[remote]]\n"                // 7 array of tables
                                "[large]\n"                   // 8
                                "threshold = \"4KiB\n"        // 9 unterminated
                                "cache_bytes = [1, 2]\n"      // 10 array
                                "[numa]\n"                    // 11
                                "policy.x = \"local\"\n"      // 12 dotted key
                                "topology = \"\"\"a\"\"\"\n", // 13 multi-line string
                                "bad.toml");
  const std::string t = l->text();
  EXPECT_EQ(l->count(), 10u) << t;
  for (const char* expected :
       {"bad.toml:1: malformed section header '[heap'; expected [section]",
        "bad.toml:2: malformed line '= 3'; expected key = value",
        "bad.toml:4: malformed line 'bytes'", "bad.toml:5: batch has no value",
        "bad.toml:6: cache.batch = 3: unexpected text after the value",
        "bad.toml:7: arrays of tables ([[...]]) are not supported",
        "bad.toml:9: large.threshold = \"4KiB: unterminated string",
        "bad.toml:10: large.cache_bytes = [1, 2]: arrays and inline tables are not supported",
        "bad.toml:12: dotted key 'policy.x = \"local\"' is not supported",
        "bad.toml:13: numa.topology = \"\"\"a\"\"\": multi-line strings"})
    EXPECT_NE(t.find(expected), std::string::npos) << "missing: " << expected << "\nin:\n" << t;
  EXPECT_EQ(l->options.cache_batch, Options{}.cache_batch);
}

TEST(BadInput, KeyOutsideAnySectionSuggestsItsSection) {
  const auto l = from_file_text("emptiness_k = 3\n", "cfg.toml");
  EXPECT_EQ(l->text(), "hoardlab: config: cfg.toml:1: emptiness_k is outside any section; did "
                       "you mean emptiness_k under [heap]?\n");
}

TEST(BadInput, RepeatedKeyKeepsTheFirstValue) {
  const auto l = from_file_text("[heap]\nemptiness_k = 3\nemptiness_k = 5\n", "cfg.toml");
  EXPECT_EQ(l->options.heap_emptiness_k, 3);
  EXPECT_NE(l->text().find("cfg.toml:3: heap.emptiness_k is set again (first on line 2"),
            std::string::npos)
      << l->text();
}

TEST(BadInput, MissingFileIsOneMessageAndChangesNothing) {
  const auto l = from_environment({"HOARDLAB_CONFIG=/nonexistent/hoardlab.toml"});
  EXPECT_EQ(l->text(), "hoardlab: config: /nonexistent/hoardlab.toml: cannot read the config "
                       "file (no such file); no option is taken from it\n");
}

TEST(BadInput, OversizedFileIsRefusedWhole) {
  std::string text = "[heap]\nemptiness_k = 3\n";
  text += std::string(70 * 1024, '#');
  const std::string path = write_temp_file("big.toml", text);
  const auto l = from_environment({"HOARDLAB_CONFIG=" + path});
  EXPECT_EQ(l->count(), 1u);
  EXPECT_NE(l->text().find("config file larger than 64KiB"), std::string::npos) << l->text();
  EXPECT_EQ(l->options.heap_emptiness_k, Options{}.heap_emptiness_k);
}

TEST(BadInput, MisspeltEnvironmentVariableGetsASuggestion) {
  const auto l = from_environment({"HOARDLAB_HEAP_SUPERBLOK_SIZE=64KiB"});
  EXPECT_EQ(l->text(), "hoardlab: config: environment HOARDLAB_HEAP_SUPERBLOK_SIZE: unknown "
                       "variable; did you mean HOARDLAB_HEAP_SUPERBLOCK_SIZE?\n");
}

TEST(BadInput, BadEnvironmentValueNamesVariableValueAndRange) {
  const auto l = from_environment({"HOARDLAB_HEAP_EMPTINESS_F=1/0"});
  EXPECT_EQ(l->text(), "hoardlab: config: environment HOARDLAB_HEAP_EMPTINESS_F: heap.emptiness_f "
                       "= \"1/0\": not a valid value; allowed: a fraction from 0 to 0.99 (\"1/8\" "
                       "or \"0.125\"); using the default 1/4\n");
  EXPECT_EQ(l->options.heap_emptiness_f, 0.25);
}

TEST(BadInput, OtherVariablesAreIgnored) {
  const auto l = from_environment({"HOME=/root", "HOARDLAB=1", "HOARDLAB_NO_EQUALS"});
  EXPECT_EQ(l->count(), 0u) << l->text();
}

TEST(CrossCheck, ThresholdSetAboveHalfASuperblockIsReportedAndLowered) {
  const auto l = from_file_text("[heap]\nsuperblock_size = \"16KiB\"\n[large]\n"
                                "threshold = \"32KiB\"\n",
                                "cfg.toml");
  EXPECT_EQ(l->options.large_threshold, 8u * 1024);
  EXPECT_EQ(l->text(), "hoardlab: config: large.threshold = 32KiB (from cfg.toml:4) exceeds half "
                       "the superblock size, S/2 = 8KiB (heap.superblock_size = 16KiB, from "
                       "cfg.toml:2); allowed: at most S/2; using min(16KiB, S/2) = 8KiB\n");
}

TEST(CrossCheck, UnsetThresholdFollowsTheSuperblockSizeSilently) {
  const auto small = from_environment({"HOARDLAB_HEAP_SUPERBLOCK_SIZE=8KiB"});
  EXPECT_EQ(small->count(), 0u) << small->text();
  EXPECT_EQ(small->options.large_threshold, 4u * 1024);
  const auto big = from_environment({"HOARDLAB_HEAP_SUPERBLOCK_SIZE=1MiB"});
  EXPECT_EQ(big->options.large_threshold, 16u * 1024); // the default
}

// Each message is kept whole or not at all, and the count of those dropped has a line of its
// own (it was cut into the last one: "...unknown key heap.hoardlab: config: more messages...").
TEST(Messages, ManyErrorsKeepWholeLinesAndEndWithTheCountOfThoseDropped) {
  std::string text = "[heap]\n";
  for (int i = 0; i < 500; ++i)
    text += "bogus_key_" + std::to_string(i) + " = 1\n";
  const std::string path = write_temp_file("many_errors.toml", text);
  const auto l = from_environment({"HOARDLAB_CONFIG=" + path});
  EXPECT_EQ(l->count(), 500u);
  EXPECT_LT(l->messages->sink.size(), Messages::kCapacity);
  const std::string out = l->text();
  ASSERT_FALSE(out.empty());
  ASSERT_EQ(out.back(), '\n');
  std::vector<std::string> lines;
  for (std::size_t at = 0; at < out.size();) {
    const std::size_t end = out.find('\n', at);
    lines.push_back(out.substr(at, end - at));
    at = end + 1;
  }
  const std::string prefix = "hoardlab: config: ";
  const std::size_t kept = lines.size() - 1;
  for (std::size_t i = 0; i < kept; ++i) {
    EXPECT_EQ(lines[i].rfind(prefix + path + ":", 0), 0u) << lines[i];
    EXPECT_NE(lines[i].find("unknown key heap.bogus_key_" + std::to_string(i) + ";"),
              std::string::npos)
        << lines[i];
    EXPECT_NE(lines[i].back(), ' ') << lines[i];
  }
  EXPECT_EQ(lines.back(), prefix + std::to_string(500 - kept) + " more messages were dropped");
}

// What the user typed is echoed with its control bytes escaped: a raw newline would forge a
// line of its own, an escape sequence would reach the terminal.
TEST(Messages, ControlBytesInNamesValuesAndPathsAreEscaped) {
  const auto l = from_environment({"HOARDLAB_CACHE_BYTES=1\nhoardlab: fake\x1b[31m",
                                   "HOARDLAB_FO\tO=1", "HOARDLAB_CONFIG=/nonexistent/a\nb.toml"});
  const std::string out = l->text();
  EXPECT_EQ(l->count(), 3u) << out;
  EXPECT_NE(out.find("cache.bytes = \"1\\nhoardlab: fake\\x1b[31m\""), std::string::npos) << out;
  EXPECT_NE(out.find("environment HOARDLAB_FO\\tO: unknown variable"), std::string::npos) << out;
  EXPECT_NE(out.find("/nonexistent/a\\nb.toml: cannot read"), std::string::npos) << out;
  std::size_t newlines = 0;
  for (const char c : out) {
    newlines += c == '\n' ? 1 : 0;
    EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20 && c != '\n') << out;
  }
  EXPECT_EQ(newlines, 3u) << out;
}

// Strict mode: the messages, then _exit(2). Each death test runs in a fresh process.
// Loads from a two-entry environment; exits 0 when heap.emptiness_k ended up 3 (or at its
// default after an error), 1 otherwise.
[[noreturn]] void load_then_exit(const char* first, const char* second) {
  const char* env[] = {first, second, nullptr};
  Options options;
  Provenance provenance[kOptionCount];
  load_and_report(env, options, provenance);
  std::exit(options.heap_emptiness_k == 3 || options.heap_emptiness_k == 4 ? 0 : 1);
}

TEST(StrictMode, AnErrorExitsWithStatusTwo) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(load_then_exit("HOARDLAB_STRICT_CONFIG=1", "HOARDLAB_HEAP_EMPTINESS_K=-3"),
              ::testing::ExitedWithCode(2),
              "HOARDLAB_HEAP_EMPTINESS_K: heap.emptiness_k = \"-3\": out of range.*"
              "HOARDLAB_STRICT_CONFIG is set");
}

TEST(StrictMode, ThroughTheProcessEnvironmentAndLoad) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("HOARDLAB_STRICT_CONFIG", "true", 1);
        setenv("HOARDLAB_CONFIG", "/nonexistent.toml", 1);
        load();
        std::exit(0);
      },
      ::testing::ExitedWithCode(2), "cannot read the config file");
}

// HOARDLAB_PEER_* names the harness's locally built peers and is set in the shell that runs
// hoardlab too: not an unknown variable, so no message and no strict-mode exit.
TEST(StrictMode, TheHarnesssPeerVariablesAreNotTheAllocatorsAndPass) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      load_then_exit("HOARDLAB_STRICT_CONFIG=1", "HOARDLAB_PEER_SNMALLOC=/opt/libsnmallocshim.so"),
      ::testing::ExitedWithCode(0), "^$");
}

TEST(Environment, PeerVariablesAreSkippedWhileAMisspeltNameNearThemIsStillReported) {
  const auto l =
      from_environment({"HOARDLAB_PEER_MIMALLOC_V3=/opt/libmimalloc.so", "HOARDLAB_PEER=x"});
  const std::string out = l->text();
  EXPECT_EQ(l->count(), 1u) << out;
  EXPECT_NE(out.find("environment HOARDLAB_PEER: unknown variable"), std::string::npos) << out;
}

TEST(StrictMode, WithoutErrorsTheProgramRunsOn) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(load_then_exit("HOARDLAB_STRICT_CONFIG=1", "HOARDLAB_HEAP_EMPTINESS_K=3"),
              ::testing::ExitedWithCode(0), "");
}

TEST(NonStrictMode, AnErrorIsPrintedAndTheProgramRunsOnWithTheDefault) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("HOARDLAB_HEAP_EMPTINESS_K", "many", 1);
        load();
        std::exit(options().heap_emptiness_k == Options{}.heap_emptiness_k ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "heap.emptiness_k = \"many\": not a valid value");
}

} // namespace
} // namespace hoardlab::config
