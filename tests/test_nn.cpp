// Network, tiling and training tests. Shapes are [N, C, D, H, W].
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <random>
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

namespace fs = std::filesystem;

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

TEST(UNet, OutputShapesForEveryArchitecture) {
  for (const char* type : {"unet", "attention_unet", "vnet", "resenc_unet"}) {
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
    EXPECT_EQ(single[0].sizes(), (std::vector<int64_t>{2, 4, 8, 32, 32})) << type;
    EXPECT_GT(ForwardFlops(net->config(), {8, 32, 32}), 0.0) << type;
  }
  // The presets, cut to the levels; V-Net stages hold at most 3 convolutions.
  auto a = SmallArchitecture("resenc_unet", false);
  const std::vector<int> resenc_m{1, 3, 4, 6, 6, 6, 6, 6};
  EXPECT_EQ(BlocksPerLevel(a), std::vector<int>(resenc_m.begin(), resenc_m.begin() + a.levels.size()));
  EXPECT_TRUE(BlocksPerLevel(SmallArchitecture("unet", false)).empty());
  a.type = "vnet";
  a.blocks_per_level.assign(a.levels.size(), 4);
  EXPECT_THROW(UNet{a}, std::invalid_argument);
}

// ForwardFlops of the residual and V-Net types, counted by hand on a two-level network.
TEST(Network, ForwardFlopsOfVNetAndResEncCountTheirConvolutions) {
  ArchitectureConfig a;
  a.in_channels = 1;
  a.num_classes = 2;
  a.base_channels = 4;
  a.levels = {{{1, 3, 3}, {1, 1, 1}}, {{3, 3, 3}, {1, 2, 2}}};
  const double v0 = 2 * 8 * 8, v1 = 2 * 4 * 4;  // voxels of a [2, 8, 8] tile at each level
  a.type = "resenc_unet";
  a.blocks_per_level = {1, 2};
  const double resenc = 2.0 * 1 * 4 * 9 * v0                                   // stem
                        + 2 * (2.0 * 4 * 4 * 9 * v0)                           // level 0 block
                        + (2.0 * 4 * 8 * 27 * v1 + 2.0 * 8 * 8 * 27 * v1 + 2.0 * 4 * 8 * v1)  // strided block + skip
                        + 2 * (2.0 * 8 * 8 * 27 * v1)                          // level 1 block 2
                        + 2.0 * 8 * 4 * 4 * v1                                 // up (2x2 in-plane)
                        + 2.0 * 8 * 4 * 9 * v0                                 // one decoder conv
                        + 2.0 * 4 * 2 * v0;                                    // head
  EXPECT_DOUBLE_EQ(ForwardFlops(a, {2, 8, 8}), resenc);
  a.type = "vnet";
  a.blocks_per_level = {1, 2};
  const double vnet = 2.0 * 1 * 4 * v0 + 2.0 * 1 * 4 * 9 * v0                  // projection, conv
                      + 2.0 * 4 * 8 * 4 * v1 + 2 * (2.0 * 8 * 8 * 27 * v1)     // down, 2 convs
                      + 2.0 * 8 * 4 * 4 * v1 + 2.0 * 8 * 8 * 9 * v0            // up, 1 conv on 2 x 4
                      + 2.0 * 8 * 2 * v0;                                      // head on 8 channels
  EXPECT_DOUBLE_EQ(ForwardFlops(a, {2, 8, 8}), vnet);
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

TEST(Tiling, HeartBoxCoversTheCoarseFootprintPlusMarginAndAtLeastAPatch) {
  const Shape3 size{10, 200, 240}, coarse{10, 100, 120}, patch{10, 64, 64};
  // Coarse foreground in d 2..5, h 40..49, w 30..59; margin 3 voxels.
  const auto box = HeartBoxOnFineGrid({2, 40, 30}, {5, 49, 59}, coarse, size, {1, 3, 3}, patch);
  // d: the patch (10) spans the whole volume.
  EXPECT_EQ(box.start[0], 0);
  EXPECT_EQ(box.size[0], 10);
  // h: footprint [80, 100) + 3 = [77, 103) is 26 < 64: grown symmetrically to 64 voxels.
  EXPECT_EQ(box.size[1], 64);
  EXPECT_LE(box.start[1], 77);
  EXPECT_GE(box.start[1] + box.size[1], 103);
  // w: footprint [60, 120) + 3 = [57, 123) is 66 >= 64: kept.
  EXPECT_EQ(box.start[2], 57);
  EXPECT_EQ(box.size[2], 66);
  // At the border it is clipped and grown inwards.
  const auto edge = HeartBoxOnFineGrid({0, 0, 110}, {9, 5, 119}, coarse, size, {0, 2, 2}, patch);
  EXPECT_EQ(edge.start[1], 0);
  EXPECT_EQ(edge.size[1], 64);
  EXPECT_EQ(edge.start[2] + edge.size[2], 240);
  EXPECT_EQ(edge.size[2], 64);
  // Odd ratios: every fine voxel under a coarse foreground voxel is inside.
  const auto odd = HeartBoxOnFineGrid({3, 3, 3}, {3, 3, 3}, {7, 7, 7}, {10, 10, 10}, {0, 0, 0}, {1, 1, 1});
  for (int a = 0; a < 3; ++a) {
    EXPECT_LE(odd.start[a], 4);                  // floor(3 * 10 / 7)
    EXPECT_GE(odd.start[a] + odd.size[a], 6);    // ceil(4 * 10 / 7)
  }
  EXPECT_THROW(HeartBoxOnFineGrid({0, 0, 0}, {0, 0, 120}, coarse, size, {0, 0, 0}, patch),
               std::invalid_argument);
  EXPECT_EQ(TileCount({10, 200, 240}, {10, 144, 144}, 0.5), 6);
  EXPECT_EQ(TileCount({5, 100, 100}, {10, 144, 144}, 0.5), 1);
}

TEST(Tiling, AStretchedTileCoversAnAxisThePatchMissesByLittle) {
  const Shape3 patch{10, 144, 144}, multiple{2, 16, 16};
  // 12 slices: one tile of 12 (divisible by 2) instead of two of 10; 150 in-plane: 160 <= 1.5 x 144.
  EXPECT_EQ(StretchedTile({12, 150, 100}, patch, multiple, 1.5), (Shape3{12, 160, 144}));
  // 11 slices round up to 12; 230 would need 240 > 216: the patch, tiled with overlap.
  EXPECT_EQ(StretchedTile({11, 230, 144}, patch, multiple, 1.5), (Shape3{12, 144, 144}));
  // Smaller than the patch: the patch (the volume is padded); stretch 1: always the patch.
  EXPECT_EQ(StretchedTile({6, 90, 100}, patch, multiple, 1.5), patch);
  EXPECT_EQ(StretchedTile({12, 150, 150}, patch, multiple, 1.0), patch);
  EXPECT_EQ(TileCount({12, 150, 100}, StretchedTile({12, 150, 100}, patch, multiple, 1.5), 0.5), 1);
  EXPECT_EQ(TileCount({12, 150, 100}, patch, 0.5), 4);
  EXPECT_THROW(StretchedTile({12, 150, 100}, patch, multiple, 0.9), std::invalid_argument);
  EXPECT_THROW(StretchedTile({12, 150, 100}, patch, {0, 16, 16}, 1.5), std::invalid_argument);
}

// CPU, fp32, heart box on with a 3 mm margin: the options of the heart-box tests.
PredictorOptions HeartBoxTestOptions() {
  PredictorOptions options;
  options.device = "cpu";
  options.precision = "fp32";
  options.heart_box_margin_mm = 3;
  return options;
}

TEST(Predictor, HeartBoxPassRunsTheWindowOnlyAroundTheForeground) {
  test::TempDir dir;
  test::WriteSignModel(dir.path(), {4, 16, 16}, {1.0, 1.0, 1.0});
  const Shape3 size{6, 64, 80};
  std::vector<float> volume(size[0] * size[1] * size[2], -1.0f);
  auto at = [&](int64_t z, int64_t y, int64_t x) -> float& { return volume[(z * size[1] + y) * size[2] + x]; };
  for (int64_t z = 2; z < 4; ++z)
    for (int64_t y = 20; y < 30; ++y)
      for (int64_t x = 50; x < 62; ++x) at(z, y, x) = 1.0f;
  PredictorOptions options = HeartBoxTestOptions();
  const auto boxed = Predictor::Load(dir.path(), options);
  PredictionStats stats;
  const auto p = boxed->PredictProbabilities(volume, size, &stats);
  options.heart_box = false;
  PredictionStats whole_stats;
  const auto whole = Predictor::Load(dir.path(), options)->PredictProbabilities(volume, size, &whole_stats);

  ASSERT_TRUE(stats.heart_box) << stats.heart_box_note;
  EXPECT_EQ(stats.coarse_size, (Shape3{3, 32, 40}));  // 1 mm spacing: every axis is downsampled
  EXPECT_EQ(whole_stats.tiles, stats.tiles_without_box);
  EXPECT_LT(stats.tiles, whole_stats.tiles);
  EXPECT_EQ(stats.tiles, stats.coarse_tiles + TileCount(stats.box.size, {4, 16, 16}, 0.5));
  const auto& b = stats.box;
  const std::size_t n = volume.size();
  for (int64_t z = 0; z < size[0]; ++z)
    for (int64_t y = 0; y < size[1]; ++y)
      for (int64_t x = 0; x < size[2]; ++x) {
        const std::size_t i = (z * size[1] + y) * size[2] + x;
        const bool inside = z >= b.start[0] && z < b.start[0] + b.size[0] && y >= b.start[1] &&
                            y < b.start[1] + b.size[1] && x >= b.start[2] && x < b.start[2] + b.size[2];
        if (at(z, y, x) > 0) {
          ASSERT_TRUE(inside) << z << " " << y << " " << x;
        }
        if (inside) {
          ASSERT_NEAR(p[n + i], whole[n + i], 1e-6);  // a pointwise network: same as the whole volume
        } else {
          ASSERT_EQ(p[i], 1.0f);  // background outside the box
          ASSERT_EQ(p[n + i], 0.0f);
        }
      }
  // The box is the foreground (y 20..29, x 50..61) plus 3 voxels, at least a patch: well inside.
  EXPECT_LE(b.size[1], 20);
  EXPECT_LE(b.size[2], 22);

  // Nothing found: the whole volume, said so.
  std::fill(volume.begin(), volume.end(), -1.0f);
  PredictionStats empty;
  boxed->PredictProbabilities(volume, size, &empty);
  EXPECT_FALSE(empty.heart_box);
  EXPECT_NE(empty.heart_box_note.find("no foreground"), std::string::npos);
  EXPECT_EQ(empty.tiles, empty.coarse_tiles + empty.tiles_without_box);
}

TEST(Predictor, AnotherPhaseTakesTheHeartBoxAndFindsItsOwnWhenTheForegroundReachesItsFace) {
  test::TempDir dir;
  test::WriteSignModel(dir.path(), {4, 16, 16}, {1.0, 1.0, 1.0});
  const Shape3 size{6, 64, 80};
  const std::size_t n = static_cast<std::size_t>(size[0] * size[1] * size[2]);
  auto volume_with = [&](int64_t y0, int64_t x0) {
    std::vector<float> v(n, -1.0f);
    for (int64_t z = 2; z < 4; ++z)
      for (int64_t y = y0; y < y0 + 10; ++y)
        for (int64_t x = x0; x < x0 + 12; ++x) v[(z * size[1] + y) * size[2] + x] = 1.0f;
    return v;
  };
  PredictorOptions options = HeartBoxTestOptions();
  const auto predictor = Predictor::Load(dir.path(), options);
  PredictionStats first;
  predictor->PredictProbabilities(volume_with(20, 50), size, &first);
  ASSERT_TRUE(first.heart_box) << first.heart_box_note;
  ASSERT_GT(first.coarse_tiles, 0);

  // The heart moved by 2 voxels: the box is taken, no coarse pass, the same probabilities.
  const auto moved = volume_with(22, 49);
  PredictionStats second;
  const auto p = predictor->PredictProbabilities(moved, size, &second, &first);
  EXPECT_TRUE(second.heart_box_reused);
  EXPECT_EQ(second.coarse_tiles, 0);
  EXPECT_EQ(second.box.start, first.box.start);
  EXPECT_EQ(second.box.size, first.box.size);
  EXPECT_EQ(second.tiles, TileCount(first.box.size, {4, 16, 16}, 0.5));
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(p[n + i] > 0.5f, moved[i] > 0) << i;

  // Moved across the taken box's faces, or out of it: the phase finds its own box.
  for (const auto& [y0, x0] : {std::pair<int64_t, int64_t>{30, 60}, {45, 5}}) {
    const auto far = volume_with(y0, x0);
    PredictionStats third;
    const auto q = predictor->PredictProbabilities(far, size, &third, &first);
    EXPECT_FALSE(third.heart_box_reused);
    EXPECT_GT(third.coarse_tiles, 0);
    EXPECT_NE(third.heart_box_note.find("found anew"), std::string::npos) << third.heart_box_note;
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(q[n + i] > 0.5f, far[i] > 0) << y0 << " " << i;
  }

  // Another grid: ignored.
  const Shape3 other{6, 64, 72};
  std::vector<float> small(static_cast<std::size_t>(other[0] * other[1] * other[2]), -1.0f);
  small[1000] = 1.0f;
  PredictionStats fourth;
  predictor->PredictProbabilities(small, other, &fourth, &first);
  EXPECT_FALSE(fourth.heart_box_reused);
}

TEST(Predictor, StretchedTilesCoverTheVolumeInFewerTilesAndCountTheirFlops) {
  test::TempDir dir;
  test::WriteTinyModel(dir.path(), 3, {1.0, 1.0, 1.0});  // patch [4, 16, 16], strides 1 and (1, 2, 2)
  PredictorOptions options;
  options.device = "cpu";
  options.precision = "fp32";
  options.heart_box = false;
  const Shape3 size{5, 20, 23};
  torch::manual_seed(4);
  const auto x = torch::randn({1, size[0], size[1], size[2]});
  const std::vector<float> volume(x.data_ptr<float>(), x.data_ptr<float>() + x.numel());
  PredictionStats plain, stretched;
  const auto p = Predictor::Load(dir.path(), options)->PredictProbabilities(volume, size, &plain);
  options.max_tile_stretch = 1.5;
  const auto net = Predictor::Load(dir.path(), options);
  const auto q = net->PredictProbabilities(volume, size, &stretched);
  EXPECT_EQ(plain.tiles, 8);  // 2 x 2 x 2 overlapping [4, 16, 16] tiles
  EXPECT_EQ(stretched.tiles, 1);
  EXPECT_EQ(stretched.tile, (Shape3{5, 20, 24}));  // W rounded up to the stride product 2
  EXPECT_DOUBLE_EQ(stretched.gflop, ForwardFlops(net->card().architecture, {5, 20, 24}) / 1e9);
  ASSERT_EQ(q.size(), p.size());
  // The one tile is one forward pass of the network on the volume zero-padded to W = 24.
  UNet unet(net->card().architecture);
  torch::load(unet, (dir.path() / "weights.pt").string());
  unet->eval();
  torch::Tensor want;
  {
    torch::NoGradGuard no_grad;
    namespace F = torch::nn::functional;
    const auto padded = F::pad(x.unsqueeze(0), F::PadFuncOptions({0, 1, 0, 0, 0, 0}));
    want = torch::softmax(unet->forward(padded)[0], 1)[0]
               .index({torch::indexing::Slice(), torch::indexing::Slice(), torch::indexing::Slice(),
                       torch::indexing::Slice(0, size[2])})
               .contiguous();
  }
  ASSERT_EQ(static_cast<std::size_t>(want.numel()), q.size());
  double worst = 0;
  for (std::size_t i = 0; i < q.size(); ++i) worst = std::max(worst, std::abs(double(q[i]) - want.data_ptr<float>()[i]));
  EXPECT_LT(worst, 1e-5);

  // The model card can carry the stretch its held-out cases were checked with; the run's option
  // (1 here) overrides it, values outside [1, 2] are refused.
  auto card = nlohmann::json::parse(std::ifstream(dir.path() / "model.json"));
  card["inference"] = {{"max_tile_stretch", 1.5}};
  std::ofstream(dir.path() / "model.json") << card.dump();
  options.max_tile_stretch = 0;
  PredictionStats from_card, overridden;
  Predictor::Load(dir.path(), options)->PredictProbabilities(volume, size, &from_card);
  EXPECT_EQ(from_card.tiles, 1);
  options.max_tile_stretch = 1;
  Predictor::Load(dir.path(), options)->PredictProbabilities(volume, size, &overridden);
  EXPECT_EQ(overridden.tiles, 8);
  options.max_tile_stretch = 0.5;
  EXPECT_THROW(Predictor::Load(dir.path(), options), ConfigError);
  card["inference"]["max_tile_stretch"] = 3;
  std::ofstream(dir.path() / "model.json") << card.dump();
  options.max_tile_stretch = 0;
  EXPECT_THROW(Predictor::Load(dir.path(), options), InputError);
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
  options.precision = "fp32";  // parity with PyTorch's fp32 output
  const auto predictor = Predictor::Load(dir.path(), options);
  EXPECT_EQ(predictor->card().format, "torchscript");
  EXPECT_EQ(predictor->precision(), "fp32");
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
  // bf16 autocast (the default where the CPU has bf16 instructions) stays close to fp32.
  if (CpuHasBf16()) {
    options.precision = "auto";
    const auto bf16 = Predictor::Load(dir.path(), options);
    EXPECT_EQ(bf16->precision(), "bf16");
    const auto q = bf16->PredictProbabilities(volume, size);
    double worst_bf16 = 0;
    for (int64_t i = 0; i < want.numel(); ++i) {
      worst_bf16 = std::max(worst_bf16, std::abs(double(q[i]) - want.data_ptr<float>()[i]));
    }
    EXPECT_LT(worst_bf16, 0.05);
    EXPECT_GT(worst_bf16, 0.0);  // it did run in bf16
  }
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

TEST(Training, SplitsKeepASubjectsCasesTogether) {
  std::vector<std::string> ids;
  for (int i = 1; i <= 20; ++i) {
    const std::string p = "patient" + std::string(i < 10 ? "00" : "0") + std::to_string(i);
    ids.push_back(p);
    ids.push_back(p + "_es");
  }
  ids.push_back("unmatched");  // a subject of its own
  TrainConfig c;
  c.subject_pattern = "^(patient[0-9]+)";
  EXPECT_EQ(SubjectOf("patient007_es", c.subject_pattern), "patient007");
  EXPECT_EQ(SubjectOf("unmatched", c.subject_pattern), "unmatched");
  EXPECT_EQ(SubjectOf("patient007_es", "patient[0-9]+"), "patient007");  // no group: the match
  EXPECT_EQ(SubjectOf("patient007_es", ""), "patient007_es");
  EXPECT_THROW(SubjectOf("x", "(unclosed"), ConfigError);

  const auto side_of_each_subject_is_one = [&](const std::pair<std::vector<std::string>,
                                                               std::vector<std::string>>& split) {
    std::map<std::string, std::set<int>> sides;
    for (const auto& id : split.first) sides[SubjectOf(id, c.subject_pattern)].insert(0);
    for (const auto& id : split.second) sides[SubjectOf(id, c.subject_pattern)].insert(1);
    for (const auto& [subject, s] : sides) EXPECT_EQ(s.size(), 1u) << subject << " is on both sides";
    EXPECT_EQ(split.first.size() + split.second.size(), ids.size());
  };
  const auto random = SplitCases(ids, c);
  side_of_each_subject_is_one(random);
  EXPECT_EQ(random, SplitCases(ids, c));
  // 21 subjects, 20 % of them held out: 4 subjects, 8 cases unless "unmatched" is among them.
  EXPECT_GE(random.second.size(), 7u);
  EXPECT_LE(random.second.size(), 8u);
  c.folds = 5;
  std::set<std::string> all_val;
  for (int f = 0; f < 5; ++f) {
    c.fold = f;
    const auto split = SplitCases(ids, c);
    side_of_each_subject_is_one(split);
    for (const auto& v : split.second) EXPECT_TRUE(all_val.insert(v).second) << v << " in two folds";
  }
  EXPECT_EQ(all_val.size(), ids.size());
}

TEST(Training, ConfigIsStrict) {
  EXPECT_THROW(TrainConfigFromJson(nlohmann::json::parse(R"({"epoch": 3})")), ConfigError);
  EXPECT_THROW(TrainConfigFromJson(nlohmann::json::parse(R"({"augmentation": {"gamma": [0, 1]}})")),
               ConfigError);
  EXPECT_EQ(TrainConfigFromJson(nlohmann::json::parse(R"({"epochs": 3})")).epochs, 3);
}

// A cache of `cases` synthetic cases (two per subject "sNN_a", "sNN_b") [6, 24, 24] with a
// bright box labelled 1 and a darker box labelled 2 inside it, and its plan. With
// `uncorrected`, each case also has an image without N4 of that constant value.
void WriteSyntheticCache(const fs::path& cache, int cases, std::optional<float> uncorrected = {}) {
  std::mt19937 rng(7);
  for (int i = 0; i < cases; ++i) {
    CachedCase c;
    c.id = "s" + std::to_string(10 + i / 2) + (i % 2 ? "_b" : "_a");
    c.shape = {6, 24, 24};
    c.image.resize(6 * 24 * 24);
    c.labels.resize(6 * 24 * 24);
    std::normal_distribution<float> noise(0.f, 0.3f);
    const int off = i % 4;
    for (int d = 0; d < 6; ++d) {
      for (int h = 0; h < 24; ++h) {
        for (int w = 0; w < 24; ++w) {
          const std::size_t k = (std::size_t(d) * 24 + h) * 24 + w;
          const bool outer = d >= 1 && d < 5 && h >= 4 + off && h < 18 + off && w >= 5 && w < 19;
          const bool inner = outer && h >= 8 + off && h < 14 + off && w >= 9 && w < 15;
          c.labels[k] = inner ? 2 : outer ? 1 : 0;
          c.image[k] = (inner ? 1.0f : outer ? 2.0f : 0.0f) + noise(rng);
        }
      }
    }
    if (uncorrected) c.uncorrected.assign(c.image.size(), *uncorrected);
    c.meta = {{"id", c.id}, {"shape", c.shape}};
    WriteCachedCase(cache, c);
  }
  const nlohmann::json plan{
      {"num_classes", 3},
      {"spacing_mm", {1.5, 1.5, 5.0}},
      {"patch_size_dhw", {4, 16, 16}},
      {"in_channels", 1},
      {"labels", {{{"value", 0}, {"name", "background"}},
                  {{"value", 1}, {"name", "outer"}},
                  {{"value", 2}, {"name", "inner"}}}}};
  std::ofstream(cache / "plan.json") << plan.dump(2);
}

TrainConfig TinyTrainConfig() {
  TrainConfig config;
  config.base_channels = 4;
  config.max_channels = 16;
  config.max_levels = 2;
  config.epochs = 4;
  config.iterations_per_epoch = 3;
  config.validation_fraction = 0.25;
  config.subject_pattern = "^(s[0-9]+)";
  config.validate_every = 2;
  config.learning_rate = 0.02;
  config.device = "cpu";
  config.threads = 1;
  config.precision = "fp32";
  config.augmentation.elastic = true;  // exercises the seeded tensor generator
  config.augmentation.noise_probability = 0.5;
  return config;
}

std::vector<torch::Tensor> LoadWeights(const fs::path& file, const ArchitectureConfig& arch) {
  UNet model(arch);
  torch::load(model, file.string());
  std::vector<torch::Tensor> out;
  for (const auto& p : model->parameters()) out.push_back(p.detach().contiguous().clone());
  return out;
}

std::vector<std::string> ReadLines(const fs::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(Training, ResumedRunEqualsAnUninterruptedOne) {
  test::TempDir cache, whole, parts;
  WriteSyntheticCache(cache.path(), 8);
  const TrainConfig config = TinyTrainConfig();
  TrainOptions options;
  const auto uninterrupted = Train(cache.path(), whole.path(), config, options);
  EXPECT_EQ(uninterrupted.epochs_done, 4);

  TrainOptions first_half;
  first_half.max_epochs_this_run = 2;
  EXPECT_EQ(Train(cache.path(), parts.path(), config, first_half).epochs_done, 2);
  const auto state = nlohmann::json::parse(std::ifstream(parts / "trainer_state.json"));
  EXPECT_EQ(state.at("iterations_done"), 6);
  EXPECT_EQ(state.at("total_iterations"), 12);
  TrainOptions resume;
  resume.resume = true;
  const auto resumed = Train(cache.path(), parts.path(), config, resume);
  EXPECT_EQ(resumed.epochs_done, 4);
  EXPECT_EQ(resumed.last_epoch_loss, uninterrupted.last_epoch_loss);

  const auto arch = ReadModelCard(whole.path()).architecture;
  const auto a = LoadWeights(whole / "weights.pt", arch);
  const auto b = LoadWeights(parts / "weights.pt", arch);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "parameter " << i;
  // The log continues: the same rows (epoch, learning rate, loss, Dice), times aside.
  const auto strip_time = [](std::vector<std::string> lines) {
    for (auto& l : lines) {
      auto last = l.rfind(','), time = l.rfind(',', last - 1);
      l = l.substr(0, time) + l.substr(last);
    }
    return lines;
  };
  EXPECT_EQ(strip_time(ReadLines(whole / "training_log.csv")),
            strip_time(ReadLines(parts / "training_log.csv")));
  // Subjects stay whole: s10_a and s10_b on one side.
  const auto split = nlohmann::json::parse(std::ifstream(parts / "split.json"));
  EXPECT_EQ(split.at("validation_subjects").size(), 1u);
  EXPECT_EQ(split.at("validation").size(), 2u);
  // One checkpoint is kept.
  int checkpoints = 0;
  for (const auto& e : fs::directory_iterator(parts.path())) {
    checkpoints += e.path().filename().string().rfind("checkpoint_e", 0) == 0;
  }
  EXPECT_EQ(checkpoints, 1);
}

TEST(Training, ResumeWithoutACheckpointSeedsFromTheModelFolder) {
  test::TempDir cache, model;
  WriteSyntheticCache(cache.path(), 8);
  TrainConfig config = TinyTrainConfig();
  config.epochs = 2;
  Train(cache.path(), model.path(), config, {});
  for (const auto& e : fs::directory_iterator(model.path())) {
    const auto name = e.path().filename().string();
    if (name.rfind("checkpoint_e", 0) == 0 || name.rfind("optimizer_e", 0) == 0 ||
        name == "trainer_state.json") {
      fs::remove(e.path());
    }
  }
  const auto before = LoadWeights(model / "weights.pt", ReadModelCard(model.path()).architecture);
  config.epochs = 3;
  TrainOptions resume;
  resume.resume = true;
  const auto summary = Train(cache.path(), model.path(), config, resume);
  EXPECT_EQ(summary.epochs_done, 3);  // one more epoch: the card said 2 were done
  EXPECT_EQ(ReadLines(model / "training_log.csv").size(), 4u);  // header + 3 epochs
  const auto card = ReadModelCard(model.path());
  EXPECT_EQ(card.provenance.at("iterations_done"), 9);
  const auto after = LoadWeights(model / "weights.pt", card.architecture);
  EXPECT_FALSE(torch::equal(before[0], after[0]));
  // Nothing to resume from at all is an error naming the folder.
  test::TempDir empty;
  EXPECT_THROW(Train(cache.path(), empty.path(), config, resume), InputError);
}

// Checkpoint averaging: the weights are the mean of the sources', the card is the last source's
// with the sources listed; other architectures, a single source and an existing output are refused.
TEST(Training, AveragedModelHoldsTheMeanOfTheSourcesWeights) {
  test::TempDir dir;
  const auto a = dir / "a", b = dir / "b", c = dir / "c", other = dir / "other";
  test::WriteTinyModel(a, 3, {1.0, 1.0, 1.0});
  test::WriteTinyModel(b, 3, {1.0, 1.0, 1.0});
  test::WriteTinyModel(c, 3, {1.0, 1.0, 1.0});
  const auto arch = ReadModelCard(a).architecture;
  {
    torch::NoGradGuard no_grad;
    UNet net(arch);
    torch::load(net, (b / "weights.pt").string());
    for (auto& p : net->parameters()) p.add_(3.0);  // b = a + 3
    torch::save(net, (b / "weights.pt").string());
    torch::load(net, (c / "weights.pt").string());
    for (auto& p : net->parameters()) p.mul_(-2.0);  // c = -2 a
    torch::save(net, (c / "weights.pt").string());
  }
  AverageModels({a, b, c}, dir / "mean");
  const auto wa = LoadWeights(a / "weights.pt", arch);
  const auto mean = LoadWeights(dir / "mean/weights.pt", arch);
  ASSERT_EQ(mean.size(), wa.size());
  for (std::size_t i = 0; i < wa.size(); ++i) {
    EXPECT_TRUE(torch::allclose(mean[i], (wa[i] + (wa[i] + 3.0) - 2.0 * wa[i]) / 3.0, 1e-6, 1e-6)) << i;
  }
  const auto card = ReadModelCard(dir / "mean");
  EXPECT_EQ(card.name, "mean");
  ASSERT_EQ(card.provenance.at("averaged_from").size(), 3u);
  EXPECT_EQ(card.provenance.at("averaged_from")[2].at("model"), c.string());

  test::WriteTinyModel(other, 4, {1.0, 1.0, 1.0});  // another number of classes
  EXPECT_THROW(AverageModels({a, other}, dir / "mixed"), InputError);
  EXPECT_FALSE(fs::exists(dir / "mixed"));
  EXPECT_THROW(AverageModels({a}, dir / "one"), UsageError);
  EXPECT_THROW(AverageModels({a, b}, dir / "mean"), UsageError);  // exists
}

TEST(Training, AStopRequestEndsTheRunAfterTheEpochWithAModelFolder) {
  test::TempDir cache, model;
  WriteSyntheticCache(cache.path(), 6);
  const TrainConfig config = TinyTrainConfig();
  std::atomic<bool> stop{true};  // as a SIGTERM during the first epoch would set it
  TrainOptions options;
  options.stop = &stop;
  EXPECT_EQ(Train(cache.path(), model.path(), config, options).epochs_done, 1);
  const auto card = ReadModelCard(model.path());
  EXPECT_EQ(card.provenance.at("iterations_done"), 3);
  EXPECT_EQ(card.provenance.at("total_iterations"), 12);
  TrainOptions resume;
  resume.resume = true;
  EXPECT_EQ(Train(cache.path(), model.path(), config, resume).epochs_done, 4);
}

TEST(Cache, TheImageWithoutN4IsReadOnlyWhenAsked) {
  test::TempDir with, without;
  WriteSyntheticCache(with.path(), 2, 0.5f);
  WriteSyntheticCache(without.path(), 2);
  const auto a = ReadCachedCase(with.path(), "s10_a", true);
  ASSERT_EQ(a.uncorrected.size(), a.image.size());
  EXPECT_EQ(a.uncorrected.front(), 0.5f);
  EXPECT_NE(a.image, a.uncorrected);
  EXPECT_TRUE(ReadCachedCase(with.path(), "s10_a").uncorrected.empty());
  EXPECT_TRUE(ReadCachedCase(without.path(), "s10_a", true).uncorrected.empty());
  fs::resize_file(with / "cases/s10_b.uncorrected.f32", 100);
  EXPECT_THROW(ReadCachedCase(with.path(), "s10_b", true), InputError);
}

TEST(Training, UncorrectedProbabilityDrawsSamplesFromTheImagesWithoutN4) {
  // Here the images without N4 are NaN: one training sample drawn from them makes the loss NaN.
  test::TempDir plain, with, a, b, c, d;
  WriteSyntheticCache(plain.path(), 6);
  WriteSyntheticCache(with.path(), 6, std::nanf(""));
  TrainConfig config = TinyTrainConfig();
  config.epochs = 2;
  // At probability 0 they are never read: the run is the one on a cache without them.
  EXPECT_EQ(Train(plain.path(), a.path(), config, {}).last_epoch_loss,
            Train(with.path(), b.path(), config, {}).last_epoch_loss);
  config.augmentation.uncorrected_probability = 1;
  try {
    Train(with.path(), c.path(), config, {});
    ADD_FAILURE() << "no training sample came from the images without N4";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("diverged"), std::string::npos) << e.what();
  }
  // A cache without them is a config error that says how to make one.
  try {
    Train(plain.path(), d.path(), config, {});
    ADD_FAILURE() << "no error for a cache without images without N4";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--keep-uncorrected"), std::string::npos) << e.what();
  }
  // The card says whether the network saw images without N4 (so that `run` need not warn when
  // N4 is skipped).
  EXPECT_FALSE(TrainedWithoutN4Too(ReadModelCard(a.path())));
  test::TempDir usable, e;
  WriteSyntheticCache(usable.path(), 6, 0.0f);
  config.augmentation.uncorrected_probability = 0.5;
  Train(usable.path(), e.path(), config, {});
  EXPECT_TRUE(TrainedWithoutN4Too(ReadModelCard(e.path())));
  ModelCard odd;
  odd.provenance = {{"training_config", "unet"}};
  EXPECT_FALSE(TrainedWithoutN4Too(odd));
}

TEST(Training, Bf16AutocastLowersTheLossAndKeepsOutputsFinite) {
  if (!CpuHasBf16()) GTEST_SKIP() << "this CPU has no bfloat16 instructions";
  test::TempDir cache, model;
  WriteSyntheticCache(cache.path(), 6);
  TrainConfig config = TinyTrainConfig();
  config.precision = "bf16";
  config.epochs = 6;
  config.iterations_per_epoch = 5;
  config.validate_every = 6;
  const auto summary = Train(cache.path(), model.path(), config, {});
  EXPECT_LT(summary.last_epoch_loss, summary.first_epoch_loss);
  ASSERT_EQ(summary.validation_dice.size(), 2u);
  for (double d : summary.validation_dice) EXPECT_TRUE(std::isfinite(d));
  const auto card = ReadModelCard(model.path());
  EXPECT_EQ(card.provenance.at("precision"), "bf16");
  UNet net(card.architecture);
  torch::load(net, (model / "weights.pt").string());
  net->eval();
  torch::NoGradGuard no_grad;
  torch::Tensor out;
  {
    AutocastScope autocast(torch::kCPU, Precision::kBFloat16);
    out = net->forward(torch::randn({1, 1, 4, 16, 16}))[0];
  }
  EXPECT_EQ(out.scalar_type(), torch::kBFloat16);  // the convolutions ran in bf16
  EXPECT_TRUE(torch::isfinite(out.to(torch::kFloat)).all().item<bool>());
  // Outside the scope autocast is off again.
  EXPECT_EQ(net->forward(torch::randn({1, 1, 4, 16, 16}))[0].scalar_type(), torch::kFloat);
}

// V-Net and the residual-encoder U-Net train, record themselves in model.json, and load in the
// predictor with the same outputs as the trained module.
TEST(Training, VNetAndResEncTrainAndRoundTripThroughTheModelCard) {
  for (const char* type : {"vnet", "resenc_unet"}) {
    test::TempDir cache, model;
    WriteSyntheticCache(cache.path(), 6);
    TrainConfig config = TinyTrainConfig();
    config.architecture = type;
    config.augmentation.elastic = false;
    config.epochs = 6;
    config.iterations_per_epoch = 5;
    config.validate_every = 6;
    const auto summary = Train(cache.path(), model.path(), config, {});
    EXPECT_LT(summary.last_epoch_loss, summary.first_epoch_loss) << type;
    const auto card = ReadModelCard(model.path());
    EXPECT_EQ(card.architecture.type, type);
    ASSERT_EQ(card.architecture.blocks_per_level.size(), card.architecture.levels.size()) << type;
    EXPECT_EQ(card.architecture.blocks_per_level, BlocksPerLevel(card.architecture)) << type;

    UNet net(card.architecture);
    torch::load(net, (model / "weights.pt").string());
    net->eval();
    int64_t parameters = 0;
    for (const auto& t : net->parameters()) parameters += t.numel();
    EXPECT_EQ(card.provenance.value("parameters", int64_t(0)), parameters) << type;
    const Shape3 patch = card.patch_size;
    const auto x = torch::randn({1, 1, patch[0], patch[1], patch[2]});
    torch::Tensor want;
    {
      torch::NoGradGuard no_grad;
      want = torch::softmax(net->forward(x)[0], 1)[0].contiguous();
    }
    PredictorOptions options;
    options.device = "cpu";
    options.precision = "fp32";
    options.heart_box = false;
    const auto predictor = Predictor::Load(model.path(), options);
    const auto flat = x.contiguous();
    const auto p = predictor->PredictProbabilities(
        std::vector<float>(flat.data_ptr<float>(), flat.data_ptr<float>() + flat.numel()), patch);
    ASSERT_EQ(p.size(), static_cast<std::size_t>(want.numel())) << type;
    double worst = 0;
    for (int64_t i = 0; i < want.numel(); ++i) worst = std::max(worst, std::abs(double(p[i]) - want.data_ptr<float>()[i]));
    EXPECT_LT(worst, 1e-5) << type;
  }
}

TEST(Network, ForwardFlopsCountTheConvolutions) {
  // One level, one input channel, 4 channels, 3 classes, 3x3x3 kernels on a 2x4x4 tile:
  // conv0 2*1*4*27*32, conv1 2*4*4*27*32, head 2*4*3*32.
  ArchitectureConfig a;
  a.in_channels = 1;
  a.num_classes = 3;
  a.base_channels = 4;
  a.levels = {{{3, 3, 3}, {1, 1, 1}}};
  EXPECT_DOUBLE_EQ(ForwardFlops(a, {2, 4, 4}), 2.0 * 4 * 27 * 32 + 2.0 * 16 * 27 * 32 + 2.0 * 12 * 32);
  // The shipped cine architecture on its [10, 144, 144] patch: about 29 GFLOP a tile, the figure
  // measured on a PyTorch replica of the network (issue "Inference at the hardware's speed").
  const auto card = ReadModelCard(CARDIOSEG_SOURCE_DIR "/models/acdc-cine-mri");
  EXPECT_NEAR(ForwardFlops(card.architecture, {10, 144, 144}) / 1e9, 29.0, 1.5);
}

TEST(Training, PrecisionIsResolvedPerDevice) {
  EXPECT_EQ(ResolvePrecision("fp32", torch::kCPU), Precision::kFloat32);
  EXPECT_EQ(ResolvePrecision("auto", torch::kCPU),
            CpuHasBf16() ? Precision::kBFloat16 : Precision::kFloat32);
  EXPECT_THROW(ResolvePrecision("fp16", torch::kCPU), std::invalid_argument);
  EXPECT_THROW(ResolvePrecision("fp8", torch::kCPU), std::invalid_argument);
}

}  // namespace
}  // namespace cardioseg::nn
