// Rank-aware logging on stderr (stdout is for results): info() prints on rank 0 only,
// warn()/error() on every rank with a rank prefix when the world has more than one rank.
#pragma once

#include <cstdio>
#include <string>

#include <fmt/format.h>

namespace irisml::log {

void set_rank(int rank, int size);
void set_quiet(bool quiet);
bool quiet();
int rank();

void write_info(const std::string& line);
void write_warn(const std::string& line);

template <typename... Args>
void info(fmt::format_string<Args...> format, Args&&... args) {
  if (rank() == 0 && !quiet()) write_info(fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args>
void warn(fmt::format_string<Args...> format, Args&&... args) {
  write_warn(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace irisml::log
