// Inference benchmark (run by hand; numbers go into issue notes, never into timed tests).
//
// Whole pipeline, per case (needs the full build):
//   bench_inference [--config FILE] [--model DIR] [--threads N] [--mirroring] INPUT...
//   -> wall time per stage, tiles per second, peak resident memory of the process.
//   Run one INPUT per invocation to read the peak memory of that case alone.
// Network only (also in the LibTorch-only build, e.g. on a CUDA machine):
//   bench_inference --model DIR --synthetic D H W [--device cuda] [--repeat N]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "cardioseg/nn/predictor.h"
#ifndef CARDIOSEG_TORCH_ONLY
#include <itkMultiThreaderBase.h>

#include "cardioseg/core/config.h"
#include "cardioseg/pipeline/pipeline.h"
#endif

namespace {

double PeakRssMb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace cardioseg;
  std::string config_file, model, device = "auto";
  int threads = 2, repeat = 3;
  bool mirroring = false;
  std::vector<long long> synthetic;
  std::vector<std::string> inputs, sets;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) config_file = argv[++i];
    else if (a == "--model" && i + 1 < argc) model = argv[++i];
    else if (a == "--device" && i + 1 < argc) device = argv[++i];
    else if (a == "--threads" && i + 1 < argc) threads = std::stoi(argv[++i]);
    else if (a == "--repeat" && i + 1 < argc) repeat = std::stoi(argv[++i]);
    else if (a == "--mirroring") mirroring = true;
    else if (a == "--set" && i + 1 < argc) sets.push_back(argv[++i]);
    else if (a == "--synthetic" && i + 3 < argc) {
      for (int k = 0; k < 3; ++k) synthetic.push_back(std::stoll(argv[++i]));
    } else inputs.push_back(a);
  }
  spdlog::set_level(spdlog::level::warn);

  if (!synthetic.empty()) {
    nn::PredictorOptions options;
    options.device = device;
    options.threads = threads;
    options.mirroring = mirroring;
    const auto predictor = nn::Predictor::Load(model, options);
    const nn::Shape3 size{synthetic[0], synthetic[1], synthetic[2]};
    std::vector<float> volume(static_cast<std::size_t>(size[0] * size[1] * size[2]));
    std::mt19937 rng(0);
    std::normal_distribution<float> noise;
    for (auto& v : volume) v = noise(rng);
    std::printf("model %s, device %s, volume [%lld, %lld, %lld], threads %d\n", model.c_str(),
                predictor->device().c_str(), synthetic[0], synthetic[1], synthetic[2], threads);
    for (int r = 0; r < repeat; ++r) {
      nn::PredictionStats stats;
      predictor->PredictProbabilities(volume, size, &stats);
      std::printf("run %d: %d tiles in %.3f s = %.2f tiles/s\n", r + 1, stats.tiles, stats.seconds,
                  stats.tiles / stats.seconds);
    }
    std::printf("peak RSS %.0f MB\n", PeakRssMb());
    return 0;
  }
#ifdef CARDIOSEG_TORCH_ONLY
  std::fprintf(stderr, "this LibTorch-only build benchmarks --synthetic volumes only\n");
  return 2;
#else
  if (inputs.empty()) {
    std::fprintf(stderr,
                 "usage: bench_inference [--config FILE] [--model DIR] [--threads N] [--set KEY=VALUE]... "
                 "INPUT...\n"
                 "       bench_inference --model DIR --synthetic D H W [--device cuda]\n");
    return 2;
  }
  std::vector<std::string> overrides{"runtime.threads=" + std::to_string(threads)};
  if (!model.empty()) overrides.push_back("inference.unet.model=\"" + model + "\"");
  if (mirroring) overrides.push_back("inference.unet.mirroring=true");
  overrides.insert(overrides.end(), sets.begin(), sets.end());
  itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(threads);
  const auto start = std::chrono::steady_clock::now();
  const auto pipeline = pipeline::BuildPipeline(config::Resolve(config_file, overrides));
  const double load_model_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("model load %.3f s, threads %d\n", load_model_s, threads);
  const auto out = std::filesystem::temp_directory_path() / "cardioseg-bench-inference";
  for (const auto& input : inputs) {
    const auto report = pipeline::RunCase(input, out, pipeline);
    std::printf("%s: total %.2f s", input.c_str(), report["wall_s"].get<double>());
    for (const auto& s : report["stages"]) {
      std::printf(" | %s %.2f s", s["name"].get<std::string>().c_str(), s["wall_s"].get<double>());
      if (s["name"] == "inference.unet") {
        const auto& d = s["details"];
        std::printf(" (%d tiles, %.2f tiles/s, %.0f GFLOP/s; heart box %s, %d tiles without)",
                    d["tiles"].get<int>(), d["tiles_per_s"].get<double>(), d["gflop_per_s"].get<double>(),
                    d["heart_box"]["used"].get<bool>() ? "used" : "not used",
                    d["heart_box"]["tiles_without_box"].get<int>());
      }
    }
    std::printf(" | peak RSS so far %.0f MB\n", PeakRssMb());
  }
  std::filesystem::remove_all(out);
  return 0;
#endif
}
