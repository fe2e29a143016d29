#pragma once
// `cardioseg analyze DATASET_DIR [--metadata CSV]`: per-case scan metrics of a dataset, joined
// with patient metadata, and their correlations (as the original projects' scan-metric analysis).
//
// Per case (case id = file name without extension; labels from labelsTr/<id>.nii.gz when the
// dataset has the MSD layout):
// - size_i/j/k and spacing_i/j/k_mm of the grid;
// - intensity_mean/sd/p01/p50/p99 over all voxels;
// - snr: 0.655 x mean(Otsu foreground) / sd(Otsu background) — the background standard deviation
//   as the noise estimate, with the Rayleigh correction of magnitude images (Kaufman et al.,
//   Radiology 173:265, 1989); an estimate, meaningful where the background is mostly air;
// - cnr (with labels): |mean(labelled voxels) - mean(a 3-voxel in-plane ring around them)| /
//   sd(Otsu background): how well the structures stand out of their surroundings;
// - bias_field_cv and bias_field_max_over_min (with N4): the N4 field's coefficient of variation
//   and its 99th/1st percentile ratio inside the Otsu mask — the strength of the intensity
//   inhomogeneity;
// - volume_ml_<label name> per label (names from dataset.json "labels" when present).
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cardioseg/core/config.h"

namespace cardioseg::pipeline {

struct AnalyzeOptions {
  bool n4 = true;                // fit N4 to measure the bias field (about 2 s per ACDC case)
  config::N4Config n4_config;    // N4 settings (preprocess.n4 of the config)
  int jobs = 1;                  // cases analysed at once
};

struct CaseMetrics {
  std::string id;
  std::filesystem::path image, labels;  // labels empty when absent
  std::map<std::string, double> values;  // metric name -> value
  std::string error;                     // non-empty when the case could not be analysed
};

// Analyses every case of `dataset` (a folder of images, or an MSD folder with imagesTr/ and
// labelsTr/). A case that cannot be read is reported with its error, not thrown. Throws
// InputError when the folder has no image.
std::vector<CaseMetrics> AnalyzeDataset(const std::filesystem::path& dataset,
                                        const AnalyzeOptions& options);

// Metadata table: first row the header, the key column named "case" (else the first column).
struct Metadata {
  std::vector<std::string> columns;                             // without the key column
  std::map<std::string, std::vector<std::string>> rows;         // case -> cells (columns order)
};
// Throws InputError naming the file when it cannot be read or is empty.
Metadata ReadMetadata(const std::filesystem::path& csv);

// Writes analysis.csv (case, metadata columns, metrics), correlations.csv (every numeric metadata
// column against every metric: n, Pearson r, Spearman rho) and analysis.json into `output_dir`;
// returns the correlations as JSON, strongest |rho| first.
nlohmann::json WriteAnalysis(const std::vector<CaseMetrics>& cases, const Metadata* metadata,
                             const std::filesystem::path& output_dir);

}  // namespace cardioseg::pipeline
