// Experiment files: every mistake is reported with file:line:column and the key, and the
// shipped experiments parse.
#include "harness/cells.h"
#include "harness/experiment.h"
#include "harness/option_values.h"
#include "harness/runner.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace hoardlab::harness {
namespace {

const char* kHeader = R"(name = "t"
allocators = ["hoardlab", "glibc"]
[[benchmark]]
name = "threadtest"
)";

// Parses `text` and returns the error message, or "" when it parsed.
std::string error_of(const std::string& text) {
  try {
    parse_experiment(text, "exp.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ExperimentFile, MinimalFileParsesWithDefaults) {
  auto ex = parse_experiment(kHeader, "exp.toml");
  EXPECT_EQ(ex.name, "t");
  EXPECT_EQ(ex.repetitions, 5);
  EXPECT_EQ(ex.baseline, "glibc");
  ASSERT_EQ(ex.benchmarks.size(), 1u);
  EXPECT_EQ(ex.benchmarks[0].program, "threadtest");
  ASSERT_EQ(ex.allocators.size(), 2u);
}

TEST(ExperimentFile, UnknownTopLevelKeyNamesFileLineAndKey) {
  auto e = error_of(std::string("treads = [1, 2]\n") + kHeader);
  EXPECT_NE(e.find("exp.toml:1:"), std::string::npos) << e;
  EXPECT_NE(e.find("'treads'"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key"), std::string::npos) << e;
}

TEST(ExperimentFile, OrderIsShuffledUnlessFixedAndAnythingElseIsNamed) {
  EXPECT_TRUE(parse_experiment(kHeader, "exp.toml").shuffle);
  EXPECT_FALSE(parse_experiment(std::string("order = \"fixed\"\n") + kHeader, "exp.toml").shuffle);
  auto e = error_of(std::string("order = \"random\"\n") + kHeader);
  EXPECT_NE(e.find("exp.toml:1:"), std::string::npos) << e;
  EXPECT_NE(e.find("'order'"), std::string::npos) << e;
  EXPECT_NE(e.find("\"fixed\""), std::string::npos) << e;
}

TEST(ExperimentFile, SyntaxErrorNamesFileAndLine) {
  auto e = error_of(std::string(kHeader) + "args = [1, \n");
  EXPECT_NE(e.find("exp.toml:5:"), std::string::npos) << e;
}

TEST(ExperimentFile, BadGridValueNamesItsLineAndOption) {
  auto e = error_of(std::string(kHeader) + "[grid]\nsuperblock_size = [\"16KiB\", \"banana\"]\n");
  EXPECT_NE(e.find("exp.toml:6:"), std::string::npos) << e;
  EXPECT_NE(e.find("superblock_size"), std::string::npos) << e;
  EXPECT_NE(e.find("not a size"), std::string::npos) << e;
}

TEST(ExperimentFile, SuperblockSizeMustBeAPowerOfTwo) {
  auto e = error_of(std::string(kHeader) + "[grid]\nsuperblock_size = [\"48KiB\"]\n");
  EXPECT_NE(e.find("power of two"), std::string::npos) << e;
}

TEST(ExperimentFile, OutOfRangeFractionIsRejected) {
  auto e = error_of(std::string(kHeader) + "[grid]\nemptiness_f = [\"1/8\", \"3/2\"]\n");
  EXPECT_NE(e.find("out of range"), std::string::npos) << e;
  EXPECT_NE(e.find("exp.toml:6:"), std::string::npos) << e;
}

TEST(ExperimentFile, UnknownOptionIsRejected) {
  auto e = error_of(std::string(kHeader) + "[grid]\nsuperblok_size = [\"16KiB\"]\n");
  EXPECT_NE(e.find("unknown hoardlab option"), std::string::npos) << e;
  EXPECT_NE(e.find("superblok_size"), std::string::npos) << e;
}

TEST(ExperimentFile, AmbiguousOptionNameAsksForTheSection) {
  auto e = error_of(std::string(kHeader) + "[grid]\nbatch = [1, 2]\n");
  EXPECT_NE(e.find("ambiguous"), std::string::npos) << e;
  EXPECT_NE(e.find("cache.batch"), std::string::npos) << e;
}

TEST(ExperimentFile, WordOptionListsItsAllowedValues) {
  auto e = error_of(std::string(kHeader) + "[grid]\n\"remote.policy\" = [\"fast\"]\n");
  EXPECT_NE(e.find("superblock-list|heap-queue|owner-lock"), std::string::npos) << e;
}

TEST(ExperimentFile, UnknownAllocatorIsRejected) {
  auto e = error_of("name = \"t\"\nallocators = [\"hoard\"]\n[[benchmark]]\nname = \"x\"\n");
  EXPECT_NE(e.find("exp.toml:2:"), std::string::npos) << e;
  EXPECT_NE(e.find("allocator_paths"), std::string::npos) << e;
}

TEST(ExperimentFile, BaselineMustBeAnAllocatorOfTheExperiment) {
  auto e = error_of(std::string("baseline = \"jemalloc\"\n") + kHeader);
  EXPECT_NE(e.find("exp.toml:1:"), std::string::npos) << e;
  EXPECT_NE(e.find("baseline"), std::string::npos) << e;
}

TEST(ExperimentFile, ThreadCountsMustBePositiveIntegers) {
  auto e = error_of(std::string("threads = [1, 0]\n") + kHeader);
  EXPECT_NE(e.find("exp.toml:1:"), std::string::npos) << e;
  EXPECT_NE(e.find("'threads'"), std::string::npos) << e;
}

TEST(ExperimentFile, ABenchmarkNeedsAName) {
  auto e = error_of("name = \"t\"\nallocators = [\"glibc\"]\n[[benchmark]]\nargs = []\n");
  EXPECT_NE(e.find("benchmark.name"), std::string::npos) << e;
}

TEST(ExperimentFile, NoBenchmarkIsAnError) {
  auto e = error_of("name = \"t\"\nallocators = [\"glibc\"]\n");
  EXPECT_NE(e.find("no [[benchmark]]"), std::string::npos) << e;
}

TEST(ExperimentFile, UnknownBenchmarkKeyNamesTheKey) {
  auto e = error_of(std::string(kHeader) + "argz = [\"--x\"]\n");
  EXPECT_NE(e.find("'benchmark.argz'"), std::string::npos) << e;
  EXPECT_NE(e.find("exp.toml:5:"), std::string::npos) << e;
}

TEST(ExperimentFile, ArgsTableBecomesFlagsInOrder) {
  auto ex = parse_experiment(std::string(kHeader) + "args = { seconds = 0.5, min-size = 8 }\n",
                             "exp.toml");
  std::vector<std::string> want = {"--seconds", "0.5", "--min-size", "8"};
  EXPECT_EQ(ex.benchmarks[0].args, want);
}

TEST(ExperimentFile, HoardlabOptionsMapToTheirEnvironmentVariables) {
  auto ex = parse_experiment(std::string("name = \"t\"\nallocators = [\"hoardlab\"]\n"
                                         "baseline = \"hoardlab\"\n[hoardlab.heap]\n"
                                         "superblock_size = \"256KiB\"\n[[benchmark]]\n"
                                         "name = \"x\"\n"),
                             "exp.toml");
  ASSERT_EQ(ex.hoardlab_options.size(), 1u);
  EXPECT_EQ(ex.hoardlab_options[0].env, "HOARDLAB_HEAP_SUPERBLOCK_SIZE");
  EXPECT_EQ(ex.hoardlab_options[0].value, "256KiB");
}

TEST(ExperimentFile, UserLibraryNeedsAnAbsolutePath) {
  auto e = error_of(std::string(kHeader) + "[allocator_paths]\nhoard = \"libhoard.so\"\n");
  EXPECT_NE(e.find("allocator_paths.hoard"), std::string::npos) << e;
  EXPECT_NE(e.find("absolute"), std::string::npos) << e;
}

TEST(ExperimentFile, AllocatorPathsRelocatesAKnownPeer) {
  auto ex = parse_experiment("name = \"t\"\nallocators = [\"glibc\", \"peers\"]\n"
                             "[allocator_paths]\njemalloc = \"/opt/b/libjemalloc.so.2\"\n"
                             "[[benchmark]]\nname = \"threadtest\"\n",
                             "exp.toml");
  int jemallocs = 0;
  for (const auto& a : ex.allocators) {
    if (a.name != "jemalloc") continue;
    ++jemallocs;
    EXPECT_EQ(a.path, "/opt/b/libjemalloc.so.2");
    EXPECT_TRUE(a.required) << "a relocated peer must fail loudly when its file is missing";
  }
  EXPECT_EQ(jemallocs, 1);
  for (const auto& a : ex.allocators) {
    if (a.name == "tcmalloc") {
      EXPECT_TRUE(a.path.empty());
    }
  }
}

TEST(ExperimentFile, ANameGivenInAllocatorPathsMayBeListedInAllocators) {
  auto ex = parse_experiment("name = \"t\"\nallocators = [\"glibc\", \"hoard\"]\n"
                             "[allocator_paths]\nhoard = \"/opt/hoard/libhoard.so\"\n"
                             "[[benchmark]]\nname = \"threadtest\"\n",
                             "exp.toml");
  ASSERT_EQ(ex.allocators.size(), 2u);
  EXPECT_EQ(ex.allocators[1].name, "hoard");
  EXPECT_EQ(ex.allocators[1].path, "/opt/hoard/libhoard.so");
  EXPECT_TRUE(ex.allocators[1].required);
}

TEST(ExperimentFile, AllocatorPathsCannotRelocateHoardlabOrGlibc) {
  for (const char* name : {"hoardlab", "glibc"}) {
    auto e = error_of(std::string(kHeader) + "[allocator_paths]\n" + name + " = \"/x/lib.so\"\n");
    EXPECT_NE(e.find(std::string("allocator_paths.") + name), std::string::npos) << e;
    EXPECT_NE(e.find("cannot be relocated"), std::string::npos) << e;
  }
}

TEST(ExperimentOptionValues, SizesAcceptUnits) {
  double b = 0;
  ASSERT_TRUE(parse_size("64KiB", b));
  EXPECT_EQ(b, 65536);
  ASSERT_TRUE(parse_size("1MiB", b));
  EXPECT_EQ(b, 1048576);
  EXPECT_FALSE(parse_size("12 parsecs", b));
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ShippedExperiments, EmbeddedDefaultIsTheFileInTheTree) {
  EXPECT_EQ(std::string(default_experiment_text()),
            slurp(std::string(HARNESS_CONFIG_DIR) + "/default.toml"));
}

TEST(ShippedExperiments, DefaultIsAScalabilityStudyOfFiveWorkloads) {
  auto ex = parse_experiment(default_experiment_text(), "default");
  EXPECT_GE(ex.benchmarks.size(), 5u);
  EXPECT_EQ(ex.threads, (std::vector<int>{1, 2, 4}));
  EXPECT_EQ(ex.repetitions, 5);
}

TEST(ShippedExperiments, EveryFileInConfigsParses) {
  // Locally built libraries are named by environment variable; parsing needs them set only.
  for (const char* v :
       {"HOARDLAB_PEER_SNMALLOC", "HOARDLAB_PEER_MIMALLOC_V2", "HOARDLAB_PEER_MIMALLOC_V3",
        "HOARDLAB_PEER_RPMALLOC", "HOARDLAB_PEER_HOARD", "HOARDLAB_HARDENED_LIB"})
    setenv(v, "/usr/lib/placeholder-for-the-test.so", 1);
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(HARNESS_CONFIG_DIR)) {
    if (e.path().extension() != ".toml") continue;
    ++n;
    EXPECT_NO_THROW(load_experiment(e.path().string())) << e.path();
  }
  EXPECT_GE(n, 6); // default, smoke, scalability, params, remote-free, blowup
}

TEST(ExperimentFile, GridConfigSweepsWholeConfigurationFilesNamedByTheirStems) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("hl-config-axis-" + std::to_string(getpid()));
  fs::create_directories(dir / "allocator");
  std::ofstream(dir / "allocator" / "paper.toml") << "[heap]\nsuperblock_size = \"8KiB\"\n";
  std::ofstream(dir / "allocator" / "today.toml") << "";
  auto ex = parse_experiment(std::string(kHeader) + "[grid]\nconfig = [\"allocator/paper.toml\", "
                                                    "\"allocator/today.toml\"]\n",
                             (dir / "exp.toml").string());
  ASSERT_EQ(ex.grid.size(), 1u);
  EXPECT_EQ(ex.grid[0].env, "HOARDLAB_CONFIG");
  EXPECT_EQ(ex.grid[0].values, (std::vector<std::string>{"paper", "today"}));
  ASSERT_EQ(ex.grid[0].env_values.size(), 2u);
  EXPECT_EQ(ex.grid[0].env_values[0], (dir / "allocator" / "paper.toml").string());
  // The cells name the file by its stem; the run gets the whole path.
  auto cells = expand_cells(ex);
  EXPECT_TRUE(std::any_of(cells.begin(), cells.end(), [](const Cell& c) {
    return c.id == "threadtest/t1/hoardlab[config=paper]";
  }));
  auto e = error_of(std::string(kHeader) + "[grid]\nconfig = [\"no-such-file.toml\"]\n");
  EXPECT_NE(e.find("grid.config"), std::string::npos) << e;
  EXPECT_NE(e.find("no-such-file.toml is not a regular file"), std::string::npos) << e;
  fs::remove_all(dir);
}

TEST(ExperimentFile, AllocatorPathTakesAnEnvironmentVariableAsItsWholeValue) {
  setenv("HL_TEST_PEER_LIB", "/opt/peer/libpeer.so", 1);
  auto ex =
      parse_experiment(std::string(kHeader) + "[allocator_paths]\npeer = \"$HL_TEST_PEER_LIB\"\n"
                                              "other = \"${HL_TEST_PEER_LIB}\"\n",
                       "exp.toml");
  ASSERT_EQ(ex.allocators.size(), 4u);
  EXPECT_EQ(ex.allocators[2].path, "/opt/peer/libpeer.so");
  EXPECT_EQ(ex.allocators[3].path, "/opt/peer/libpeer.so");
  unsetenv("HL_TEST_UNSET_PEER");
  auto e = error_of(std::string(kHeader) + "[allocator_paths]\npeer = \"$HL_TEST_UNSET_PEER\"\n");
  EXPECT_NE(e.find("allocator_paths.peer"), std::string::npos) << e;
  EXPECT_NE(e.find("HL_TEST_UNSET_PEER is not set"), std::string::npos) << e;
}

TEST(ShippedExperiments, EveryHoard2000ExperimentParsesAndComparesBothDesigns) {
  setenv("HOARDLAB_PEER_HOARD", "/usr/lib/libhoard-for-the-test.so", 1);
  int n = 0;
  for (const auto& e :
       std::filesystem::directory_iterator(std::string(HARNESS_CONFIG_DIR) + "/hoard2000")) {
    if (e.path().extension() != ".toml") continue;
    ++n;
    Experiment ex = load_experiment(e.path().string());
    auto config = std::find_if(ex.grid.begin(), ex.grid.end(),
                               [](const GridAxis& axis) { return axis.name == "config"; });
    ASSERT_NE(config, ex.grid.end()) << e.path();
    EXPECT_EQ(config->values, (std::vector<std::string>{"default", "hoard-2000"})) << e.path();
    EXPECT_TRUE(std::any_of(ex.allocators.begin(), ex.allocators.end(), [](const AllocatorSpec& a) {
      return a.name == "hoard";
    })) << e.path();
  }
  unsetenv("HOARDLAB_PEER_HOARD");
  EXPECT_EQ(n, 4); // speedup, fragmentation, blowup, empty fraction
}

} // namespace
} // namespace hoardlab::harness
