// Fuzz target: a JSON config as `cardioseg run --config` reads it: parsing (depth and UTF-8
// checks), the typed config with its range checks, and a --set override applied on top.
//
// Contract: a Config, or ConfigError (which the executable turns into exit 2). A raw
// nlohmann::json exception or any other type escaping is a finding: it would exit 1 with a
// message naming neither the key nor the problem.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "cardioseg/core/config.h"
#include "cardioseg/core/error.h"
#include "fuzz_util.h"

using namespace cardioseg;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    auto document = config::ParseJsonText(text, "fuzz.json");
    const auto parsed = config::FromJson(document);
    // A valid config must survive its own round trip.
    const auto again = config::FromJson(config::ToJson(parsed));
    if (config::ToJson(again) != config::ToJson(parsed)) __builtin_trap();
    config::ApplyOverride(document, "inference.sliding_window.overlap=0.25");
    config::FromJson(document);
  } catch (const ConfigError&) {
  } catch (const UsageError&) {
  }
  return 0;
}
