#pragma once
// Private to cardioseg_imaging: DCMTK's logging, shared by the DICOM reader and the SEG writer.
#include <cstdlib>

#include <dcmtk/oflog/oflog.h>

namespace cardioseg::imaging {

// DCMTK logs every parsing oddity to stderr; cardioseg reports the outcome itself. Once per
// process, DCMTK's log is limited to fatal errors unless CARDIOSEG_DCMTK_LOG is set.
inline void QuietDcmtkLog() {
  static const bool configured = [] {
    if (std::getenv("CARDIOSEG_DCMTK_LOG") == nullptr) OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
    return true;
  }();
  (void)configured;
}

}  // namespace cardioseg::imaging
