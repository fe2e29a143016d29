#pragma once
// Error types thrown by the cardioseg libraries. The executable turns them into exit codes:
// ConfigError and UsageError -> 2, everything else -> 1 (see README "Exit codes").
#include <stdexcept>
#include <string>

namespace cardioseg {

// Base of every cardioseg error. what() is a complete, user-facing sentence.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A config document or a --set override is invalid (unknown key, wrong type, out of range).
// The message starts with the JSON path of the offending key, e.g. "preprocess.n4.shrink_factors".
class ConfigError : public Error {
 public:
  using Error::Error;
};

// The command line is invalid in a way CLI11 cannot see (e.g. a malformed --set).
class UsageError : public Error {
 public:
  using Error::Error;
};

// An input file or folder cannot be used. The message names the file and the problem.
class InputError : public Error {
 public:
  InputError(const std::string& path, const std::string& problem)
      : Error(path + ": " + problem), path_(path) {}
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A pipeline stage failed; the message is prefixed with the stage's dotted name.
class StageError : public Error {
 public:
  StageError(const std::string& stage, const std::string& message)
      : Error(stage + ": " + message), stage_(stage) {}
  const std::string& stage() const { return stage_; }

 private:
  std::string stage_;
};

}  // namespace cardioseg
