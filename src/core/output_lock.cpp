#include "core/output_lock.hpp"

#include <sys/file.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "core/log.hpp"

namespace irisml {

namespace {

std::string holder_line() {
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "?");
  const std::time_t now = std::time(nullptr);
  char when[64] = {0};
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&now));
  std::string cmd;
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  for (std::string part; std::getline(in, part, '\0');) cmd += (cmd.empty() ? "" : " ") + part;
  if (cmd.size() > 300) cmd = cmd.substr(0, 300) + " ...";
  return fmt::format("host {} pid {} since {}: {}", host, static_cast<long>(::getpid()), when, cmd);
}

std::string read_holder(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line.empty() ? std::string("unknown holder") : line;
}

}  // namespace

std::string OutputLock::lock_path(const std::string& output) {
  std::string base = output;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  return base + ".lock";
}

OutputLock::OutputLock(const std::string& output, const std::string& lock_file)
    : path_(lock_file.empty() ? lock_path(output) : lock_file) {
  // Loop: a file unlinked by a releasing holder between our open and our flock is
  // not the lock any more; lock the file that the path names now.
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) fail_io("could not create the lock file '{}' of output '{}': {}", path_, output, std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) {
        fail_input(
            "output '{}' is being written by another run ({}); wait for it to finish or write elsewhere "
            "(lock file '{}')",
            output, read_holder(path_), path_);
      }
      if (err == ENOLCK || err == EOPNOTSUPP || err == ENOSYS) {
        log::warn(
            "the filesystem of '{}' does not support file locks ({}); running without the one-writer lock, "
            "so do not start two runs on this output",
            path_, std::strerror(err));
        ::unlink(path_.c_str());
        return;
      }
      fail_io("could not lock '{}': {}", path_, std::strerror(err));
    }
    struct stat by_fd {
    }, by_path{};
    if (::fstat(fd, &by_fd) == 0 && ::stat(path_.c_str(), &by_path) == 0 && by_fd.st_ino == by_path.st_ino &&
        by_fd.st_dev == by_path.st_dev) {
      fd_ = fd;
      const std::string line = holder_line() + "\n";
      if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, line.data(), line.size(), 0) < 0) {
        log::warn("could not record this run in the lock file '{}': {}", path_, std::strerror(errno));
      }
      return;
    }
    ::close(fd);  // lost a race with a release: try again on the current file
  }
  fail_io("could not lock '{}': it keeps being replaced", path_);
}

OutputLock::OutputLock(OutputLock&& other) noexcept : fd_(other.fd_), path_(std::move(other.path_)) { other.fd_ = -1; }

OutputLock& OutputLock::operator=(OutputLock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    other.fd_ = -1;
  }
  return *this;
}

OutputLock::~OutputLock() { release(); }

void OutputLock::release() noexcept {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());  // while still holding it: a waiter then retries on a fresh file
  ::close(fd_);
  fd_ = -1;
}

}  // namespace irisml
