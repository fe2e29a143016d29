#pragma once
// Stage "preprocess.n4": N4 bias-field correction.
// Method: Tustison et al., "N4ITK: Improved N3 Bias Correction", IEEE TMI 29(6):1310-1320, 2010;
// implementation: itk::N4BiasFieldCorrectionImageFilter, used as ANTs' N4BiasFieldCorrection
// does (fit on a shrunk copy, evaluate the B-spline field at full resolution).
#include <vector>

#include <nlohmann/json.hpp>

#include "cardioseg/core/config.h"
#include "cardioseg/imaging/image.h"

namespace cardioseg::imaging {

struct N4Level {
  int level = 0;             // 0 = coarsest
  int iterations = 0;        // iterations run at this level
  double convergence = 0;    // convergence measure at the last iteration of the level
};

struct N4Result {
  ImageType::Pointer corrected;   // input grid; intensity = input / bias (shifted, see below)
  ImageType::Pointer bias_field;  // input grid; multiplicative field, > 0
  std::vector<N4Level> levels;
  double intensity_shift = 0;     // added before and removed after correction (see below)
  std::size_t mask_voxels = 0;    // voxels of the shrunk image the field was fitted on
};

// Corrects `image` for a smooth multiplicative bias field.
// Non-positive intensities: N4 works on log intensities, so an image whose minimum m is <= 0 is
// shifted by (1 - m) before fitting, and the correction is (I + shift) / bias - shift.
// The mask ("otsu" or "none") is computed on the shifted input.
// Throws StageError("preprocess.n4", ...) when the mask is empty or ITK fails.
N4Result CorrectBiasField(const ImageType* image, const config::N4Config& config);

// Applies a bias field fitted on another volume of the same grid (another phase of a cine series)
// to `image`: corrected = (I + shift) / bias - shift, the shift taken from `image` as above; no
// fit, levels empty. Throws StageError when the grids differ.
N4Result ApplyBiasField(const ImageType* image, const ImageType* bias_field);

nlohmann::json ToJson(const N4Result& result);

}  // namespace cardioseg::imaging
