#include "io/text_writer.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#if IRISML_HAVE_ZLIB
#include <zlib.h>
#endif

#include "core/error.hpp"
#include "core/paths.hpp"

namespace irisml {

struct TextWriter::Impl {
  std::string path;
  std::FILE* plain = nullptr;
#if IRISML_HAVE_ZLIB
  gzFile zipped = nullptr;
#endif

  [[noreturn]] void fail(const char* action, int error) const {
    fail_io("{} '{}' failed: {}{}", action, path, error ? std::strerror(error) : "compression error",
            full_disk_note(path));
  }

  // Closes whatever is open; returns the errno of a failed close (0 if none).
  int close_quietly() {
    int error = 0;
    if (plain) {
      if (std::fclose(plain) != 0) error = errno ? errno : EIO;
      plain = nullptr;
    }
#if IRISML_HAVE_ZLIB
    if (zipped) {
      errno = 0;
      if (gzclose(zipped) != Z_OK) error = errno ? errno : EIO;
      zipped = nullptr;
    }
#endif
    return error;
  }
};

TextWriter::TextWriter(const std::string& path, bool gzip) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  if (gzip) {
#if IRISML_HAVE_ZLIB
    errno = 0;
    impl_->zipped = gzopen(path.c_str(), "wb1");
    if (!impl_->zipped) impl_->fail("creating", errno);
    gzbuffer(impl_->zipped, 1u << 17);
#else
    fail_io(
        "cannot write '{}' gzip-compressed: this build has no zlib (rebuild with zlib1g-dev installed, or drop "
        "the .gz)",
        path);
#endif
  } else {
    impl_->plain = std::fopen(path.c_str(), "wb");
    if (!impl_->plain) impl_->fail("creating", errno);
  }
}

TextWriter::~TextWriter() {
  if (impl_) impl_->close_quietly();
}
TextWriter::TextWriter(TextWriter&&) noexcept = default;
TextWriter& TextWriter::operator=(TextWriter&&) noexcept = default;

void TextWriter::write(std::string_view text) {
  if (text.empty()) return;
  if (impl_->plain) {
    if (std::fwrite(text.data(), 1, text.size(), impl_->plain) != text.size()) impl_->fail("writing", errno);
    return;
  }
#if IRISML_HAVE_ZLIB
  if (impl_->zipped) {
    errno = 0;
    if (gzwrite(impl_->zipped, text.data(), static_cast<unsigned>(text.size())) != static_cast<int>(text.size())) {
      impl_->fail("writing", errno);
    }
    return;
  }
#endif
  fail_io("writing '{}': the file is closed", impl_->path);
}

void TextWriter::close() {
  if (const int error = impl_->close_quietly()) impl_->fail("closing", error);
}

}  // namespace irisml
