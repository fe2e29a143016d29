// Benchmark (run by hand): wall time of loading, N4 and intensity standardization per case.
//
//   bench_preprocess [--config FILE] [--repeat N] [--threads N] INPUT...
//
// Prints one line per case and stage with the median wall time over the repeats, and the
// process's peak resident memory. Numbers go into issue notes, never into timed tests.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <itkMultiThreaderBase.h>
#include <spdlog/spdlog.h>

#include "cardioseg/core/config.h"
#include "cardioseg/imaging/intensity.h"
#include "cardioseg/imaging/io.h"
#include "cardioseg/imaging/n4.h"

int main(int argc, char** argv) {
  using namespace cardioseg;
  using Clock = std::chrono::steady_clock;
  std::string config_file;
  int repeat = 3, threads = 2;
  std::vector<std::string> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) config_file = argv[++i];
    else if (a == "--repeat" && i + 1 < argc) repeat = std::stoi(argv[++i]);
    else if (a == "--threads" && i + 1 < argc) threads = std::stoi(argv[++i]);
    else inputs.push_back(a);
  }
  if (inputs.empty()) {
    std::cerr << "usage: bench_preprocess [--config FILE] [--repeat N] [--threads N] INPUT...\n";
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(threads);
  const auto config = config::Resolve(config_file, {});
  auto seconds = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  std::printf("%-60s %-22s %10s\n", "case", "stage", "median_s");
  for (const auto& input : inputs) {
    std::map<std::string, std::vector<double>> times;
    for (int r = 0; r < repeat; ++r) {
      auto t = Clock::now();
      auto volume = imaging::ReadVolume(input, config.input);
      times["load"].push_back(seconds(t));
      t = Clock::now();
      auto n4 = imaging::CorrectBiasField(volume.image.GetPointer(), config.preprocess.n4);
      times["preprocess.n4"].push_back(seconds(t));
      t = Clock::now();
      imaging::Standardize(n4.corrected.GetPointer(), config.preprocess.intensity);
      times["preprocess.intensity"].push_back(seconds(t));
    }
    for (auto& [stage, v] : times) {
      std::sort(v.begin(), v.end());
      std::printf("%-60s %-22s %10.3f\n", input.c_str(), stage.c_str(), v[v.size() / 2]);
    }
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("threads %d, repeats %d, peak RSS %.0f MB\n", threads, repeat, usage.ru_maxrss / 1024.0);
  return 0;
}
