#include "cardioseg/nn/model_card.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "cardioseg/core/config.h"
#include "cardioseg/core/error.h"

namespace cardioseg::nn {

using nlohmann::json;

bool TrainedWithoutN4Too(const ModelCard& card) {
  const json* node = &card.provenance;
  for (const char* key : {"training_config", "augmentation", "uncorrected_probability"}) {
    if (!node->is_object() || !node->contains(key)) return false;
    node = &node->at(key);
  }
  return node->is_number() && node->get<double>() > 0;
}

std::array<int, 3> DefaultLabelColor(int value) {
  static const std::array<std::array<int, 3>, 8> kPalette{{{128, 174, 128},
                                                           {241, 214, 145},
                                                           {177, 122, 101},
                                                           {216, 101, 79},
                                                           {111, 184, 210},
                                                           {221, 130, 101},
                                                           {144, 238, 144},
                                                           {192, 104, 88}}};
  if (value <= 0) return {0, 0, 0};
  return kPalette[(value - 1) % kPalette.size()];
}

std::vector<int> BlocksPerLevel(const ArchitectureConfig& config) {
  std::vector<int> preset;
  if (config.type == "resenc_unet") preset = {1, 3, 4, 6, 6, 6, 6, 6};
  else if (config.type == "vnet") preset = {1, 2, 3, 3, 3, 3, 3, 3};
  else return {};
  if (!config.blocks_per_level.empty()) return config.blocks_per_level;
  preset.resize(std::min(preset.size(), config.levels.size()));
  return preset;
}

json ToJson(const ModelCard& c) {
  json levels = json::array();
  for (const auto& l : c.architecture.levels) {
    levels.push_back({{"kernel", l.kernel}, {"stride", l.stride}});
  }
  json labels = json::array();
  for (const auto& l : c.labels) {
    labels.push_back({{"value", l.value}, {"name", l.name}, {"color", l.color}});
  }
  json out = {{"name", c.name},
          {"format", c.format},
          {"weights", c.weights},
          {"architecture",
           {{"type", c.architecture.type},
            {"in_channels", c.architecture.in_channels},
            {"num_classes", c.architecture.num_classes},
            {"base_channels", c.architecture.base_channels},
            {"max_channels", c.architecture.max_channels},
            {"deep_supervision", c.architecture.deep_supervision},
            {"levels", levels}}},
          {"labels", labels},
          {"patch_size_dhw", c.patch_size},
          {"spacing_mm", c.spacing_mm},
          {"preprocessing", c.preprocessing},
          {"provenance", c.provenance}};
  if (c.max_tile_stretch != 1.0) out["inference"] = {{"max_tile_stretch", c.max_tile_stretch}};
  // Only the types that use them carry blocks per level (U-Net cards stay as they were).
  const auto blocks = BlocksPerLevel(c.architecture);
  if (!blocks.empty()) out["architecture"]["blocks_per_level"] = blocks;
  return out;
}

namespace {

// An integer field: a JSON integer within int's range. nlohmann's get<int>() converts a float
// such as 1e54 by a cast whose result is undefined (found by tests/fuzz/fuzz_model_card).
int IntOf(const json& v, const std::string& what) {
  if (v.is_number_unsigned() && v.get<std::uint64_t>() <= std::uint64_t(std::numeric_limits<int>::max())) {
    return static_cast<int>(v.get<std::uint64_t>());
  }
  if (v.is_number_integer() && !v.is_number_unsigned()) {
    const auto i = v.get<std::int64_t>();
    if (i >= std::numeric_limits<int>::min() && i <= std::numeric_limits<int>::max()) return static_cast<int>(i);
  }
  throw std::invalid_argument(what + ": expected an integer, got " + v.dump());
}
int IntOr(const json& object, const char* key, int fallback, const std::string& where) {
  return object.contains(key) ? IntOf(object.at(key), where + key) : fallback;
}
template <std::size_t N>
std::array<int, N> IntsOf(const json& v, const std::string& what) {
  if (!v.is_array() || v.size() != N) {
    throw std::invalid_argument(what + ": expected " + std::to_string(N) + " integers, got " + v.dump());
  }
  std::array<int, N> out{};
  for (std::size_t i = 0; i < N; ++i) out[i] = IntOf(v[i], what);
  return out;
}

Shape3 ShapeOf(const json& v, const std::string& what) {
  const auto i = IntsOf<3>(v, what);
  return {i[0], i[1], i[2]};
}

}  // namespace

ModelCard ModelCardFromJson(const json& j) {
  ModelCard c;
  try {
    c.name = j.value("name", "");
    c.format = j.value("format", "cardioseg");
    if (c.format != "cardioseg" && c.format != "torchscript") {
      throw std::invalid_argument("format must be \"cardioseg\" or \"torchscript\"");
    }
    c.weights = j.at("weights").get<std::string>();
    const json& a = j.at("architecture");
    c.architecture.type = a.value("type", "unet");
    if (c.architecture.type != "unet" && c.architecture.type != "attention_unet" &&
        c.architecture.type != "vnet" && c.architecture.type != "resenc_unet") {
      throw std::invalid_argument(
          "architecture.type must be \"unet\", \"attention_unet\", \"vnet\" or \"resenc_unet\"");
    }
    c.architecture.in_channels = IntOr(a, "in_channels", 1, "architecture.");
    c.architecture.num_classes = IntOf(a.at("num_classes"), "architecture.num_classes");
    c.architecture.base_channels = IntOr(a, "base_channels", 16, "architecture.");
    c.architecture.max_channels = IntOr(a, "max_channels", 256, "architecture.");
    c.architecture.deep_supervision = a.value("deep_supervision", false);
    for (const auto& l : a.value("levels", json::array())) {
      c.architecture.levels.push_back({ShapeOf(l.at("kernel"), "architecture.levels.kernel"),
                                       ShapeOf(l.at("stride"), "architecture.levels.stride")});
    }
    if (a.contains("blocks_per_level")) {
      const json& b = a.at("blocks_per_level");
      if (!b.is_array()) throw std::invalid_argument("architecture.blocks_per_level: expected an array");
      for (const auto& v : b) c.architecture.blocks_per_level.push_back(IntOf(v, "architecture.blocks_per_level"));
    }
    if (c.format == "cardioseg" && c.architecture.levels.empty()) {
      throw std::invalid_argument("architecture.levels is empty");
    }
    for (const auto& l : j.value("labels", json::array())) {
      LabelInfo info;
      info.value = IntOf(l.at("value"), "labels.value");
      info.name = l.at("name").get<std::string>();
      info.color = l.contains("color") ? IntsOf<3>(l["color"], "labels.color")
                                       : DefaultLabelColor(info.value);
      c.labels.push_back(info);
    }
    c.patch_size = ShapeOf(j.at("patch_size_dhw"), "patch_size_dhw");
    c.spacing_mm = j.at("spacing_mm").get<std::array<double, 3>>();
    c.preprocessing = j.value("preprocessing", json::object());
    c.provenance = j.value("provenance", json::object());
    if (j.contains("inference")) {
      const json& inference = j.at("inference");
      if (!inference.is_object()) throw std::invalid_argument("inference: expected an object");
      if (inference.contains("max_tile_stretch")) {
        if (!inference["max_tile_stretch"].is_number()) {
          throw std::invalid_argument("inference.max_tile_stretch: expected a number");
        }
        c.max_tile_stretch = inference["max_tile_stretch"].get<double>();
      }
    }
  } catch (const json::exception& e) {
    throw std::invalid_argument(e.what());
  }
  const auto require = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument(what);
  };
  const auto& arch = c.architecture;
  require(arch.num_classes >= 2 && arch.num_classes <= 256,
          "architecture.num_classes must be in [2, 256] (label maps are uint8)");
  require(arch.in_channels >= 1 && arch.in_channels <= 16, "architecture.in_channels must be in [1, 16]");
  require(arch.base_channels >= 1 && arch.base_channels <= 1024,
          "architecture.base_channels must be in [1, 1024]");
  require(arch.max_channels >= arch.base_channels && arch.max_channels <= 4096,
          "architecture.max_channels must be in [base_channels, 4096]");
  require(arch.levels.size() <= 8, "architecture.levels: at most 8 levels");
  require(c.max_tile_stretch >= 1 && c.max_tile_stretch <= 2, "inference.max_tile_stretch must be in [1, 2]");
  for (std::size_t i = 0; i < arch.levels.size(); ++i) {
    for (int a = 0; a < 3; ++a) {
      const auto k = arch.levels[i].kernel[a], st = arch.levels[i].stride[a];
      require(k >= 1 && k <= 7 && k % 2 == 1,
              "architecture.levels[" + std::to_string(i) + "].kernel: odd sizes 1 to 7");
      require(st >= 1 && st <= 4, "architecture.levels[" + std::to_string(i) + "].stride: 1 to 4");
    }
  }
  if (!arch.blocks_per_level.empty()) {
    require(arch.blocks_per_level.size() == arch.levels.size(),
            "architecture.blocks_per_level: one entry per level");
    const int most = arch.type == "vnet" ? 3 : 16;
    for (int b : arch.blocks_per_level) {
      require(b >= 1 && b <= most, "architecture.blocks_per_level: each in [1, " + std::to_string(most) + "]");
    }
  }
  for (int a = 0; a < 3; ++a) {
    require(c.patch_size[a] >= 1 && c.patch_size[a] <= 1024, "patch_size_dhw: each in [1, 1024]");
    require(std::isfinite(c.spacing_mm[a]) && c.spacing_mm[a] > 0 && c.spacing_mm[a] <= 100,
            "spacing_mm: each a positive number of mm (at most 100)");
  }
  std::set<int> values;
  for (const auto& l : c.labels) {
    require(l.value >= 0 && l.value <= 255,
            "labels: value " + std::to_string(l.value) + " is outside [0, 255] (seg.nii.gz is uint8)");
    require(values.insert(l.value).second, "labels: value " + std::to_string(l.value) + " twice");
    for (int ch : l.color) require(ch >= 0 && ch <= 255, "labels: colour components are 0 to 255");
  }
  if (!c.labels.empty()) {
    require(static_cast<int>(c.labels.size()) == arch.num_classes,
            "labels: " + std::to_string(c.labels.size()) + " labels for num_classes " +
                std::to_string(arch.num_classes));
  }
  return c;
}

ModelCard ReadModelCard(const std::filesystem::path& model_dir) {
  const auto path = model_dir / "model.json";
  std::ifstream in(path, std::ios::binary);
  if (!in || !std::filesystem::is_regular_file(path)) {
    throw InputError(path.string(), "no model card (model.json) in the model folder");
  }
  std::ostringstream text;
  text << in.rdbuf();
  try {
    return ModelCardFromJson(config::ParseJsonText(text.str(), path.string()));
  } catch (const std::exception& e) {
    throw InputError(path.string(), std::string("invalid model card: ") + e.what());
  }
}

}  // namespace cardioseg::nn
