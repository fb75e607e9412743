// Starts a real GridServer on 127.0.0.1:0 over a temporary data directory
// and hands out a client connected to it.
#ifndef GRID_TESTS_TESTING_SERVER_FIXTURE_H_
#define GRID_TESTS_TESTING_SERVER_FIXTURE_H_

#include <gtest/gtest.h>

#include "client/client.h"
#include "server/grid_server.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace grid::testing {

class ServerFixture : public ::testing::Test {
 protected:
  // Starts (or restarts) the server with `options` (listen address and data
  // directory are filled in).
  void StartServer(server::ServerOptions options = {}) {
    client_.reset();
    server_.reset();
    options.listen = "127.0.0.1:0";
    options.data_dir = dir_.path() + "/data";
    if (log_mechanics_only_) options.domain_rules = false;
    auto s = server::GridServer::Start(options);
    ASSERT_OK(s);
    server_ = *std::move(s);
    client_ = client::Client::Connect(target());
  }
  void SetUp() override { StartServer(); }

  std::string target() const { return "127.0.0.1:" + std::to_string(server_->port()); }

  // Tests of the log's own mechanics set this: they append one event shape
  // to arbitrary streams, which the domain rules would refuse.
  bool log_mechanics_only_ = false;
  TempDir dir_;
  std::unique_ptr<server::GridServer> server_;
  std::unique_ptr<client::Client> client_;
};

}  // namespace grid::testing

#endif  // GRID_TESTS_TESTING_SERVER_FIXTURE_H_
