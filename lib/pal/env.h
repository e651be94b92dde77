// The process environment, small files and stderr, through raw system calls only: config reads
// its options with these at allocator init, where no call may allocate. Layer: pal.
#pragma once

#include <cstddef>

namespace hoardlab::pal {

// The process's `environ`, read directly (getenv would do, but config needs every HOARDLAB_*
// name to report misspelt ones, so it scans the whole block).
const char* const* environment() noexcept;

// True when the process runs with elevated privileges (setuid/setgid, file capabilities):
// getauxval(AT_SECURE). HOARDLAB_* is then ignored, so a stats file cannot be written as root.
bool secure_process() noexcept;

struct ReadResult {
  std::size_t bytes = 0;    // bytes read into the buffer
  int error = 0;            // errno of the failing open/read, 0 on success
  bool truncated = false;   // the file is longer than the buffer
  bool not_regular = false; // a FIFO, device, socket or directory: refused, nothing read
};
// Reads at most capacity bytes of a regular file with open/read/close. Never blocks: the open is
// O_NONBLOCK (a FIFO without a writer would wait in open) and anything but a regular file is
// refused before the first read (a FIFO, or /dev/stdin on a pipe whose writer stays open, would
// wait in read, inside malloc's init). sysfs and procfs files are regular files.
ReadResult read_file(const char* path, char* buffer, std::size_t capacity) noexcept;

// Writes all of the bytes, retrying on EINTR and short writes; returns 0, or the errno of the
// write that failed (callers writing to stderr ignore it: there is nowhere left to report it).
// errno is preserved.
int write_all(int fd, const char* data, std::size_t size) noexcept;
inline void write_stderr(const char* data, std::size_t size) noexcept {
  write_all(2, data, size);
}

// Opens a regular file to append to, creating it (0644). The open is non-blocking, so a FIFO
// without a reader fails at once (ENXIO) instead of waiting for one, and anything but a regular
// file (FIFO, device, socket) is refused: fd is then -1 and not_regular true. Otherwise fd is -1
// on failure with error its errno. errno is preserved.
struct AppendFile {
  int fd = -1;
  int error = 0;
  bool not_regular = false;
};
AppendFile open_regular_for_append(const char* path) noexcept;
void close_file(int fd) noexcept;
// Takes an exclusive advisory lock (flock(2)) on the open file, waiting for it; released at
// close. For a writer that needs several write(2) calls in a row to stay together against other
// processes that lock the file too. False (and nothing held) where the file system refuses it.
// errno is preserved.
bool lock_file_exclusive(int fd) noexcept;

// _exit: never exit() inside malloc (atexit handlers and stdio would run there).
[[noreturn]] void exit_immediately(int status) noexcept;

// A short name for the errno values a file open or read can meet; "error" otherwise.
// strerror is avoided: with a locale it may allocate.
const char* errno_text(int error) noexcept;

} // namespace hoardlab::pal
