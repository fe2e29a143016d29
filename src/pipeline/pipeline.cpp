#include "cardioseg/pipeline/pipeline.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <chrono>
#include <cstdlib>
#include <map>

#include <spdlog/spdlog.h>

#include "cardioseg/core/atomic_file.h"
#include "cardioseg/core/cardiac_function.h"
#include "cardioseg/core/config_visitors.h"
#include "cardioseg/core/error.h"
#include "cardioseg/core/intensity_math.h"
#include "cardioseg/core/version.h"
#include "cardioseg/imaging/intensity.h"
#include "cardioseg/imaging/dicom_seg.h"
#include "cardioseg/imaging/io.h"
#include "cardioseg/imaging/metrics.h"
#include "cardioseg/imaging/n4.h"
#include "cardioseg/imaging/postprocess.h"
#include "cardioseg/imaging/preview.h"
#include "cardioseg/imaging/resample.h"
#include "cardioseg/nn/predictor.h"
#include "cardioseg/pipeline/checksum.h"
#include "cardioseg/pipeline/report_html.h"

#ifndef CARDIOSEG_SOURCE_DIR
#define CARDIOSEG_SOURCE_DIR ""
#endif

namespace cardioseg::pipeline {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

// LV myocardial density for mass from volume (g/mL), the CMR convention.
constexpr double kMyocardiumDensityGPerMl = 1.05;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

class N4Stage : public Stage {
 public:
  N4Stage(const config::N4Config& config, bool keep, std::shared_ptr<SharedBiasField> shared)
      : config_(config), keep_(keep), shared_(std::move(shared)) {}
  std::string Name() const override { return "preprocess.n4"; }
  void Run(CaseState& state, json& details) override {
    const bool share = shared_ && shared_->active && config_.reuse_across_phases;
    imaging::N4Result result;
    if (share && shared_->field &&
        SameGrid(imaging::GeometryOf(shared_->field.GetPointer()), imaging::GeometryOf(state.image.GetPointer()))) {
      result = imaging::ApplyBiasField(state.image.GetPointer(), shared_->field.GetPointer());
      details = imaging::ToJson(result);
      details["reused_field_of_phase"] = shared_->fitted_on_phase;
    } else {
      result = imaging::CorrectBiasField(state.image.GetPointer(), config_);
      details = imaging::ToJson(result);
      if (share) {
        shared_->field = result.bias_field;
        shared_->fitted_on_phase = state.phase;
      }
    }
    state.image = result.corrected;
    if (keep_) {
      state.intermediates.emplace_back("n4_corrected.nii.gz", result.corrected);
      state.intermediates.emplace_back("bias_field.nii.gz", result.bias_field);
    }
  }

