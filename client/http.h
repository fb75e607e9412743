// A raw HTTP exchange with a server on this machine's loopback, for
// gridctl bench (gridd's /metrics) and the tests of gridd's HTTP endpoint.
#ifndef GRID_CLIENT_HTTP_H_
#define GRID_CLIENT_HTTP_H_

#include <string>

#include "absl/time/time.h"

namespace grid::client {

// Sends `request` as it is to 127.0.0.1:`port` and returns all the server
// answers until it closes the connection (gridd's HTTP endpoint closes after
// each answer), or "" if it cannot connect. A send or a read that waits
// longer than `timeout` ends the exchange with what came so far.
std::string LoopbackHttp(int port, const std::string& request, absl::Duration timeout = absl::Seconds(2));

}  // namespace grid::client

#endif  // GRID_CLIENT_HTTP_H_
