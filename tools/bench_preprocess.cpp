// Benchmark (run by hand): wall time of loading, N4 and intensity standardization per case.
//
//   bench_preprocess [--config FILE] [--repeat N] [--threads N] INPUT...
//   bench_preprocess [--config FILE] --n4-variant JSON [--n4-variant JSON]... [--n4-reference JSON]
//                    INPUT...
//
// Prints one line per case and stage with the median wall time over the repeats, and the
// process's peak resident memory. Numbers go into issue notes, never into timed tests.
//
// With --n4-variant, each variant (a JSON patch of preprocess.n4, e.g. '{"shrink_factors": [8, 8,
// 1]}') is timed and its bias field compared with the reference fit (default: the config's N4 at
// full resolution, '{"shrink_factors": [1, 1, 1]}'): Pearson r of the log fields over the whole
// volume and over the Otsu foreground, and the largest ratio between the two fields there.
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <itkMultiThreaderBase.h>
#include <spdlog/spdlog.h>

#include <itkOtsuThresholdImageFilter.h>

#include "cardioseg/core/config.h"
#include "cardioseg/core/config_visitors.h"
#include "cardioseg/imaging/intensity.h"
#include "cardioseg/imaging/io.h"
#include "cardioseg/imaging/n4.h"

namespace {

using namespace cardioseg;

config::N4Config PatchedN4(const config::Config& config, const std::string& patch) {
  auto document = config::ToJson(config)["preprocess"]["n4"];
  document.merge_patch(nlohmann::json::parse(patch));
  return config::SectionFromJson<config::N4Config>(document, "preprocess.n4");
}

// Pearson r of the log bias fields, over every voxel and over `mask`, and the largest ratio
// max(a/b, b/a) of the fields over `mask`.
std::array<double, 3> CompareFields(const imaging::ImageType* a, const imaging::ImageType* b,
                                    const imaging::LabelMapType* mask) {
  const std::size_t n = a->GetLargestPossibleRegion().GetNumberOfPixels();
  const float* pa = a->GetBufferPointer();
  const float* pb = b->GetBufferPointer();
  const auto* m = mask->GetBufferPointer();
  std::array<double, 3> out{0, 0, 1};
  for (int masked = 0; masked < 2; ++masked) {
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, count = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (masked && !m[i]) continue;
      const double x = std::log(pa[i]), y = std::log(pb[i]);
      sx += x, sy += y, sxx += x * x, syy += y * y, sxy += x * y, count += 1;
      if (masked) out[2] = std::max(out[2], std::exp(std::abs(x - y)));
    }
    const double cov = sxy - sx * sy / count;
    out[masked] = cov / std::sqrt((sxx - sx * sx / count) * (syy - sy * sy / count));
  }
  return out;
}

int CompareN4(const config::Config& config, const std::vector<std::string>& inputs,
              const std::string& reference, const std::vector<std::string>& variants, int repeat) {
  using Clock = std::chrono::steady_clock;
  const auto reference_n4 = PatchedN4(config, reference);
  std::printf("reference: %s\n", reference.c_str());
  std::printf("%-48s %-44s %9s %8s %8s %9s\n", "case", "variant", "median_s", "r_all", "r_fg", "max_ratio");
  for (const auto& input : inputs) {
    const auto volume = imaging::ReadVolume(input, config.input);
    auto t = Clock::now();
    const auto ref = imaging::CorrectBiasField(volume.image.GetPointer(), reference_n4);
    std::printf("%-48s %-44s %9.3f\n", input.c_str(), "(reference)",
                std::chrono::duration<double>(Clock::now() - t).count());
    auto otsu = itk::OtsuThresholdImageFilter<imaging::ImageType, imaging::LabelMapType>::New();
    otsu->SetInput(volume.image);
    otsu->SetInsideValue(0);
    otsu->SetOutsideValue(1);
    otsu->Update();
    for (const auto& variant : variants) {
      const auto n4 = PatchedN4(config, variant);
      std::vector<double> times;
      imaging::N4Result result;
      for (int r = 0; r < repeat; ++r) {
        t = Clock::now();
        result = imaging::CorrectBiasField(volume.image.GetPointer(), n4);
        times.push_back(std::chrono::duration<double>(Clock::now() - t).count());
      }
      std::sort(times.begin(), times.end());
      const auto c = CompareFields(result.bias_field.GetPointer(), ref.bias_field.GetPointer(),
                                   otsu->GetOutput());
      std::printf("%-48s %-44s %9.3f %8.4f %8.4f %9.4f\n", input.c_str(), variant.c_str(),
                  times[times.size() / 2], c[0], c[1], c[2]);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace cardioseg;
  using Clock = std::chrono::steady_clock;
  std::string config_file;
  int repeat = 3, threads = 2;
  std::vector<std::string> inputs, variants;
  std::string reference = R"({"shrink_factors": [1, 1, 1]})";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) config_file = argv[++i];
    else if (a == "--repeat" && i + 1 < argc) repeat = std::stoi(argv[++i]);
    else if (a == "--threads" && i + 1 < argc) threads = std::stoi(argv[++i]);
    else if (a == "--n4-variant" && i + 1 < argc) variants.push_back(argv[++i]);
    else if (a == "--n4-reference" && i + 1 < argc) reference = argv[++i];
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
  if (!variants.empty()) return CompareN4(config, inputs, reference, variants, repeat);
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
