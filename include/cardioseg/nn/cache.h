#pragma once
// The preprocessed-case cache that `cardioseg plan-preprocess` writes and `cardioseg train` reads
// without ITK:
//   CACHE/plan.json                 the plan (see PlanPreprocess in pipeline/plan.h)
//   CACHE/fingerprint.json, .csv    the dataset fingerprint
//   CACHE/cases/<id>.json           shape [D, H, W], spacing, source geometry, crop box
//   CACHE/cases/<id>.image.f32      float32 voxels, [C, D, H, W] raster order, little-endian
//   CACHE/cases/<id>.label.u8       uint8 labels, [D, H, W]
//   CACHE/cases/<id>.uncorrected.f32  optional (plan-preprocess --keep-uncorrected): the same
//                                   case standardized and resampled without N4, as <id>.image.f32;
//                                   <id>.json then has "uncorrected": true
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cardioseg/nn/tiling.h"

namespace cardioseg::nn {

struct CachedCase {
  std::string id;
  int channels = 1;
  Shape3 shape{0, 0, 0};             // [D, H, W]
  std::vector<float> image;          // channels x D x H x W
  std::vector<std::uint8_t> labels;  // D x H x W
  // The image without bias-field correction, like `image`; empty when the cache has none.
  std::vector<float> uncorrected;
  nlohmann::json meta;               // contents of <id>.json
};

// Writes one case atomically (each file through a temporary name); `uncorrected` when not empty.
void WriteCachedCase(const std::filesystem::path& cache_dir, const CachedCase& c);
// Reads one case, with its uncorrected image when `with_uncorrected` and the case has one. Throws
// InputError naming the file when one is missing or of the wrong size.
CachedCase ReadCachedCase(const std::filesystem::path& cache_dir, const std::string& id,
                          bool with_uncorrected = false);
// Case ids present in the cache, sorted.
std::vector<std::string> ListCachedCases(const std::filesystem::path& cache_dir);

}  // namespace cardioseg::nn
