#include "fuzz_util.h"

#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include <spdlog/spdlog.h>
#include <unistd.h>

namespace cardioseg::fuzz {

const std::filesystem::path& ScratchFolder() {
  static const std::filesystem::path folder = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::filesystem::path base = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
    auto p = base / ("cardioseg-fuzz-" + std::to_string(getpid()));
    std::filesystem::create_directories(p);
    return p;
  }();
  return folder;
}

void WriteBytes(const std::filesystem::path& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) throw std::runtime_error("fuzz: cannot write " + path.string());
}

void QuietLogs() { spdlog::set_level(spdlog::level::off); }

}  // namespace cardioseg::fuzz
