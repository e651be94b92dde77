// Raw system calls for config (see env.h). None of these allocate.
#include "pal/env.h"

#include <cerrno>
#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

extern "C" char** environ; // NOLINT: POSIX

namespace hoardlab::pal {

const char* const* environment() noexcept {
  return environ;
}

bool secure_process() noexcept {
  const int saved = errno; // getauxval sets ENOENT for a missing entry; callers keep errno
  const bool secure = getauxval(AT_SECURE) != 0;
  errno = saved;
  return secure;
}

namespace {

// A path opened without blocking (O_NONBLOCK: a FIFO without a peer would wait in open) and kept
// only when it is a regular file: the one way config and the statistics file open what a user
// named. Leaves errno as it found it to its callers, which restore it.
struct Opened {
  int fd = -1;            // the open regular file, else -1
  bool opened = false;    // open succeeded (error, if any, is then fstat's)
  int error = 0;          // errno of the failing open or fstat
  bool directory = false; // not kept: a directory
  bool other = false;     // not kept: a FIFO, device or socket
};

Opened open_regular(const char* path, int flags, mode_t mode) noexcept {
  Opened o;
  const int fd = ::open(path, flags | O_NONBLOCK | O_CLOEXEC, mode);
  if (fd < 0) {
    o.error = errno;
    return o;
  }
  o.opened = true;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    o.error = errno;
  } else if (S_ISREG(st.st_mode)) {
    o.fd = fd;
    return o;
  } else {
    o.directory = S_ISDIR(st.st_mode);
    o.other = !o.directory;
  }
  ::close(fd);
  return o;
}

} // namespace

ReadResult read_file(const char* path, char* buffer, std::size_t capacity) noexcept {
  ReadResult result;
  const int saved = errno;
  const Opened o = open_regular(path, O_RDONLY, 0);
  if (o.fd < 0) {
    result.error = o.directory ? EISDIR : o.error;
    result.not_regular = o.other;
    errno = saved;
    return result;
  }
  const int fd = o.fd;
  while (result.bytes < capacity) {
    const ssize_t n = ::read(fd, buffer + result.bytes, capacity - result.bytes);
    if (n < 0) {
      if (errno == EINTR) continue;
      result.error = errno;
      break;
    }
    if (n == 0) break;
    result.bytes += static_cast<std::size_t>(n);
  }
  if (result.error == 0 && result.bytes == capacity) {
    // Full buffer: one more byte tells a file of exactly `capacity` bytes from a longer one.
    char probe;
    ssize_t n;
    do {
      n = ::read(fd, &probe, 1);
    } while (n < 0 && errno == EINTR);
    result.truncated = n > 0;
  }
  ::close(fd);
  errno = saved;
  return result;
}

int write_all(int fd, const char* data, std::size_t size) noexcept {
  const int saved = errno;
  int error = 0;
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = errno;
      break;
    }
    if (n == 0) { // no progress and no errno: do not spin
      error = EIO;
      break;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  errno = saved;
  return error;
}

AppendFile open_regular_for_append(const char* path) noexcept {
  AppendFile result;
  const int saved = errno;
  const Opened o = open_regular(path, O_WRONLY | O_CREAT | O_APPEND | O_NOCTTY, 0644);
  result.fd = o.fd;
  if (!o.opened) {
    result.error = o.error;
    result.not_regular = o.error == ENXIO; // a FIFO or socket without a reader, or a device
  } else {
    result.not_regular = o.fd < 0; // not a regular file (or not even fstat-able)
  }
  errno = saved;
  return result;
}

void close_file(int fd) noexcept {
  const int saved = errno;
  ::close(fd);
  errno = saved;
}

bool lock_file_exclusive(int fd) noexcept {
  const int saved = errno;
  int r = 0;
  do {
    r = ::flock(fd, LOCK_EX);
  } while (r != 0 && errno == EINTR);
  errno = saved;
  return r == 0;
}

void exit_immediately(int status) noexcept {
  ::_exit(status);
}

const char* errno_text(int error) noexcept {
  switch (error) {
  case ENOENT:
    return "no such file";
  case EACCES:
    return "permission denied";
  case EISDIR:
    return "is a directory";
  case ENOTDIR:
    return "a path component is not a directory";
  case ENAMETOOLONG:
    return "path too long";
  case ELOOP:
    return "too many symbolic links";
  case EMFILE:
  case ENFILE:
    return "too many open files";
  case EIO:
    return "input/output error";
  case ENOSPC:
    return "no space left on device";
  case EDQUOT:
    return "disk quota exceeded";
  case EFBIG:
    return "file too large";
  case EROFS:
    return "read-only file system";
  default:
    return "error";
  }
}

} // namespace hoardlab::pal
