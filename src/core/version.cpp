#include "cardioseg/core/version.h"

#include "cardioseg/version_generated.h"

namespace cardioseg {

std::string Version() { return CARDIOSEG_VERSION_STRING; }
std::string GitRevision() { return CARDIOSEG_GIT_REVISION; }

}  // namespace cardioseg
