#include "process.h"

#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <poll.h>
#include <spawn.h>
#include <sstream>
#include <stdexcept>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace hoardlab::dropin {

std::string library_under_test() {
  std::string lib = HOARDLAB_DROPIN_DEFAULT_LIB;
  const char* chosen = std::getenv("HOARDLAB_DROPIN_LIB");
  if (chosen != nullptr && *chosen != '\0') lib = chosen;
  if (access(lib.c_str(), R_OK) != 0)
    throw std::runtime_error(
        std::string("the library under test, ") + lib + " (" +
        (chosen != nullptr && *chosen != '\0' ? "HOARDLAB_DROPIN_LIB" : "this build tree") +
        "), cannot be read: " + std::strerror(errno));
  return lib;
}

bool library_is_hoardlab() {
  void* handle = dlopen(library_under_test().c_str(), RTLD_LAZY | RTLD_LOCAL | RTLD_NOLOAD);
  bool loaded_here = handle != nullptr;
  if (!loaded_here) handle = dlopen(library_under_test().c_str(), RTLD_LAZY | RTLD_LOCAL);
  if (handle == nullptr) {
    // The library does not load on its own (e.g. undefined symbols): judge by its name.
    return library_under_test().find("hoardlab") != std::string::npos;
  }
  const bool has = dlsym(handle, "hl_stats_get") != nullptr;
  dlclose(handle);
  return has;
}

std::string build_program(const std::string& name) {
  return std::string(HOARDLAB_DROPIN_BIN_DIR) + "/" + name;
}

std::string probe_library() {
  return HOARDLAB_DROPIN_PROBE_LIB;
}

namespace {

void set_nonblocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

} // namespace

ProcessResult run_process(const std::vector<std::string>& argv,
                          const std::map<std::string, std::string>& env, const std::string& input,
                          double timeout_s) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0 ||
      pipe2(err_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe2 failed");

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group, so a timeout kills the program and everything it started.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);

  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env)
    env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_strings)
    envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, argv[0].c_str(), &actions, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  ProcessResult result;
  if (rc != 0) {
    close(in_pipe[1]);
    close(out_pipe[0]);
    close(err_pipe[0]);
    result.err = "posix_spawnp(" + argv[0] + ") failed: " + std::strerror(rc);
    result.exit_code = 127;
    return result;
  }

  set_nonblocking(in_pipe[1]);
  set_nonblocking(out_pipe[0]);
  set_nonblocking(err_pipe[0]);
  std::size_t written = 0;
  int in_fd = in_pipe[1];
  if (input.empty()) {
    close(in_fd);
    in_fd = -1;
  }
  int out_fd = out_pipe[0], err_fd = err_pipe[0];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  char buffer[65536];
  while (out_fd >= 0 || err_fd >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      kill(-pid, SIGKILL);
      break;
    }
    pollfd fds[3];
    int n = 0;
    if (in_fd >= 0) fds[n++] = {in_fd, POLLOUT, 0};
    if (out_fd >= 0) fds[n++] = {out_fd, POLLIN, 0};
    if (err_fd >= 0) fds[n++] = {err_fd, POLLIN, 0};
    if (poll(fds, n, static_cast<int>(std::min<long long>(left.count(), 1000))) < 0 &&
        errno != EINTR)
      break;
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == in_fd) {
        const ssize_t w = write(in_fd, input.data() + written, input.size() - written);
        if (w > 0) written += static_cast<std::size_t>(w);
        if (w < 0 && errno != EAGAIN) written = input.size();
        if (written == input.size()) {
          close(in_fd);
          in_fd = -1;
        }
        continue;
      }
      const ssize_t r = read(fds[i].fd, buffer, sizeof(buffer));
      if (r > 0) {
        (fds[i].fd == out_fd ? result.out : result.err).append(buffer, static_cast<std::size_t>(r));
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        close(fds[i].fd);
        (fds[i].fd == out_fd ? out_fd : err_fd) = -1;
      }
    }
  }
  if (in_fd >= 0) close(in_fd);
  if (out_fd >= 0) close(out_fd);
  if (err_fd >= 0) close(err_fd);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status))
    result.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    result.exit_code = 128 + WTERMSIG(status);
  return result;
}

std::map<std::string, std::string> pinned_environment(const std::string& home) {
  return {
      {"PATH", "/usr/local/bin:/usr/bin:/bin"},
      {"HOME", home},
      {"LC_ALL", "C"},
      {"LANG", "C"},
      {"TZ", "UTC"},
      {"PYTHONHASHSEED", "0"},
      {"PYTHONDONTWRITEBYTECODE", "1"},
      {"SOURCE_DATE_EPOCH", "1700000000"},
      {"TMPDIR", home},
  };
}

std::map<std::string, std::string> preloaded(std::map<std::string, std::string> env,
                                             const std::string& probe_file) {
  env["LD_PRELOAD"] = library_under_test() + ":" + probe_library();
  env["HOARDLAB_DROPIN_PROBE_FILE"] = probe_file;
  return env;
}

std::vector<ProbeRecord> read_probe(const std::string& probe_file) {
  std::vector<ProbeRecord> records;
  std::ifstream in(probe_file);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    ProbeRecord r;
    std::string word;
    while (fields >> word) {
      const auto eq = word.find('=');
      if (eq == std::string::npos) continue;
      const std::string key = word.substr(0, eq), value = word.substr(eq + 1);
      if (key == "pid")
        r.pid = std::stol(value);
      else if (key == "malloc_from")
        r.malloc_from = value;
      else if (key == "allocations")
        r.allocations = std::stoll(value);
      else if (key == "bytes_held")
        r.bytes_held = std::stoll(value);
    }
    records.push_back(r);
  }
  return records;
}

std::string make_scratch_dir(const std::string& tag) {
  std::string base = std::string(HOARDLAB_DROPIN_SCRATCH_DIR) + "/" + tag + ".XXXXXX";
  mkdir(HOARDLAB_DROPIN_SCRATCH_DIR, 0755);
  std::vector<char> path(base.begin(), base.end());
  path.push_back('\0');
  if (mkdtemp(path.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + base);
  return path.data();
}

ScratchDir::~ScratchDir() {
  if (::testing::Test::HasFailure()) return;
  std::error_code ignored;
  std::filesystem::remove_all(path, ignored);
}

void write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out << data;
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string real_path(const std::string& path) {
  char buffer[PATH_MAX];
  if (realpath(path.c_str(), buffer) == nullptr) return path;
  return buffer;
}

} // namespace hoardlab::dropin
