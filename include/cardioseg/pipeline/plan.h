#pragma once
// `cardioseg plan-preprocess DATASET_DIR -o CACHE`: dataset fingerprint, plan and preprocessed
// cases for training, in the spirit of nnU-Net's experiment planning (Isensee et al. 2021).
//
// DATASET_DIR has the Medical Segmentation Decathlon layout: dataset.json ("labels",
// "training": [{"image", "label"}], optional "name", "licence", "reference"), imagesTr/, labelsTr/.
// Every case goes through the same code as `cardioseg run` (N4, intensity standardization,
// resampling with the sparse-axis rule), then is stored in the cache (nn/cache.h).
#include <array>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "cardioseg/core/config.h"

namespace cardioseg::pipeline {

struct PlanOptions {
  std::filesystem::path dataset_dir;
  std::filesystem::path cache_dir;
  // Preprocessing (preprocess.n4 and preprocess.intensity are used; resampling follows the plan).
  config::Config config;
  // Target spacing in mm (i, j, k); 0 on an axis = planned from the fingerprint (median spacing,
  // 10th percentile on a sparse axis, as nnU-Net). Default {0, 0, 0}.
  std::array<double, 3> spacing_mm{0, 0, 0};
  // Largest patch in voxels (D x H x W). Default 16 x 160 x 160 = 409600.
  std::int64_t max_patch_voxels = 16 * 160 * 160;
  // Use only the first N cases of dataset.json (0 = all). Default 0.
  int max_cases = 0;
  // Also store each case without N4 (CACHE/cases/<id>.uncorrected.f32, nn/cache.h), for training
  // with augmentation.uncorrected_probability (nn/train.h). Needs preprocess.n4.enabled (else
  // ConfigError). Default false.
  bool keep_uncorrected = false;
};

// Writes CACHE/fingerprint.json, CACHE/fingerprint.csv, CACHE/plan.json and CACHE/cases/.
// Returns the plan ("uncorrected_images": whether the cases hold an image without N4). Throws
// InputError on a bad dataset folder or case, naming the file.
nlohmann::json PlanPreprocess(const PlanOptions& options);

}  // namespace cardioseg::pipeline