 private:
  config::N4Config config_;
  bool keep_;
  std::shared_ptr<SharedBiasField> shared_;
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
  void Run(CaseState& state, json& details) override {
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
  void Run(CaseState& state, json& details) override {
    const Geometry before = imaging::GeometryOf(state.image.GetPointer());
    state.image = imaging::ResampleImage(state.image.GetPointer(), config_);
    const Geometry after = imaging::GeometryOf(state.image.GetPointer());
    details = {{"from", ToJson(before)}, {"to", ToJson(after)},
               {"sparse_axes", imaging::SparseAxes(before, config_.anisotropy_ratio)}};
    if (keep_) state.intermediates.emplace_back("resampled.nii.gz", state.image);
  }

 private:
  config::ResampleConfig config_;
  bool keep_;
};

// The heart-box pass in the report: the box on the model grid [D, H, W] and, as a user reads it,
// in voxel indices (i, j, k) of the input (the footprint of the model-grid box, voxel edges
// included, clipped to the input).
json HeartBoxJson(const nn::PredictionStats& stats, const imaging::ImageType* grid,
                  const imaging::ImageType* input, int reused_from_phase) {
  json out = {{"used", stats.heart_box},
              {"tiles_without_box", stats.tiles_without_box},
              {"coarse_tiles", stats.coarse_tiles}};
  if (reused_from_phase >= 0) out["reused_from_phase"] = reused_from_phase;
  if (!stats.heart_box_note.empty()) out["note"] = stats.heart_box_note;
  if (stats.coarse_tiles > 0) out["coarse_grid_dhw"] = stats.coarse_size;
  if (!stats.heart_box) return out;
  out["model_grid_start_dhw"] = stats.box.start;
  out["model_grid_size_dhw"] = stats.box.size;
  const auto size = input->GetLargestPossibleRegion().GetSize();
  std::array<double, 3> lo{1e300, 1e300, 1e300}, hi{-1e300, -1e300, -1e300};
  for (int corner = 0; corner < 8; ++corner) {
    itk::ContinuousIndex<double, 3> c;
    for (int a = 0; a < 3; ++a) {  // model-grid axis (i, j, k) = tensor axis 2 - a
      const int t = 2 - a;
      c[a] = (corner >> a & 1) ? stats.box.start[t] + stats.box.size[t] - 0.5 : stats.box.start[t] - 0.5;
    }
    itk::Point<double, 3> point;
    grid->TransformContinuousIndexToPhysicalPoint(c, point);
    itk::ContinuousIndex<double, 3> in;
    input->TransformPhysicalPointToContinuousIndex(point, in);
    for (int a = 0; a < 3; ++a) {
      lo[a] = std::min(lo[a], in[a]);
      hi[a] = std::max(hi[a], in[a]);
    }
  }
  std::array<long long, 3> start{}, extent{};
  for (int a = 0; a < 3; ++a) {
    // Voxel v of the input spans [v - 0.5, v + 0.5): the voxels whose centre lies in [lo, hi].
    const long long first = std::max(0LL, static_cast<long long>(std::ceil(lo[a])));
    const long long last = std::min(static_cast<long long>(size[a]) - 1, static_cast<long long>(std::floor(hi[a])));
    start[a] = first;
    extent[a] = std::max(0LL, last - first + 1);
  }
  out["input_start_ijk"] = start;
  out["input_size_ijk"] = extent;
  return out;
}

// Resamples the standardized image to the model's spacing, predicts class probabilities by
// sliding window, and brings them back onto the input grid one class at a time (linear
// interpolation, running argmax), so that no per-class float volume is kept at native resolution.
class UNetStage : public Stage {
 public:
  UNetStage(std::shared_ptr<nn::Predictor> predictor, const config::ResampleConfig& resample,
            double memory_limit_bytes, std::shared_ptr<SharedHeartBox> shared)
      : predictor_(std::move(predictor)), resample_(resample), memory_limit_(memory_limit_bytes),
        shared_(std::move(shared)) {}
  std::string Name() const override { return "inference.unet"; }
  bool UsesDevice() const override { return true; }
  void Run(CaseState& state, json& details) override {
    const auto& card = predictor_->card();
    auto start = Clock::now();
    imaging::IndexBox box{state.crop_start, state.crop_size};
    if (box.size[0] == 0) box.size = state.input_geometry.size;
    auto cropped = imaging::Crop(state.image.GetPointer(), box);
    const Geometry native = imaging::GeometryOf(cropped.GetPointer());
    // A sanity bound on the model grid before resampling to it: a spacing wrong by x10 asks for
    // 100-1000x the voxels. Probabilities, logits, weights and the input: (2K + 3) floats a voxel.
    {
      double voxels = 1;
      for (int a = 0; a < 3; ++a) {
        const double target = resample_.target_spacing_mm[a];
        voxels *= target > 0 ? std::ceil(native.size[a] * native.spacing[a] / target) : double(native.size[a]);
      }
      const double bytes = voxels * (2.0 * card.architecture.num_classes + 3.0) * 4.0;
      if (bytes > memory_limit_) {
        throw StageError(Name(), fmt::format("the model grid at {} x {} x {} mm would hold {:.0f} voxels "
                                             "and need about {:.1f} GiB, over the limit of {:.1f} GiB "
                                             "(input.max_memory_gib); check the input's voxel spacing "
                                             "({:.3g} x {:.3g} x {:.3g} mm)",
                                             resample_.target_spacing_mm[0], resample_.target_spacing_mm[1],
                                             resample_.target_spacing_mm[2], voxels, bytes / (1 << 30),
                                             memory_limit_ / (1 << 30), native.spacing[0], native.spacing[1],
                                             native.spacing[2]));
      }
    }
    auto image = imaging::ResampleImage(cropped.GetPointer(), resample_);
    const Geometry grid = imaging::GeometryOf(image.GetPointer());
    const double resample_s = Seconds(start);
    const nn::Shape3 size{static_cast<int64_t>(grid.size[2]), static_cast<int64_t>(grid.size[1]),
                          static_cast<int64_t>(grid.size[0])};
    std::vector<float> volume(image->GetBufferPointer(),
                              image->GetBufferPointer() + grid.NumberOfVoxels());
    nn::PredictionStats stats;
    const bool share = shared_ && shared_->active;
    const bool reuse = share && shared_->known;
    const auto probabilities =
        predictor_->PredictProbabilities(volume, size, &stats, reuse ? &shared_->stats : nullptr);
    if (share && !stats.heart_box_reused && stats.coarse_tiles > 0) {
      shared_->stats = stats;  // the first phase, or one that found its own box
      shared_->known = true;
      shared_->found_on_phase = state.phase;
    }

    start = Clock::now();
    auto best = imaging::MakeImage<imaging::ImageType>(native, -1.0f);
    auto labels = imaging::MakeImage<imaging::LabelMapType>(native, 0);
    const std::size_t per_class = grid.NumberOfVoxels();
    for (int k = 0; k < card.architecture.num_classes; ++k) {
      auto p = imaging::MakeImage<imaging::ImageType>(grid);
      std::copy(probabilities.begin() + k * per_class, probabilities.begin() + (k + 1) * per_class,
                p->GetBufferPointer());
      auto back = imaging::ResampleOnto(p.GetPointer(), native, imaging::Interpolation::kLinear);
      const float* b = back->GetBufferPointer();
      float* m = best->GetBufferPointer();
      std::uint8_t* l = labels->GetBufferPointer();
      for (std::size_t i = 0, n = native.NumberOfVoxels(); i < n; ++i) {
        if (b[i] > m[i]) {
          m[i] = b[i];
          l[i] = static_cast<std::uint8_t>(k);
        }
      }
    }
    state.labels = imaging::Uncrop(labels.GetPointer(), box, state.input_geometry);
    details = {{"device", stats.device},
               {"heart_box", HeartBoxJson(stats, image.GetPointer(), state.image.GetPointer(),
                                          stats.heart_box_reused ? shared_->found_on_phase : -1)},
               {"tile_dhw", stats.tile},
               {"crop_start", box.start},
               {"crop_size", box.size},
               {"model_grid", ToJson(grid)},
               {"precision", stats.precision},
               {"tiles", stats.tiles},
               {"forward_passes", stats.forward_passes},
               {"tiles_per_s", stats.seconds > 0 ? stats.tiles / stats.seconds : 0.0},
               {"gflop", stats.gflop},
               {"gflop_per_s", stats.seconds > 0 ? stats.gflop / stats.seconds : 0.0},
               {"resample_to_model_s", resample_s},
               {"network_s", stats.seconds},
               {"resample_to_input_s", Seconds(start)}};
  }

