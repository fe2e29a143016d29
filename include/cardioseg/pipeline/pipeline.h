#pragma once
// The `cardioseg run` pipeline for one case: load -> stages -> outputs + report.json.
//
// A stage is a type with a typed config and a stable dotted name (PDAL's "filters.x"): its config
// is checked when the stage is built, before any image is read.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cardioseg/core/config.h"
#include "cardioseg/core/geometry.h"
#include "cardioseg/imaging/image.h"

namespace cardioseg::pipeline {

// What stages read and write for one case.
struct CaseState {
  imaging::ImageType::Pointer image;   // the working volume; its grid changes with resampling
  Geometry input_geometry;             // the input's exact grid, for writing results back
  // Volumes written with output.save_intermediate, as {file name, volume}.
  std::vector<std::pair<std::string, imaging::ImageType::Pointer>> intermediates;
};

class Stage {
 public:
  virtual ~Stage() = default;
  // Stable dotted name, e.g. "preprocess.n4".
  virtual std::string Name() const = 0;
  // Transforms `state`; adds stage-specific figures to `details`. Throws StageError.
  virtual void Run(CaseState& state, nlohmann::json& details) = 0;
};

// The enabled stages, in pipeline order. Throws ConfigError when a stage's config cannot work
// (e.g. a Nyul landmarks file that is missing or invalid).
std::vector<std::unique_ptr<Stage>> BuildStages(const config::Config& config);

// Runs one case: reads `input` (file or DICOM folder), runs `stages`, writes into `output_dir`
// report.json and, with output.save_intermediate, the intermediate volumes. Nothing is written
// before every stage has succeeded, and each file is written atomically.
// Returns the report. Throws InputError / StageError; nothing is left in `output_dir` then.
nlohmann::json RunCase(const std::filesystem::path& input, const std::filesystem::path& output_dir,
                       const config::Config& config,
                       const std::vector<std::unique_ptr<Stage>>& stages);

}  // namespace cardioseg::pipeline
