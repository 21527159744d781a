// Check macros for MPI calls. Every MPI call in src/distributed goes through
// IRISML_MPI_CHECK, which turns a non-success return code into an irisml::Error
// naming the expression, file:line and MPI's own message (MPI_Error_string).
// Communicators set MPI_ERRORS_RETURN so that errors come back as codes instead
// of aborting inside the library. Destructors use IRISML_MPI_CHECK_PRINT, which
// logs instead of throwing.
#pragma once

#include <mpi.h>

#include <string>

#include "core/error.hpp"

namespace irisml::distributed {

// A failed MPI call; code() is the MPI error code it returned.
class MpiError : public Error {
 public:
  MpiError(const std::string& message, int code) : Error(message), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

// MPI's description of an error code, e.g. "MPI_ERR_COUNT: invalid count argument".
std::string mpi_error_string(int code);

// Formats "MPI call `expr` failed at file:line: <MPI message> (error class N)".
std::string mpi_failure_message(int code, const char* expression, const char* file, int line);

// Throws MpiError with mpi_failure_message(...).
[[noreturn]] void throw_mpi_error(int code, const char* expression, const char* file, int line);

// Writes mpi_failure_message(...) to stderr as a warning; never throws.
void print_mpi_error(int code, const char* expression, const char* file, int line) noexcept;

}  // namespace irisml::distributed

#define IRISML_MPI_CHECK(expr)                                                           \
  do {                                                                                   \
    const int irisml_mpi_rc_ = (expr);                                                   \
    if (irisml_mpi_rc_ != MPI_SUCCESS) {                                                 \
      ::irisml::distributed::throw_mpi_error(irisml_mpi_rc_, #expr, __FILE__, __LINE__); \
    }                                                                                    \
  } while (false)

#define IRISML_MPI_CHECK_PRINT(expr)                                                     \
  do {                                                                                   \
    const int irisml_mpi_rc_ = (expr);                                                   \
    if (irisml_mpi_rc_ != MPI_SUCCESS) {                                                 \
      ::irisml::distributed::print_mpi_error(irisml_mpi_rc_, #expr, __FILE__, __LINE__); \
    }                                                                                    \
  } while (false)
