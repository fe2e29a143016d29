#include "cardioseg/pipeline/pipeline.h"

#include <chrono>

#include <spdlog/spdlog.h>

#include "cardioseg/core/atomic_file.h"
#include "cardioseg/core/error.h"
#include "cardioseg/core/intensity_math.h"
#include "cardioseg/core/version.h"
#include "cardioseg/imaging/intensity.h"
#include "cardioseg/imaging/io.h"
#include "cardioseg/imaging/n4.h"
#include "cardioseg/imaging/resample.h"

namespace cardioseg::pipeline {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

class N4Stage : public Stage {
 public:
  N4Stage(const config::N4Config& config, bool keep) : config_(config), keep_(keep) {}
  std::string Name() const override { return "preprocess.n4"; }
  void Run(CaseState& state, nlohmann::json& details) override {
    auto result = imaging::CorrectBiasField(state.image.GetPointer(), config_);
    details = imaging::ToJson(result);
    state.image = result.corrected;
    if (keep_) {
      state.intermediates.emplace_back("n4_corrected.nii.gz", result.corrected);
      state.intermediates.emplace_back("bias_field.nii.gz", result.bias_field);
    }
  }

 private:
  config::N4Config config_;
  bool keep_;
};

class IntensityStage : public Stage {
 public:
  IntensityStage(const config::IntensityConfig& config, bool keep) : config_(config), keep_(keep) {
    if (config_.method == "nyul") {
      try {
        intensity::NyulFromJson(config::ReadJsonFile(config_.nyul_landmarks_file));
      } catch (const std::exception& e) {
        throw ConfigError("preprocess.intensity.nyul_landmarks_file: " + std::string(e.what()));
      }
    }
  }
  std::string Name() const override { return "preprocess.intensity"; }
  void Run(CaseState& state, nlohmann::json& details) override {
    auto result = imaging::Standardize(state.image.GetPointer(), config_);
    details = result.details;
    state.image = result.image;
    if (keep_) state.intermediates.emplace_back("standardized.nii.gz", result.image);
  }

 private:
  config::IntensityConfig config_;
  bool keep_;
};

class ResampleStage : public Stage {
 public:
  ResampleStage(const config::ResampleConfig& config, bool keep) : config_(config), keep_(keep) {}
  std::string Name() const override { return "preprocess.resample"; }
  void Run(CaseState& state, nlohmann::json& details) override {
    const Geometry before = imaging::GeometryOf(state.image.GetPointer());
    state.image = imaging::ResampleImage(state.image.GetPointer(), config_);
    const Geometry after = imaging::GeometryOf(state.image.GetPointer());
    const auto sparse = imaging::SparseAxes(before, config_.anisotropy_ratio);
    details = {{"from", ToJson(before)}, {"to", ToJson(after)}, {"sparse_axes", sparse}};
    if (keep_) state.intermediates.emplace_back("resampled.nii.gz", state.image);
  }

 private:
  config::ResampleConfig config_;
  bool keep_;
};

}  // namespace

std::vector<std::unique_ptr<Stage>> BuildStages(const config::Config& config) {
  const bool keep = config.output.save_intermediate;
  std::vector<std::unique_ptr<Stage>> stages;
  if (config.preprocess.n4.enabled) {
    stages.push_back(std::make_unique<N4Stage>(config.preprocess.n4, keep));
  }
  if (config.preprocess.intensity.method != "none") {
    stages.push_back(std::make_unique<IntensityStage>(config.preprocess.intensity, keep));
  }
  if (config.preprocess.resample.enabled) {
    stages.push_back(std::make_unique<ResampleStage>(config.preprocess.resample, keep));
  }
  return stages;
}

nlohmann::json RunCase(const fs::path& input, const fs::path& output_dir,
                       const config::Config& config,
                       const std::vector<std::unique_ptr<Stage>>& stages) {
  const auto case_start = Clock::now();
  nlohmann::json report;
  report["cardioseg"] = {{"version", Version()}, {"git_revision", GitRevision()}};
  report["config"] = config::ToJson(config);

  auto start = Clock::now();
  imaging::LoadedVolume loaded = imaging::ReadVolume(input, config.input);
  CaseState state;
  state.image = loaded.image;
  state.input_geometry = imaging::GeometryOf(loaded.image.GetPointer());
  report["input"] = loaded.source;
  {
    auto values = imaging::MaskedValues(state.image.GetPointer(), nullptr);
    report["input"]["intensity"] = ToJson(intensity::ComputeStats(values));
  }
  nlohmann::json stage_reports = nlohmann::json::array();
  stage_reports.push_back({{"name", "load"}, {"wall_s", Seconds(start)}});
  spdlog::info("{}: load {:.2f} s", input.string(), Seconds(start));

  for (const auto& stage : stages) {
    start = Clock::now();
    nlohmann::json details;
    try {
      stage->Run(state, details);
    } catch (const StageError&) {
      throw;
    } catch (const std::exception& e) {
      throw StageError(stage->Name(), input.string() + ": " + e.what());
    }
    const double wall = Seconds(start);
    stage_reports.push_back({{"name", stage->Name()}, {"wall_s", wall}, {"details", details}});
    spdlog::info("{}: {} {:.2f} s", input.string(), stage->Name(), wall);
  }
  report["stages"] = stage_reports;

  // Outputs only once every stage has succeeded.
  nlohmann::json outputs = nlohmann::json::array();
  for (const auto& [name, image] : state.intermediates) {
    imaging::WriteImage(image.GetPointer(), output_dir / name);
    outputs.push_back({{"file", name}, {"kind", "intermediate"},
                       {"geometry", ToJson(imaging::GeometryOf(image.GetPointer()))}});
  }
  report["outputs"] = outputs;
  report["wall_s"] = Seconds(case_start);
  WriteTextAtomically(output_dir / "report.json", report.dump(2) + "\n");
  return report;
}

}  // namespace cardioseg::pipeline
