#pragma once
// Loading a model folder and predicting class probabilities with the sliding window, behind a
// LibTorch-free interface (the pipeline includes this without compiling LibTorch headers).
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cardioseg/nn/model_card.h"
#include "cardioseg/nn/tiling.h"

namespace cardioseg::nn {

struct PredictorOptions {
  std::string device = "auto";  // auto, cpu, cuda
  int threads = 0;              // LibTorch intra-op threads; 0 = all cores
  double step_fraction = 0.5;   // tile step / patch
  int batch_tiles = 2;          // tiles per forward pass
  bool mirroring = false;       // test-time augmentation by flips
  // "auto", "fp32", "bf16", "fp16": see UNetInferenceConfig::precision in core/config.h.
  std::string precision = "auto";
  // Heart-box pass: see UNetInferenceConfig::heart_box in core/config.h.
  bool heart_box = true;
  double heart_box_downsample = 2.0;
  double heart_box_margin_mm = 25.0;
  // See UNetInferenceConfig::max_tile_stretch in core/config.h: 0 = the model card's, 1 = the
  // training patch, up to 2. Throws ConfigError at Load for values in (0, 1).
  double max_tile_stretch = 0.0;
};

struct PredictionStats {
  int tiles = 0;               // tiles of the sliding window (before mirroring)
  int forward_passes = 0;      // tiles x mirrorings
  double seconds = 0;          // network time, s
  double gflop = 0;            // multiply-adds x 2 of the convolutions, all forward passes
  std::string device;
  std::string precision;       // "fp32", "bf16", "fp16"
  // Heart-box pass: whether the sliding window ran in a box, the box on the model grid [D, H, W]
  // (the whole volume when not), the coarse pass's grid and tiles (included in `tiles`), and the
  // tiles the whole volume would have taken.
  bool heart_box = false;
  std::string heart_box_note;  // why the box was not used, when it was not
  Box3 box;
  Shape3 coarse_size{0, 0, 0};
  int coarse_tiles = 0;
  int tiles_without_box = 0;
  // True when the box (or the decision to use none) came from an earlier volume (box_from).
  bool heart_box_reused = false;
  Shape3 size{0, 0, 0};  // the model grid predicted, [D, H, W]
  Shape3 tile{0, 0, 0};  // tile of the (final) sliding window: the patch, or stretched
};

// LibTorch version, threads, CPU capability and the CUDA devices it sees, for `cardioseg info`.
nlohmann::json TorchRuntimeInfo();

class Predictor {
 public:
  // Loads `model_dir` (model.json + weights; format "cardioseg" or "torchscript").
  // Throws InputError naming the file on a missing/invalid card or weights.
  static std::unique_ptr<Predictor> Load(const std::filesystem::path& model_dir,
                                         const PredictorOptions& options);
  ~Predictor();
  const ModelCard& card() const;
  const std::filesystem::path& model_dir() const;
  std::string device() const;
  std::string precision() const;  // the resolved precision: "fp32", "bf16" or "fp16"

  // `volume`: [C, D, H, W] float32 at the card's spacing, C = in_channels, already normalised.
  // Returns softmax probabilities [K, D, H, W] (K = num_classes); outside the heart box
  // the background has probability 1. Throws std::invalid_argument on a size mismatch.
  // `box_from`: the stats of an earlier prediction on a grid of the same size (another phase of
  // the same cine series). Its heart box, or its decision to use none, is taken without a coarse
  // pass; when the foreground then reaches an inner face of the taken box (one not on the volume's
  // border) or the box holds no foreground, the box is found anew with the coarse pass. Ignored
  // when the sizes differ.
  std::vector<float> PredictProbabilities(const std::vector<float>& volume, const Shape3& size,
                                          PredictionStats* stats = nullptr,
                                          const PredictionStats* box_from = nullptr) const;

 private:
  Predictor();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cardioseg::nn
