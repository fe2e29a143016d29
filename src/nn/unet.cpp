#include <stdexcept>

#include "cardioseg/nn/network.h"

namespace cardioseg::nn {
namespace {

torch::ExpandingArray<3> Arr(const Shape3& s) { return torch::ExpandingArray<3>({s[0], s[1], s[2]}); }
Shape3 Padding(const Shape3& kernel) { return {kernel[0] / 2, kernel[1] / 2, kernel[2] / 2}; }

}  // namespace

std::vector<int> LevelChannels(const ArchitectureConfig& config) {
  std::vector<int> channels;
  int c = config.base_channels;
  for (std::size_t l = 0; l < config.levels.size(); ++l) {
    channels.push_back(std::min(c, config.max_channels));
    c *= 2;
  }
  return channels;
}

std::vector<UNetImpl::Block> UNetImpl::MakeBlocks(const std::string& prefix, int in, int out,
                                                  const Shape3& kernel, const Shape3& first_stride) {
  std::vector<Block> blocks;
  for (int b = 0; b < 2; ++b) {
    Block block;
    const Shape3 stride = b == 0 ? first_stride : Shape3{1, 1, 1};
    block.conv = register_module(
        prefix + "_conv" + std::to_string(b),
        torch::nn::Conv3d(torch::nn::Conv3dOptions(b == 0 ? in : out, out, Arr(kernel))
                              .stride(Arr(stride))
                              .padding(Arr(Padding(kernel)))));
    block.norm = register_module(prefix + "_norm" + std::to_string(b),
                                 torch::nn::InstanceNorm3d(
                                     torch::nn::InstanceNorm3dOptions(out).affine(true).eps(1e-5)));
    blocks.push_back(block);
  }
  return blocks;
}

UNetImpl::UNetImpl(const ArchitectureConfig& config) : config_(config) {
  if (config.levels.empty()) throw std::invalid_argument("U-Net needs at least one level");
  const auto channels = LevelChannels(config);
  const int n = static_cast<int>(config.levels.size());
  for (int l = 0; l < n; ++l) {
    const int in = l == 0 ? config.in_channels : channels[l - 1];
    encoder_.push_back(MakeBlocks("enc" + std::to_string(l), in, channels[l],
                                  config.levels[l].kernel, config.levels[l].stride));
  }
  // Decoder level l (n-2 .. 0) receives level l+1's output.
  for (int l = n - 2; l >= 0; --l) {
    const Shape3 s = config.levels[l + 1].stride;
    up_.push_back(register_module(
        "up" + std::to_string(l),
        torch::nn::ConvTranspose3d(
            torch::nn::ConvTranspose3dOptions(channels[l + 1], channels[l], Arr(s)).stride(Arr(s)))));
    decoder_.push_back(MakeBlocks("dec" + std::to_string(l), 2 * channels[l], channels[l],
                                  config.levels[l].kernel, {1, 1, 1}));
    heads_.push_back(register_module(
        "head" + std::to_string(l),
        torch::nn::Conv3d(torch::nn::Conv3dOptions(channels[l], config.num_classes, 1))));
    if (config.type == "attention_unet") {
      const int inter = std::max(1, channels[l] / 2);
      att_x_.push_back(register_module(
          "att_x" + std::to_string(l),
          torch::nn::Conv3d(torch::nn::Conv3dOptions(channels[l], inter, 1).bias(false))));
      att_g_.push_back(register_module(
          "att_g" + std::to_string(l),
          torch::nn::Conv3d(torch::nn::Conv3dOptions(channels[l + 1], inter, 1))));
      att_psi_.push_back(register_module(
          "att_psi" + std::to_string(l), torch::nn::Conv3d(torch::nn::Conv3dOptions(inter, 1, 1))));
    }
  }
  if (n == 1) {
    heads_.push_back(register_module(
        "head0", torch::nn::Conv3d(torch::nn::Conv3dOptions(channels[0], config.num_classes, 1))));
  }
}

double ForwardFlops(const ArchitectureConfig& config, const Shape3& patch) {
  const auto channels = LevelChannels(config);
  const int n = static_cast<int>(config.levels.size());
  const auto prod = [](const Shape3& s) { return double(s[0]) * double(s[1]) * double(s[2]); };
  std::vector<Shape3> size(n);
  Shape3 current = patch;
  double flops = 0;
  for (int l = 0; l < n; ++l) {
    const auto& lv = config.levels[l];
    for (int a = 0; a < 3; ++a) current[a] = std::max<int64_t>(1, current[a] / lv.stride[a]);
    size[l] = current;
    const int in = l == 0 ? config.in_channels : channels[l - 1];
    flops += 2.0 * in * channels[l] * prod(lv.kernel) * prod(current);
    flops += 2.0 * channels[l] * channels[l] * prod(lv.kernel) * prod(current);
  }
  for (int l = n - 2; l >= 0; --l) {
    flops += 2.0 * channels[l + 1] * channels[l] * prod(config.levels[l + 1].stride) * prod(size[l + 1]);
    flops += 2.0 * (2 * channels[l]) * channels[l] * prod(config.levels[l].kernel) * prod(size[l]);
    flops += 2.0 * channels[l] * channels[l] * prod(config.levels[l].kernel) * prod(size[l]);
  }
  flops += 2.0 * channels[0] * config.num_classes * prod(size[0]);
  return flops;
}

torch::Tensor UNetImpl::RunBlocks(std::vector<Block>& blocks, torch::Tensor x) {
  for (auto& b : blocks) {
    x = torch::leaky_relu(b.norm->forward(b.conv->forward(x)), 0.01);
  }
  return x;
}

std::vector<torch::Tensor> UNetImpl::forward(torch::Tensor x) {
  const int n = static_cast<int>(encoder_.size());
  std::vector<torch::Tensor> skips;
  for (int l = 0; l < n; ++l) {
    x = RunBlocks(encoder_[l], x);
    skips.push_back(x);
  }
  if (n == 1) return {heads_[0]->forward(x)};
  std::vector<torch::Tensor> outputs;  // coarse to fine while decoding
  for (int i = 0; i < n - 1; ++i) {
    const int l = n - 2 - i;
    torch::Tensor skip = skips[l];
    if (!att_x_.empty()) {
      // Gate from the coarser features, brought to the skip's resolution.
      auto g = torch::nn::functional::interpolate(
          att_g_[i]->forward(x), torch::nn::functional::InterpolateFuncOptions()
                                     .size(std::vector<int64_t>(skip.sizes().begin() + 2,
                                                                skip.sizes().end()))
                                     .mode(torch::kTrilinear)
                                     .align_corners(false));
      auto alpha = torch::sigmoid(att_psi_[i]->forward(torch::relu(att_x_[i]->forward(skip) + g)));
      skip = skip * alpha;
    }
    x = up_[i]->forward(x);
    x = RunBlocks(decoder_[i], torch::cat({x, skip}, 1));
    if (l == 0 || (config_.deep_supervision && is_training())) {
      outputs.push_back(heads_[i]->forward(x));
    }
  }
  std::reverse(outputs.begin(), outputs.end());  // finest first
  return outputs;
}

torch::Device ResolveDevice(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda") {
    if (!torch::cuda::is_available()) {
      throw std::invalid_argument("device \"cuda\" requested, but this LibTorch build sees no CUDA device");
    }
    return torch::kCUDA;
  }
  if (name == "auto") return torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;
  throw std::invalid_argument("unknown device \"" + name + "\" (expected auto, cpu or cuda)");
}

}  // namespace cardioseg::nn
