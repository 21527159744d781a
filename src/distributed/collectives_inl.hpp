// Template part of collectives.hpp.
#pragma once

#include "core/error.hpp"

namespace irisml::dist {

template <typename Action>
void on_root_agreed(Action&& action, MPI_Comm comm, const std::string& what) {
  std::exception_ptr error;
  std::string message;
  if (rank_of(comm) == 0) {
    try {
      action();
    } catch (const std::exception& e) {
      error = std::current_exception();
      message = e.what();
    } catch (...) {
      error = std::current_exception();
      message = "unknown error";
    }
  }
  message = broadcast_from_root(message, comm);
  if (!broadcast_from_root(static_cast<bool>(error), comm)) return;
  if (error) std::rethrow_exception(error);
  throw Error("rank 0 failed " + what + ": " + message);
}

}  // namespace irisml::dist
