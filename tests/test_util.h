#pragma once
// Helpers shared by the test executables: temporary folders, the shared-data location, running
// the cardioseg executable.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <random>
#include <string>

#include <gtest/gtest.h>

namespace cardioseg::test {

namespace fs = std::filesystem;

// A fresh folder under the system temporary directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("cardioseg-test-" + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

// The shared real data (../shared/data), from CARDIOSEG_TEST_DATA; nullopt when unset or absent.
inline std::optional<fs::path> SharedData() {
  const char* env = std::getenv("CARDIOSEG_TEST_DATA");
  if (!env || !*env || !fs::is_directory(env)) return std::nullopt;
  return fs::path(env);
}

#define CARDIOSEG_REQUIRE_SHARED_DATA(var)                                                      \
  const auto var##_opt = ::cardioseg::test::SharedData();                                       \
  if (!var##_opt) {                                                                             \
    GTEST_SKIP() << "shared data not found: set CARDIOSEG_TEST_DATA to ../shared/data "        \
                    "(see data/README.md) to run this test";                                    \
  }                                                                                             \
  const fs::path var = *var##_opt

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs a shell command line, capturing its output.
inline CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buffer{};
  while (fgets(buffer.data(), buffer.size(), pipe)) result.output += buffer.data();
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

inline std::string Quote(const fs::path& p) { return "'" + p.string() + "'"; }

}  // namespace cardioseg::test
