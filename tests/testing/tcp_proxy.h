// A fault-injecting TCP proxy on loopback, for the cluster fault tests: it
// sits between one gridd node and one etcd member, and can cut that link
// the two ways a network does. Blackhole: bytes are read and dropped in
// both directions and new connections are accepted and held silent (a
// partition: the node's calls time out). Drop: every open connection is
// reset (a crashed middlebox: the node reconnects at once). Heal ends a
// blackhole, resetting the connections it held so that clients reconnect.
//
// Concurrency: thread-safe; a thread per connection and one accepting.
#ifndef GRID_TESTS_TESTING_TCP_PROXY_H_
#define GRID_TESTS_TESTING_TCP_PROXY_H_

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "absl/time/clock.h"

#include "storage/sync.h"

namespace grid::testing {

class TcpProxy {
 public:
  // Listens on a free loopback port, forwarding to 127.0.0.1:`target_port`.
  static std::unique_ptr<TcpProxy> Start(int target_port) {
    // CLOEXEC throughout: a child the test forks (a gridd) must not keep a
    // connection open that the proxy closes.
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      if (fd >= 0) close(fd);
      return nullptr;
    }
    return std::unique_ptr<TcpProxy>(new TcpProxy(fd, ntohs(a.sin_port), target_port));
  }

  ~TcpProxy() {
    stopping_.store(true);
    shutdown(listen_fd_, SHUT_RDWR);
    accepter_.join();
    close(listen_fd_);
    Reset();
    grid::MutexLock l(&mu_);
    while (live_ > 0) done_.Wait(&mu_);
  }

  int port() const { return port_; }

  // Writes all of `n` bytes to the socket `fd`; false if the link failed.
  // A link this proxy reset (shut down) while a write was under way is an
  // error here, never SIGPIPE, which would end the test's whole process.
  static bool SendAll(int fd, const char* p, size_t n) {
    for (size_t sent = 0; sent < n;) {
      const ssize_t w = send(fd, p + sent, n - sent, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      sent += static_cast<size_t>(w);
    }
    return true;
  }

  // Cut: nothing passes either way until Heal().
  void Blackhole() { blackhole_.store(true); }
  // Ends a blackhole; the connections it held are reset.
  void Heal() {
    if (blackhole_.exchange(false)) Reset();
  }
  // Resets every open connection (new ones pass).
  void Drop() { Reset(); }
  // Cuts the link (as Blackhole) just after passing on the first request
  // bytes that contain `pattern`, so that its answer is lost: a call whose
  // outcome the client cannot know. WaitCut() waits for that moment.
  void CutAfter(std::string pattern) {
    grid::MutexLock l(&mu_);
    cut_after_ = std::move(pattern);
    cut_ = false;
  }
  bool WaitCut(absl::Duration timeout) {
    grid::MutexLock l(&mu_);
    const absl::Time deadline = absl::Now() + timeout;
    while (!cut_) {
      if (!done_.WaitFor(&mu_, deadline - absl::Now())) return cut_;
    }
    return true;
  }

 private:
  struct Conn {
    int client;
    int upstream;
  };

  TcpProxy(int fd, int port, int target) : listen_fd_(fd), port_(port), target_(target) {
    accepter_ = std::thread([this] { Accept(); });
  }

  void Accept() {
    for (;;) {
      const int c = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (stopping_.load()) return;
        continue;
      }
      const int u = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(static_cast<uint16_t>(target_));
      if (u < 0 || connect(u, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        // The member is down: refuse as it would.
        if (u >= 0) close(u);
        close(c);
        continue;
      }
      grid::MutexLock l(&mu_);
      conns_.push_back({c, u});
      ++live_;
      std::thread([this, conn = &conns_.back()] { Pump(conn); }).detach();
    }
  }

  // Copies both ways (or drops, while blackholed) until either side ends.
  void Pump(Conn* conn) {
    char buf[64 << 10];
    pollfd fds[2] = {{conn->client, POLLIN, 0}, {conn->upstream, POLLIN, 0}};
    bool open = true;
    while (open) {
      if (poll(fds, 2, 100) < 0) break;
      for (int i = 0; i < 2 && open; ++i) {
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        const ssize_t n = read(fds[i].fd, buf, sizeof(buf));
        if (n <= 0) {
          open = false;
          break;
        }
        if (blackhole_.load()) continue;
        bool cut = false;
        if (i == 0) {
          grid::MutexLock l(&mu_);
          cut = !cut_after_.empty() &&
                std::string_view(buf, static_cast<size_t>(n)).find(cut_after_) != std::string_view::npos;
          if (cut) cut_after_.clear();
        }
        if (!SendAll(fds[1 - i].fd, buf, static_cast<size_t>(n))) {
          open = false;
          break;
        }
        if (cut) {
          blackhole_.store(true);
          grid::MutexLock l(&mu_);
          cut_ = true;
          done_.SignalAll();
        }
      }
    }
    grid::MutexLock l(&mu_);
    for (auto it = conns_.begin(); it != conns_.end(); ++it) {
      if (&*it == conn) {
        shutdown(it->client, SHUT_RDWR);
        shutdown(it->upstream, SHUT_RDWR);
        close(it->client);
        close(it->upstream);
        conns_.erase(it);
        break;
      }
    }
    --live_;
    done_.SignalAll();
  }

  // Ends every open connection (their pumps then close them).
  void Reset() {
    grid::MutexLock l(&mu_);
    for (const Conn& c : conns_) {
      shutdown(c.client, SHUT_RDWR);
      shutdown(c.upstream, SHUT_RDWR);
    }
  }

  const int listen_fd_;
  const int port_;
  const int target_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> blackhole_{false};
  std::thread accepter_;
  grid::Mutex mu_;
  grid::CondVar done_;
  std::list<Conn> conns_ ABSL_GUARDED_BY(mu_);
  std::string cut_after_ ABSL_GUARDED_BY(mu_);
  bool cut_ ABSL_GUARDED_BY(mu_) = false;
  int live_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace grid::testing

#endif  // GRID_TESTS_TESTING_TCP_PROXY_H_
