// `cardioseg nyul-learn IMAGES... -o landmarks.json`: Nyul-Udupa standard scale from a set.
#include <memory>

#include <spdlog/spdlog.h>

#include "cardioseg/core/atomic_file.h"
#include "cardioseg/core/config.h"
#include "cardioseg/imaging/intensity.h"
#include "cardioseg/imaging/io.h"
#include "commands.h"

namespace cardioseg::app {
namespace {

struct NyulOptions {
  std::vector<std::string> images;
  std::string output;
  std::string mask = "all";
};

int RunNyul(const NyulOptions& options) {
  std::vector<imaging::ImageType::Pointer> loaded;
  std::vector<const imaging::ImageType*> images;
  for (const auto& path : options.images) {
    loaded.push_back(imaging::ReadVolume(path, config::InputConfig{}).image);
    images.push_back(loaded.back().GetPointer());
  }
  const auto landmarks = imaging::LearnNyulLandmarks(images, options.mask);
  auto json = intensity::ToJson(landmarks);
  json["mask"] = options.mask;
  json["training_images"] = options.images;
  WriteTextAtomically(options.output, json.dump(2) + "\n");
  spdlog::info("Nyul landmarks from {} images written to {}", images.size(), options.output);
  return kExitOk;
}

}  // namespace

Command RegisterNyulLearn(CLI::App& app) {
  auto options = std::make_shared<NyulOptions>();
  CLI::App* sub = app.add_subcommand("nyul-learn",
                                     "Learn Nyul-Udupa intensity landmarks from a set of images");
  sub->add_option("images", options->images, "Training images")->required();
  sub->add_option("-o,--output", options->output, "Landmarks JSON to write")->required();
  sub->add_option("--mask", options->mask, "Voxels used: all, nonzero or otsu")
      ->check(CLI::IsMember({"all", "nonzero", "otsu"}))
      ->capture_default_str();
  return {sub, [options] { return RunNyul(*options); }};
}

}  // namespace cardioseg::app
