// Raw system calls for config (see env.h). None of these allocate.
#include "pal/env.h"

#include <cerrno>
#include <fcntl.h>
#include <sys/auxv.h>
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

ReadResult read_file(const char* path, char* buffer, std::size_t capacity) noexcept {
  ReadResult result;
  const int saved = errno;
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    result.error = errno;
    errno = saved;
    return result;
  }
  struct stat st;
  const bool stated = ::fstat(fd, &st) == 0;
  if (!stated || !S_ISREG(st.st_mode)) {
    if (!stated)
      result.error = errno;
    else if (S_ISDIR(st.st_mode))
      result.error = EISDIR;
    else
      result.not_regular = true;
    ::close(fd);
    errno = saved;
    return result;
  }
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
  const int fd =
      ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0644);
  if (fd < 0) {
    result.error = errno;
    result.not_regular = errno == ENXIO; // a FIFO or socket without a reader, or a device
    errno = saved;
    return result;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    result.not_regular = true;
    errno = saved;
    return result;
  }
  result.fd = fd;
  errno = saved;
  return result;
}

void close_file(int fd) noexcept {
  const int saved = errno;
  ::close(fd);
  errno = saved;
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
