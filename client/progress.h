// A progress line on stderr for gridctl's long operations, drawn only when
// stderr is a terminal (never into a pipe or a log file):
//
//   replay [##########               ] 40000/100000 (40%)
//   backup [#####                    ] 212.0 MiB/1.0 GiB (20%)
//   simulate 12000 events
//
// Redrawn at most five times a second; the line is cleared when the
// Progress is destroyed. Not thread-safe: one thread calls Update().
#ifndef GRID_CLIENT_PROGRESS_H_
#define GRID_CLIENT_PROGRESS_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace grid::client {

class Progress {
 public:
  enum class Unit { kCount, kBytes };
  // `total` 0: unknown (no bar, only the count). `noun` follows the count
  // when there is no total ("events").
  Progress(std::string what, uint64_t total, Unit unit = Unit::kCount, std::string noun = "");
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void set_total(uint64_t total) { total_ = total; }
  void Update(uint64_t done);

  // Whether anything is drawn (stderr is a terminal).
  bool shown() const { return tty_; }

 private:
  void Draw();
  std::string Amount(uint64_t n) const;

  const std::string what_;
  uint64_t total_;
  const Unit unit_;
  const std::string noun_;
  const bool tty_;
  uint64_t done_ = 0;
  absl::Time last_draw_ = absl::InfinitePast();
  size_t width_ = 0;  // of the last line drawn
};

}  // namespace grid::client

#endif  // GRID_CLIENT_PROGRESS_H_
