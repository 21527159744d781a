#include "core/stop_signal.hpp"

#include <atomic>

namespace irisml {

namespace {

std::atomic<int> g_stop_signal{0};

extern "C" void irisml_on_stop_signal(int signal_number) { g_stop_signal.store(signal_number); }

void install(int signal_number, struct sigaction& old) {
  struct sigaction action {};
  action.sa_handler = irisml_on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(signal_number, &action, &old);
}

}  // namespace

StopSignals::StopSignals(bool enable) : enabled_(enable) {
  g_stop_signal.store(0);
  if (!enabled_) return;
  install(SIGTERM, old_term_);
  install(SIGUSR1, old_usr1_);
}

StopSignals::~StopSignals() {
  if (!enabled_) return;
  sigaction(SIGTERM, &old_term_, nullptr);
  sigaction(SIGUSR1, &old_usr1_, nullptr);
}

int StopSignals::received() { return g_stop_signal.load(); }

}  // namespace irisml
