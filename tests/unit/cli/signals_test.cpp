// Issue 26 item 6: a stop signal early in a run (before the job's own handlers exist)
// stops it cleanly with exit 3 and no lock left, and the same command then resumes to the
// bytes of an uninterrupted run. A signal that arrives before main() runs, while the
// dynamic loader maps LibTorch and the other libraries (~0.3 s here), is beyond any
// program's reach: the clock starts when main() has blocked SIGUSR1 (bit 10 of SigBlk in
// /proc/PID/status), and the delays run from there.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli_support.hpp"
#include "test_support.hpp"

namespace irisml::test {
namespace {

namespace fs = std::filesystem;
using test_support::read_bytes;

TEST(SignalsTest, EarlySignalsStopFitCleanlyAndResumeToTheSameBytes) {
  const std::string dir = scratch_dir("signals");
  ASSERT_EQ(run_irisml("grid import --quiet " + data_flags() + " --output " + dir + "/ck04.h5").code, 0);
  {  // 48 real stars: a few seconds of fitting in 8 blocks
    std::ifstream in(std::string(IRISML_SOURCE_DIR) + "/tests/data/real_stars/real_stars.csv");
    std::ofstream out(dir + "/stars.csv");
    std::string line;
    int rows = 0;
    while (std::getline(in, line) && rows < 49) {
      if (line.empty() || line[0] == '#') continue;
      out << line << "\n";
      ++rows;
    }
  }
  const std::string args = std::string(IRISML_BINARY) + " fit --quiet " + data_flags() + " --catalog " + dir +
                           "/stars.csv --grid " + dir +
                           "/ck04.h5 --threads 1 --block-rows 6 --proposals 1024 "
                           "--max-rounds 3 --bands-min 3 --samples 8";
  ASSERT_EQ(run_command(args + " --output " + dir + "/ref.h5").code, 0);
  const std::string ref = read_bytes(dir + "/ref.h5");
  int stopped = 0;
  for (const char* delay : {"0", "0.5", "1", "3"}) {
    const std::string out = dir + "/out_" + delay + ".h5";
    const std::string wait_for_main =
        "until v=$(awk '/^SigBlk/{print $2}' /proc/$p/status 2>/dev/null) && [ -n \"$v\" ] && "
        "[ $(( 0x$v & 0x200 )) -ne 0 ]; do kill -0 $p 2>/dev/null || break; sleep 0.01; done; ";
    const auto r = run_command(args + " --output " + out + " & p=$!; " + wait_for_main + "sleep " + delay +
                               "; kill -USR1 $p; wait $p; echo rc=$?");
    const auto at = r.output.rfind("rc=");
    ASSERT_NE(at, std::string::npos) << r.output;
    const int rc = std::stoi(r.output.substr(at + 3));
    EXPECT_TRUE(rc == 3 || rc == 0) << "signal at " << delay << " s: exit " << rc << "\n" << r.output;
    EXPECT_FALSE(fs::exists(out + ".lock")) << delay;
    if (rc == 3) {
      ++stopped;
      const auto resumed = run_command(args + " --output " + out);
      EXPECT_EQ(resumed.code, 0) << resumed.output;
    }
    EXPECT_TRUE(read_bytes(out) == ref) << "signal at " << delay << " s: the finished file differs";
  }
  EXPECT_GE(stopped, 2);  // the early ones stop; a late one may find the run finished
  fs::remove_all(dir);
}

}  // namespace
}  // namespace irisml::test
