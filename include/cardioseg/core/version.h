#pragma once
#include <string>

namespace cardioseg {

// Semantic version of cardioseg, e.g. "0.1.0".
std::string Version();
// `git describe --always --dirty` of the source tree at configure time, or "unknown".
std::string GitRevision();

}  // namespace cardioseg
