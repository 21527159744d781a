// irisml: the only executable, and the only place that owns MPI_Init.
#include <mpi.h>

#include <cstdio>
#include <exception>
#include <iostream>
#include <string>

#include "cli/commands.hpp"
#include "core/cpu_runtime.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/stop_signal.hpp"
#include "distributed/environment.hpp"

#ifndef IRISML_VERSION
#define IRISML_VERSION "dev"
#endif

namespace {

void print_usage() {
  std::cout << "irisml " IRISML_VERSION
               " — neural posterior estimation of stellar parameters from photometry\n\n"
               "usage: [mpirun -np N] irisml <command> [options]   (irisml <command> --help for its options)\n\n"
               "commands:\n";
  for (const auto& c : irisml::cli::all_commands()) {
    std::string words;
    for (const auto& w : c.words) words += (words.empty() ? "" : " ") + w;
    std::printf("  %-22s %s\n", words.c_str(), c.summary.c_str());
  }
  std::cout << "\nexit codes: 0 success, 1 runtime/I-O error, 2 bad input or usage, 3 interrupted after a checkpoint"
               " (SIGTERM/SIGUSR1; rerun with --resume)\n";
}

// Longest match of the leading words against the command table.
const irisml::cli::CommandEntry* find_command(const std::vector<std::string>& args, std::size_t& consumed) {
  const irisml::cli::CommandEntry* best = nullptr;
  consumed = 0;
  for (const auto& c : irisml::cli::all_commands()) {
    if (c.words.size() > args.size() || c.words.size() <= consumed) continue;
    bool match = true;
    for (std::size_t i = 0; i < c.words.size(); ++i) match = match && args[i] == c.words[i];
    if (match) {
      best = &c;
      consumed = c.words.size();
    }
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  // Hold SIGTERM/SIGUSR1 back until the command is known (issue 26 item 6): a job that
  // checkpoints on them must not die of one that came in its first second.
  irisml::StopSignals::block();
  irisml::prepare_cpu_environment(argv);  // may re-execute this program: before MPI or any thread exists
  irisml::tune_allocator();
  irisml::distributed::MpiEnvironment env(&argc, &argv);  // MPI_Init_thread here, MPI_Finalize on return
  irisml::cli::Context ctx;
  ctx.comm = env.comm();
  ctx.rank = env.rank();
  ctx.size = env.size();
  ctx.local_rank = env.local_rank();
  ctx.local_size = env.local_size();
  irisml::log::set_rank(ctx.rank, ctx.size);

  std::vector<std::string> args(argv + 1, argv + argc);
  int code = 0;
  try {
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
      if (ctx.rank == 0) print_usage();
      code = args.empty() ? 2 : 0;
    } else if (args[0] == "--version") {
      if (ctx.rank == 0) std::cout << "irisml " IRISML_VERSION "\n";
    } else {
      std::size_t consumed = 0;
      const auto* command = find_command(args, consumed);
      if (!command) {
        std::string known;
        for (const auto& c : irisml::cli::all_commands()) {
          std::string words;
          for (const auto& w : c.words) words += (words.empty() ? "" : " ") + w;
          known += (known.empty() ? "" : ", ") + words;
        }
        irisml::fail_input("unknown command '{}'; known commands: {}", args[0], known);
      }
      if (command->polls_stop_signals) {
        irisml::StopSignals::catch_early();
      } else {
        irisml::StopSignals::release_default();
      }
      code = command->run(std::vector<std::string>(args.begin() + consumed, args.end()), ctx);
    }
  } catch (const std::exception& e) {
    code = dynamic_cast<const irisml::InputError*>(&e) ? 2 : 1;
    std::string message = e.what();
    // LibTorch appends its C++ backtrace to messages: of no use to a user.
    if (const auto frames = message.find("\nframe #0"); frames != std::string::npos) message.resize(frames);
    if (ctx.size > 1) env.abort(code, message);  // never leave the other ranks waiting in a collective
    std::cerr << "irisml: error: " << message << std::endl;
  }
  return code;
}
