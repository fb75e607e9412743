// Signals to a child process that take effect before the call returns.
#ifndef GRID_TESTS_TESTING_SIGNALS_H_
#define GRID_TESTS_TESTING_SIGNALS_H_

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

// Whether every thread of process `pid` is stopped (state T in /proc).
inline bool AllThreadsStopped(pid_t pid) {
  std::error_code ec;
  int threads = 0;
  for (const auto& task : std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/task"), ec)) {
    std::ifstream in(task.path() / "stat");
    std::string stat;
    std::getline(in, stat);
    // "tid (comm) S ...": the state follows the last ')'.
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos || paren + 2 >= stat.size()) continue;  // the thread just ended
    ++threads;
    if (stat[paren + 2] != 'T') return false;
  }
  return !ec && threads > 0;
}

// kill(pid, sig); for SIGSTOP, also waits (up to 30 s) until every thread
// of it has stopped. kill() only starts a stop: until the thread that takes
// the signal is scheduled, the process's other threads run on, and under
// load one of them answered a request sent after kill() had returned.
inline bool SendSignal(pid_t pid, int sig) {
  if (pid <= 0 || kill(pid, sig) != 0) return false;
  if (sig != SIGSTOP) return true;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!AllThreadsStopped(pid)) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));  // polling the process's state, not timing a result
  }
  return true;
}

}  // namespace grid::testing

#endif  // GRID_TESTS_TESTING_SIGNALS_H_
