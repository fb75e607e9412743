// A real etcd member (Debian's etcd-server) as a child process, for the
// cluster tests: on 127.0.0.1 with ports of its own and its own data
// directory, stopped by PID. One member is a whole etcd cluster of one;
// the fault tests start three.
#ifndef GRID_TESTS_TESTING_ETCD_SERVER_H_
#define GRID_TESTS_TESTING_ETCD_SERVER_H_

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "server/cluster/etcd_client.h"

namespace grid::testing {

// `n` ports nothing listens on now (the kernel's choices for port 0, all
// held until every one is chosen, so that they differ).
inline std::vector<int> FreeLoopbackPorts(int n) {
  std::vector<int> fds, ports;
  for (int i = 0; i < n; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      ports.push_back(ntohs(a.sin_port));
    }
    fds.push_back(fd);
  }
  for (int fd : fds) close(fd);
  return ports;
}

class EtcdServer {
 public:
  // Starts `etcd` (from PATH) with its data in `dir` and waits until it
  // answers a read (at most 30 s).
  static absl::StatusOr<std::unique_ptr<EtcdServer>> Start(const std::string& dir) {
    const std::vector<int> ports = FreeLoopbackPorts(2);
    if (ports.size() != 2) return absl::UnavailableError("no free loopback ports");
    const int client = ports[0];
    const int peer = ports[1];
    const std::string client_url = absl::StrCat("http://127.0.0.1:", client);
    const std::string peer_url = absl::StrCat("http://127.0.0.1:", peer);
    std::vector<std::string> args = {"etcd",
                                     "--name=e1",
                                     "--data-dir=" + dir + "/etcd",
                                     "--listen-client-urls=" + client_url,
                                     "--advertise-client-urls=" + client_url,
                                     "--listen-peer-urls=" + peer_url,
                                     "--initial-advertise-peer-urls=" + peer_url,
                                     "--initial-cluster=e1=" + peer_url,
                                     "--initial-cluster-state=new",
                                     "--max-request-bytes=8388608",
                                     "--logger=zap",
                                     "--log-outputs=" + dir + "/etcd.log"};
    const pid_t pid = fork();
    if (pid < 0) return absl::InternalError("fork");
    if (pid == 0) {
      const int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, STDOUT_FILENO);
      dup2(devnull, STDERR_FILENO);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp("etcd", argv.data());
      _exit(127);
    }
    std::unique_ptr<EtcdServer> s(new EtcdServer(pid, absl::StrCat("127.0.0.1:", client)));
    // Ready when it answers: the client waits for the connection (up to
    // its deadline) instead of polling.
    auto probe = server::EtcdClient::Create({.endpoints = {s->endpoint()}, .timeout = absl::Seconds(30)});
    if (!probe.ok()) return probe.status();
    if (auto r = (*probe)->Get("gl/probe"); !r.ok()) {
      return absl::UnavailableError(
          absl::StrCat("etcd did not start (", dir, "/etcd.log): ", r.status().message()));
    }
    return s;
  }

  ~EtcdServer() {
    Signal(SIGCONT);
    Kill(SIGKILL);
  }

  // host:port of its client URL.
  const std::string& endpoint() const { return endpoint_; }

  // Sends `sig` without waiting (SIGSTOP, SIGCONT).
  void Signal(int sig) {
    if (pid_ > 0) kill(pid_, sig);
  }

  // Sends `sig` and reaps the process.
  void Kill(int sig) {
    if (pid_ <= 0) return;
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  EtcdServer(pid_t pid, std::string endpoint) : pid_(pid), endpoint_(std::move(endpoint)) {}
  pid_t pid_;
  std::string endpoint_;
};

}  // namespace grid::testing

#endif  // GRID_TESTS_TESTING_ETCD_SERVER_H_
