#include "io/text_lines.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#if IRISML_HAVE_ZLIB
#include <zlib.h>
#endif

#include "core/error.hpp"

namespace irisml {

bool is_gzip_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  unsigned char magic[2] = {0, 0};
  const bool gz = std::fread(magic, 1, 2, f) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  std::fclose(f);
  return gz;
}

struct TextLines::Impl {
  std::string path;
  bool gz = false;
  std::FILE* plain = nullptr;
#if IRISML_HAVE_ZLIB
  gzFile zipped = nullptr;
#endif
  std::vector<char> buffer = std::vector<char>(std::size_t{1} << 16);
  std::size_t begin = 0, end = 0;   // unread bytes are buffer[begin, end)
  std::uint64_t buffer_offset = 0;  // text offset of buffer[0]
  bool at_eof = false;

  ~Impl() {
    if (plain) std::fclose(plain);
#if IRISML_HAVE_ZLIB
    if (zipped) gzclose(zipped);
#endif
  }

  // Refills the buffer from the file; false at the end of the text.
  bool fill() {
    if (at_eof) return false;
    buffer_offset += end;
    begin = end = 0;
    long got = 0;
#if IRISML_HAVE_ZLIB
    if (gz) {
      got = gzread(zipped, buffer.data(), static_cast<unsigned>(buffer.size()));
      int code = Z_OK;
      const char* message = gzerror(zipped, &code);
      if (got < 0 || (code != Z_OK && code != Z_STREAM_END)) {
        fail_io("'{}': the gzip stream is corrupt or truncated after {} bytes of text ({})", path,
                buffer_offset + static_cast<std::uint64_t>(got > 0 ? got : 0), message ? message : "zlib error");
      }
    }
#endif
    if (!gz) {
      got = static_cast<long>(std::fread(buffer.data(), 1, buffer.size(), plain));
      if (std::ferror(plain)) fail_io("'{}': read error after {} bytes: {}", path, buffer_offset, std::strerror(errno));
    }
    end = static_cast<std::size_t>(got);
    if (got == 0) at_eof = true;
    return got > 0;
  }
};

TextLines::TextLines(const std::string& path) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->gz = is_gzip_file(path);
  if (impl_->gz) {
#if IRISML_HAVE_ZLIB
    impl_->zipped = gzopen(path.c_str(), "rb");
    if (!impl_->zipped) fail_io("cannot open '{}': file missing or unreadable", path);
    gzbuffer(impl_->zipped, 1u << 17);
#else
    fail_io("'{}' is gzip-compressed and this build has no zlib: gunzip it, or rebuild with zlib1g-dev installed",
            path);
#endif
  } else {
    impl_->plain = std::fopen(path.c_str(), "rb");
    if (!impl_->plain) fail_io("cannot open '{}': file missing or unreadable", path);
  }
}

TextLines::~TextLines() = default;
TextLines::TextLines(TextLines&&) noexcept = default;
TextLines& TextLines::operator=(TextLines&&) noexcept = default;

bool TextLines::compressed() const { return impl_->gz; }

std::uint64_t TextLines::tell() const { return impl_->buffer_offset + impl_->begin; }

bool TextLines::next(std::string& line) {
  auto& m = *impl_;
  line.clear();
  bool any = false;
  for (;;) {
    if (m.begin == m.end && !m.fill()) return any;
    any = true;
    const char* start = m.buffer.data() + m.begin;
    const std::size_t n = m.end - m.begin;
    const void* newline = std::memchr(start, '\n', n);
    if (newline) {
      const std::size_t len = static_cast<std::size_t>(static_cast<const char*>(newline) - start);
      line.append(start, len);
      m.begin += len + 1;
      return true;
    }
    line.append(start, n);
    m.begin = m.end;
  }
}

void TextLines::seek(std::uint64_t offset) {
  auto& m = *impl_;
  if (offset >= m.buffer_offset && offset <= m.buffer_offset + m.end) {  // inside the buffer
    m.begin = static_cast<std::size_t>(offset - m.buffer_offset);
    return;
  }
  bool ok = false;
#if IRISML_HAVE_ZLIB
  if (m.gz) ok = gzseek(m.zipped, static_cast<z_off_t>(offset), SEEK_SET) == static_cast<z_off_t>(offset);
#endif
  if (!m.gz) ok = fseeko(m.plain, static_cast<off_t>(offset), SEEK_SET) == 0;
  if (!ok) fail_io("'{}': cannot return to byte {} of the text (the file changed while being read?)", m.path, offset);
  m.buffer_offset = offset;
  m.begin = m.end = 0;
  m.at_eof = false;
}

}  // namespace irisml
