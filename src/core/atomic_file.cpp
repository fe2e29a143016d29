#include "cardioseg/core/atomic_file.h"

#include <unistd.h>

#include <atomic>
#include <fstream>

#include "cardioseg/core/error.h"

namespace cardioseg {

namespace fs = std::filesystem;

std::pair<std::string, std::string> SplitExtension(const std::string& filename) {
  for (const char* dbl : {".nii.gz", ".tar.gz"}) {
    const std::string d(dbl);
    if (filename.size() > d.size() && filename.compare(filename.size() - d.size(), d.size(), d) == 0) {
      return {filename.substr(0, filename.size() - d.size()), d};
    }
  }
  const auto dot = filename.find_last_of('.');
  if (dot == std::string::npos || dot == 0) return {filename, ""};
  return {filename.substr(0, dot), filename.substr(dot)};
}

fs::path TemporaryPathFor(const fs::path& final_path) {
  static std::atomic<unsigned> counter{0};
  const auto [stem, ext] = SplitExtension(final_path.filename().string());
  const std::string name = "." + stem + ".partial-" + std::to_string(::getpid()) + "-" +
                           std::to_string(counter++) + ext;
  return final_path.parent_path() / name;
}

void WriteAtomically(const fs::path& final_path, const std::function<void(const fs::path&)>& write) {
  std::error_code ec;
  if (!final_path.parent_path().empty()) {
    fs::create_directories(final_path.parent_path(), ec);
    if (ec) {
      throw InputError(final_path.parent_path().string(),
                       "cannot create output folder: " + ec.message());
    }
  }
  const fs::path tmp = TemporaryPathFor(final_path);
  try {
    write(tmp);
    fs::rename(tmp, final_path);
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
}

void WriteTextAtomically(const fs::path& final_path, const std::string& text) {
  WriteAtomically(final_path, [&](const fs::path& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    out.close();
    if (!out) throw InputError(final_path.string(), "write failed");
  });
}

}  // namespace cardioseg
