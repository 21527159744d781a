#include "core/paths.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.hpp"
#include "core/output_lock.hpp"

#ifndef IRISML_DEFAULT_DATA_DIR
#define IRISML_DEFAULT_DATA_DIR "../shared/data"
#endif

namespace irisml {
namespace fs = std::filesystem;

std::string resolve_data_dir(const std::string& explicit_setting) {
  std::string dir;
  std::string origin;
  if (!explicit_setting.empty()) {
    dir = explicit_setting;
    origin = "--data-dir";
  } else if (const char* env = std::getenv("IRISML_DATA_DIR"); env && *env) {
    dir = env;
    origin = "$IRISML_DATA_DIR";
  } else {
    dir = IRISML_DEFAULT_DATA_DIR;
    origin = "the build default (CMake IRISML_DATA_DIR)";
  }
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    fail_input(
        "data directory '{}' (from {}) does not exist or is not a directory; set --data-dir "
        "or IRISML_DATA_DIR to the folder holding filters/, vega/, spectra/, extinction/",
        dir, origin);
  }
  return dir;
}

std::string join_path(const std::string& dir, const std::string& relative) {
  if (relative.empty() || relative.front() == '/') return relative;
  return (fs::path(dir) / relative).string();
}

std::string partial_path(const std::string& output) { return output + ".partial"; }

std::string full_disk_note(const std::string& path) {
  std::error_code ec;
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  const auto space = fs::space(dir, ec);
  if (ec || space.available >= (std::uintmax_t{1} << 20)) return {};
  return fmt::format(" ({} bytes free on its file system)", space.available);
}

bool file_exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

void check_output_path(const std::string& output, bool overwrite, const std::string& what) {
  if (output.empty()) fail_input("{} is empty; give a file path", what);
  std::error_code ec;
  if (fs::exists(output, ec) && !overwrite) {
    fail_input("{} '{}' already exists; pass --overwrite to replace it", what, output);
  }
  if (fs::is_directory(output, ec)) fail_input("{} '{}' is a directory, not a file path", what, output);
  fs::path parent = fs::path(output).parent_path();
  if (parent.empty()) parent = ".";
  if (!fs::is_directory(parent, ec)) {
    fail_input("{} '{}': directory '{}' does not exist", what, output, parent.string());
  }
  if (::access(parent.c_str(), W_OK) != 0) {
    fail_input("{} '{}': directory '{}' is not writable", what, output, parent.string());
  }
}

std::vector<std::string> output_family(const std::string& output) {
  return {output, partial_path(output), output + ".progress", OutputLock::lock_path(output)};
}

void check_outputs_not_inputs(const std::string& output, const std::string& what_output,
                              const std::vector<std::pair<std::string, std::string>>& inputs) {
  const auto family = output_family(output);
  for (const auto& [input, what_input] : inputs) {
    if (input.empty()) continue;
    for (std::size_t k = 0; k < family.size(); ++k) {
      std::error_code ec;
      if (!fs::equivalent(input, family[k], ec)) continue;
      if (k == 0) {
        fail_input(
            "{} '{}' is the {} file ('{}'); an output never replaces an input, even with --overwrite: write "
            "to another path",
            what_output, output, what_input, input);
      }
      fail_input("{} '{}' would write '{}', which is the {} file ('{}'); write to another path", what_output, output,
                 family[k], what_input, input);
    }
  }
}

namespace {

// Flushes a file's (or directory's) data to stable storage; false if it cannot.
bool sync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

void commit_partial(const std::string& output) {
  const std::string partial = partial_path(output);
  // The data first, then the rename, then the directory entry: after a crash the
  // output is either the old file or the complete new one, never a truncated one.
  if (!sync_path(partial, O_RDONLY)) fail_io("could not flush '{}' to disk: {}", partial, std::strerror(errno));
  std::error_code ec;
  fs::rename(partial, output, ec);
  if (ec) fail_io("could not rename '{}' to '{}': {}", partial, output, ec.message());
  fs::path parent = fs::path(output).parent_path();
  sync_path(parent.empty() ? std::string(".") : parent.string(), O_RDONLY | O_DIRECTORY);  // best effort
}

}  // namespace irisml
