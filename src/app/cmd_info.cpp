// `cardioseg info`: versions, threads and devices.
#include <iostream>
#include <thread>

#include <CLI/Version.hpp>
#ifndef CARDIOSEG_TORCH_ONLY
#include <itkConfigure.h>
#include <itkMultiThreaderBase.h>
#endif
#include <nlohmann/json.hpp>
#include <spdlog/version.h>

#include "cardioseg/core/version.h"
#include "cardioseg/nn/predictor.h"
#include "commands.h"

namespace cardioseg::app {

Command RegisterInfo(CLI::App& app) {
  CLI::App* sub = app.add_subcommand("info", "Version, git revision, library versions, threads");
  return {sub, [] {
            nlohmann::json info;
            info["cardioseg"] = {{"version", Version()}, {"git_revision", GitRevision()}};
            info["libraries"] = {
                {"spdlog", std::to_string(SPDLOG_VER_MAJOR) + "." +
                               std::to_string(SPDLOG_VER_MINOR) + "." +
                               std::to_string(SPDLOG_VER_PATCH)},
                {"nlohmann_json", std::to_string(NLOHMANN_JSON_VERSION_MAJOR) + "." +
                                      std::to_string(NLOHMANN_JSON_VERSION_MINOR) + "." +
                                      std::to_string(NLOHMANN_JSON_VERSION_PATCH)},
                {"cli11", CLI11_VERSION}};
            info["threads"] = {{"hardware", std::thread::hardware_concurrency()}};
#ifndef CARDIOSEG_TORCH_ONLY
            info["libraries"]["itk"] = ITK_VERSION_STRING;
            info["threads"]["itk_default"] = itk::MultiThreaderBase::GetGlobalDefaultNumberOfThreads();
#endif
            info["libtorch"] = nn::TorchRuntimeInfo();
            info["libraries"]["libtorch"] = info["libtorch"]["version"];
            std::cout << info.dump(2) << "\n";
            return kExitOk;
          }};
}

}  // namespace cardioseg::app
