// Disk full, on a real (small) tmpfs: appends fail with a clear UNAVAILABLE,
// nothing acknowledged is lost or corrupt, and after space is freed a
// restart takes appends again. Needs root to mount; skipped otherwise.
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <fstream>
#include <map>
#include <sstream>

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
  // The server that fills the disk runs in a child process and ends the way
  // a failed server does, without a clean close: Debian's RocksDB is built
  // with assertions, and closing a DB whose WAL writer saw ENOSPC can trip
  // one of them (WritableFileWriter::AssertFalseAndGetStatusForPrevError).
  // The child reports each acknowledged event and the final status on a pipe.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    // Each line goes out at once: RocksDB may abort this process later.
    auto say = [&](const std::string& line) {
      for (size_t off = 0; off < line.size();) {
        const ssize_t n = ::write(fds[1], line.data() + off, line.size() - off);
        if (n <= 0) ::_exit(4);
        off += static_cast<size_t>(n);
      }
    };
    auto log = EventLog::Open(o, db);
    if (!log.ok()) ::_exit(3);
    absl::Status failure;
    for (int i = 0; i < 100000 && failure.ok(); ++i) {
      auto e = grid::testing::GridEvent(absl::StrCat("e", i));
      e.mutable_grid_defined()->set_name(std::string(4000, 'n'));
      auto b = grid::testing::Batch(absl::StrCat("s/", i % 10), {e});
      AppendBatch* p = &b;
      auto result = (*log)->Commit(absl::MakeSpan(&p, 1), absl::Now()).outcomes[0];
      if (result.status.ok()) {
        say(absl::StrCat("A ", b.events[0].event_id(), " ", result.events[0].position, "\n"));
      } else {
        failure = result.status;
      }
    }
    say(absl::StrCat("S ", static_cast<int>(failure.code()), " ", failure.message(), "\n"));
    const bool readable = (*log)->ReadAll(1, Direction::kForwards, 10, SIZE_MAX).ok();
    say(absl::StrCat("R ", readable ? 1 : 0, "\n"));
    ::_exit(0);  // no clean close: the failed server is restarted
  }
  ::close(fds[1]);
  std::string report;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof(buf))) > 0;) report.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int wstatus = 0;
  ::waitpid(pid, &wstatus, 0);
  // Exit 0, or SIGABRT from an assertion inside Debian's RocksDB after the
  // ENOSPC (a crash, from which the restart below must recover).
  const bool aborted = WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGABRT;
  ASSERT_TRUE((WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) || aborted) << "child status " << wstatus;

  std::map<std::string, uint64_t> acked;
  absl::StatusCode code = absl::StatusCode::kOk;
  bool status_seen = false, readable_seen = false, readable = false;
  std::string message;
  std::istringstream lines(report);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream in(line);
    std::string kind;
    in >> kind;
    if (kind == "A") {
      std::string id;
      uint64_t pos = 0;
      in >> id >> pos;
      acked[id] = pos;
    } else if (kind == "S") {
      int c = 0;
      in >> c;
      code = static_cast<absl::StatusCode>(c);
      status_seen = true;
      std::getline(in, message);
    } else if (kind == "R") {
      int r = 0;
      in >> r;
      readable_seen = true;
      readable = r == 1;
    }
  }
  ASSERT_TRUE(status_seen || aborted) << "the child ended without a result";
  if (status_seen) {
    ASSERT_NE(code, absl::StatusCode::kOk) << "the disk never filled";
    EXPECT_EQ(code, absl::StatusCode::kUnavailable) << message;
    EXPECT_NE(message.find("restart"), std::string::npos) << message;
  }
  if (readable_seen) {
    EXPECT_TRUE(readable) << "reads stopped while the disk was full";
  }
  ASSERT_GT(acked.size(), 100u);
  ASSERT_EQ(::unlink(ballast.c_str()), 0);  // free space, then restart
  ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(o, db));
  auto check = grid::testing::CheckLog(log.get(), acked, acked.size() > 200 ? acked.size() - 200 : 1);
  ASSERT_TRUE(check.ok()) << check.Summary();
  auto b = grid::testing::Batch("s/after", {grid::testing::GridEvent("after")});
  AppendBatch* p = &b;
  EXPECT_OK(log->Commit(absl::MakeSpan(&p, 1), absl::Now()).outcomes[0].status);
  std::cout << "disk full after " << acked.size() << " acknowledged events:" << message << std::endl;
}

}  // namespace
}  // namespace grid::storage
