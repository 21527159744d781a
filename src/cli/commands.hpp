// The subcommands of `irisml`. Each takes its arguments (after the
// subcommand words) and returns the process exit code; errors are thrown.
#pragma once

#include <mpi.h>

#include <functional>
#include <string>
#include <vector>

namespace irisml::cli {

struct Context {
  MPI_Comm comm = MPI_COMM_WORLD;
  int rank = 0;
  int size = 1;
  int local_rank = 0;  // rank among the processes on this node (picks the GPU)
  int local_size = 1;
};

using CommandFn = std::function<int(const std::vector<std::string>& args, const Context& ctx)>;

struct CommandEntry {
  std::vector<std::string> words;  // e.g. {"grid", "import"}
  std::string summary;
  CommandFn run;
  // Polls SIGTERM/SIGUSR1 (checkpoint, exit 3): a signal in the first second is kept for
  // the job instead of killing the process (core/stop_signal.hpp).
  bool polls_stop_signals = false;
};

// Every subcommand, registered in commands.cpp.
const std::vector<CommandEntry>& all_commands();

}  // namespace irisml::cli
