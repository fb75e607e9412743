// The fault-injecting proxy's own failure: a write to a link it had reset
// (Drop, Heal) while a pump thread was writing raised SIGPIPE, which ended
// the whole fault-test process (ClusterFaultTest.NodesCutOffFromEtcd...
// died of SIGPIPE in a run of `make test`).
#include "tests/testing/tcp_proxy.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

namespace grid::testing {
namespace {

TEST(TcpProxyTest, AWriteToALinkItShutDownIsAnErrorNotASignal) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  const char bytes[] = "bytes in flight";
  EXPECT_TRUE(TcpProxy::SendAll(fds[0], bytes, sizeof(bytes)));
  // What Reset() does to a link a pump thread is writing to.
  ASSERT_EQ(shutdown(fds[0], SHUT_RDWR), 0);
  EXPECT_FALSE(TcpProxy::SendAll(fds[0], bytes, sizeof(bytes)));  // the process is still here
  close(fds[0]);
  close(fds[1]);
}

}  // namespace
}  // namespace grid::testing
