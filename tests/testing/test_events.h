// Builders for test events and append requests.
#ifndef GRID_TESTS_TESTING_TEST_EVENTS_H_
#define GRID_TESTS_TESTING_TEST_EVENTS_H_

#include <string>
#include <vector>

#include "grid/v1/log.pb.h"
#include "storage/event_log.h"

namespace grid::testing {

// A GridDefined event for grid `org_path` (default under county 350583).
inline grid::v1::Event GridEvent(const std::string& id, const std::string& org_path = "350583/101/203/g05",
                                 const std::string& name = "g05") {
  grid::v1::Event e;
  e.set_event_id(id);
  e.set_type("GridDefined");
  e.set_org_path(org_path);
  e.set_device_id("dev-1");
  e.mutable_grid_defined()->set_org_path(org_path);
  e.mutable_grid_defined()->set_name(name);
  return e;
}

inline grid::v1::Event WorkerEvent(const std::string& id, const std::string& worker,
                                   const std::string& org_path) {
  grid::v1::Event e;
  e.set_event_id(id);
  e.set_type("WorkerAssigned");
  e.set_org_path(org_path);
  e.mutable_worker_assigned()->set_worker_id(worker);
  e.mutable_worker_assigned()->set_org_path(org_path);
  return e;
}

inline storage::AppendBatch Batch(const std::string& stream, std::vector<grid::v1::Event> events,
                                  storage::Expected expected = {}) {
  storage::AppendBatch b;
  b.stream = stream;
  b.expected = expected;
  for (auto& e : events) e.set_stream(stream);
  b.events = std::move(events);
  b.actor.set_principal("test");
  return b;
}

inline grid::v1::AppendRequest AppendReq(const std::string& stream, std::vector<grid::v1::Event> events) {
  grid::v1::AppendRequest r;
  r.set_stream(stream);
  for (auto& e : events) *r.add_events() = std::move(e);
  return r;
}

// A request for `events`, all of one stream (the first event's).
inline grid::v1::AppendRequest StreamReq(std::vector<grid::v1::Event> events) {
  grid::v1::AppendRequest r;
  r.set_stream(events.front().stream());
  for (auto& e : events) *r.add_events() = std::move(e);
  return r;
}

}  // namespace grid::testing

#endif  // GRID_TESTS_TESTING_TEST_EVENTS_H_
