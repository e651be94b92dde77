// stepcount: how many user-mode instructions a command executes, counted by single-stepping its
// main thread with ptrace. bench/fastpath.sh uses it where callgrind cannot run an allocator:
// snmalloc reserves a flat 256 GiB pagemap at start-up, which valgrind's address-space manager
// refuses, and the library aborts ("Failed to initialise snmalloc"). Counting by hand because
// nothing Debian ships does it for such a library: valgrind is the tool that fails, perf needs
// hardware counters, which virtual machines often do not expose, and qemu-user's TCG plugins are
// not packaged.
//
// usage: stepcount [--marks] COMMAND [ARG...]
// Prints "instructions N" on stderr and exits with the command's status (128 + signal when it
// was killed). With --marks only the instructions between the first two SIGUSR1 the command
// raises count (fastpath-loop's `marks`): it runs at full speed up to the first and after the
// second, and the two signals are not delivered. A step costs tens of microseconds in a virtual
// machine (the trap flag's debug exception leaves the guest), so counting a loop alone, not the
// dynamic loader's few hundred thousand instructions before it, is what makes a run take seconds.
// Only the thread the command starts with is counted: threads it creates run untraced
// (fastpath-loop has none). Address-space randomisation is turned off in the child, as callgrind's
// runs are reproducible only up to the addresses it hashes.
//
// What a step is: the kernel's trap flag stops the tracee after each instruction, so each
// SIGTRAP stop is one instruction retired, a `syscall` included; a `rep movs` or `rep stos`
// stops after each iteration and counts as one per iteration, as callgrind counts it. A
// signal the command receives is passed on and is no instruction.
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  const bool marks = argc > 1 && std::strcmp(argv[1], "--marks") == 0;
  char** command = argv + (marks ? 2 : 1);
  if (*command == nullptr) {
    std::fprintf(stderr, "usage: stepcount [--marks] COMMAND [ARG...]\n");
    return 2;
  }
  const pid_t child = fork();
  if (child < 0) {
    std::fprintf(stderr, "stepcount: fork: %s\n", std::strerror(errno));
    return 2;
  }
  if (child == 0) {
    if (ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0) {
      std::fprintf(stderr, "stepcount: ptrace(PTRACE_TRACEME): %s\n", std::strerror(errno));
      _exit(126);
    }
    personality(ADDR_NO_RANDOMIZE); // a failure leaves the addresses random: still a count
    execvp(command[0], command);    // stops with SIGTRAP once the new image is loaded
    std::fprintf(stderr, "stepcount: %s: %s\n", command[0], std::strerror(errno));
    _exit(127);
  }
  int status = 0;
  if (waitpid(child, &status, 0) != child) {
    std::fprintf(stderr, "stepcount: waitpid: %s\n", std::strerror(errno));
    return 2;
  }
  if (!WIFSTOPPED(status)) { // the exec failed, or tracing was refused
    return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
  }
  // The tracee dies with stepcount, never runs on untraced.
  ptrace(PTRACE_SETOPTIONS, child, nullptr, reinterpret_cast<void*>(PTRACE_O_EXITKILL));
  std::uint64_t steps = 0;
  int deliver = 0;
  // Without marks every instruction counts; with them, none before the first mark (stepping
  // off) nor after the second (done).
  bool stepping = !marks;
  bool done = false;
  for (;;) {
    const auto request = stepping ? PTRACE_SINGLESTEP : PTRACE_CONT;
    if (ptrace(request, child, nullptr, reinterpret_cast<void*>(deliver)) != 0) {
      std::fprintf(stderr, "stepcount: ptrace: %s\n", std::strerror(errno));
      return 2;
    }
    if (waitpid(child, &status, 0) != child) {
      std::fprintf(stderr, "stepcount: waitpid: %s\n", std::strerror(errno));
      return 2;
    }
    if (WIFEXITED(status) || WIFSIGNALED(status)) break;
    const int sig = WSTOPSIG(status);
    deliver = 0;
    if (marks && sig == SIGUSR1 && !done) { // a mark: not delivered
      done = stepping;
      stepping = !stepping;
    } else if (sig == SIGTRAP && stepping) {
      ++steps;
    } else {
      deliver = sig; // the command's own signal: passed on as it resumes
    }
  }
  if (marks && !done) {
    std::fprintf(stderr, "stepcount: the command did not raise SIGUSR1 twice\n");
    return 2;
  }
  std::fprintf(stderr, "instructions %llu\n", static_cast<unsigned long long>(steps));
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}
