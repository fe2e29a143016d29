#include <algorithm>
#include <stdexcept>

#include <ATen/autocast_mode.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "cardioseg/nn/network.h"

namespace cardioseg::nn {
namespace {

namespace F = torch::nn::functional;
using torch::indexing::Slice;

// Every subset of `axes` (as tensor dims of a [B, C, D, H, W] batch), the empty one first.
std::vector<std::vector<int64_t>> MirrorSets(const std::vector<int>& axes) {
  std::vector<std::vector<int64_t>> sets;
  for (unsigned mask = 0; mask < (1u << axes.size()); ++mask) {
    std::vector<int64_t> dims;
    for (std::size_t i = 0; i < axes.size(); ++i) {
      if (mask & (1u << i)) dims.push_back(axes[i] + 2);
    }
    sets.push_back(dims);
  }
  return sets;
}

}  // namespace

const char* PrecisionName(Precision precision) {
  switch (precision) {
    case Precision::kBFloat16: return "bf16";
    case Precision::kFloat16: return "fp16";
    default: return "fp32";
  }
}

bool CpuHasBf16() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  const bool amx_bf16 = (edx >> 22) & 1u;
  const unsigned max_subleaf = eax;
  bool avx512_bf16 = false;
  if (max_subleaf >= 1 && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) {
    avx512_bf16 = (eax >> 5) & 1u;
  }
  return avx512_bf16 || amx_bf16;
#else
  return false;
#endif
}

Precision ResolvePrecision(const std::string& name, const torch::Device& device) {
  if (name == "fp32") return Precision::kFloat32;
  if (name == "auto") {
    return device.is_cuda() || CpuHasBf16() ? Precision::kBFloat16 : Precision::kFloat32;
  }
  if (name == "bf16") {
    if (!device.is_cuda() && !CpuHasBf16()) {
      throw std::invalid_argument(
          "bf16 asked for, but this CPU has no bfloat16 instructions (AVX512_BF16 or AMX-BF16); "
          "use fp32 or auto");
    }
    return Precision::kBFloat16;
  }
  if (name == "fp16") {
    if (!device.is_cuda()) throw std::invalid_argument("fp16 needs a CUDA device; use bf16 or fp32");
    return Precision::kFloat16;
  }
  throw std::invalid_argument("unknown precision '" + name + "' (auto, fp32, bf16, fp16)");
}

AutocastScope::AutocastScope(const torch::Device& device, Precision precision) {
  if (precision == Precision::kFloat32) return;
  if (precision == Precision::kFloat16 && !device.is_cuda()) return;
  active_ = true;
  cuda_ = device.is_cuda();
  const auto dtype = precision == Precision::kBFloat16 ? at::kBFloat16 : at::kHalf;
  if (cuda_) {
    previous_enabled_ = at::autocast::is_enabled();
    previous_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(true);
  } else {
    previous_enabled_ = at::autocast::is_cpu_enabled();
    previous_dtype_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_autocast_cpu_dtype(dtype);
    at::autocast::set_cpu_enabled(true);
  }
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  at::autocast::clear_cache();
  if (cuda_) {
    at::autocast::set_enabled(previous_enabled_);
    at::autocast::set_autocast_gpu_dtype(previous_dtype_);
  } else {
    at::autocast::set_cpu_enabled(previous_enabled_);
    at::autocast::set_autocast_cpu_dtype(previous_dtype_);
  }
}

void ToChannelsLast3d(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters()) {
    if (p.dim() == 5) p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast3d));
  }
  for (auto& b : module.buffers()) {
    if (b.dim() == 5) b.set_data(b.data().contiguous(torch::MemoryFormat::ChannelsLast3d));
  }
}

torch::Tensor SlidingWindowLogits(const torch::Tensor& volume,
                                  const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                                  const SlidingWindowOptions& options, const torch::Device& device,
                                  const std::function<void(int, int)>& on_tile) {
  TORCH_CHECK(volume.dim() == 4, "sliding window expects a [C, D, H, W] volume");
  const Shape3 size{volume.size(1), volume.size(2), volume.size(3)};
  // Pad symmetrically up to the patch where the volume is smaller.
  Shape3 padded = size, before{0, 0, 0};
  for (int a = 0; a < 3; ++a) {
    if (size[a] < options.patch[a]) {
      padded[a] = options.patch[a];
      before[a] = (options.patch[a] - size[a]) / 2;
    }
  }
  torch::Tensor input = volume;
  if (padded != size) {
    input = F::pad(volume.unsqueeze(0),
                   F::PadFuncOptions({before[2], padded[2] - size[2] - before[2], before[1],
                                      padded[1] - size[1] - before[1], before[0],
                                      padded[0] - size[0] - before[0]}))
                .squeeze(0);
  }
  const auto origins = TileOrigins(padded, options.patch, options.step_fraction);
  const auto gaussian_values = GaussianImportanceMap(options.patch, options.sigma_scale);
  const auto gaussian =
      torch::from_blob(const_cast<float*>(gaussian_values.data()),
                       {options.patch[0], options.patch[1], options.patch[2]}, torch::kFloat)
          .clone();
  const auto mirror_sets = MirrorSets(options.mirror_axes);

  torch::Tensor logits;  // [K, D, H, W], allocated when K is known
  torch::Tensor weights = torch::zeros({padded[0], padded[1], padded[2]}, torch::kFloat);
  const int total = static_cast<int>(origins.size());
  const int batch = std::max(1, options.batch_tiles);
  torch::NoGradGuard no_grad;
  for (int first = 0; first < total; first += batch) {
    const int last = std::min(total, first + batch);
    std::vector<torch::Tensor> tiles;
    for (int t = first; t < last; ++t) {
      const auto& o = origins[t];
      tiles.push_back(input.index({Slice(), Slice(o[0], o[0] + options.patch[0]),
                                   Slice(o[1], o[1] + options.patch[1]),
                                   Slice(o[2], o[2] + options.patch[2])}));
    }
    const torch::Tensor x = torch::stack(tiles).to(device);
    torch::Tensor prediction;
    for (const auto& dims : mirror_sets) {
      torch::Tensor out;
      const torch::Tensor xin = dims.empty() ? x : torch::flip(x, dims);
      {
        AutocastScope autocast(device, options.precision);
        out = forward(xin).to(torch::kFloat);
      }
      if (!dims.empty()) out = torch::flip(out, dims);
      prediction = prediction.defined() ? prediction + out : out;
    }
    prediction = (prediction / static_cast<double>(mirror_sets.size())).to(torch::kCPU);
    if (!logits.defined()) {
      logits = torch::zeros({prediction.size(1), padded[0], padded[1], padded[2]}, torch::kFloat);
    }
    for (int t = first; t < last; ++t) {
      const auto& o = origins[t];
      const auto region = std::vector<torch::indexing::TensorIndex>{
          Slice(o[0], o[0] + options.patch[0]), Slice(o[1], o[1] + options.patch[1]),
          Slice(o[2], o[2] + options.patch[2])};
      auto target = logits.index({Slice(), region[0], region[1], region[2]});
      target.add_(prediction[t - first] * gaussian);
      weights.index(region).add_(gaussian);
    }
    if (on_tile) on_tile(last, total);
  }
  logits.div_(weights);
  return logits
      .index({Slice(), Slice(before[0], before[0] + size[0]), Slice(before[1], before[1] + size[1]),
              Slice(before[2], before[2] + size[2])})
      .contiguous();
}

}  // namespace cardioseg::nn
