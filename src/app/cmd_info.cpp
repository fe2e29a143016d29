// `cardioseg info`: versions, threads and devices.
#include <iostream>
#include <thread>

#include <CLI/Version.hpp>
#include <itkConfigure.h>
#include <itkMultiThreaderBase.h>
#include <nlohmann/json.hpp>
#include <spdlog/version.h>

#include "cardioseg/core/version.h"
#include "commands.h"

namespace cardioseg::app {

Command RegisterInfo(CLI::App& app) {
  CLI::App* sub = app.add_subcommand("info", "Version, git revision, library versions, threads");
  return {sub, [] {
            nlohmann::json info;
            info["cardioseg"] = {{"version", Version()}, {"git_revision", GitRevision()}};
            info["libraries"] = {
                {"itk", ITK_VERSION_STRING},
                {"spdlog", std::to_string(SPDLOG_VER_MAJOR) + "." +
                               std::to_string(SPDLOG_VER_MINOR) + "." +
                               std::to_string(SPDLOG_VER_PATCH)},
                {"nlohmann_json", std::to_string(NLOHMANN_JSON_VERSION_MAJOR) + "." +
                                      std::to_string(NLOHMANN_JSON_VERSION_MINOR) + "." +
                                      std::to_string(NLOHMANN_JSON_VERSION_PATCH)},
                {"cli11", CLI11_VERSION}};
            info["threads"] = {
                {"hardware", std::thread::hardware_concurrency()},
                {"itk_default", itk::MultiThreaderBase::GetGlobalDefaultNumberOfThreads()}};
            std::cout << info.dump(2) << "\n";
            return kExitOk;
          }};
}

}  // namespace cardioseg::app
