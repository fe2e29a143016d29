// Fuzz target: the DICOM folder scan (GDCM scanner, series grouping, phase splitting, slice
// geometry checks) and the pixel read of ReadDicomFolder.
//
// The input is split at each "\n--CARDIOSEG-FUZZ-SLICE--\n" into up to 8 files of one folder, so
// that series with several slices (and their inconsistencies) are reached. Contract: a volume with
// finite positive spacing, or cardioseg::Error; anything else is a finding.
#include <cmath>
#include <cstdint>
#include <string_view>

#include <itkObject.h>

#include "cardioseg/core/error.h"
#include "cardioseg/imaging/dicom.h"
#include "fuzz_util.h"

using namespace cardioseg;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = (fuzz::QuietLogs(), itk::Object::GlobalWarningDisplayOff(), true);
  (void)quiet;
  const auto folder = fuzz::ScratchFolder() / "series";
  std::filesystem::remove_all(folder);
  std::filesystem::create_directories(folder);
  constexpr std::string_view separator = "\n--CARDIOSEG-FUZZ-SLICE--\n";
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  size_t start = 0;
  for (int file = 0; file < 8 && start <= bytes.size(); ++file) {
    size_t end = bytes.find(separator, start);
    if (end == std::string_view::npos || file == 7) end = bytes.size();
    fuzz::WriteBytes(folder / ("IM" + std::to_string(file) + ".dcm"), data + start, end - start);
    start = end + separator.size();
  }
  config::InputConfig input;
  input.max_memory_gib = 0.25;
  try {
    imaging::ScanDicomFolder(folder);
    const auto loaded = imaging::ReadDicomFolder(folder, input);
    for (unsigned d = 0; d < 3; ++d) {
      const double s = loaded.image->GetSpacing()[d];
      if (!(s > 0) || !std::isfinite(s) || !std::isfinite(loaded.image->GetOrigin()[d])) {
        __builtin_trap();
      }
    }
  } catch (const Error&) {
  }
  return 0;
}
