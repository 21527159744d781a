#include "infer/progress.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/fnv1a.hpp"

namespace irisml::infer {

std::string progress_path(const std::string& output) { return output + ".progress"; }

std::string file_identity(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return path + " (unreadable)";
  // The same file however it is named (relative, absolute, through a symlink) ...
  const auto canonical = std::filesystem::weakly_canonical(path, ec);
  const std::string name = ec ? path : canonical.string();
  // ... and its content, not its modification time (a bare `touch` changes nothing): the
  // first and last MiB (all of a file up to 2 MiB) with the size.
  constexpr std::uintmax_t kPiece = 1 << 20;
  Fnv1a hash;
  std::ifstream in(path, std::ios::binary);
  std::vector<char> buffer(kPiece);
  auto take = [&](std::uintmax_t offset, std::uintmax_t n) {  // in pieces of the buffer's size
    in.seekg(static_cast<std::streamoff>(offset));
    while (n > 0 && in) {
      const std::uintmax_t piece = std::min<std::uintmax_t>(n, buffer.size());
      in.read(buffer.data(), static_cast<std::streamsize>(piece));
      hash.bytes(buffer.data(), static_cast<std::size_t>(in.gcount()));
      n -= piece;
    }
  };
  if (size <= 2 * kPiece) {
    take(0, size);
  } else {
    take(0, kPiece);
    take(size - kPiece, kPiece);
  }
  return fmt::format("{} size={} content={}", name, size, hash.to_hex_string());
}

std::string describe_key_difference(const std::string& old_key, const std::string& new_key) {
  // items at bracket depth 0, split on spaces: name=value or name=[...]
  auto items = [](const std::string& key) {
    std::vector<std::string> out;
    std::string cur;
    int depth = 0;
    for (char c : key) {
      if (c == '[') ++depth;
      if (c == ']') --depth;
      if (c == ' ' && depth == 0) {
        if (!cur.empty()) out.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    if (!cur.empty()) out.push_back(cur);
    return out;
  };
  auto name_of = [](const std::string& item) { return item.substr(0, item.find('=')); };
  const auto a = items(old_key), b = items(new_key);
  std::vector<std::string> diffs;
  for (const auto& x : a) {
    const auto it = std::find_if(b.begin(), b.end(), [&](const std::string& y) { return name_of(y) == name_of(x); });
    if (it == b.end()) {
      diffs.push_back(fmt::format("'{}' (now absent)", x));
    } else if (*it != x) {
      diffs.push_back(
          fmt::format("{}: was '{}', now '{}'", name_of(x), x.substr(x.find('=') + 1), it->substr(it->find('=') + 1)));
    }
  }
  for (const auto& y : b) {
    if (std::none_of(a.begin(), a.end(), [&](const std::string& x) { return name_of(x) == name_of(y); })) {
      diffs.push_back(fmt::format("'{}' (new)", y));
    }
  }
  if (diffs.empty()) return "no setting differs (the recorded block count or the partial file does not match)";
  std::string text;
  for (std::size_t i = 0; i < diffs.size() && i < 4; ++i) text += (i ? "; " : "") + diffs[i];
  if (diffs.size() > 4) text += fmt::format("; and {} more", diffs.size() - 4);
  return text;
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
