#include "cardioseg/nn/predictor.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include <spdlog/spdlog.h>
#include <torch/script.h>
#include <torch/version.h>

#include "cardioseg/core/config.h"
#include "cardioseg/core/error.h"
#include "cardioseg/nn/network.h"

namespace cardioseg::nn {

nlohmann::json TorchRuntimeInfo() {
  nlohmann::json devices = nlohmann::json::array({"cpu"});
  const bool cuda = torch::cuda::is_available();
  for (std::size_t i = 0; cuda && i < torch::cuda::device_count(); ++i) {
    devices.push_back("cuda:" + std::to_string(i));
  }
  return {{"version", TORCH_VERSION},
          {"threads", torch::get_num_threads()},
          {"cuda_available", cuda},
          {"devices", devices}};
}

struct Predictor::Impl {
  ModelCard card;
  std::filesystem::path dir;
  PredictorOptions options;
  torch::Device device{torch::kCPU};
  Precision precision = Precision::kFloat32;
  UNet unet{nullptr};
  std::shared_ptr<torch::jit::script::Module> script;
};

Predictor::Predictor() : impl_(std::make_unique<Impl>()) {}
Predictor::~Predictor() = default;
const ModelCard& Predictor::card() const { return impl_->card; }
const std::filesystem::path& Predictor::model_dir() const { return impl_->dir; }
std::string Predictor::device() const { return impl_->device.str(); }
std::string Predictor::precision() const { return PrecisionName(impl_->precision); }

std::unique_ptr<Predictor> Predictor::Load(const std::filesystem::path& model_dir,
                                           const PredictorOptions& options) {
  std::unique_ptr<Predictor> p(new Predictor());
  auto& impl = *p->impl_;
  impl.dir = model_dir;
  impl.options = options;
  impl.card = ReadModelCard(model_dir);
  try {
    impl.device = ResolveDevice(options.device);
  } catch (const std::invalid_argument& e) {
    throw InputError(model_dir.string(), e.what());
  }
  // "auto": bf16 on a CPU with bf16 instructions, fp16 on CUDA (as before), fp32 elsewhere.
  if (options.precision == "auto") {
    impl.precision = impl.device.is_cuda() ? Precision::kFloat16
                     : CpuHasBf16()        ? Precision::kBFloat16
                                           : Precision::kFloat32;
    if (!impl.device.is_cuda() && !CpuHasBf16()) {
      spdlog::info("this CPU has no bfloat16 instructions: inference runs in fp32");
    }
  } else {
    try {
      impl.precision = ResolvePrecision(options.precision, impl.device);
    } catch (const std::invalid_argument& e) {
      throw ConfigError(std::string("inference.unet.precision: ") + e.what());
    }
  }
  if (options.max_tile_stretch != 0 && !(options.max_tile_stretch >= 1 && options.max_tile_stretch <= 2)) {
    throw ConfigError("inference.unet.max_tile_stretch: 0 (the model card's) or 1 to 2, not " +
                      std::to_string(options.max_tile_stretch));
  }
  torch::set_num_threads(config::ThreadCount(options.threads));
  const auto weights = model_dir / impl.card.weights;
  if (!std::filesystem::exists(weights)) {
    throw InputError(weights.string(), "weights file named in model.json is missing");
  }
  try {
    if (impl.card.format == "torchscript") {
      impl.script = std::make_shared<torch::jit::script::Module>(
          torch::jit::load(weights.string(), impl.device));
      impl.script->eval();
    } else {
      impl.unet = UNet(impl.card.architecture);
      std::vector<std::pair<std::string, std::vector<int64_t>>> expected;
      for (const auto& item : impl.unet->named_parameters()) {
        expected.emplace_back(item.key(), item.value().sizes().vec());
      }
      torch::load(impl.unet, weights.string());
      // torch::load replaces tensors whatever their shape: check them against the card.
      const auto loaded = impl.unet->named_parameters();
      if (loaded.size() != expected.size()) {
        throw InputError(weights.string(), "the weights do not match the architecture in model.json");
      }
      for (const auto& [name, sizes] : expected) {
        const auto* t = loaded.find(name);
        if (!t || t->sizes().vec() != sizes) {
          throw InputError(weights.string(),
                           "the weights do not match the architecture in model.json: " + name +
                               (t ? " has shape " + c10::str(t->sizes()) + ", the card gives " +
                                        c10::str(c10::IntArrayRef(sizes))
                                  : " is missing"));
        }
      }
      impl.unet->to(impl.device);
      impl.unet->eval();
    }
  } catch (const c10::Error& e) {
    throw InputError(weights.string(), std::string("cannot load the weights: ") + e.what_without_backtrace());
  }
  spdlog::debug("model {} loaded on {}", model_dir.string(), impl.device.str());
  return p;
}

std::vector<float> Predictor::PredictProbabilities(const std::vector<float>& volume,
                                                   const Shape3& size,
                                                   PredictionStats* stats,
                                                   const PredictionStats* box_from) const {
  auto& impl = *impl_;  // forward() is not const in LibTorch
  const int channels = impl.card.architecture.in_channels;
  if (volume.size() != static_cast<std::size_t>(channels * size[0] * size[1] * size[2])) {
    throw std::invalid_argument("volume size does not match [C, D, H, W]");
  }
  const auto start = std::chrono::steady_clock::now();
  const torch::Tensor x =
      torch::from_blob(const_cast<float*>(volume.data()), {channels, size[0], size[1], size[2]},
                       torch::kFloat);
  SlidingWindowOptions sw;
  sw.patch = impl.card.patch_size;
  sw.step_fraction = impl.options.step_fraction;
  sw.batch_tiles = impl.options.batch_tiles;
  sw.precision = impl.precision;
  if (impl.options.mirroring) {
    // Mirror in-plane always; along D only where the network convolves across slices.
    sw.mirror_axes = {1, 2};
    if (impl.card.architecture.levels.empty() || impl.card.architecture.levels[0].kernel[0] == 3) {
      sw.mirror_axes.insert(sw.mirror_axes.begin(), 0);
    }
  }
  const int mirrorings = 1 << sw.mirror_axes.size();
  // Stretched tiles need the network's stride product per axis: known for our own networks only.
  Shape3 multiple{1, 1, 1};
  double stretch = 1.0;
  if (!impl.script && !impl.card.architecture.levels.empty()) {
    stretch = impl.options.max_tile_stretch > 0 ? impl.options.max_tile_stretch : impl.card.max_tile_stretch;
    for (const auto& level : impl.card.architecture.levels) {
      for (int a = 0; a < 3; ++a) multiple[a] *= level.stride[a];
    }
  }
  auto tile_for = [&](const Shape3& s) { return StretchedTile(s, sw.patch, multiple, stretch); };
  auto forward = [&](const torch::Tensor& batch) -> torch::Tensor {
    if (impl.script) {
      auto out = impl.script->forward({batch});
      if (out.isTensor()) return out.toTensor();
      if (out.isTuple()) return out.toTuple()->elements()[0].toTensor();
      if (out.isList()) return out.toList().get(0).toTensor();
      throw std::runtime_error("TorchScript model returned neither a tensor nor a tuple/list");
    }
    return impl.unet->forward(batch)[0];
  };
  int tiles = 0;
  double gflop = 0;
  Shape3 last_tile = sw.patch;
  auto run_window = [&](const torch::Tensor& input) {
    SlidingWindowOptions local = sw;
    local.patch = tile_for({input.size(1), input.size(2), input.size(3)});
    last_tile = local.patch;
    int done = 0;
    auto logits = SlidingWindowLogits(input, forward, local, impl.device, [&](int d, int) { done = d; });
    tiles += done;
    if (!impl.script) gflop += ForwardFlops(impl.card.architecture, local.patch) * done * mirrorings / 1e9;
    return logits;
  };

  PredictionStats local;
  PredictionStats& st = stats ? *stats : local;
  st = PredictionStats{};
  st.size = size;
  st.tiles_without_box = static_cast<int>(TileCount(size, tile_for(size), sw.step_fraction));
  st.box = Box3{{0, 0, 0}, size};
  // Spacing in tensor order [D, H, W] = card (k, j, i).
  const std::array<double, 3> spacing{impl.card.spacing_mm[2], impl.card.spacing_mm[1],
                                      impl.card.spacing_mm[0]};
  // The coarse pass: sets st.box / st.heart_box (or the note saying why the whole volume is used).
  auto find_box = [&]() {
    st.heart_box = false;
    st.box = Box3{{0, 0, 0}, size};
    const double finest = std::min({spacing[0], spacing[1], spacing[2]});
    Shape3 coarse = size;
    for (int a = 0; a < 3; ++a) {
      if (spacing[a] < 3.0 * finest) {
        coarse[a] = std::max<int64_t>(1, std::llround(size[a] / impl.options.heart_box_downsample));
      }
    }
    namespace F = torch::nn::functional;
    const auto x_coarse = F::interpolate(x.unsqueeze(0), F::InterpolateFuncOptions()
                                                             .size(std::vector<int64_t>(coarse.begin(), coarse.end()))
                                                             .mode(torch::kTrilinear)
                                                             .align_corners(false))
                              .squeeze(0);
    const int before = tiles;
    const auto foreground = run_window(x_coarse).argmax(0) > 0;  // [d, h, w]
    st.coarse_size = coarse;
    st.coarse_tiles += tiles - before;
    const auto nz = foreground.nonzero();  // [n, 3]
    if (nz.size(0) == 0) {
      st.heart_box_note = "the coarse pass found no foreground: whole volume";
      return;
    }
    const auto first = std::get<0>(nz.min(0));
    const auto last = std::get<0>(nz.max(0));
    Shape3 f{}, l{}, margin{};
    for (int a = 0; a < 3; ++a) {
      f[a] = first[a].item<int64_t>();
      l[a] = last[a].item<int64_t>();
      margin[a] = static_cast<int64_t>(std::ceil(impl.options.heart_box_margin_mm / spacing[a]));
    }
    const Box3 box = HeartBoxOnFineGrid(f, l, coarse, size, margin, sw.patch);
    if (TileCount(box.size, tile_for(box.size), sw.step_fraction) >= st.tiles_without_box) {
      st.heart_box_note = "the box takes as many tiles as the whole volume";
    } else {
      st.box = box;
      st.heart_box = true;
    }
  };
  using torch::indexing::Slice;
  auto region_of = [](const Box3& b) {
    return std::vector<torch::indexing::TensorIndex>{
        Slice(), Slice(b.start[0], b.start[0] + b.size[0]), Slice(b.start[1], b.start[1] + b.size[1]),
        Slice(b.start[2], b.start[2] + b.size[2])};
  };
  // Whether the box's foreground touches a face of the box that is not on the volume's border,
  // or the box holds no foreground at all (the heart is elsewhere).
  auto box_misses_heart = [&](const torch::Tensor& inside_probabilities, const Box3& b) {
    const auto fg = inside_probabilities.argmax(0) > 0;  // [d, h, w] of the box
    if (!fg.any().item<bool>()) return true;
    for (int a = 0; a < 3; ++a) {
      if (b.start[a] > 0 && fg.select(a, 0).any().item<bool>()) return true;
      if (b.start[a] + b.size[a] < size[a] && fg.select(a, b.size[a] - 1).any().item<bool>()) return true;
    }
    return false;
  };

  const bool box_pass = impl.options.heart_box && st.tiles_without_box > 2 && impl.options.heart_box_downsample > 1;
  if (box_pass && box_from && box_from->size == size) {
    st.heart_box = box_from->heart_box;
    st.box = box_from->box;
    st.heart_box_note = box_from->heart_box_note;
    st.coarse_size = box_from->coarse_size;
    st.heart_box_reused = true;
  } else if (box_pass) {
    find_box();
  }

  auto predict_in_box = [&]() { return torch::softmax(run_window(x.index(region_of(st.box)).contiguous()), 0); };
  torch::Tensor inside;
  if (st.heart_box) {
    inside = predict_in_box();
    if (st.heart_box_reused && box_misses_heart(inside, st.box)) {
      st.heart_box_reused = false;
      find_box();
      st.heart_box_note = "the reused box cut the foreground or held none: found anew" +
                          (st.heart_box_note.empty() ? std::string() : "; " + st.heart_box_note);
      if (st.heart_box) inside = predict_in_box();
    }
  }
  torch::Tensor probabilities;
  if (!st.heart_box) {
    probabilities = torch::softmax(run_window(x), 0).contiguous();
  } else {
    probabilities = torch::zeros({inside.size(0), size[0], size[1], size[2]}, torch::kFloat);
    probabilities[0].fill_(1.0f);
    probabilities.index_put_(region_of(st.box), inside);
  }
  st.tiles = tiles;
  st.tile = last_tile;
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  st.device = impl.device.str();
  st.precision = PrecisionName(impl.precision);
  st.forward_passes = tiles * mirrorings;
  st.gflop = gflop;
  const float* p = probabilities.data_ptr<float>();
  return std::vector<float>(p, p + probabilities.numel());
}

}  // namespace cardioseg::nn