 private:
  std::shared_ptr<nn::Predictor> predictor_;
  config::ResampleConfig resample_;
  double memory_limit_;
  std::shared_ptr<SharedHeartBox> shared_;
};

class ComponentsStage : public Stage {
 public:
  explicit ComponentsStage(const config::ComponentsConfig& config) : config_(config) {}
  std::string Name() const override { return "postprocess.components"; }
  void Run(CaseState& state, json& details) override {
    if (!state.labels) return;
    state.labels = imaging::CleanComponents(state.labels.GetPointer(), config_, &details);
  }

 private:
  config::ComponentsConfig config_;
};

class MeshStage : public Stage {
 public:
  explicit MeshStage(const config::MeshConfig& config) : config_(config) {}
  std::string Name() const override { return "mesh.surface"; }
  void Run(CaseState& state, json& details) override {
    if (!state.labels) return;
    details = {{"method", config_.method}, {"coordinates", config_.coordinates},
               {"meshes", MeshLabels(state, config_)}};
  }

 private:
  config::MeshConfig config_;
};

}  // namespace

std::string FileNameOf(const std::string& label_name) {
  std::string out;
  for (char c : label_name) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    } else if (!out.empty() && out.back() != '_') {
      out.push_back('_');
    }
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out.empty() ? "label" : out;
}

json MeshLabels(CaseState& state, const config::MeshConfig& config) {
  mesh::LabelVolume volume{imaging::GeometryOf(state.labels.GetPointer()),
                           state.labels->GetBufferPointer()};
  json entries = json::array();
  state.meshes.clear();
  for (const auto& label : state.label_table) {
    if (label.value == 0) continue;
    const auto start = Clock::now();
    auto surface = mesh::LabelSurface(volume, label.value, config);
    if (surface->GetNumberOfPolys() == 0) continue;
    const double mesh_s = Seconds(start);
    const auto quality =
        mesh::ComputeQuality(surface, volume, label.value, config, config.boundary_distance);
    state.meshes.push_back({label.name, label.color, surface});
    entries.push_back({{"label", label.value}, {"name", label.name},
                       {"file_stem", "mesh_" + FileNameOf(label.name)},
                       {"mesh_s", mesh_s}, {"quality", mesh::ToJson(quality)}});
  }
  return entries;
}

