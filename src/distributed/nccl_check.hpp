// Check macros for NCCL and CUDA runtime calls (only in builds with
// IRISML_WITH_NCCL). Like IRISML_MPI_CHECK, they record the expression,
// file:line and the library's own message, and throw irisml::Error; the _PRINT
// variants log instead, for destructors.
#pragma once

#ifdef IRISML_WITH_NCCL

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <string>

#include "core/error.hpp"

namespace irisml::distributed {

class NcclError : public Error {
 public:
  NcclError(const std::string& message, ncclResult_t result) : Error(message), result_(result) {}
  ncclResult_t result() const noexcept { return result_; }

 private:
  ncclResult_t result_;
};

std::string nccl_failure_message(ncclResult_t result, const char* expression, const char* file, int line);
[[noreturn]] void throw_nccl_error(ncclResult_t result, const char* expression, const char* file, int line);
void print_nccl_error(ncclResult_t result, const char* expression, const char* file, int line) noexcept;

std::string cuda_failure_message(cudaError_t error, const char* expression, const char* file, int line);
[[noreturn]] void throw_cuda_error(cudaError_t error, const char* expression, const char* file, int line);

}  // namespace irisml::distributed

#define IRISML_NCCL_CHECK(expr)                                                            \
  do {                                                                                     \
    const ncclResult_t irisml_nccl_rc_ = (expr);                                           \
    if (irisml_nccl_rc_ != ncclSuccess) {                                                  \
      ::irisml::distributed::throw_nccl_error(irisml_nccl_rc_, #expr, __FILE__, __LINE__); \
    }                                                                                      \
  } while (false)

#define IRISML_NCCL_CHECK_PRINT(expr)                                                      \
  do {                                                                                     \
    const ncclResult_t irisml_nccl_rc_ = (expr);                                           \
    if (irisml_nccl_rc_ != ncclSuccess) {                                                  \
      ::irisml::distributed::print_nccl_error(irisml_nccl_rc_, #expr, __FILE__, __LINE__); \
    }                                                                                      \
  } while (false)

#define IRISML_CUDA_CHECK(expr)                                                            \
  do {                                                                                     \
    const cudaError_t irisml_cuda_rc_ = (expr);                                            \
    if (irisml_cuda_rc_ != cudaSuccess) {                                                  \
      ::irisml::distributed::throw_cuda_error(irisml_cuda_rc_, #expr, __FILE__, __LINE__); \
    }                                                                                      \
  } while (false)

#endif  // IRISML_WITH_NCCL
