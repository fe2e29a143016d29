// `cardioseg config --print | --validate FILE`.
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cardioseg/core/config.h"
#include "cardioseg/core/error.h"
#include "cardioseg/pipeline/pipeline.h"
#include "commands.h"

namespace cardioseg::app {
namespace {

struct ConfigOptions {
  bool print = false;
  std::string config_file;
  std::string validate_file;
  std::vector<std::string> overrides;
};

int RunConfig(const ConfigOptions& options) {
  if (!options.validate_file.empty()) {
    const auto config = config::Resolve(options.validate_file, options.overrides);
    pipeline::BuildPipeline(config);  // stage-level checks: Nyul landmarks, the model
    std::cout << options.validate_file << ": valid\n";
    return kExitOk;
  }
  const auto config = config::Resolve(options.config_file, options.overrides);
  std::cout << config::ToJson(config).dump(2) << "\n";
  return kExitOk;
}

}  // namespace

Command RegisterConfig(CLI::App& app) {
  auto options = std::make_shared<ConfigOptions>();
  CLI::App* sub = app.add_subcommand("config", "Print the resolved config or validate a config file");
  auto* print = sub->add_flag("--print", options->print, "Print the fully resolved config");
  sub->add_option("--config", options->config_file, "Config to resolve (default: built-in defaults)");
  auto* validate = sub->add_option("--validate", options->validate_file,
                                   "Check a config file without reading any image");
  sub->add_option("--set", options->overrides, "Override a config value: section.key=value")
      ->allow_extra_args(false);
  print->excludes(validate);
  sub->require_option(1, 0);
  return {sub, [options] { return RunConfig(*options); }};
}

}  // namespace cardioseg::app