std::vector<std::string> WriteMeshes(const CaseState& state, const config::MeshConfig& config,
                                     const fs::path& output_dir) {
  std::vector<std::string> files;
  for (const auto& m : state.meshes) {
    for (const auto& format : config.formats) {
      if (format == "glb") continue;
      const std::string name = "mesh_" + FileNameOf(m.name) + "." + format;
      mesh::WriteMesh(m.mesh, output_dir / name);
      files.push_back(name);
    }
  }
  if (!state.meshes.empty() &&
      std::find(config.formats.begin(), config.formats.end(), "glb") != config.formats.end()) {
    mesh::WriteGlbScene(state.meshes, output_dir / "scene.glb");
    files.push_back("scene.glb");
  }
  return files;
}

fs::path ResolveModelDir(const std::string& name) {
  std::vector<fs::path> candidates{fs::path(name)};
  if (fs::path(name).is_relative()) {
    if (const char* home = std::getenv("CARDIOSEG_HOME"); home && *home) {
      candidates.push_back(fs::path(home) / name);
    }
    if (*CARDIOSEG_SOURCE_DIR) candidates.push_back(fs::path(CARDIOSEG_SOURCE_DIR) / name);
  }
  std::string looked;
  for (const auto& c : candidates) {
    if (fs::exists(c / "model.json")) return c;
    looked += (looked.empty() ? "" : ", ") + c.string();
  }
  throw ConfigError("inference.unet.model: no model folder (with model.json) \"" + name +
                    "\"; looked in " + looked);
}

Pipeline BuildPipeline(const config::Config& config) {
  Pipeline p;
  p.effective = config;
  std::shared_ptr<nn::Predictor> predictor;
  const auto& unet = config.inference.unet;
  if (!unet.model.empty()) {
    const fs::path dir = ResolveModelDir(unet.model);
    nn::PredictorOptions options;
    options.device = unet.device;
    options.threads = config.runtime.threads;
    options.step_fraction = unet.step_fraction;
    options.batch_tiles = unet.batch_tiles;
    options.mirroring = unet.mirroring;
    options.precision = unet.precision;
    options.heart_box = unet.heart_box;
    options.heart_box_downsample = unet.heart_box_downsample;
    options.heart_box_margin_mm = unet.heart_box_margin_mm;
    options.max_tile_stretch = unet.max_tile_stretch;
    predictor = nn::Predictor::Load(dir, options);
    const auto& card = predictor->card();
    // The network expects the preprocessing it was trained with.
    auto& pre = p.effective.preprocess;
    try {
      if (card.preprocessing.contains("n4")) {
        pre.n4 = config::SectionFromJson<config::N4Config>(card.preprocessing["n4"],
                                                           "model.json preprocessing.n4");
        // How phases share a field is the run's choice, not the model's; so is skipping N4.
        pre.n4.reuse_across_phases = config.preprocess.n4.reuse_across_phases;
        if (!config.preprocess.n4.enabled && pre.n4.enabled) {
          pre.n4.enabled = false;
          if (nn::TrainedWithoutN4Too(card)) {
            spdlog::info("preprocess.n4.enabled=false: N4 is skipped; model {} was trained with "
                         "and without it", card.name);
          } else {
            spdlog::warn("preprocess.n4.enabled=false: N4 is skipped although model {} was trained "
                         "with it; expect a lower accuracy on scans with a strong bias field",
                         card.name);
          }
        }
      }
      if (card.preprocessing.contains("intensity")) {
        pre.intensity = config::SectionFromJson<config::IntensityConfig>(
            card.preprocessing["intensity"], "model.json preprocessing.intensity");
        if (!pre.intensity.nyul_landmarks_file.empty() &&
            fs::path(pre.intensity.nyul_landmarks_file).is_relative()) {
          pre.intensity.nyul_landmarks_file = (dir / pre.intensity.nyul_landmarks_file).string();
        }
      }
    } catch (const ConfigError& e) {
      throw InputError((dir / "model.json").string(), e.what());
    }
    pre.resample.enabled = false;  // the inference stage resamples to the model's spacing itself
    pre.resample.target_spacing_mm = card.spacing_mm;
    p.labels = card.labels;
    p.model = {{"path", dir.string()}, {"name", card.name}, {"format", card.format},
               {"weights", card.weights}, {"device", predictor->device()},
               {"spacing_mm", card.spacing_mm}, {"patch_size_dhw", card.patch_size},
               {"weights_sha256", Sha256OfFile(dir / card.weights)}};
  }
  const bool keep = config.output.save_intermediate;
  const auto& pre = p.effective.preprocess;
  if (pre.n4.enabled) p.stages.push_back(std::make_unique<N4Stage>(pre.n4, keep, p.shared_bias_field));
  if (pre.intensity.method != "none") {
    p.stages.push_back(std::make_unique<IntensityStage>(pre.intensity, keep));
  }
  if (pre.resample.enabled) p.stages.push_back(std::make_unique<ResampleStage>(pre.resample, keep));
  if (predictor) {
    auto resample = pre.resample;
    resample.enabled = true;
    p.stages.push_back(std::make_unique<UNetStage>(predictor, resample, imaging::MemoryLimitBytes(config.input),
                                                   p.shared_heart_box));
    if (config.postprocess.components.enabled) {
      p.stages.push_back(std::make_unique<ComponentsStage>(config.postprocess.components));
    }
    if (config.mesh.surface.enabled) {
      p.stages.push_back(std::make_unique<MeshStage>(config.mesh.surface));
    }
  }
  return p;
}

