// Runs the built `irisml` binary and captures its exit code and output.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace irisml::test {

struct RunResult {
  int code = -1;
  std::string output;  // stdout and stderr together
};

// Runs a shell command line, capturing stdout and stderr together.
inline RunResult run_command(const std::string& shell_line) {
  std::string command = "(" + shell_line + ") 2>&1";
  RunResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buffer{};
  while (fgets(buffer.data(), buffer.size(), pipe)) result.output += buffer.data();
  int status = pclose(pipe);
  result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

inline RunResult run_irisml(const std::string& arguments) {
  return run_command(std::string(IRISML_BINARY) + " " + arguments);
}

// A fresh, empty directory under /tmp for one test process (ctest runs each
// test in its own process, in parallel: the pid keeps them apart).
inline std::string scratch_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("irisml_cli_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

inline std::string data_flags() { return std::string("--data-dir ") + IRISML_TEST_DATA_DIR; }

// The bands of the model-star catalogues below.
inline const char* kModelStarBands = "Gaia_G,Gaia_BP,Gaia_RP,2MASS_J,2MASS_H,2MASS_Ks";

// One model star's magnitudes in kModelStarBands (`irisml photometry` arguments).
inline std::map<std::string, double> model_magnitudes(const std::string& args) {
  auto r = run_irisml("photometry --quiet " + data_flags() + " --filters " + kModelStarBands + " " + args);
  EXPECT_EQ(r.code, 0) << r.output;
  std::map<std::string, double> mag;
  std::istringstream in(r.output);
  std::string name;
  double value;
  while (in >> name >> value) mag[name] = value;
  return mag;
}

// A CSV catalogue of model stars (ids s0, s1, ...) observed in kModelStarBands with
// 0.01 mag errors; `extra` columns (a header, then one text per star) follow the id.
inline void write_model_star_catalog(const std::string& path, const std::vector<std::string>& stars,
                                     const std::string& extra_header = "", const std::vector<std::string>& extra = {}) {
  std::ofstream csv(path);
  std::vector<std::string> bands;
  std::istringstream names(kModelStarBands);
  for (std::string b; std::getline(names, b, ',');) bands.push_back(b);
  csv << "id" << (extra_header.empty() ? "" : "," + extra_header);
  for (const auto& band : bands) csv << "," << band << "," << band << "_err";
  csv << "\n";
  for (std::size_t i = 0; i < stars.size(); ++i) {
    auto mag = model_magnitudes(stars[i]);
    csv << "s" << i << (extra.empty() ? "" : "," + extra[i]);
    for (const auto& band : bands) csv << "," << mag[band] << ",0.01";
    csv << "\n";
  }
}

}  // namespace irisml::test
