#include "core/log.hpp"

namespace irisml::log {
namespace {
int g_rank = 0;
int g_size = 1;
bool g_quiet = false;
}  // namespace

void set_rank(int rank, int size) {
  g_rank = rank;
  g_size = size;
}
void set_quiet(bool quiet) { g_quiet = quiet; }
bool quiet() { return g_quiet; }
int rank() { return g_rank; }

// Progress and notes go to stderr, like warnings: stdout carries only a command's results
// (photometry's table, bench figures), so `irisml photometry ... > mags.txt` holds the
// table alone (issue 29).
void write_info(const std::string& line) {
  std::fflush(stdout);  // results printed before this line come first in a shared log
  std::fputs((line + "\n").c_str(), stderr);
}

void write_warn(const std::string& line) {
  std::string prefix = g_size > 1 ? fmt::format("irisml[rank {}]: warning: ", g_rank) : "irisml: warning: ";
  std::fputs((prefix + line + "\n").c_str(), stderr);
}

}  // namespace irisml::log
