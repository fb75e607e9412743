#include "client/progress.h"

#include <unistd.h>

#include <algorithm>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace grid::client {

Progress::Progress(std::string what, uint64_t total, Unit unit, std::string noun)
    : what_(std::move(what)),
      total_(total),
      unit_(unit),
      noun_(std::move(noun)),
      tty_(isatty(STDERR_FILENO) != 0) {}

Progress::~Progress() {
  if (tty_ && width_ > 0) std::cerr << "\r" << std::string(width_, ' ') << "\r" << std::flush;
}

void Progress::Update(uint64_t done) {
  done_ = done;
  if (!tty_) return;
  const absl::Time now = absl::Now();
  if (now - last_draw_ < absl::Milliseconds(200) && !(total_ > 0 && done == total_)) return;
  last_draw_ = now;
  Draw();
}

std::string Progress::Amount(uint64_t n) const {
  if (unit_ == Unit::kCount) return absl::StrCat(n);
  const double d = static_cast<double>(n);
  if (n >= (uint64_t{1} << 30)) return absl::StrFormat("%.1f GiB", d / (1 << 30));
  if (n >= (uint64_t{1} << 20)) return absl::StrFormat("%.1f MiB", d / (1 << 20));
  if (n >= (uint64_t{1} << 10)) return absl::StrFormat("%.1f KiB", d / (1 << 10));
  return absl::StrCat(n, " B");
}

void Progress::Draw() {
  std::string line;
  if (total_ == 0) {
    line = absl::StrCat(what_, " ", Amount(done_), noun_.empty() ? "" : " ", noun_);
  } else {
    const uint64_t pct = std::min<uint64_t>(100, done_ * 100 / total_);
    const size_t bar = static_cast<size_t>(pct / 4);
    line = absl::StrCat(what_, " [", std::string(bar, '#'), std::string(25 - bar, ' '), "] ", Amount(done_),
                        "/", Amount(total_), " (", pct, "%)");
  }
  const size_t pad = width_ > line.size() ? width_ - line.size() : 0;
  std::cerr << "\r" << line << std::string(pad, ' ') << std::flush;
  width_ = line.size();
}

}  // namespace grid::client
