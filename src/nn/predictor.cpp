#include "cardioseg/nn/predictor.h"

#include <chrono>
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
                                                   PredictionStats* stats) const {
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
  int tiles = 0;
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
  torch::Tensor logits = SlidingWindowLogits(x, forward, sw, impl.device,
                                             [&](int done, int) { tiles = done; });
  torch::Tensor probabilities = torch::softmax(logits, 0).contiguous();
  if (stats) {
    stats->tiles = tiles;
    stats->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    stats->device = impl.device.str();
    stats->precision = PrecisionName(impl.precision);
    const int mirrorings = 1 << sw.mirror_axes.size();
    stats->forward_passes = tiles * mirrorings;
    if (!impl.script) {
      stats->gflop = ForwardFlops(impl.card.architecture, impl.card.patch_size) * stats->forward_passes / 1e9;
    }
  }
  const float* p = probabilities.data_ptr<float>();
  return std::vector<float>(p, p + probabilities.numel());
}

}  // namespace cardioseg::nn
