#pragma once
// The model card: model.json in a model folder, describing a network and how to feed it.
// Read by inference (any build) and written by training (LibTorch-only builds too). No LibTorch.
//
// Shapes are in tensor order [D, H, W] = image axes (k, j, i); spacings in image-axis order
// (i, j, k) like the config's, in mm.
#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cardioseg/nn/tiling.h"

namespace cardioseg::nn {

struct ArchitectureConfig {
  // "unet" (3D U-Net, Ronneberger et al. 2015 / Cicek et al. 2016, as planned by nnU-Net),
  // "attention_unet" (additive attention gates on the skips, Oktay et al., MIDL 2018), "vnet"
  // (Milletari et al., 3DV 2016) or "resenc_unet" (nnU-Net's residual-encoder U-Net, Isensee et
  // al., MICCAI 2024). See UNetImpl in nn/network.h.
  std::string type = "unet";
  int in_channels = 1;
  int num_classes = 2;          // including background
  int base_channels = 16;       // channels at level 0, doubled per level
  int max_channels = 256;
  bool deep_supervision = false;
  std::vector<LevelPlan> levels;  // level 0 first; stride of level 0 is {1, 1, 1}
  // Per level: residual blocks of the encoder ("resenc_unet") or convolutions of each residual
  // stage ("vnet"); unused by the other types. Empty = the type's preset, see BlocksPerLevel().
  std::vector<int> blocks_per_level;
};

// The blocks per level of `config` for its levels: its own blocks_per_level, else the type's
// preset, cut to the number of levels: "resenc_unet" nnU-Net's ResEnc M encoder {1, 3, 4, 6, 6,
// 6, 6, 6}; "vnet" Milletari et al.'s stages {1, 2, 3, 3, 3, 3, 3, 3}; empty for the U-Nets.
std::vector<int> BlocksPerLevel(const ArchitectureConfig& config);

struct LabelInfo {
  int value = 0;
  std::string name;
  std::array<int, 3> color{0, 0, 0};  // RGB 0-255
};

struct ModelCard {
  std::string name;
  // "cardioseg" (weights saved by `cardioseg train`) or "torchscript" (a scripted/traced module
  // taking [N, C, D, H, W] and returning logits [N, K, D, H, W]).
  std::string format = "cardioseg";
  std::string weights = "weights.pt";   // file name inside the model folder
  ArchitectureConfig architecture;
  std::vector<LabelInfo> labels;        // background included
  Shape3 patch_size{16, 128, 128};      // [D, H, W]
  std::array<double, 3> spacing_mm{1, 1, 1};  // (i, j, k) spacing the network works at
  // Preprocessing applied before the network: {"n4": {...}, "intensity": {...}} in the config's
  // form; a Nyul landmarks file is referenced relative to the model folder.
  nlohmann::json preprocessing = nlohmann::json::object();
  // Inference setting validated for this model on its held-out cases ("inference":
  // {"max_tile_stretch": x} in model.json; 1 when absent): the longest sliding-window tile along an
  // axis as a multiple of patch_size, see nn::StretchedTile. Range [1, 2]. The run's
  // inference.unet.max_tile_stretch overrides it when set.
  double max_tile_stretch = 1.0;
  // Free-form provenance: training data, command, time, validation metrics, licence.
  nlohmann::json provenance = nlohmann::json::object();
};

// Reads `model_dir`/model.json. Throws InputError naming the file and the missing/invalid field.
ModelCard ReadModelCard(const std::filesystem::path& model_dir);
nlohmann::json ToJson(const ModelCard& card);
ModelCard ModelCardFromJson(const nlohmann::json& json);  // throws std::invalid_argument

// Whether the network was trained on images without N4 as well as with it (a `cardioseg train`
// card whose provenance.training_config.augmentation.uncorrected_probability is > 0): skipping N4
// then gives it inputs it knows. False for any other card.
bool TrainedWithoutN4Too(const ModelCard& card);

// Default colours for label values 1..n (Slicer-like palette), used when a card has none.
std::array<int, 3> DefaultLabelColor(int value);

}  // namespace cardioseg::nn
