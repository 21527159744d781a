#include "core/stop_signal.hpp"

#include <atomic>

#include <pthread.h>

namespace irisml {

namespace {

std::atomic<int> g_stop_signal{0};
std::atomic<bool> g_caught_early{false};  // catch_early(): keep what came before a job started

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
  if (!g_caught_early.load()) g_stop_signal.store(0);
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

namespace {
void set_blocked(int how) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(how, &set, nullptr);
}
}  // namespace

void StopSignals::block() { set_blocked(SIG_BLOCK); }

void StopSignals::catch_early() {
  g_caught_early.store(true);
  struct sigaction old {};
  install(SIGTERM, old);
  install(SIGUSR1, old);
  set_blocked(SIG_UNBLOCK);  // a signal held back is delivered now, to the handler
}

void StopSignals::release_default() {
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGUSR1, &action, nullptr);
  set_blocked(SIG_UNBLOCK);
}

}  // namespace irisml
