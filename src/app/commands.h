#pragma once
// Subcommand registration. Each subcommand lives in its own file with a typed options struct and
// returns the action main() runs when it was selected. Actions return the process exit code and
// may throw cardioseg errors, which main() maps to exit codes.
#include <functional>
#include <string>
#include <utility>

#include <CLI/CLI.hpp>

namespace cardioseg::app {

using Command = std::pair<CLI::App*, std::function<int()>>;

Command RegisterRun(CLI::App& app);
Command RegisterConfig(CLI::App& app);
Command RegisterInfo(CLI::App& app);
Command RegisterNyulLearn(CLI::App& app);
Command RegisterPlan(CLI::App& app);
Command RegisterEvaluate(CLI::App& app);
Command RegisterMesh(CLI::App& app);
Command RegisterBatch(CLI::App& app);
Command RegisterContours(CLI::App& app);
Command RegisterPlotTraining(CLI::App& app);
Command RegisterAnalyze(CLI::App& app);
Command RegisterSeries(CLI::App& app);
Command RegisterCompare(CLI::App& app);
// `command_line` is recorded in the model card.
Command RegisterTrain(CLI::App& app, const std::string& command_line);
Command RegisterAverageModels(CLI::App& app);

// Exit codes (README "Exit codes").
constexpr int kExitOk = 0;
constexpr int kExitCaseFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitGateFailed = 3;  // `evaluate`: a --min-dice / --max-* gate did not hold

}  // namespace cardioseg::app
