#pragma once
// File checksums recorded in report.json, so that `batch --resume` can tell a complete output
// from a partial or altered one.
#include <filesystem>
#include <string>

namespace cardioseg::pipeline {

// SHA-256 of a file's bytes as 64 lower-case hex digits (OpenSSL's EVP interface). Throws
// InputError naming the file when it cannot be read.
std::string Sha256OfFile(const std::filesystem::path& file);

}  // namespace cardioseg::pipeline
