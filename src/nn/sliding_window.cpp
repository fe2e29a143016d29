#include <algorithm>

#include <ATen/autocast_mode.h>

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
      if (options.autocast_fp16 && device.is_cuda()) {
        at::autocast::set_enabled(true);
        out = forward(xin).to(torch::kFloat);
        at::autocast::clear_cache();
        at::autocast::set_enabled(false);
      } else {
        out = forward(xin);
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
