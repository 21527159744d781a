// SIGTERM and SIGUSR1 (SLURM's time-limit warning, preemption) turned into a flag that a
// long job polls at a safe point (the end of a training step or a sampling block), so it
// can checkpoint and exit 3 instead of dying mid-write.
#pragma once

#include <csignal>

namespace irisml {

// Installs the handlers for its lifetime (and clears the flag); the previous handlers come
// back on destruction. Interrupted system calls restart (SA_RESTART).
class StopSignals {
 public:
  explicit StopSignals(bool enable = true);
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // The last stop signal received since construction, or 0.
  static int received();

  // Early signals (a preemption in a job's first second): block() first thing in main
  // (the mask survives the runtime's re-exec) holds SIGTERM and SIGUSR1 back; then either
  // catch_early() installs the flag-setting handlers for the whole process and unblocks,
  // so a signal that came while blocked reaches the job (a StopSignals constructed later
  // keeps it), or release_default() restores the default action and unblocks (a command
  // that never polls ends on the signal as before).
  static void block();
  static void catch_early();
  static void release_default();

 private:
  bool enabled_;
  struct sigaction old_term_ {
  }, old_usr1_{};
};

}  // namespace irisml
