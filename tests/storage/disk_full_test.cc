// Disk full, on a real (small) tmpfs: appends fail with a clear UNAVAILABLE,
// nothing acknowledged is lost or corrupt, and after space is freed a
// restart takes appends again. Needs root to mount; skipped otherwise.
#include <sys/mount.h>
#include <unistd.h>

#include <fstream>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "storage/event_log.h"
#include "tests/testing/log_checker.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_events.h"

namespace grid::storage {
namespace {

class TmpfsMount {
 public:
  TmpfsMount(const std::string& dir, const char* size) : dir_(dir) {
    mounted_ = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, absl::StrCat("size=", size).c_str()) == 0;
    error_ = errno;
  }
  ~TmpfsMount() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  int error() const { return error_; }

 private:
  std::string dir_;
  bool mounted_ = false;
  int error_ = 0;
};

TEST(DiskFullTest, AppendsFailClearlyAndResumeAfterSpaceIsFreed) {
  if (geteuid() != 0) GTEST_SKIP() << "disk-full test needs root to mount a tmpfs";
  grid::testing::TempDir dir;
  TmpfsMount mount(dir.path(), "6m");
  if (!mount.mounted()) {
    GTEST_SKIP() << "cannot mount a tmpfs here (errno " << mount.error() << ")";
  }
  const std::string db = dir.path() + "/db";
  const std::string ballast = dir.path() + "/ballast";
  {
    std::ofstream b(ballast, std::ios::binary);
    b << std::string(1 << 20, 'b');  // freed later to make room
  }
  EventLogOptions o;
  o.write_buffer_bytes = 256 << 10;
  std::map<std::string, uint64_t> acked;
  absl::Status failure;
  {
    ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(o, db));
    for (int i = 0; i < 100000 && failure.ok(); ++i) {
      auto e = grid::testing::GridEvent(absl::StrCat("e", i));
      e.mutable_grid_defined()->set_name(std::string(4000, 'n'));
      auto b = grid::testing::Batch(absl::StrCat("s/", i % 10), {e});
      AppendBatch* p = &b;
      auto out = log->Commit(absl::MakeSpan(&p, 1), absl::Now()).outcomes[0];
      if (out.status.ok()) {
        acked[b.events[0].event_id()] = out.events[0].position;
      } else {
        failure = out.status;
      }
    }
    ASSERT_FALSE(failure.ok()) << "the disk never filled";
    EXPECT_EQ(failure.code(), absl::StatusCode::kUnavailable) << failure;
    EXPECT_NE(failure.message().find("restart"), std::string::npos) << failure;
    // Still readable while full.
    EXPECT_OK(log->ReadAll(1, Direction::kForwards, 10, SIZE_MAX));
  }
  ASSERT_GT(acked.size(), 100u);
  ASSERT_EQ(::unlink(ballast.c_str()), 0);  // free space, then restart
  ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(o, db));
  auto check = grid::testing::CheckLog(log.get(), acked, acked.size() > 200 ? acked.size() - 200 : 1);
  ASSERT_TRUE(check.ok()) << check.Summary();
  auto b = grid::testing::Batch("s/after", {grid::testing::GridEvent("after")});
  AppendBatch* p = &b;
  EXPECT_OK(log->Commit(absl::MakeSpan(&p, 1), absl::Now()).outcomes[0].status);
  std::cout << "disk full after " << acked.size() << " acknowledged events: " << failure
            << std::endl;
}

}  // namespace
}  // namespace grid::storage
