#pragma once
// Logging set-up. Levels follow the project's convention: error = a case failed; warn = a
// fallback was taken; info = one line per stage per case with its wall time; debug = parameters
// and iteration traces.
#include <string>

namespace cardioseg {

// Configures the default spdlog logger: coloured stderr sink, plus `log_file` when not empty.
// `level` is one of trace, debug, info, warn, error, off. Throws UsageError on an unknown level.
void SetUpLogging(const std::string& level, const std::string& log_file);

}  // namespace cardioseg
