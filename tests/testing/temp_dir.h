// A fresh directory under $TMPDIR (or /tmp), removed with its contents on
// destruction.
#ifndef GRID_TESTS_TESTING_TEMP_DIR_H_
#define GRID_TESTS_TESTING_TEMP_DIR_H_

#include <cstdlib>
#include <filesystem>
#include <string>

namespace grid::testing {

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base ? base : "/tmp") + "/gridlog-test-XXXXXX";
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// An integer from the environment, or `fallback`: lets `make soak` run the
// same crash and fault tests longer than CI does.
inline int IntFromEnv(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

}  // namespace grid::testing

#endif  // GRID_TESTS_TESTING_TEMP_DIR_H_
