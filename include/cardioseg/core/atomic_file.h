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

// Splits "name.nii.gz" into {"name", ".nii.gz"}; knows the double extensions .nii.gz, .tar.gz.
std::pair<std::string, std::string> SplitExtension(const std::string& filename);

}  // namespace cardioseg
