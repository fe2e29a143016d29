#pragma once
// Stage "preprocess.intensity": z-score, CT windowing and Nyul-Udupa standardization on images.
// The arithmetic lives in cardioseg/core/intensity_math.h; this file applies it to ITK images.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cardioseg/core/config.h"
#include "cardioseg/core/intensity_math.h"
#include "cardioseg/imaging/image.h"

namespace cardioseg::imaging {

// Mask of the voxels statistics are taken over: "all" returns null (every voxel), "nonzero" marks
// I != 0, "otsu" marks Otsu's foreground. Throws std::invalid_argument on another kind.
LabelMapType::Pointer IntensityMask(const ImageType* image, const std::string& kind);

struct StandardizeResult {
  ImageType::Pointer image;   // same grid as the input
  nlohmann::json details;     // method, mask voxels, clip bounds, statistics before and after
};

// Applies `config` (see IntensityConfig). "zscore" yields mean 0 and sd 1 inside the mask after
// clipping; "ct_window" maps the window onto [0, 1]; "nyul" maps onto the landmarks' scale.
// Throws StageError("preprocess.intensity", ...) on an empty mask, a zero standard deviation, or
// an unreadable landmarks file.
StandardizeResult Standardize(const ImageType* image, const config::IntensityConfig& config);

// Learns Nyul landmarks from training images, each masked by `mask_kind` ("all", "nonzero",
// "otsu"). Throws StageError on an image with no masked voxel or a flat histogram.
intensity::NyulLandmarks LearnNyulLandmarks(const std::vector<const ImageType*>& images,
                                            const std::string& mask_kind,
                                            intensity::NyulLandmarks landmarks = {});

}  // namespace cardioseg::imaging
