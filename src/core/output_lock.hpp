// One writer per output: an exclusive advisory lock (flock) on "<output>.lock",
// held for a whole run, so a second run on the same output fails at once instead
// of racing the first for its partial and progress files.
#pragma once

#include <string>

namespace irisml {

class OutputLock {
 public:
  OutputLock() = default;
  // Takes the lock on `lock_file` (default lock_path(output)) or throws InputError
  // naming `output` and the holder (host, pid, start time, command) read from the
  // lock file. On a filesystem without flock support it warns and runs unlocked
  // (held() is false).
  explicit OutputLock(const std::string& output, const std::string& lock_file = "");
  OutputLock(OutputLock&& other) noexcept;
  OutputLock& operator=(OutputLock&& other) noexcept;
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;
  ~OutputLock();  // removes the lock file, then releases the lock

  bool held() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }

  // "<output>.lock", trailing slashes of a directory output dropped.
  static std::string lock_path(const std::string& output);

 private:
  void release() noexcept;
  int fd_ = -1;
  std::string path_;
};

}  // namespace irisml
