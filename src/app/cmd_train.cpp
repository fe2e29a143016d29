// `cardioseg train CACHE -o models/NAME [--config FILE] [--set key=value ...] [--resume]`.
// Needs LibTorch only (see CARDIOSEG_TORCH_ONLY).
#include <atomic>
#include <csignal>
#include <memory>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cardioseg/core/config.h"
#include "cardioseg/core/error.h"
#include "cardioseg/nn/train.h"
#ifndef CARDIOSEG_TORCH_ONLY
#include "cardioseg/core/plot.h"
#include "cardioseg/imaging/preview.h"
#endif
#include "commands.h"

namespace cardioseg::app {
namespace {

struct TrainOptions {
  std::string cache_dir;
  std::string output_dir;
  std::string config_file;
  std::vector<std::string> overrides;
  bool resume = false;
  std::string device;
  int epochs_this_run = 0;
  std::string command_line;
};

int RunTrain(const TrainOptions& options) {
  nlohmann::json document =
      options.config_file.empty() ? nlohmann::json::object() : config::ReadJsonFile(options.config_file);
  for (const auto& o : options.overrides) config::ApplyOverride(document, o);
  if (!options.device.empty()) document["device"] = options.device;
  nn::TrainConfig train_config;
  try {
    train_config = nn::TrainConfigFromJson(document);
  } catch (const ConfigError& e) {
    if (options.config_file.empty()) throw;
    throw ConfigError(options.config_file + ": " + e.what());
  }
  nn::TrainOptions train_options;
  train_options.resume = options.resume;
  train_options.command_line = options.command_line;
  train_options.max_epochs_this_run = options.epochs_this_run;
  // SIGINT/SIGTERM: finish the epoch, write its checkpoint and the model folder, exit 0.
  static std::atomic<bool> stop{false};
  std::signal(SIGINT, [](int) { stop = true; });
  std::signal(SIGTERM, [](int) { stop = true; });
  train_options.stop = &stop;
  const auto summary = nn::Train(options.cache_dir, options.output_dir, train_config, train_options);
#ifndef CARDIOSEG_TORCH_ONLY
  const auto log_file = std::filesystem::path(options.output_dir) / "training_log.csv";
  imaging::WriteRgbPng(DrawTrainingCurves(ReadTrainingLog(log_file)),
                       std::filesystem::path(options.output_dir) / "training_curves.png");
#else
  spdlog::info("training_curves.png needs the full build: cardioseg plot-training {}/training_log.csv",
               options.output_dir);
#endif
  spdlog::info("trained {} epochs in {:.0f} s; loss {:.4f} -> {:.4f}; model in {}",
               summary.epochs_done, summary.seconds, summary.first_epoch_loss,
               summary.last_epoch_loss, options.output_dir);
  return kExitOk;
}

}  // namespace

Command RegisterTrain(CLI::App& app, const std::string& command_line) {
  auto options = std::make_shared<TrainOptions>();
  options->command_line = command_line;
  CLI::App* sub = app.add_subcommand("train", "Train a U-Net on a cache from plan-preprocess");
  sub->add_option("cache", options->cache_dir, "Cache folder written by plan-preprocess")->required();
  sub->add_option("-o,--output", options->output_dir, "Model folder to write")->required();
  sub->add_option("--config", options->config_file, "Training config JSON");
  sub->add_option("--set", options->overrides, "Override a training config value: key=value")
      ->allow_extra_args(false);
  sub->add_flag("--resume", options->resume, "Continue from the folder's last checkpoint");
  sub->add_option("--device", options->device, "auto, cpu or cuda");
  sub->add_option("--epochs-this-run", options->epochs_this_run,
                  "Stop after this many epochs (the schedule still spans all epochs)");
  return {sub, [options] { return RunTrain(*options); }};
}

Command RegisterAverageModels(CLI::App& app) {
  auto models = std::make_shared<std::vector<std::string>>();
  auto output = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand(
      "average-models", "Average the weights of model folders of one architecture (checkpoint averaging)");
  sub->add_option("models", *models, "Model folders (two or more), e.g. states of one training run")
      ->required()->expected(2, -1);
  sub->add_option("-o,--output", *output, "New model folder to write")->required();
  return {sub, [models, output] {
            std::vector<std::filesystem::path> dirs(models->begin(), models->end());
            nn::AverageModels(dirs, *output);
            spdlog::info("averaged {} models into {}", dirs.size(), *output);
            return kExitOk;
          }};
}

}  // namespace cardioseg::app
