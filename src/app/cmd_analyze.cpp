// `cardioseg analyze DATASET_DIR -o OUTDIR [--metadata CSV] [--no-n4] [--jobs N]`: scan metrics
// per case, joined with patient metadata, with Pearson and Spearman correlations.
#include <cmath>
#include <cstdio>
#include <memory>

#include <itkMultiThreaderBase.h>
#include <spdlog/spdlog.h>

#include "cardioseg/core/config.h"
#include "cardioseg/pipeline/analyze.h"
#include "commands.h"

namespace cardioseg::app {

Command RegisterAnalyze(CLI::App& app) {
  struct Options {
    std::string dataset, output, metadata, config_file;
    bool no_n4 = false;
    int jobs = 1, top = 15;
  };
  auto o = std::make_shared<Options>();
  CLI::App* sub = app.add_subcommand(
      "analyze", "Scan metrics per case (size, spacing, intensity, SNR/CNR, bias field, label "
                 "volumes), joined with metadata, with correlations");
  sub->add_option("dataset", o->dataset, "Folder of scans, or an MSD folder (imagesTr/, labelsTr/)")
      ->required()->check(CLI::ExistingDirectory);
  sub->add_option("-o,--output", o->output, "Folder for analysis.csv, correlations.csv, analysis.json")
      ->required();
  sub->add_option("--metadata", o->metadata, "CSV of patient metadata keyed by a \"case\" column")
      ->check(CLI::ExistingFile);
  sub->add_option("--config", o->config_file, "Config whose preprocess.n4 fits the bias field");
  sub->add_flag("--no-n4", o->no_n4, "Skip the bias-field fit (faster)");
  sub->add_option("--jobs", o->jobs, "Cases analysed at once")->check(CLI::Range(1, 64));
  sub->add_option("--top", o->top, "Correlations printed (strongest first)");
  return {sub, [o] {
            const auto config = config::Resolve(o->config_file, {});
            pipeline::AnalyzeOptions options;
            options.n4 = !o->no_n4;
            options.n4_config = config.preprocess.n4;
            options.jobs = o->jobs;
            const int threads = config::ThreadCount(config.runtime.threads);
            itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(std::max(1, threads / o->jobs));
            const auto cases = pipeline::AnalyzeDataset(o->dataset, options);
            std::unique_ptr<pipeline::Metadata> metadata;
            if (!o->metadata.empty()) {
              metadata = std::make_unique<pipeline::Metadata>(pipeline::ReadMetadata(o->metadata));
            }
            const auto correlations = pipeline::WriteAnalysis(cases, metadata.get(), o->output);
            int failed = 0;
            for (const auto& c : cases) failed += !c.error.empty();
            if (metadata) {
              std::printf("%-22s %-32s %4s %9s %9s\n", "metadata", "metric", "n", "pearson", "spearman");
              int shown = 0;
              for (const auto& c : correlations) {
                if (shown++ >= o->top) break;
                std::printf("%-22s %-32s %4d %9.3f %9.3f\n", c["metadata"].get<std::string>().c_str(),
                            c["metric"].get<std::string>().c_str(), c["n"].get<int>(),
                            c["pearson"].get<double>(), c["spearman"].get<double>());
              }
            }
            spdlog::info("analyze: {} cases ({} failed); tables in {}", cases.size(), failed, o->output);
            return failed ? kExitCaseFailed : kExitOk;
          }};
}

}  // namespace cardioseg::app
