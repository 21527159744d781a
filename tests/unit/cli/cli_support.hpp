// Runs the built `irisml` binary and captures its exit code and output.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

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

}  // namespace irisml::test
