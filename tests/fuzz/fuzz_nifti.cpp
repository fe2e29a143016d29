// Fuzz target: the NIfTI-1 path of ReadVolume (raw header checks, the niftilib fallback for
// sform/pixdim headers such as ACDC's, ITK's reader) and ReadLabelMap.
//
// Contract checked: any byte string either reads as a volume with finite, positive spacing and a
// finite origin and direction, or throws cardioseg::Error. Anything else (a signal, a sanitizer
// report, another exception type, an allocation beyond -malloc_limit_mb) is a finding.
#include <cmath>
#include <cstdint>

#include <itkObject.h>

#include "cardioseg/core/error.h"
#include "cardioseg/imaging/io.h"
#include "fuzz_util.h"

using namespace cardioseg;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = (fuzz::QuietLogs(), itk::Object::GlobalWarningDisplayOff(), true);
  (void)quiet;
  const auto path = fuzz::ScratchFolder() / "input.nii";
  fuzz::WriteBytes(path, data, size);
  config::InputConfig input;
  input.max_memory_gib = 0.25;  // the memory estimate must refuse large headers before reading
  try {
    const auto loaded = imaging::ReadVolume(path, input);
    const auto& image = *loaded.image;
    for (unsigned d = 0; d < 3; ++d) {
      if (!(image.GetSpacing()[d] > 0) || !std::isfinite(image.GetSpacing()[d]) ||
          !std::isfinite(image.GetOrigin()[d])) {
        __builtin_trap();  // a volume with an unusable grid was accepted
      }
      for (unsigned e = 0; e < 3; ++e) {
        if (!std::isfinite(image.GetDirection()[d][e])) __builtin_trap();
      }
    }
  } catch (const Error&) {
  }
  try {
    imaging::ReadLabelMap(path);
  } catch (const Error&) {
  }
  return 0;
}
