#pragma once
// Segmentation metrics against a reference, in millimetres on the images' spacing.
//
// Conventions (as MedPy's dc/hd95/assd, which nnU-Net and MONAI users compare against):
// - Dice = 2|A∩B| / (|A| + |B|); IoU = |A∩B| / |A∪B|.
// - Surfaces are the label's voxels with a 6-neighbour outside the label; distances run between
//   surface voxel centres, using ITK's Maurer distance map with the image spacing, so anisotropic
//   voxels are measured in mm, never in voxels.
// - HD95 = 95th percentile of the pooled directed surface distances A->B and B->A;
//   ASSD = mean of the two directed average surface distances.
// - Both empty: Dice 1, IoU 1, HD95 0, ASSD 0. Exactly one empty: Dice 0, IoU 0, HD95 and ASSD
//   undefined (NaN, written as null in JSON).
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cardioseg/imaging/image.h"

namespace cardioseg::imaging {

struct LabelMetrics {
  int label = 0;
  double dice = 0, iou = 0;
  double hd95_mm = 0, assd_mm = 0;  // NaN when exactly one side is empty
  double volume_pred_ml = 0, volume_ref_ml = 0;
  double volume_difference_ml = 0;  // pred - ref
};

// Metrics of `prediction` against `reference` for each label in `labels`. Throws
// std::invalid_argument, naming both grids, when they are not the same grid (SameGrid in
// core/geometry.h: size, spacing, origin and direction within header precision).
std::vector<LabelMetrics> Evaluate(const LabelMapType* prediction, const LabelMapType* reference,
                                   const std::vector<int>& labels);

nlohmann::json ToJson(const LabelMetrics& m);

}  // namespace cardioseg::imaging
