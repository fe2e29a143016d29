#pragma once
// Helpers shared by the libFuzzer targets: a private scratch folder per process and a file
// written from the fuzzer's bytes.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace cardioseg::fuzz {

// A folder under $TMPDIR (or /tmp) unique to this process, created on first use.
const std::filesystem::path& ScratchFolder();

// Writes `size` bytes to `path`, replacing it.
void WriteBytes(const std::filesystem::path& path, const uint8_t* data, size_t size);

// Silences spdlog (the parsers log warnings on most malformed inputs).
void QuietLogs();

}  // namespace cardioseg::fuzz
