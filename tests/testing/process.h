// Runs a real gridd binary as a child process, for end-to-end and crash
// tests: start it on 127.0.0.1:0, learn its port from its first stdout line,
// stop it by PID (SIGTERM, or SIGKILL for crash tests).
#ifndef GRID_TESTS_TESTING_PROCESS_H_
#define GRID_TESTS_TESTING_PROCESS_H_

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "tests/testing/signals.h"

namespace grid::testing {

class GriddProcess {
 public:
  // Starts `binary --listen 127.0.0.1:0 --data_dir dir` plus `extra` flags
  // and waits up to 30 s for it to report its port.
  static absl::StatusOr<std::unique_ptr<GriddProcess>> Start(const std::string& binary,
                                                             const std::string& data_dir,
                                                             std::vector<std::string> extra = {}) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError("pipe");
    std::vector<std::string> args = {binary, "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
                                     "--data_dir=" + data_dir};
    args.insert(args.end(), extra.begin(), extra.end());
    const pid_t pid = fork();
    if (pid < 0) return absl::InternalError("fork");
    if (pid == 0) {
      // Killed with the test, when a timeout kills the test (not left running).
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      dup2(fds[1], STDOUT_FILENO);
      close(fds[0]);
      close(fds[1]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
    close(fds[1]);
    std::unique_ptr<GriddProcess> p(new GriddProcess(pid, fds[0]));
    std::string out;
    const std::string marker = "gridd listening on port ";
    for (int waited = 0; waited < 300; ++waited) {
      pollfd pfd{fds[0], POLLIN, 0};
      if (poll(&pfd, 1, 100) > 0) {
        char buf[256];
        const ssize_t n = read(fds[0], buf, sizeof(buf));
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
        if (auto at = out.find(marker); at != std::string::npos && out.find('\n', at) != std::string::npos) {
          p->port_ = std::stoi(out.substr(at + marker.size()));
          return p;
        }
      }
    }
    return absl::UnavailableError(absl::StrCat("gridd did not start: ", out));
  }

  ~GriddProcess() {
    if (pid_ > 0) Kill(SIGKILL);
    close(stdout_fd_);
  }

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string target() const { return absl::StrCat("127.0.0.1:", port_); }

  // Sends `sig` (SIGSTOP, SIGCONT); a SIGSTOP has stopped every thread of
  // it when this returns.
  void Signal(int sig) { SendSignal(pid_, sig); }
  bool running() const { return pid_ > 0; }

  // Sends `sig` and reaps the process; returns its wait status.
  int Kill(int sig) {
    if (pid_ <= 0) return -1;
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

 private:
  GriddProcess(pid_t pid, int fd) : pid_(pid), stdout_fd_(fd) {}
  pid_t pid_;
  int stdout_fd_;
  int port_ = 0;
};

}  // namespace grid::testing

#endif  // GRID_TESTS_TESTING_PROCESS_H_
