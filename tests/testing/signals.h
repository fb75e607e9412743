// Signals to a child process that take effect before the call returns.
#ifndef GRID_TESTS_TESTING_SIGNALS_H_
#define GRID_TESTS_TESTING_SIGNALS_H_

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/types.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace grid::testing {

enum class Stopped { kAll, kNotYet, kNever };

// Whether every thread of process `pid` is stopped (state T in /proc), or
// never will be (the process has ended: no threads, or a zombie).
inline Stopped ThreadsStopped(pid_t pid) {
  std::error_code ec;
  int threads = 0;
  bool all = true;
  for (const auto& task : std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/task"), ec)) {
    std::ifstream in(task.path() / "stat");
    std::string stat;
    std::getline(in, stat);
    // "tid (comm) S ...": the state follows the last ')'.
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos || paren + 2 >= stat.size()) continue;  // the thread just ended
    ++threads;
    const char state = stat[paren + 2];
    if (state == 'Z' || state == 'X') return Stopped::kNever;
    all = all && state == 'T';
  }
  if (ec || threads == 0) return Stopped::kNever;
  return all ? Stopped::kAll : Stopped::kNotYet;
}

// kill(pid, sig); for SIGSTOP, also waits (up to 30 s) until every thread
// of it has stopped, and fails the test if that does not happen. kill()
// only starts a stop: until the thread that takes the signal is scheduled,
// the process's other threads run on, and under load one of them answered
// a request sent after kill() had returned.
// A pid of 0 or less (a process already reaped) gets nothing, as does one
// that has ended: SIGCONT to every node at a test's end needs no care.
inline void SendSignal(pid_t pid, int sig) {
  if (pid <= 0) return;
  if (kill(pid, sig) != 0) {
    if (sig == SIGSTOP) ADD_FAILURE() << "SIGSTOP to pid " << pid << " was not sent";
    return;
  }
  if (sig != SIGSTOP) return;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  for (;;) {
    const Stopped stopped = ThreadsStopped(pid);
    if (stopped == Stopped::kAll) return;
    if (stopped == Stopped::kNever || absl::Now() > deadline) {
      ADD_FAILURE() << "pid " << pid << " did not stop after SIGSTOP"
                    << (stopped == Stopped::kNever ? " (it has ended)" : " within 30 s");
      return;
    }
    absl::SleepFor(absl::Milliseconds(1));  // polling the process's state, not timing a result
  }
}

}  // namespace grid::testing

#endif  // GRID_TESTS_TESTING_SIGNALS_H_
