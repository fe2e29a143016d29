// Network, tiling and training tests. Shapes are [N, C, D, H, W].
#include <cstdlib>
#include <fstream>
#include <set>

#include <gtest/gtest.h>
#include <torch/script.h>

#include "cardioseg/core/error.h"
#include "cardioseg/nn/cache.h"
#include "cardioseg/nn/network.h"
#include "cardioseg/nn/predictor.h"
#include "cardioseg/nn/tiling.h"
#include "cardioseg/nn/train.h"
#include "test_util.h"
#include "tiny_model.h"

namespace cardioseg::nn {
namespace {

ArchitectureConfig SmallArchitecture(const std::string& type, bool deep_supervision) {
  ArchitectureConfig a;
  a.type = type;
  a.in_channels = 1;
  a.num_classes = 4;
  a.base_channels = 4;
  a.deep_supervision = deep_supervision;
  // Anisotropic plan: 1x3x3 kernels and in-plane pooling first, as for cine short-axis stacks.
  a.levels = PlanLevels({10.0, 1.5, 1.5}, {8, 32, 32}, 4);
  return a;
}

TEST(Planning, AnisotropicSpacingGetsInPlaneKernelsAndPoolingFirst) {
  const auto levels = PlanLevels({10.0, 1.25, 1.25}, {10, 160, 160}, 5);
  ASSERT_GE(levels.size(), 4u);
  EXPECT_EQ(levels[0].kernel, (Shape3{1, 3, 3}));
  EXPECT_EQ(levels[1].stride, (Shape3{1, 2, 2}));
  for (const auto& l : levels) EXPECT_LE(l.stride[0], 2);
  const auto iso = PlanLevels({1.0, 1.0, 1.0}, {64, 64, 64}, 4);
  EXPECT_EQ(iso[0].kernel, (Shape3{3, 3, 3}));
  EXPECT_EQ(iso[1].stride, (Shape3{2, 2, 2}));
  EXPECT_EQ(DivisibleShape({10, 150, 161}, iso), (Shape3{16, 152, 168}));
}

TEST(UNet, OutputShapesForBothVariants) {
  for (const char* type : {"unet", "attention_unet"}) {
    UNet net(SmallArchitecture(type, true));
    net->train();
    const auto x = torch::randn({2, 1, 8, 32, 32});
    const auto outputs = net->forward(x);
    ASSERT_EQ(outputs.size(), net->config().levels.size() - 1) << type;
    EXPECT_EQ(outputs[0].sizes(), (std::vector<int64_t>{2, 4, 8, 32, 32})) << type;
    EXPECT_LT(outputs[1].size(3), 32) << type;  // coarser deep-supervision output
    net->eval();
    const auto single = net->forward(x);
    ASSERT_EQ(single.size(), 1u);
    EXPECT_EQ(single[0].sizes(), (std::vector<int64_t>{2, 4, 8, 32, 32}));
  }
}

TEST(Tiling, TilesCoverEveryVoxelAndWeightsArePositive) {
  for (const Shape3 size : {Shape3{7, 50, 33}, Shape3{16, 64, 64}, Shape3{3, 10, 100}}) {
    const Shape3 tile{4, 16, 16};
    std::vector<int> covered(size[0] * size[1] * size[2], 0);
    Shape3 padded;
    for (int a = 0; a < 3; ++a) padded[a] = std::max(size[a], tile[a]);
    for (const auto& o : TileOrigins(padded, tile, 0.5)) {
      for (int a = 0; a < 3; ++a) {
        ASSERT_GE(o[a], 0);
        ASSERT_LE(o[a] + tile[a], padded[a]);
      }
      for (int64_t z = o[0]; z < std::min(size[0], o[0] + tile[0]); ++z)
        for (int64_t y = o[1]; y < std::min(size[1], o[1] + tile[1]); ++y)
          for (int64_t x = o[2]; x < std::min(size[2], o[2] + tile[2]); ++x)
            covered[(z * size[1] + y) * size[2] + x] = 1;
    }
    EXPECT_EQ(std::count(covered.begin(), covered.end(), 0), 0);
  }
  const auto g = GaussianImportanceMap({4, 16, 16});
  EXPECT_GT(*std::min_element(g.begin(), g.end()), 0.0f);
  EXPECT_FLOAT_EQ(*std::max_element(g.begin(), g.end()), 1.0f);
  EXPECT_EQ(TileStarts(100, 16, 0.5).back(), 84);
  EXPECT_EQ(TileStarts(10, 16, 0.5), (std::vector<int64_t>{0}));
}

TEST(SlidingWindow, StitchingEqualsOneFullForwardForAPointwiseNetwork) {
  // A pointwise network's output does not depend on the tiling, so any stitching error shows.
  torch::manual_seed(1);
  torch::nn::Conv3d pointwise(torch::nn::Conv3dOptions(1, 3, 1));
  const auto volume = torch::randn({1, 9, 45, 37});
  SlidingWindowOptions options;
  options.patch = {4, 16, 16};
  options.batch_tiles = 3;
  const auto forward = [&](const torch::Tensor& x) { return pointwise->forward(x); };
  const auto stitched = SlidingWindowLogits(volume, forward, options, torch::kCPU);
  torch::NoGradGuard no_grad;
  const auto full = pointwise->forward(volume.unsqueeze(0)).squeeze(0);
  EXPECT_LT((stitched - full).abs().max().item<double>(), 1e-4);
  // Mirroring a pointwise network changes nothing either.
  options.mirror_axes = {0, 1, 2};
  const auto mirrored = SlidingWindowLogits(volume, forward, options, torch::kCPU);
  EXPECT_LT((mirrored - full).abs().max().item<double>(), 1e-4);
}

TEST(SlidingWindow, SingleTileEqualsFullForwardOfAUNet) {
  torch::manual_seed(2);
  UNet net(SmallArchitecture("unet", false));
  net->eval();
  const auto volume = torch::randn({1, 8, 32, 32});
  SlidingWindowOptions options;
  options.patch = {8, 32, 32};
  const auto stitched = SlidingWindowLogits(
      volume, [&](const torch::Tensor& x) { return net->forward(x)[0]; }, options, torch::kCPU);
  torch::NoGradGuard no_grad;
  const auto full = net->forward(volume.unsqueeze(0))[0].squeeze(0);
  EXPECT_LT((stitched - full).abs().max().item<double>(), 1e-4);
}

TEST(Predictor, LoadsACardAndReturnsProbabilities) {
  test::TempDir dir;
  test::WriteTinyModel(dir.path(), 3, {1.0, 1.0, 2.0});
  PredictorOptions options;
  options.device = "cpu";
  const auto predictor = Predictor::Load(dir.path(), options);
  const Shape3 size{5, 20, 23};
  std::vector<float> volume(5 * 20 * 23, 0.5f);
  const auto p = predictor->PredictProbabilities(volume, size);
  ASSERT_EQ(p.size(), 3u * 5 * 20 * 23);
  for (std::size_t i = 0; i < volume.size(); i += 97) {
    EXPECT_NEAR(p[i] + p[i + volume.size()] + p[i + 2 * volume.size()], 1.0, 1e-5);
  }
}

TEST(TorchScript, ScriptedModelFromPythonMatchesWithin1e5) {
  test::TempDir dir;
  const std::string script = CARDIOSEG_SOURCE_DIR "/tools/export_torchscript_fixture.py";
  const auto r = test::RunCommand("/usr/bin/python3 " + script + " " + test::Quote(dir.path()));
  if (r.exit_code != 0 && r.output.find("No module named 'torch'") != std::string::npos) {
    GTEST_SKIP() << "Debian's python3-torch is not installed (scripts/install-deps.sh --python)";
  }
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The script saved the module, an input and PyTorch's output for that input.
  auto module = torch::jit::load((dir / "model.pt").string());
  module.eval();
  torch::jit::script::Module tensors = torch::jit::load((dir / "tensors.pt").string());
  const auto input = tensors.attr("input").toTensor();
  const auto expected = tensors.attr("output").toTensor();
  const auto output = module.forward({input}).toTensor();
  EXPECT_LT((output - expected).abs().max().item<double>(), 1e-5);
  // The same file served through a model card and the predictor.
  PredictorOptions options;
  options.device = "cpu";
  const auto predictor = Predictor::Load(dir.path(), options);
  EXPECT_EQ(predictor->card().format, "torchscript");
  const Shape3 size{input.size(2), input.size(3), input.size(4)};
  const auto flat = input.contiguous();
  std::vector<float> volume(flat.data_ptr<float>(), flat.data_ptr<float>() + flat.numel());
  const auto p = predictor->PredictProbabilities(volume, size);
  const auto want = torch::softmax(expected[0], 0).contiguous();
  double worst = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    worst = std::max(worst, std::abs(double(p[i]) - want.data_ptr<float>()[i]));
  }
  EXPECT_LT(worst, 1e-5);
}

TEST(Training, SplitIsDeterministicAndDisjoint) {
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) ids.push_back("case" + std::to_string(i));
  TrainConfig c;
  const auto a = SplitCases(ids, c), b = SplitCases(ids, c);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.second.size(), 4u);
  for (const auto& v : a.second) {
    EXPECT_EQ(std::count(a.first.begin(), a.first.end(), v), 0);
  }
  c.folds = 5;
  std::set<std::string> all_val;
  for (int f = 0; f < 5; ++f) {
    c.fold = f;
    for (const auto& v : SplitCases(ids, c).second) all_val.insert(v);
  }
  EXPECT_EQ(all_val.size(), 20u);
}

TEST(Training, ConfigIsStrict) {
  EXPECT_THROW(TrainConfigFromJson(nlohmann::json::parse(R"({"epoch": 3})")), ConfigError);
  EXPECT_THROW(TrainConfigFromJson(nlohmann::json::parse(R"({"augmentation": {"gamma": [0, 1]}})")),
               ConfigError);
  EXPECT_EQ(TrainConfigFromJson(nlohmann::json::parse(R"({"epochs": 3})")).epochs, 3);
}

}  // namespace
}  // namespace cardioseg::nn
