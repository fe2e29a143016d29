#include "tiny_model.h"

#include <fstream>

#include <torch/script.h>

#include "cardioseg/nn/network.h"

namespace cardioseg::test {

void WriteTinyModel(const std::filesystem::path& dir, int num_classes,
                    const std::array<double, 3>& spacing_mm) {
  std::filesystem::create_directories(dir);
  nn::ModelCard card;
  card.name = "tiny-test-model";
  card.architecture.num_classes = num_classes;
  card.architecture.base_channels = 4;
  card.architecture.levels = {{{3, 3, 3}, {1, 1, 1}}, {{3, 3, 3}, {1, 2, 2}}};
  card.patch_size = {4, 16, 16};
  card.spacing_mm = spacing_mm;
  card.preprocessing = {{"n4", {{"enabled", false}}}, {"intensity", {{"method", "zscore"}}}};
  for (int k = 0; k < num_classes; ++k) {
    card.labels.push_back({k, k == 0 ? "background" : "label " + std::to_string(k),
                           nn::DefaultLabelColor(k)});
  }
  torch::manual_seed(3);
  nn::UNet net(card.architecture);
  torch::save(net, (dir / "weights.pt").string());
  std::ofstream(dir / "model.json") << nn::ToJson(card).dump(2);
}

void WriteSignModel(const std::filesystem::path& dir, const std::array<std::int64_t, 3>& patch,
                    const std::array<double, 3>& spacing_mm) {
  std::filesystem::create_directories(dir);
  torch::jit::Module module("Sign");
  module.define(R"(
    def forward(self, x):
        return torch.cat([-x, x], 1)
  )");
  module.save((dir / "model.pt").string());
  const nlohmann::json card = {
      {"name", "sign"}, {"format", "torchscript"}, {"weights", "model.pt"},
      {"architecture", {{"type", "unet"}, {"in_channels", 1}, {"num_classes", 2}, {"levels", nlohmann::json::array()}}},
      {"labels", {{{"value", 0}, {"name", "background"}}, {{"value", 1}, {"name", "heart"}}}},
      {"patch_size_dhw", patch},
      {"spacing_mm", spacing_mm}};
  std::ofstream(dir / "model.json") << card.dump(2);
}

}  // namespace cardioseg::test
