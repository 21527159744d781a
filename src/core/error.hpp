// Error types shared by every module. No torch, no MPI here.
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace irisml {

// Base of every error the project throws on purpose. The CLI turns it into a
// message on stderr and a non-zero exit.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A value a user gave (command line, config file, data file) is not allowed.
class InputError : public Error {
 public:
  using Error::Error;
};

// A file could not be opened, read or written, or a library call failed.
class IoError : public Error {
 public:
  using Error::Error;
};

// Throws InputError with a formatted message.
template <typename... Args>
[[noreturn]] void fail_input(fmt::format_string<Args...> format, Args&&... args) {
  throw InputError(fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args>
[[noreturn]] void fail_io(fmt::format_string<Args...> format, Args&&... args) {
  throw IoError(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace irisml
