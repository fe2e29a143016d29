#pragma once
// Stage "postprocess.components": per-label connected-component clean-up (ITK's
// ConnectedComponentImageFilter, RelabelComponentImageFilter, BinaryFillholeImageFilter), and
// label volumes.
#include <map>

#include <nlohmann/json.hpp>

#include "cardioseg/core/config.h"
#include "cardioseg/imaging/image.h"

namespace cardioseg::imaging {

// Cleans each nonzero label of `labels` by `config` (see ComponentsConfig). Removed voxels become
// background; holes are filled only where the label map is background. Returns a new label map on
// the same grid and, in `details`, voxel counts before/after and components found per label.
LabelMapType::Pointer CleanComponents(const LabelMapType* labels,
                                      const config::ComponentsConfig& config,
                                      nlohmann::json* details = nullptr);

// Volume in mL of every nonzero label value present (voxel count x voxel volume).
std::map<int, double> LabelVolumesMl(const LabelMapType* labels);

}  // namespace cardioseg::imaging
