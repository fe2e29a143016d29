#pragma once
// The `cardioseg run` pipeline for one case: load -> stages -> outputs + report.json.
//
// A stage is a type with a typed config and a stable dotted name (PDAL's "filters.x"):
// preprocess.n4, preprocess.intensity, preprocess.resample, inference.unet,
// postprocess.components. Stages are built (configs checked, the model loaded) before any image
// is read, so a batch loads its model once.
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cardioseg/core/config.h"
#include "cardioseg/core/geometry.h"
#include "cardioseg/imaging/image.h"
#include "cardioseg/mesh/surface.h"
#include "cardioseg/nn/model_card.h"
#include "cardioseg/nn/predictor.h"

namespace cardioseg::pipeline {

// What stages read and write for one case.
struct CaseState {
  imaging::ImageType::Pointer image;      // the working volume; its grid changes with resampling
  imaging::LabelMapType::Pointer labels;  // the label map on the input grid, once predicted
  Geometry input_geometry;                // the input's exact grid, for writing results back
  // Index box of the input's nonzero voxels (taken before any stage): inference runs inside it,
  // as training did (plan-preprocess crops the same way), and the label map is 0 outside.
  std::array<std::size_t, 3> crop_start{0, 0, 0}, crop_size{0, 0, 0};
  // Volumes written with output.save_intermediate, as {file name, volume}.
  std::vector<std::pair<std::string, imaging::ImageType::Pointer>> intermediates;
  // One surface per label present, from mesh.surface.
  std::vector<mesh::NamedMesh> meshes;
  std::vector<nn::LabelInfo> label_table;  // names and colours of the label values
  int phase = 0;                           // cine phase (input.phase) of this volume
};

class Stage {
 public:
  virtual ~Stage() = default;
  // Stable dotted name, e.g. "preprocess.n4".
  virtual std::string Name() const = 0;
  // Transforms `state`; adds stage-specific figures to `details`. Throws StageError.
  virtual void Run(CaseState& state, nlohmann::json& details) = 0;
  // True for the stage that runs on the inference device (inference.unet): `batch` feeds it from
  // one queue while other workers load, preprocess, mesh and write other cases. Such a stage's
  // Run may be called from any thread, one call at a time.
  virtual bool UsesDevice() const { return false; }
};

// A bias field shared by the phases of one cine series (`run --all-phases`): while `active`, the
// N4 stage fits on the first volume and applies `field` to the next ones of the same grid.
struct SharedBiasField {
  bool active = false;
  int fitted_on_phase = -1;
  imaging::ImageType::Pointer field;
};

// The heart box shared by the phases of one cine series (`run --all-phases`): while `active`, the
// inference stage keeps the stats of the first phase's prediction and hands them to the next
// phases (nn::Predictor::PredictProbabilities, box_from), when
// inference.unet.heart_box_reuse_across_phases is on.
struct SharedHeartBox {
  bool active = false;
  int found_on_phase = -1;
  bool known = false;
  nn::PredictionStats stats;
};

struct Pipeline {
  // The config the stages run with: the user's, with the model card's preprocessing in place of
  // preprocess.n4 / preprocess.intensity / preprocess.resample when a model is used.
  config::Config effective;
  std::vector<std::unique_ptr<Stage>> stages;
  std::vector<nn::LabelInfo> labels;  // label table of the model (empty without inference)
  nlohmann::json model;               // {"path", "name", "sha256"...}; null without inference
  std::shared_ptr<SharedBiasField> shared_bias_field = std::make_shared<SharedBiasField>();
  std::shared_ptr<SharedHeartBox> shared_heart_box = std::make_shared<SharedHeartBox>();
};

// Builds the enabled stages in order and loads the model. Throws ConfigError when a stage's
// config cannot work (missing Nyul landmarks file, model folder not found) and InputError on a
// broken model card or weights.
Pipeline BuildPipeline(const config::Config& config);

// Finds a model folder: `name` as given (absolute or relative to the working directory), then
// under $CARDIOSEG_HOME, then in the source tree. Throws ConfigError listing where it looked.
std::filesystem::path ResolveModelDir(const std::string& name);

// Meshes every label of `labels` named in `table` (mesh.surface) and fills state.meshes;
// returns the per-mesh report entries (label, name, quality). Used by `run` and `mesh`.
nlohmann::json MeshLabels(CaseState& state, const config::MeshConfig& config);

// Writes state.meshes in the config's formats as mesh_<name>.<ext> (+ scene.glb) into
// `output_dir`; returns the file names written.
std::vector<std::string> WriteMeshes(const CaseState& state, const config::MeshConfig& config,
                                     const std::filesystem::path& output_dir);

// File-name form of a label name: lower case, runs of other characters as '_'.
std::string FileNameOf(const std::string& label_name);

// Runs one case: reads `input` (file or DICOM folder), runs the stages, writes into `output_dir`
// seg.nii.gz + labels.json (with inference), intermediate volumes (output.save_intermediate) and
// report.json. Nothing is written before every stage has succeeded, and each file is written
// atomically. Returns the report. Throws InputError / StageError; nothing is left behind then.
// With `reference` (a label map on the input grid), the report also gets Dice, IoU, HD95, ASSD and
// volumes per label against it (see imaging/metrics.h).
nlohmann::json RunCase(const std::filesystem::path& input, const std::filesystem::path& output_dir,
                       const Pipeline& pipeline, const std::filesystem::path& reference = {});

// `run --all-phases`: runs every cardiac phase of a cine input (a DICOM series holding several
// phases, or a 4D NIfTI) into `output_dir`/phase_NN/ (each as RunCase), then writes
// volume_curve.csv (phase, one column of mL per label) and function.json: per label the volume
// curve, and for the LV and RV cavities EDV, ESV, SV (mL), EF (%) and their ED/ES phases (see
// core/cardiac_function.h). `pipeline.effective.input.phase` is changed while it runs and restored.
// Throws InputError when the input has a single phase; a failing phase throws and no summary is
// written.
nlohmann::json RunAllPhases(const std::filesystem::path& input,
                            const std::filesystem::path& output_dir, Pipeline& pipeline);

// One case between stages, so that `batch` can run a case's stages on different threads:
// BeginCase (load) -> RunStages up to DeviceStageIndex (preprocessing) -> RunStages over the
// device stage (inference) -> FinishCase (post-processing, meshes, outputs). RunCase is the same
// sequence on one thread.
struct CaseRun {
  std::filesystem::path input, reference;
  CaseState state;
  imaging::ImageType::Pointer original;  // the volume as read, for preview.png
  std::vector<std::filesystem::path> dicom_slice_files;  // DICOM input: slice k's file (seg.dcm)
  imaging::LabelMapType::Pointer reference_labels;  // read and checked against the input's grid
  nlohmann::json report, stage_reports;
  std::chrono::steady_clock::time_point start;
  std::size_t next_stage = 0;  // index of the first stage not yet run
};

// Index of the stage that uses the inference device, or stages.size() when there is none.
std::size_t DeviceStageIndex(const Pipeline& pipeline);
// Reads the input (stage "load") and the reference, if any, which must lie on the input's grid.
// Throws InputError (for a reference on another grid, naming both grids).
CaseRun BeginCase(const std::filesystem::path& input, const Pipeline& pipeline,
                  const std::filesystem::path& reference = {});
// Runs the stages from run.next_stage up to, not including, `end`. Throws StageError/InputError.
void RunStages(CaseRun& run, const Pipeline& pipeline, std::size_t end);
// Runs the remaining stages and writes the outputs and report.json, as RunCase.
nlohmann::json FinishCase(CaseRun& run, const std::filesystem::path& output_dir,
                          const Pipeline& pipeline);

// Clinical figures from label volumes keyed by label name: LV and RV cavity volumes (mL) and the
// LV myocardial mass (g) at a density of 1.05 g/mL. Labels are recognised by the names the
// shipped models use ("left ventricle cavity", "right ventricle cavity", "left ventricle
// myocardium"); absent ones are left out. Returns an empty object when none is present.
nlohmann::json ClinicalFigures(const nlohmann::json& volumes_ml_by_name);

}  // namespace cardioseg::pipeline
