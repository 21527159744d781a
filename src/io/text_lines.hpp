// Line-by-line reading of a text file, plain or gzip-compressed (told apart by its
// first bytes, whatever the name), with offsets into the decompressed text so that a
// reader can come back to a line later (catalogue blocks are read out of order when
// several ranks share a file).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace irisml {

class TextLines {
 public:
  // Opens `path`; throws IoError naming it if it cannot be read (or is gzip and this
  // build has no zlib).
  explicit TextLines(const std::string& path);
  ~TextLines();
  TextLines(TextLines&&) noexcept;
  TextLines& operator=(TextLines&&) noexcept;

  // The next line without its '\n'; false at the end of the text. A corrupt or
  // truncated gzip stream is an IoError naming the file and the offset reached.
  bool next(std::string& line);
  // Offset (in the decompressed text) of the line next() returns next.
  std::uint64_t tell() const;
  // Back (or on) to an offset tell() returned. Forward is cheap; backward in a gzip
  // file decompresses again from the start.
  void seek(std::uint64_t offset);
  bool compressed() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True if the file starts with the gzip magic bytes.
bool is_gzip_file(const std::string& path);

}  // namespace irisml
