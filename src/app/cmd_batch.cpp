// `cardioseg batch INPUT_DIR|LIST.txt -o OUTDIR [--config FILE] [--jobs N] [--shard K/N] [--resume]`.
#include <csignal>
#include <memory>
#include <thread>
#include <tuple>

#include <itkMultiThreaderBase.h>
#include <spdlog/spdlog.h>

#include "cardioseg/core/config.h"
#include "cardioseg/core/error.h"
#include "cardioseg/pipeline/batch.h"
#include "commands.h"

namespace cardioseg::app {
namespace {

std::atomic<bool> g_stop{false};
extern "C" void OnStopSignal(int) { g_stop = true; }

struct BatchCommandOptions {
  std::string source;
  std::string output_dir;
  std::string config_file;
  std::vector<std::string> overrides;
  std::string model;
  int jobs = 1;
  std::string shard;
  bool resume = false;
  int threads = -1;
  std::string overlap = "auto";
};

int RunBatchCommand(const BatchCommandOptions& o) {
  std::vector<std::string> overrides = o.overrides;
  if (!o.model.empty()) overrides.push_back("inference.unet.model=" + nlohmann::json(o.model).dump());
  if (o.threads >= 0) overrides.push_back("runtime.threads=" + std::to_string(o.threads));
  const auto config = config::Resolve(o.config_file, overrides);
  const int threads = config::ThreadCount(config.runtime.threads);
  itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(std::max(1, threads / std::max(1, o.jobs)));
  // The shard is checked before any work.
  int shard_k = 0, shard_n = 0;
  if (!o.shard.empty()) std::tie(shard_k, shard_n) = pipeline::ParseShard(o.shard);
  auto cases = pipeline::DiscoverCases(o.source);
  std::string summary = "summary";
  if (!o.shard.empty()) {
    cases = pipeline::SelectShard(cases, shard_k, shard_n);
    // Shards share OUTDIR (a job array): each writes its own summary.
    if (shard_n > 1) summary = "summary.shard-" + std::to_string(shard_k) + "-of-" + std::to_string(shard_n);
  }
  const auto pipeline = pipeline::BuildPipeline(config);  // the model is loaded once, here
  spdlog::info("batch: {} cases, {} job(s){}", cases.size(), o.jobs,
               o.shard.empty() ? "" : ", shard " + o.shard);
  std::signal(SIGINT, OnStopSignal);
  std::signal(SIGTERM, OnStopSignal);
  pipeline::BatchOptions options;
  options.jobs = o.jobs;
  options.resume = o.resume;
  options.summary_stem = summary;
  // A separate inference worker pays off when inference runs on another device (CUDA); on the
  // CPU it competes with the other workers for the same cores (measured: slower), so "auto"
  // turns it on for CUDA only.
  options.overlap = o.overlap == "on" ||
                    (o.overlap == "auto" && pipeline.model.is_object() &&
                     pipeline.model.value("device", "") == "cuda");
  const auto result = pipeline::RunBatch(cases, o.output_dir, pipeline, options, g_stop);
  spdlog::info("batch: {} done, {} skipped, {} failed, {} not run; summary in {}/{}.csv",
               result.done, result.skipped, result.failed, result.not_run, o.output_dir, summary);
  return result.failed + result.not_run > 0 ? kExitCaseFailed : kExitOk;
}

}  // namespace

Command RegisterBatch(CLI::App& app) {
  auto options = std::make_shared<BatchCommandOptions>();
  CLI::App* sub = app.add_subcommand("batch", "Run every case of a folder or list, loading the model once");
  sub->add_option("source", options->source, "Folder of scans (files and DICOM folders) or a list file")
      ->required();
  sub->add_option("-o,--output", options->output_dir, "Output folder (one sub-folder per case)")
      ->required();
  sub->add_option("--config", options->config_file, "JSON config");
  sub->add_option("--set", options->overrides, "Override a config value: section.key=value")
      ->allow_extra_args(false);
  sub->add_option("--model", options->model, "Model folder (default: the config's)");
  sub->add_option("--jobs", options->jobs,
                  "CPU workers (load, preprocess, mesh, write) beside the one inference worker")
      ->check(CLI::Range(1, 64));
  sub->add_option("--overlap", options->overlap,
                  "One inference worker fed by a queue while the --jobs workers load, preprocess, "
                  "mesh and write: on, off, or auto (on when the model runs on CUDA)")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  sub->add_option("--shard", options->shard, "Run shard K of N (1-based), e.g. 2/4");
  sub->add_flag("--resume", options->resume, "Skip cases whose outputs are complete");
  sub->add_option("--threads", options->threads, "Worker threads in all (0 = all cores)")
      ->check(CLI::Range(0, 1024));
  return {sub, [options] { return RunBatchCommand(*options); }};
}

}  // namespace cardioseg::app
