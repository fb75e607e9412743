// A real etcd member (Debian's etcd-server) as a child process, for the
// cluster tests: on 127.0.0.1 with ports of its own and its own data
// directory, stopped by PID. One member is a whole etcd cluster of one;
// the fault tests start three.
#ifndef GRID_TESTS_TESTING_ETCD_SERVER_H_
#define GRID_TESTS_TESTING_ETCD_SERVER_H_

#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
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
#include "tests/testing/signals.h"

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

// A cluster of `n` real etcd members on loopback, each with its own ports
// and data directory, that the fault tests kill, pause and restart one by
// one (a restarted member keeps its ports and data, as on a real host).
class EtcdCluster {
 public:
  static absl::StatusOr<std::unique_ptr<EtcdCluster>> Start(const std::string& dir, int n) {
    const std::vector<int> ports = FreeLoopbackPorts(2 * n);
    if (static_cast<int>(ports.size()) != 2 * n) return absl::UnavailableError("no free loopback ports");
    std::unique_ptr<EtcdCluster> c(new EtcdCluster(dir));
    std::string initial;
    for (int i = 0; i < n; ++i) {
      c->members_.push_back({absl::StrCat("e", i + 1), ports[2 * i], ports[2 * i + 1], -1});
      absl::StrAppend(&initial, i == 0 ? "" : ",", "e", i + 1, "=http://127.0.0.1:", ports[2 * i + 1]);
    }
    c->initial_ = initial;
    for (int i = 0; i < n; ++i) {
      if (absl::Status s = c->Restart(i); !s.ok()) return s;
    }
    // Ready when the cluster answers a read (it has a leader).
    auto probe = server::EtcdClient::Create({.endpoints = c->endpoints(), .timeout = absl::Seconds(30)});
    if (!probe.ok()) return probe.status();
    if (auto r = (*probe)->Get("gl/probe"); !r.ok()) {
      return absl::UnavailableError(
          absl::StrCat("etcd did not start (", dir, "/e*.log): ", r.status().message()));
    }
    return c;
  }

  ~EtcdCluster() {
    for (size_t i = 0; i < members_.size(); ++i) {
      Signal(static_cast<int>(i), SIGCONT);
      Kill(static_cast<int>(i), SIGKILL);
    }
  }

  int size() const { return static_cast<int>(members_.size()); }
  int client_port(int i) const { return members_[i].client; }
  std::vector<std::string> endpoints() const {
    std::vector<std::string> out;
    for (const auto& m : members_) out.push_back(absl::StrCat("127.0.0.1:", m.client));
    return out;
  }
  bool running(int i) const { return members_[i].pid > 0; }

  // Starts member `i` (again), with its data directory as it is.
  absl::Status Restart(int i) {
    Member& m = members_[i];
    if (m.pid > 0) return absl::OkStatus();
    const std::string client_url = absl::StrCat("http://127.0.0.1:", m.client);
    const std::string peer_url = absl::StrCat("http://127.0.0.1:", m.peer);
    std::vector<std::string> args = {"etcd",
                                     "--name=" + m.name,
                                     "--data-dir=" + dir_ + "/" + m.name,
                                     "--listen-client-urls=" + client_url,
                                     "--advertise-client-urls=" + client_url,
                                     "--listen-peer-urls=" + peer_url,
                                     "--initial-advertise-peer-urls=" + peer_url,
                                     "--initial-cluster=" + initial_,
                                     "--initial-cluster-state=new",
                                     "--initial-cluster-token=gridlog-test",
                                     "--max-request-bytes=8388608",
                                     "--logger=zap",
                                     "--log-outputs=" + dir_ + "/" + m.name + ".log"};
    const pid_t pid = fork();
    if (pid < 0) return absl::InternalError("fork");
    if (pid == 0) {
      // Killed with the test, when a timeout kills the test (not left running).
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, STDOUT_FILENO);
      dup2(devnull, STDERR_FILENO);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp("etcd", argv.data());
      _exit(127);
    }
    m.pid = pid;
    return absl::OkStatus();
  }

  // Sends `sig` to member `i` (SIGSTOP, SIGCONT); a SIGSTOP has stopped
  // every thread of it when this returns.
  void Signal(int i, int sig) { SendSignal(members_[i].pid, sig); }
  // Sends `sig` to member `i` and reaps it.
  void Kill(int i, int sig) {
    Member& m = members_[i];
    if (m.pid <= 0) return;
    kill(m.pid, sig);
    int status = 0;
    waitpid(m.pid, &status, 0);
    m.pid = -1;
  }

  // The member that is the Raft leader now, or -1 if none answers so.
  int Leader() {
    for (int i = 0; i < size(); ++i) {
      if (!running(i)) continue;
      auto c = server::EtcdClient::Create(
          {.endpoints = {absl::StrCat("127.0.0.1:", members_[i].client)}, .timeout = absl::Seconds(2)});
      if (!c.ok()) continue;
      auto leader = (*c)->IsLeader();
      if (leader.ok() && *leader) return i;
    }
    return -1;
  }

 private:
  struct Member {
    std::string name;
    int client;
    int peer;
    pid_t pid;
  };
  explicit EtcdCluster(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
  std::string initial_;
  std::vector<Member> members_;
};

// One etcd member: a whole etcd cluster of one, for the tests that need no
// more.
class EtcdServer {
 public:
  // Starts `etcd` (from PATH) with its data in `dir` and waits until it
  // answers a read (at most 30 s).
  static absl::StatusOr<std::unique_ptr<EtcdServer>> Start(const std::string& dir) {
    auto cluster = EtcdCluster::Start(dir, 1);
    if (!cluster.ok()) return cluster.status();
    return std::unique_ptr<EtcdServer>(new EtcdServer(*std::move(cluster)));
  }

  // host:port of its client URL.
  const std::string& endpoint() const { return endpoint_; }
  // Sends `sig` (SIGSTOP, SIGCONT); a SIGSTOP has stopped every thread of
  // it when this returns.
  void Signal(int sig) { cluster_->Signal(0, sig); }
  // Sends `sig` and reaps the process.
  void Kill(int sig) { cluster_->Kill(0, sig); }

 private:
  explicit EtcdServer(std::unique_ptr<EtcdCluster> cluster)
      : cluster_(std::move(cluster)), endpoint_(cluster_->endpoints()[0]) {}
  std::unique_ptr<EtcdCluster> cluster_;
  std::string endpoint_;
};

}  // namespace grid::testing

#endif  // GRID_TESTS_TESTING_ETCD_SERVER_H_
