#pragma once
// Atomic output: every file cardioseg writes is first written under a temporary name in the
// destination folder and then renamed, so a crash or an error never leaves a partial file.
#include <filesystem>
#include <functional>
#include <string>

namespace cardioseg {

// Temporary path beside `final_path` that keeps its extension (".nii.gz", ".json", ...), so that
// writers choosing a format by extension (ITK, VTK) still work: "dir/.name.partial-<pid>-<n>.ext".
std::filesystem::path TemporaryPathFor(const std::filesystem::path& final_path);

// Calls `write(temporary_path)`, then renames the temporary file onto `final_path`. Creates the
// parent folder if needed. If `write` throws, the temporary file is removed and the exception
// propagates; `final_path` is untouched.
void WriteAtomically(const std::filesystem::path& final_path,
                     const std::function<void(const std::filesystem::path&)>& write);

// Writes `text` to `final_path` atomically. Throws cardioseg::Error on an I/O failure.
void WriteTextAtomically(const std::filesystem::path& final_path, const std::string& text);

// Checks, before any work, that `dir` can become a case's output folder: it is not a file, it
// or its nearest existing parent is a writable folder, and, when it exists and is not empty, it
// holds a previous cardioseg output (report.json or function.json), which the new one replaces
// as a whole (two runs' files never mix). Throws InputError naming the folder and the problem.
void CheckOutputFolder(const std::filesystem::path& dir);

// A case's outputs appear all together or not at all: they are written into a hidden staging
// folder beside `dir` (".<name>.partial-<pid>-<n>"), which Commit() renames onto `dir`,
// replacing a previous output there (checked as in CheckOutputFolder). Without Commit() (an
// error, an exception) the staging folder is removed. Staging folders and temporary files left
// beside `dir` by a killed process (its pid no longer running) are removed on construction.
class StagedFolder {
 public:
  explicit StagedFolder(std::filesystem::path dir);
  ~StagedFolder();
  StagedFolder(const StagedFolder&) = delete;
  StagedFolder& operator=(const StagedFolder&) = delete;
  const std::filesystem::path& path() const { return staging_; }  // write the outputs here
  void Commit();  // throws InputError when the rename fails

 private:
  std::filesystem::path dir_, staging_;
  bool committed_ = false;
};

// Removes ".*.partial-<pid>-*" entries of `folder` whose process is no longer running; returns
// how many were removed.
int RemoveOrphanedPartials(const std::filesystem::path& folder);

// Splits "name.nii.gz" into {"name", ".nii.gz"}; knows the double extensions .nii.gz, .tar.gz.
std::pair<std::string, std::string> SplitExtension(const std::string& filename);

}  // namespace cardioseg
