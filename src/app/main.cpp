// cardioseg: sets up logging, registers the subcommands and turns exceptions into exit codes.
#include <iostream>
#include <vector>

#include <spdlog/spdlog.h>

#include "cardioseg/core/error.h"
#include "cardioseg/core/log.h"
#include "cardioseg/core/version.h"
#include "commands.h"

int main(int argc, char** argv) {
  using namespace cardioseg;
  CLI::App app{"cardioseg: cardiac MRI/CT segmentation and 3D heart models"};
  app.set_version_flag("--version", Version() + " (" + GitRevision() + ")");
  app.require_subcommand(1);
  std::string log_level = "info";
  std::string log_file;
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
  app.add_option("--log-file", log_file, "Also write the log to this file");

  std::string command_line = "cardioseg";
  for (int i = 1; i < argc; ++i) command_line += std::string(" ") + argv[i];
#ifdef CARDIOSEG_TORCH_ONLY
  const std::vector<app::Command> commands = {app::RegisterTrain(app, command_line),
                                              app::RegisterAverageModels(app), app::RegisterInfo(app)};
#else
  const std::vector<app::Command> commands = {
      app::RegisterRun(app),  app::RegisterConfig(app),
      app::RegisterInfo(app), app::RegisterNyulLearn(app),
      app::RegisterPlan(app), app::RegisterTrain(app, command_line), app::RegisterAverageModels(app),
      app::RegisterEvaluate(app), app::RegisterMesh(app), app::RegisterBatch(app),
      app::RegisterContours(app), app::RegisterPlotTraining(app),
      app::RegisterAnalyze(app), app::RegisterSeries(app), app::RegisterCompare(app)};
#endif
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? app::kExitOk : app::kExitUsage;
  }
  try {
    SetUpLogging(log_level, log_file);
    for (const auto& [sub, action] : commands) {
      if (sub->parsed()) return action();
    }
  } catch (const ConfigError& e) {
    spdlog::error("config error: {}", e.what());
    return app::kExitUsage;
  } catch (const UsageError& e) {
    spdlog::error("usage error: {}", e.what());
    return app::kExitUsage;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return app::kExitCaseFailed;
  }
  return app::kExitUsage;
}
