#include "infer/progress.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "core/error.hpp"

namespace irisml::infer {

std::string progress_path(const std::string& output) { return output + ".progress"; }

std::string file_identity(const std::string& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return path + " (unreadable)";
  auto time = std::filesystem::last_write_time(path, ec);
  long long ticks = ec ? 0 : static_cast<long long>(time.time_since_epoch().count());
  return fmt::format("{} size={} mtime={}", path, size, ticks);
}

bool read_progress(const std::string& path, Progress& p) {
  std::ifstream in(path);
  if (!in) return false;
  std::string line;
  if (!std::getline(in, line) || line != "irisml-sample-progress 1") return false;
  if (!std::getline(in, line) || line.rfind("key ", 0) != 0) return false;
  p.key = line.substr(4);
  if (!std::getline(in, line) || line.rfind("done ", 0) != 0) return false;
  const std::string bits = line.substr(5);
  p.done.assign(bits.size(), 0);
  for (std::size_t i = 0; i < bits.size(); ++i) {
    if (bits[i] != '0' && bits[i] != '1') return false;
    p.done[i] = bits[i] == '1';
  }
  return true;
}

void write_progress(const std::string& path, const Progress& p) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) fail_io("cannot write the resume file '{}'", tmp);
    out << "irisml-sample-progress 1\n"
        << "key " << p.key << "\n"
        << "done ";
    for (char d : p.done) out << (d ? '1' : '0');
    out << "\n";
    out.flush();
    if (!out) fail_io("cannot write the resume file '{}' (disk full?)", tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail_io("cannot rename '{}' to '{}'", tmp, path);
}

}  // namespace irisml::infer