json ClinicalFigures(const json& volumes) {
  json out = json::object();
  if (volumes.contains("left ventricle cavity")) out["lv_cavity_volume_ml"] = volumes["left ventricle cavity"];
  if (volumes.contains("right ventricle cavity")) out["rv_cavity_volume_ml"] = volumes["right ventricle cavity"];
  if (volumes.contains("left ventricle myocardium")) {
    out["lv_myocardial_mass_g"] = volumes["left ventricle myocardium"].get<double>() * kMyocardiumDensityGPerMl;
    out["myocardium_density_g_per_ml"] = kMyocardiumDensityGPerMl;
  }
  return out;
}

std::size_t DeviceStageIndex(const Pipeline& pipeline) {
  for (std::size_t i = 0; i < pipeline.stages.size(); ++i) {
    if (pipeline.stages[i]->UsesDevice()) return i;
  }
  return pipeline.stages.size();
}

CaseRun BeginCase(const fs::path& input, const Pipeline& pipeline, const fs::path& reference) {
  CaseRun run;
  run.input = input;
  run.reference = reference;
  run.start = Clock::now();
  run.report["cardioseg"] = {{"version", Version()}, {"git_revision", GitRevision()}};
  run.report["config"] = config::ToJson(pipeline.effective);
  if (!pipeline.model.is_null()) run.report["model"] = pipeline.model;

  const auto start = Clock::now();
  imaging::LoadedVolume loaded = imaging::ReadVolume(input, pipeline.effective.input);
  run.original = loaded.image;  // for preview.png
  run.dicom_slice_files = loaded.slice_files;
  CaseState& state = run.state;
  state.label_table = pipeline.labels;
  state.phase = pipeline.effective.input.phase;
  state.image = loaded.image;
  state.input_geometry = imaging::GeometryOf(loaded.image.GetPointer());
  {
    const auto box = imaging::NonzeroBox(loaded.image.GetPointer());
    state.crop_start = box.start;
    state.crop_size = box.size;
  }
  run.report["input"] = loaded.source;
  if (!reference.empty()) {
    run.reference_labels = imaging::ReadLabelMap(reference);
    const Geometry truth = imaging::GeometryOf(run.reference_labels.GetPointer());
    if (!SameGrid(truth, state.input_geometry)) {
      throw InputError(reference.string(), "the reference lies on another grid than the input (" +
                                               input.string() + "): reference " + Describe(truth) +
                                               "; input " + Describe(state.input_geometry));
    }
  }
  {
    auto values = imaging::MaskedValues(state.image.GetPointer(), nullptr);
    run.report["input"]["intensity"] = ToJson(intensity::ComputeStats(values));
  }
  run.stage_reports = json::array();
  run.stage_reports.push_back({{"name", "load"}, {"wall_s", Seconds(start)}});
  spdlog::info("{}: load {:.2f} s", input.string(), Seconds(start));
  return run;
}

