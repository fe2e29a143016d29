#include "cardioseg/core/config.h"

#include <algorithm>
#include <fstream>
#include <thread>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cardioseg/core/config_visitors.h"
#include "cardioseg/core/error.h"

namespace cardioseg::config {

using nlohmann::json;
using detail::Join;

Config FromJson(const json& document) { return SectionFromJson<Config>(document); }

json ToJson(const Config& config) { return SectionToJson(config); }
int ThreadCount(int requested) {
  return requested > 0 ? requested : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

json ParseJsonText(const std::string& text, const std::string& origin) {
  // Nesting depth, outside strings: deep documents are refused before any recursive code sees
  // them (a config of ~70,000 nested arrays used to overflow the stack).
  constexpr int kMaxDepth = 64;
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) {
        throw ConfigError(origin + ": invalid JSON: nested deeper than " + std::to_string(kMaxDepth) +
                          " levels");
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  json document;
  try {
    document = json::parse(text);
    (void)document.dump();  // strings must be valid UTF-8 (reports echo them)
  } catch (const json::exception& e) {
    std::string what = e.what();
    if (const auto p = what.find("] "); what.rfind("[json.exception.", 0) == 0 && p != std::string::npos) {
      what = what.substr(p + 2);
    }
    throw ConfigError(origin + ": invalid JSON: " + what);
  }
  return document;
}

json ReadJsonFile(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw InputError(path.string(), "no such file");
  if (!std::filesystem::is_regular_file(path, ec)) throw InputError(path.string(), "not a regular file");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (!in || !(text << in.rdbuf())) throw InputError(path.string(), "cannot be read");
  json document = ParseJsonText(text.str(), path.string());
  if (!document.is_object()) {
    throw ConfigError(path.string() + ": expected a JSON object at the top level");
  }
  return document;
}

void ApplyOverride(json& document, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw UsageError("--set \"" + assignment + "\": expected section.key=value");
  }
  const std::string key = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  json value;
  try {
    value = json::parse(text);
  } catch (const json::parse_error&) {
    value = text;  // Bare words such as --set preprocess.intensity.method=nyul.
  }
  json* node = &document;
  std::string walked;
  std::size_t start = 0;
  while (true) {
    const auto dot = key.find('.', start);
    const std::string part = key.substr(start, dot == std::string::npos ? dot : dot - start);
    if (part.empty()) throw UsageError("--set \"" + assignment + "\": empty key in path");
    walked = Join(walked, part);
    if (dot == std::string::npos) {
      (*node)[part] = value;
      return;
    }
    json& next = (*node)[part];
    if (next.is_null()) next = json::object();
    if (!next.is_object()) throw ConfigError(walked + ": is not a section, cannot set " + key);
    node = &next;
    start = dot + 1;
  }
}

Config Resolve(const std::filesystem::path& config_file, const std::vector<std::string>& overrides) {
  json document = config_file.empty() ? json::object() : ReadJsonFile(config_file);
  for (const auto& o : overrides) ApplyOverride(document, o);
  try {
    return FromJson(document);
  } catch (const ConfigError& e) {
    if (config_file.empty()) throw;
    throw ConfigError(config_file.string() + ": " + e.what());
  }
}

}  // namespace cardioseg::config
