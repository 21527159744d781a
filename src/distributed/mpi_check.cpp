#include "distributed/mpi_check.hpp"

#include <cstdio>

#include <fmt/format.h>

#include "core/log.hpp"

namespace irisml::distributed {

std::string mpi_error_string(int code) {
  char buffer[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  if (MPI_Error_string(code, buffer, &length) != MPI_SUCCESS) return fmt::format("unknown MPI error {}", code);
  return std::string(buffer, static_cast<std::size_t>(length));
}

std::string mpi_failure_message(int code, const char* expression, const char* file, int line) {
  int error_class = code;
  if (MPI_Error_class(code, &error_class) != MPI_SUCCESS) error_class = code;
  return fmt::format("MPI call `{}` failed at {}:{}: {} (MPI error class {})", expression, file, line,
                     mpi_error_string(code), error_class);
}

void throw_mpi_error(int code, const char* expression, const char* file, int line) {
  throw MpiError(mpi_failure_message(code, expression, file, line), code);
}

void print_mpi_error(int code, const char* expression, const char* file, int line) noexcept {
  try {
    log::warn("{}", mpi_failure_message(code, expression, file, line));
  } catch (...) {
    std::fprintf(stderr, "irisml: warning: MPI call failed at %s:%d (code %d)\n", file, line, code);
  }
}

}  // namespace irisml::distributed