void RunStages(CaseRun& run, const Pipeline& pipeline, std::size_t end) {
  end = std::min(end, pipeline.stages.size());
  for (; run.next_stage < end; ++run.next_stage) {
    const auto& stage = pipeline.stages[run.next_stage];
    const auto start = Clock::now();
    json details;
    try {
      stage->Run(run.state, details);
    } catch (const StageError& e) {
      // Name the input: "stage: INPUT: problem".
      const std::string what = e.what(), prefix = e.stage() + ": ";
      const std::string problem = what.rfind(prefix, 0) == 0 ? what.substr(prefix.size()) : what;
      if (problem.find(run.input.string()) != std::string::npos) throw;
      throw StageError(e.stage(), run.input.string() + ": " + problem);
    } catch (const InputError&) {
      throw;
    } catch (const std::exception& e) {
      throw StageError(stage->Name(), run.input.string() + ": " + e.what());
    }
    const double wall = Seconds(start);
    run.stage_reports.push_back({{"name", stage->Name()}, {"wall_s", wall}, {"details", details}});
    spdlog::info("{}: {} {:.2f} s", run.input.string(), stage->Name(), wall);
  }
}

json FinishCase(CaseRun& run, const fs::path& final_dir, const Pipeline& pipeline) {
  RunStages(run, pipeline, pipeline.stages.size());
  // Every output goes to a staging folder that is renamed onto final_dir at the end.
  StagedFolder stage(final_dir);
  const fs::path& output_dir = stage.path();
  json& report = run.report;
  CaseState& state = run.state;
  const fs::path& reference = run.reference;
  report["stages"] = run.stage_reports;
  // Outputs only once every stage has succeeded.
  json outputs = json::array();
  if (state.labels) {
    imaging::WriteLabelMap(state.labels.GetPointer(), output_dir / "seg.nii.gz");
    json table = json::array();
    for (const auto& l : pipeline.labels) {
      table.push_back({{"value", l.value}, {"name", l.name}, {"color", l.color}});
    }
    WriteTextAtomically(output_dir / "labels.json", json{{"labels", table}}.dump(2) + "\n");
    // The same table as a 3D Slicer colour table (load it with seg.nii.gz for names and colours).
    std::string ctbl = "# Color table file labels.ctbl (cardioseg)\n# " +
                       std::to_string(pipeline.labels.size()) + " values\n";
    for (const auto& l : pipeline.labels) {
      ctbl += std::to_string(l.value) + " " + FileNameOf(l.name) + " " + std::to_string(l.color[0]) +
              " " + std::to_string(l.color[1]) + " " + std::to_string(l.color[2]) +
              (l.value == 0 ? " 0\n" : " 255\n");
    }
    WriteTextAtomically(output_dir / "labels.ctbl", ctbl);
    json volumes = json::object();
    const auto ml = imaging::LabelVolumesMl(state.labels.GetPointer());
    for (const auto& l : pipeline.labels) {
      if (l.value == 0) continue;
      const auto it = ml.find(l.value);
      volumes[l.name] = it == ml.end() ? 0.0 : it->second;
    }
    report["label_volumes_ml"] = volumes;
    if (const auto clinical = ClinicalFigures(volumes); !clinical.empty()) report["clinical"] = clinical;
    imaging::LabelMapType::Pointer truth;
    if (!reference.empty()) {
      truth = run.reference_labels;
      std::vector<int> values;
      for (const auto& l : pipeline.labels) {
        if (l.value > 0) values.push_back(l.value);
      }
      std::vector<imaging::LabelMetrics> metrics;
      try {
        metrics = imaging::Evaluate(state.labels.GetPointer(), truth.GetPointer(), values);
      } catch (const std::invalid_argument& e) {
        throw InputError(reference.string(), std::string("cannot be compared: ") + e.what());
      }
      json evaluation = {{"reference", reference.string()}, {"labels", json::array()}};
      for (const auto& m : metrics) evaluation["labels"].push_back(imaging::ToJson(m));
      report["evaluation"] = evaluation;
    }
    if (pipeline.effective.output.preview) {
      std::vector<imaging::PreviewLabel> colors;
      for (const auto& l : pipeline.labels) colors.push_back({l.value, l.color});
      const auto size = imaging::WritePreview(run.original.GetPointer(), state.labels.GetPointer(),
                                              truth.GetPointer(), colors, output_dir / "preview.png");
      outputs.push_back({{"file", "preview.png"}, {"kind", "preview"},
                         {"columns", truth ? "image | reference | prediction" : "image | prediction"},
                         {"width", size[0]}, {"height", size[1]}});
    }
    outputs.push_back({{"file", "seg.nii.gz"}, {"kind", "label_map"},
                       {"geometry", ToJson(imaging::GeometryOf(state.labels.GetPointer()))}});
    if (pipeline.effective.output.dicom_seg && !run.dicom_slice_files.empty()) {
      std::vector<imaging::SegmentDescription> segments;
      for (const auto& l : pipeline.labels) {
        if (l.value > 0) segments.push_back({l.value, l.name, l.color});
      }
      const std::string model = pipeline.model.is_null() ? "" : pipeline.model.value("name", "");
      imaging::WriteDicomSeg(state.labels.GetPointer(), run.dicom_slice_files, segments,
                             output_dir / "seg.dcm", "cardioseg " + model, Version());
      outputs.push_back({{"file", "seg.dcm"}, {"kind", "dicom_seg"},
                         {"source_images", run.dicom_slice_files.size()}});
    }
    outputs.push_back({{"file", "labels.json"}, {"kind", "label_table"}});
    outputs.push_back({{"file", "labels.ctbl"}, {"kind", "slicer_color_table"}});
  }
  for (const auto& file : WriteMeshes(state, pipeline.effective.mesh.surface, output_dir)) {
    outputs.push_back({{"file", file}, {"kind", "mesh"}});
  }
  if (pipeline.effective.output.report_html) {
    report["outputs"] = outputs;
    ReportHtmlOptions html;
    html.meshes_are_lps = pipeline.effective.mesh.surface.coordinates == "LPS";
    WriteReportHtml(output_dir / "report.html", run.original.GetPointer(), state.labels.GetPointer(),
                    pipeline.labels, state.meshes, report, html);
    outputs.push_back({{"file", "report.html"}, {"kind", "viewer"}});
  }
  for (const auto& [name, image] : state.intermediates) {
    imaging::WriteImage(image.GetPointer(), output_dir / name);
    outputs.push_back({{"file", name}, {"kind", "intermediate"},
                       {"geometry", ToJson(imaging::GeometryOf(image.GetPointer()))}});
  }
  for (auto& o : outputs) {
    const fs::path file = output_dir / o["file"].get<std::string>();
    o["bytes"] = fs::file_size(file);
    o["sha256"] = Sha256OfFile(file);
  }
  report["outputs"] = outputs;
  report["wall_s"] = Seconds(run.start);
  WriteTextAtomically(output_dir / "report.json", report.dump(2) + "\n");
  stage.Commit();
  return report;
}


