#include "validate/manifest.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/paths.hpp"
#include "core/text.hpp"
#include "validate/evaluate.hpp"
#include "posterior/format.hpp"

namespace irisml::validate {

namespace {

namespace P = posterior;

constexpr std::uint32_t kFlagBits[6] = {P::kFlagTooFewBands, P::kFlagOutsideTrainingRange, P::kFlagPpc, P::kFlagLowEss,
                                        P::kFlagNonFinite,   P::kFlagErrorRaised};

// The attempts recorded in <output>.status.
void read_status(ManifestRow& row) {
  const std::string path = row.output + ".status";
  std::ifstream in(path);
  if (!in) return;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (trim(line).empty()) continue;
    auto f = split(line, "\t", true);
    char* end = nullptr;
    if (f.size() < 3 || f[0] != "attempt") {
      fail_input("status file '{}' line {}: expected 'attempt<TAB>exit<TAB>wall_s<TAB>job<TAB>message', got '{}'", path,
                 line_no, line);
    }
    const long code = std::strtol(f[1].c_str(), &end, 10);
    if (end == f[1].c_str() || *end)
      fail_input("status file '{}' line {}: exit code '{}' is not an integer", path, line_no, f[1]);
    const double wall = std::strtod(f[2].c_str(), &end);
    if (end == f[2].c_str() || *end)
      fail_input("status file '{}' line {}: wall time '{}' is not a number", path, line_no, f[2]);
    ++row.attempts;
    row.last_exit = static_cast<int>(code);
    row.wall_s += wall;
    row.message = f.size() > 4 ? f[4] : "";
  }
}

void check_output(ManifestRow& row) {
  try {
    const auto all_flags = read_posterior_flags(row.output);
    row.stars = all_flags.size();
    for (const std::uint32_t flags : all_flags) {
      if (flags == 0) ++row.clean;
      for (std::size_t b = 0; b < 6; ++b) row.flagged[b] += (flags & kFlagBits[b]) ? 1 : 0;
    }
    row.status = "ok";
    if (row.last_exit == 0) row.message.clear();
  } catch (const Error& e) {
    row.status = "failed";
    row.message = fmt::format("output is not a valid posterior file: {}", e.what());
  }
}

std::string tsv_field(std::string s) {
  for (auto& c : s) {
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

}  // namespace

Manifest build_manifest(const std::string& plan_path) {
  std::ifstream in(plan_path);
  if (!in) fail_input("plan '{}' does not exist or cannot be read", plan_path);
  Manifest m;
  std::set<std::string> outputs;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (trim(line).empty() || trim(line)[0] == '#') continue;
    auto f = split(line, "\t", true);
    if (f.size() != 2 || f[0].empty() || f[1].empty()) {
      fail_input("plan '{}' line {}: expected 'input<TAB>output', got '{}'", plan_path, line_no, line);
    }
    if (!outputs.insert(f[1]).second) {
      fail_input("plan '{}' line {}: output '{}' is named twice (two inputs with the same file name?)", plan_path,
                 line_no, f[1]);
    }
    ManifestRow row;
    row.input = f[0];
    row.output = f[1];
    read_status(row);
    if (file_exists(row.output)) {
      check_output(row);
    } else if (file_exists(row.output + ".progress")) {
      row.status = "partial";
    } else if (row.attempts > 0 && row.last_exit != 0) {
      row.status = "failed";
    } else {
      row.status = "missing";
    }
    m.rows.push_back(std::move(row));
  }
  if (m.rows.empty()) fail_input("plan '{}' lists no input", plan_path);
  for (const auto& r : m.rows) {
    if (r.status == "ok") {
      ++m.ok;
      m.stars += r.stars;
    } else if (r.status == "partial") {
      ++m.partial;
    } else if (r.status == "failed") {
      ++m.failed;
    } else {
      ++m.missing;
    }
    m.wall_s += r.wall_s;
  }
  return m;
}

void write_manifest(const Manifest& manifest, const std::string& path) {
  std::ostringstream out;
  out << "input\toutput\tstatus\tstars\tclean";
  for (const char* name : kManifestFlagNames) out << '\t' << name;
  out << "\twall_s\tattempts\tlast_exit\tmessage\n";
  for (const auto& r : manifest.rows) {
    out << tsv_field(r.input) << '\t' << tsv_field(r.output) << '\t' << r.status << '\t' << r.stars << '\t' << r.clean;
    for (auto n : r.flagged) out << '\t' << n;
    out << '\t' << fmt::format("{:.1f}", r.wall_s) << '\t' << r.attempts << '\t' << r.last_exit << '\t'
        << tsv_field(r.message) << '\n';
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!(f << out.str()) || !f.flush()) fail_io("cannot write '{}'", tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail_io("cannot rename '{}' to '{}'", tmp, path);
}

std::string manifest_summary(const Manifest& m) {
  std::string s;
  for (const auto& r : m.rows) {
    if (r.status == "ok") continue;
    s += fmt::format("  {}: {}{}{}\n", r.status, r.input, r.message.empty() ? "" : ": ", r.message);
  }
  s += fmt::format("{} input(s): {} ok ({} stars, {:.1f} s of sampling), {} partial, {} failed, {} missing\n",
                   m.rows.size(), m.ok, m.stars, m.wall_s, m.partial, m.failed, m.missing);
  return s;
}

}  // namespace irisml::validate
