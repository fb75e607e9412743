// What the small benchmark programs of bench/ share: their flags and a
// percentile.
#ifndef GRID_BENCH_BENCH_UTIL_H_
#define GRID_BENCH_BENCH_UTIL_H_

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

namespace grid::bench {

// The value of `--name=V` or `--name V`, else `fallback`.
inline std::string Flag(int argc, char** argv, const std::string& name, const std::string& fallback) {
  const std::string prefix = "--" + name + "=";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind(prefix, 0) == 0) return a.substr(prefix.size());
    if (a == "--" + name && i + 1 < argc) return argv[i + 1];
  }
  return fallback;
}

// A new directory for a bench's databases under $TMPDIR, else /var/tmp (a
// disk, as gridd's data is in bench/compare.sh; /tmp may be tmpfs), named
// after `program` (grid_x_bench: grid-x-bench.XXXXXX); "" after saying on
// stderr why not. The bench deletes it at the end.
inline std::string MakeTempDir(const std::string& program) {
  const char* tmp = std::getenv("TMPDIR");
  std::string name = program;
  std::replace(name.begin(), name.end(), '_', '-');
  std::string dir = std::string(tmp != nullptr ? tmp : "/var/tmp") + "/" + name + ".XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) {
    std::cerr << program << ": cannot create " << dir << "\n";
    return "";
  }
  return dir;
}

// The value below which a fraction `p` of `v` lies (0 for none).
inline double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace grid::bench

#endif  // GRID_BENCH_BENCH_UTIL_H_