json RunCase(const fs::path& input, const fs::path& output_dir, const Pipeline& pipeline,
             const fs::path& reference) {
  CaseRun run = BeginCase(input, pipeline, reference);
  return FinishCase(run, output_dir, pipeline);
}

json RunAllPhases(const fs::path& input, const fs::path& final_dir, Pipeline& pipeline) {
  CheckOutputFolder(final_dir);
  const int saved_phase = pipeline.effective.input.phase;
  auto probe = pipeline.effective.input;
  probe.phase = 0;
  const auto first = imaging::ReadVolume(input, probe);
  const int phases = first.source.value("phases", 1);
  if (phases < 2) {
    throw InputError(input.string(), "--all-phases needs a cine input (a DICOM series with several "
                                     "phases or a 4D NIfTI); this one has a single phase");
  }
  // The phases and the summary appear together: all are written into one staging folder.
  StagedFolder stage(final_dir);
  const fs::path& output_dir = stage.path();
  json reports = json::array();
  std::map<std::string, std::vector<double>> curves;  // label name -> mL per phase
  std::vector<double> trigger_ms(static_cast<std::size_t>(phases), std::nan(""));
  // One bias field for the series (preprocess.n4.reuse_across_phases): fitted on phase 0.
  struct SharedFieldScope {
    explicit SharedFieldScope(SharedBiasField& s) : shared(s) { shared = SharedBiasField{true, -1, nullptr}; }
    ~SharedFieldScope() { shared = SharedBiasField{}; }
    SharedBiasField& shared;
  } shared_field(*pipeline.shared_bias_field);
  // One heart box for the series (inference.unet.heart_box_reuse_across_phases): found on phase 0.
  struct SharedBoxScope {
    SharedBoxScope(SharedHeartBox& s, bool on) : shared(s) { shared = SharedHeartBox{}; shared.active = on; }
    ~SharedBoxScope() { shared = SharedHeartBox{}; }
    SharedHeartBox& shared;
  } shared_box(*pipeline.shared_heart_box, pipeline.effective.inference.unet.heart_box_reuse_across_phases);
  try {
    for (int k = 0; k < phases; ++k) {
      pipeline.effective.input.phase = k;
      char name[32];
      std::snprintf(name, sizeof name, "phase_%02d", k);
      spdlog::info("{}: phase {} of {}", input.string(), k + 1, phases);
      const json report = RunCase(input, output_dir / name, pipeline);
      const json volumes = report.value("label_volumes_ml", json::object());
      for (const auto& [label, ml] : volumes.items()) {
        auto& curve = curves[label];
        curve.resize(static_cast<std::size_t>(phases), 0.0);
        curve[static_cast<std::size_t>(k)] = ml.get<double>();
      }
      if (report["input"].contains("trigger_time_ms")) {
        trigger_ms[static_cast<std::size_t>(k)] = report["input"]["trigger_time_ms"].get<double>();
      }
      reports.push_back({{"phase", k}, {"report", std::string(name) + "/report.json"},
                         {"wall_s", report["wall_s"]}});
    }
  } catch (...) {
    pipeline.effective.input.phase = saved_phase;
    throw;
  }
  pipeline.effective.input.phase = saved_phase;

  const bool timed = std::all_of(trigger_ms.begin(), trigger_ms.end(),
                                 [](double t) { return std::isfinite(t); });
  json summary = {{"input", input.string()}, {"phases", phases}, {"phase_reports", reports},
                  {"volume_curves_ml", curves}, {"function", json::object()},
                  {"definition", "ED = phase of largest cavity volume, ES = smallest; "
                                 "SV = EDV - ESV; EF = SV / EDV"}};
  if (timed) summary["trigger_times_ms"] = trigger_ms;
  for (const auto& [label, key] : {std::pair<std::string, std::string>{"left ventricle cavity", "lv"},
                                   {"right ventricle cavity", "rv"}}) {
    if (!curves.count(label)) continue;
    try {
      const auto f = ComputeVentricularFunction(curves[label]);
      summary["function"][key] = ToJson(f);
      // LV mass is reported at end-diastole, as in clinical CMR reports.
      if (key == "lv" && curves.count("left ventricle myocardium")) {
        summary["function"][key]["myocardial_mass_at_ed_g"] =
            curves["left ventricle myocardium"][static_cast<std::size_t>(f.ed_phase)] *
            kMyocardiumDensityGPerMl;
      }
    } catch (const std::invalid_argument& e) {
      spdlog::warn("{}: no {} function: {}", input.string(), key, e.what());
    }
  }
  std::string csv = timed ? "phase,trigger_time_ms" : "phase";
  for (const auto& [label, curve] : curves) csv += "," + FileNameOf(label) + "_ml";
  csv += "\n";
  for (int k = 0; k < phases; ++k) {
    csv += std::to_string(k);
    if (timed) csv += "," + std::to_string(trigger_ms[static_cast<std::size_t>(k)]);
    for (const auto& [label, curve] : curves) csv += "," + std::to_string(curve[k]);
    csv += "\n";
  }
  WriteTextAtomically(output_dir / "volume_curve.csv", csv);
  WriteTextAtomically(output_dir / "function.json", summary.dump(2) + "\n");
  // The series page: the LV's end-diastolic phase (phase 0 without an LV) in the viewer, with the
  // ventricular function of the series beside it.
  if (pipeline.effective.output.report_html) {
    const int ed = summary["function"].contains("lv") ? summary["function"]["lv"]["ed_phase"].get<int>() : 0;
    char name[32];
    std::snprintf(name, sizeof name, "phase_%02d", ed);
    auto input_config = pipeline.effective.input;
    input_config.phase = ed;
    const auto image = imaging::ReadVolume(input, input_config);
    json page = config::ReadJsonFile(output_dir / name / "report.json");
    page["function"] = summary["function"];
    page["input"]["path"] = input.string() + " (series; " + name + " shown)";
    imaging::LabelMapType::Pointer labels;
    if (fs::exists(output_dir / name / "seg.nii.gz")) labels = imaging::ReadLabelMap(output_dir / name / "seg.nii.gz");
    WriteReportHtml(output_dir / "report.html", image.image.GetPointer(), labels.GetPointer(), pipeline.labels,
                    {}, page);
  }
  stage.Commit();
  for (const auto& [key, f] : summary["function"].items()) {
    spdlog::info("{}: {} EDV {:.1f} mL (phase {}), ESV {:.1f} mL (phase {}), SV {:.1f} mL, EF {:.1f} %",
                 input.string(), key, f["edv_ml"].get<double>(), f["ed_phase"].get<int>(),
                 f["esv_ml"].get<double>(), f["es_phase"].get<int>(), f["sv_ml"].get<double>(),
                 f["ef_percent"].get<double>());
  }
  return summary;
}

}  // namespace cardioseg::pipeline
