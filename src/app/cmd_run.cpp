// `cardioseg run INPUT -o OUTDIR`: one case through the pipeline.
#include <filesystem>
#include <memory>
#include <thread>

#include <itkMultiThreaderBase.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cardioseg/core/config.h"
#include "cardioseg/core/error.h"
#include "cardioseg/pipeline/pipeline.h"
#include "cardioseg/core/atomic_file.h"
#include "commands.h"

namespace cardioseg::app {
namespace {

struct RunOptions {
  std::string input;
  std::string output_dir;
  std::string config_file;
  std::vector<std::string> overrides;
  int phase = -1;
  std::string series_uid;
  bool save_intermediate = false;
  int threads = -1;
  std::string model;
  std::string reference;
  bool all_phases = false;
};

int Run(const RunOptions& options) {
  std::vector<std::string> overrides = options.overrides;
  if (options.phase >= 0) overrides.push_back("input.phase=" + std::to_string(options.phase));
  if (!options.series_uid.empty()) {
    overrides.push_back("input.dicom_series_uid=" + nlohmann::json(options.series_uid).dump());
  }
  if (!options.model.empty()) {
    overrides.push_back("inference.unet.model=" + nlohmann::json(options.model).dump());
  }
  if (options.save_intermediate) overrides.push_back("output.save_intermediate=true");
  if (options.threads >= 0) overrides.push_back("runtime.threads=" + std::to_string(options.threads));
  const config::Config config = config::Resolve(options.config_file, overrides);
  CheckOutputFolder(options.output_dir);  // before the model loads and the case runs

  const int threads = config::ThreadCount(config.runtime.threads);
  itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(threads);
  spdlog::debug("threads: {}", threads);
  auto pipeline = pipeline::BuildPipeline(config);  // loads the model before any image

  if (options.all_phases) {
    if (options.phase >= 0) throw UsageError("--all-phases and --phase exclude each other");
    if (!options.reference.empty()) throw UsageError("--gt applies to one phase, not --all-phases");
    pipeline::RunAllPhases(options.input, options.output_dir, pipeline);
    spdlog::info("{}: done, outputs in {}", options.input, options.output_dir);
    return kExitOk;
  }
  pipeline::RunCase(options.input, options.output_dir, pipeline, options.reference);
  spdlog::info("{}: done, outputs in {}", options.input, options.output_dir);
  return kExitOk;
}

}  // namespace

Command RegisterRun(CLI::App& app) {
  auto options = std::make_shared<RunOptions>();
  CLI::App* sub = app.add_subcommand("run", "Segment one scan (NIfTI/NRRD/MHA file or DICOM folder)");
  sub->add_option("input", options->input, "Input scan file or DICOM folder")->required();
  sub->add_option("-o,--output", options->output_dir, "Output folder")->required();
  sub->add_option("--config", options->config_file, "JSON config (see configs/)");
  sub->add_option("--set", options->overrides, "Override a config value: section.key=value")
      ->allow_extra_args(false);
  sub->add_option("--phase", options->phase, "Cardiac phase of a cine series (0-based)")
      ->check(CLI::Range(0, 1000));
  sub->add_option("--series", options->series_uid, "SeriesInstanceUID to load from a DICOM folder");
  sub->add_flag("--save-intermediate", options->save_intermediate,
                "Also write the corrected and standardized volumes");
  sub->add_option("--threads", options->threads, "Worker threads (0 = all cores)")
      ->check(CLI::Range(0, 1024));
  sub->add_option("--model", options->model, "Model folder (default: the config's)");
  sub->add_option("--gt", options->reference,
                  "Reference label map: adds Dice, IoU, HD95, ASSD and volumes to the report");
  sub->add_flag("--all-phases", options->all_phases,
                "Segment every phase of a cine series / 4D NIfTI into phase_NN/ and write "
                "volume_curve.csv and function.json (EDV, ESV, SV, EF)");
  return {sub, [options] { return Run(*options); }};
}

}  // namespace cardioseg::app
