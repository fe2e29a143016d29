// `cardioseg plan-preprocess DATASET_DIR -o CACHE [--config FILE] [--spacing I J K]
//  [--keep-uncorrected]`.
#include <memory>

#include <itkMultiThreaderBase.h>
#include <spdlog/spdlog.h>

#include "cardioseg/core/config.h"
#include "cardioseg/core/error.h"
#include "cardioseg/pipeline/plan.h"
#include "commands.h"

namespace cardioseg::app {
namespace {

struct PlanCommandOptions {
  std::string dataset_dir;
  std::string cache_dir;
  std::string config_file;
  std::vector<std::string> overrides;
  std::vector<double> spacing;
  long long max_patch_voxels = 16 * 160 * 160;
  int max_cases = 0;
  bool keep_uncorrected = false;
};

int RunPlan(const PlanCommandOptions& o) {
  pipeline::PlanOptions options;
  options.dataset_dir = o.dataset_dir;
  options.cache_dir = o.cache_dir;
  options.config = config::Resolve(o.config_file, o.overrides);
  if (options.config.runtime.threads > 0) {
    itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(options.config.runtime.threads);
  }
  if (!o.spacing.empty()) {
    if (o.spacing.size() != 3) throw UsageError("--spacing takes 3 values (i j k, mm)");
    options.spacing_mm = {o.spacing[0], o.spacing[1], o.spacing[2]};
  }
  options.max_patch_voxels = o.max_patch_voxels;
  options.max_cases = o.max_cases;
  options.keep_uncorrected = o.keep_uncorrected;
  const auto plan = pipeline::PlanPreprocess(options);
  spdlog::info("plan: spacing {} mm, patch {} [D, H, W], {} levels; cache in {}",
               plan["spacing_mm"].dump(), plan["patch_size_dhw"].dump(), plan["levels"].size(),
               o.cache_dir);
  return kExitOk;
}

}  // namespace

Command RegisterPlan(CLI::App& app) {
  auto options = std::make_shared<PlanCommandOptions>();
  CLI::App* sub = app.add_subcommand(
      "plan-preprocess", "Fingerprint, plan and preprocess an MSD-style dataset for training");
  sub->add_option("dataset", options->dataset_dir, "Folder with dataset.json, imagesTr, labelsTr")
      ->required();
  sub->add_option("-o,--output", options->cache_dir, "Cache folder to write")->required();
  sub->add_option("--config", options->config_file, "Config whose preprocess section is used");
  sub->add_option("--set", options->overrides, "Override a config value: section.key=value")
      ->allow_extra_args(false);
  sub->add_option("--spacing", options->spacing, "Target spacing i j k in mm (default: planned)")
      ->expected(3);
  sub->add_option("--max-patch-voxels", options->max_patch_voxels, "Largest patch, in voxels")
      ->capture_default_str();
  sub->add_option("--max-cases", options->max_cases, "Use only the first N cases (0 = all)");
  sub->add_flag("--keep-uncorrected", options->keep_uncorrected,
                "Also cache each image without N4, for augmentation.uncorrected_probability");
  return {sub, [options] { return RunPlan(*options); }};
}

}  // namespace cardioseg::app
