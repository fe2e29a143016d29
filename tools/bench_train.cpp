// Training-step benchmark (run by hand; numbers go into issue notes, never into timed tests).
//
//   bench_train [--model DIR] [--threads N] [--batch B] [--iterations N] [--warmup N]
//               [--device cpu|cuda] [--precision LIST] [--patch D H W]
//
// Times the step `cardioseg train` runs (forward, Dice + CE with deep supervision, backward, SGD)
// on random batches with the architecture and patch of a model card (default
// models/acdc-cine-mri), for each precision (default "fp32,bf16") with and without the
// channels-last-3D memory format, and prints seconds per iteration, iterations per hour and the
// speed-up over fp32.
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "cardioseg/nn/model_card.h"
#include "cardioseg/nn/network.h"
#include "cardioseg/nn/train.h"

int main(int argc, char** argv) {
  using namespace cardioseg;
  std::string model = "models/acdc-cine-mri", device = "cpu", precisions = "fp32,bf16";
  int threads = 2, batch = 2, iterations = 10, warmup = 2;
  nn::Shape3 patch{0, 0, 0};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--model" && i + 1 < argc) model = argv[++i];
    else if (a == "--threads" && i + 1 < argc) threads = std::stoi(argv[++i]);
    else if (a == "--batch" && i + 1 < argc) batch = std::stoi(argv[++i]);
    else if (a == "--iterations" && i + 1 < argc) iterations = std::stoi(argv[++i]);
    else if (a == "--warmup" && i + 1 < argc) warmup = std::stoi(argv[++i]);
    else if (a == "--device" && i + 1 < argc) device = argv[++i];
    else if (a == "--precision" && i + 1 < argc) precisions = argv[++i];
    else if (a == "--patch" && i + 3 < argc) {
      for (int k = 0; k < 3; ++k) patch[k] = std::stoll(argv[++i]);
    } else {
      std::fprintf(stderr, "bench_train: unknown argument %s (see the header of tools/bench_train.cpp)\n",
                   a.c_str());
      return 2;
    }
  }
  spdlog::set_level(spdlog::level::warn);
  torch::set_num_threads(threads);
  nn::ModelCard card = nn::ReadModelCard(model);
  if (patch[0] == 0) patch = card.patch_size;
  std::printf("model %s, patch [%lld, %lld, %lld], batch %d, %d threads, device %s, bf16 instructions: %s\n",
              model.c_str(), static_cast<long long>(patch[0]), static_cast<long long>(patch[1]),
              static_cast<long long>(patch[2]), batch, threads, device.c_str(),
              nn::CpuHasBf16() ? "yes" : "no");
  std::printf("%-6s %-14s %12s %12s %8s\n", "prec", "memory format", "s/iteration", "iter/hour", "speed-up");
  double reference = 0;
  std::stringstream list(precisions);
  std::string precision;
  while (std::getline(list, precision, ',')) {
    for (bool channels_last : {false, true}) {
      double s = 0;
      try {
        s = nn::SecondsPerTrainingIteration(card.architecture, patch, batch, precision, channels_last,
                                            warmup, iterations, device);
      } catch (const std::exception& e) {
        std::printf("%-6s %-14s skipped: %s\n", precision.c_str(),
                    channels_last ? "channels-last" : "contiguous", e.what());
        continue;
      }
      if (reference == 0) reference = s;
      std::printf("%-6s %-14s %12.3f %12.0f %7.2fx\n", precision.c_str(),
                  channels_last ? "channels-last" : "contiguous", s, 3600.0 / s, reference / s);
      std::fflush(stdout);
    }
  }
  return 0;
}
