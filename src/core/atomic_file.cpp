#include "cardioseg/core/atomic_file.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

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
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw InputError(final_path.string(), std::string("cannot write: ") + std::strerror(errno));
    const std::size_t written = std::fwrite(text.data(), 1, text.size(), f);
    const int error = written != text.size() || std::fflush(f) != 0 ? errno : 0;
    if (std::fclose(f) != 0 || error) {
      throw InputError(final_path.string(),
                       std::string("write failed: ") + std::strerror(error ? error : errno));
    }
  });
}

namespace {

bool ProcessRunning(long pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

bool LooksLikeCaseOutput(const fs::path& dir) {
  return fs::exists(dir / "report.json") || fs::exists(dir / "function.json");
}

}  // namespace

int RemoveOrphanedPartials(const fs::path& folder) {
  std::error_code ec;
  int removed = 0;
  if (!fs::is_directory(folder, ec)) return 0;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const std::string name = entry.path().filename().string();
    const auto at = name.find(".partial-");
    if (name.empty() || name[0] != '.' || at == std::string::npos) continue;
    const long pid = std::strtol(name.c_str() + at + 9, nullptr, 10);
    if (pid == ::getpid() || ProcessRunning(pid)) continue;
    std::error_code rm;
    fs::remove_all(entry.path(), rm);
    removed += !rm;
  }
  return removed;
}

void CheckOutputFolder(const fs::path& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    throw InputError(dir.string(), "the output path is a file, not a folder");
  }
  fs::path existing = dir.empty() ? fs::current_path() : fs::absolute(dir);
  while (!existing.empty() && !fs::exists(existing, ec)) existing = existing.parent_path();
  if (!fs::is_directory(existing, ec)) {
    throw InputError(dir.string(), "the output path lies under a file (" + existing.string() + ")");
  }
  // The case folder is renamed into place, so its parent must be writable too.
  const fs::path parent = existing == fs::absolute(dir) ? existing.parent_path() : existing;
  if (::access(parent.c_str(), W_OK | X_OK) != 0) {
    throw InputError(dir.string(), "the output folder cannot be written (" + parent.string() + ": " +
                                       std::strerror(errno) + ")");
  }
  if (fs::is_directory(dir, ec) && !fs::is_empty(dir, ec) && !LooksLikeCaseOutput(dir)) {
    bool only_partials = true;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      only_partials = only_partials && e.path().filename().string().find(".partial-") != std::string::npos;
    }
    if (!only_partials) {
      throw InputError(dir.string(),
                       "the output folder holds files that are not a cardioseg output; a case's "
                       "folder is replaced as a whole, so give a new or empty folder");
    }
  }
}

StagedFolder::StagedFolder(fs::path dir) : dir_(std::move(dir)) {
  CheckOutputFolder(dir_);
  fs::path parent = fs::absolute(dir_).parent_path();
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) throw InputError(parent.string(), "cannot create output folder: " + ec.message());
  RemoveOrphanedPartials(parent);
  RemoveOrphanedPartials(dir_);
  staging_ = TemporaryPathFor(fs::absolute(dir_));
  fs::create_directory(staging_, ec);
  if (ec) throw InputError(staging_.string(), "cannot create a staging folder: " + ec.message());
}

StagedFolder::~StagedFolder() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(staging_, ec);
}

void StagedFolder::Commit() {
  std::error_code ec;
  fs::path old;
  if (fs::exists(dir_, ec)) {
    CheckOutputFolder(dir_);  // still ours to replace
    old = TemporaryPathFor(fs::absolute(dir_));
    fs::rename(dir_, old, ec);
    if (ec) throw InputError(dir_.string(), "cannot move the previous output aside: " + ec.message());
  }
  fs::rename(staging_, dir_, ec);
  if (ec) {
    if (!old.empty()) fs::rename(old, dir_);
    throw InputError(dir_.string(), "cannot move the outputs into place: " + ec.message());
  }
  committed_ = true;
  if (!old.empty()) fs::remove_all(old, ec);
}

}  // namespace cardioseg
