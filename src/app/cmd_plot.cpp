// `cardioseg plot-training LOG.csv -o PNG`: training curves (loss, validation Dice) as a PNG, as
// `train` draws them at the end (useful for logs from the torch-only build or a run in progress).
#include <memory>

#include <spdlog/spdlog.h>

#include "cardioseg/core/plot.h"
#include "cardioseg/imaging/preview.h"
#include "commands.h"

namespace cardioseg::app {

Command RegisterPlotTraining(CLI::App& app) {
  struct Options {
    std::string log, output;
  };
  auto o = std::make_shared<Options>();
  CLI::App* sub = app.add_subcommand("plot-training", "Draw training_log.csv as a PNG");
  sub->add_option("log", o->log, "training_log.csv written by train")->required()->check(CLI::ExistingFile);
  sub->add_option("-o,--output", o->output, "PNG to write")->required();
  return {sub, [o] {
            const auto log = ReadTrainingLog(o->log);
            const auto raster = DrawTrainingCurves(log);
            imaging::WriteRgbPng(raster, o->output);
            spdlog::info("{}: {} epochs drawn into {} ({} x {})", o->log, log.epoch.size(), o->output,
                         raster.width, raster.height);
            return kExitOk;
          }};
}

}  // namespace cardioseg::app
