#include <algorithm>
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

UNetImpl::Block UNetImpl::MakeBlock(const std::string& prefix, int in, int out, const Shape3& kernel,
                                    const Shape3& stride) {
  Block block;
  block.conv = register_module(prefix + "_conv", torch::nn::Conv3d(torch::nn::Conv3dOptions(in, out, Arr(kernel))
                                                                       .stride(Arr(stride))
                                                                       .padding(Arr(Padding(kernel)))));
  block.norm = register_module(
      prefix + "_norm", torch::nn::InstanceNorm3d(torch::nn::InstanceNorm3dOptions(out).affine(true).eps(1e-5)));
  return block;
}

UNetImpl::VStage UNetImpl::MakeVStage(const std::string& prefix, int in, int channels,
                                      const Shape3& kernel, int convs) {
  VStage stage;
  for (int i = 0; i < convs; ++i) {
    stage.convs.push_back(MakeBlock(prefix + "_c" + std::to_string(i), i == 0 ? in : channels, channels,
                                    kernel, {1, 1, 1}));
    stage.acts.push_back(register_module(prefix + "_act" + std::to_string(i),
                                         torch::nn::PReLU(torch::nn::PReLUOptions().num_parameters(channels))));
  }
  return stage;
}

std::vector<UNetImpl::Block> UNetImpl::MakeBlocks(const std::string& prefix, int in, int out,
                                                  const Shape3& kernel, const Shape3& first_stride,
                                                  int count) {
  std::vector<Block> blocks;
  for (int b = 0; b < count; ++b) {
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
  const auto& type = config.type;
  if (type != "unet" && type != "attention_unet" && type != "vnet" && type != "resenc_unet") {
    throw std::invalid_argument("unknown architecture \"" + type + "\"");
  }
  const auto channels = LevelChannels(config);
  const int n = static_cast<int>(config.levels.size());
  const auto blocks = BlocksPerLevel(config);
  if ((type == "vnet" || type == "resenc_unet") && static_cast<int>(blocks.size()) != n) {
    throw std::invalid_argument(type + ": blocks_per_level needs one entry per level");
  }
  for (int b : blocks) {
    if (b < 1 || b > (type == "vnet" ? 3 : 16)) {
      throw std::invalid_argument(type + ": blocks per level out of range (vnet 1-3, resenc_unet 1-16)");
    }
  }
  if (type == "vnet") {
    for (int l = 0; l < n; ++l) {
      const std::string p = "enc" + std::to_string(l);
      const int in = l == 0 ? config.in_channels : channels[l - 1];
      VStage stage = MakeVStage(p, l == 0 ? in : channels[l], channels[l], config.levels[l].kernel, blocks[l]);
      if (l == 0) {
        stage.project = register_module(p + "_project", torch::nn::Conv3d(torch::nn::Conv3dOptions(in, channels[0], 1)));
      } else {
        const Shape3 st = config.levels[l].stride;
        stage.down = register_module(p + "_down", torch::nn::Conv3d(torch::nn::Conv3dOptions(in, channels[l], Arr(st)).stride(Arr(st))));
        stage.resample_norm = register_module(p + "_down_norm", torch::nn::InstanceNorm3d(
            torch::nn::InstanceNorm3dOptions(channels[l]).affine(true).eps(1e-5)));
        stage.resample_act = register_module(p + "_down_act", torch::nn::PReLU(torch::nn::PReLUOptions().num_parameters(channels[l])));
      }
      v_encoder_.push_back(std::move(stage));
    }
    for (int l = n - 2; l >= 0; --l) {
      const std::string p = "dec" + std::to_string(l);
      const int in = l == n - 2 ? channels[n - 1] : 2 * channels[l + 1];
      const Shape3 st = config.levels[l + 1].stride;
      VStage stage = MakeVStage(p, 2 * channels[l], 2 * channels[l], config.levels[l].kernel, blocks[l]);
      stage.up = register_module("up" + std::to_string(l), torch::nn::ConvTranspose3d(
          torch::nn::ConvTranspose3dOptions(in, channels[l], Arr(st)).stride(Arr(st))));
      stage.resample_norm = register_module("up" + std::to_string(l) + "_norm", torch::nn::InstanceNorm3d(
          torch::nn::InstanceNorm3dOptions(channels[l]).affine(true).eps(1e-5)));
      stage.resample_act = register_module("up" + std::to_string(l) + "_act",
                                           torch::nn::PReLU(torch::nn::PReLUOptions().num_parameters(channels[l])));
      v_decoder_.push_back(std::move(stage));
      heads_.push_back(register_module(
          "head" + std::to_string(l),
          torch::nn::Conv3d(torch::nn::Conv3dOptions(2 * channels[l], config.num_classes, 1))));
    }
    if (n == 1) {
      heads_.push_back(register_module(
          "head0", torch::nn::Conv3d(torch::nn::Conv3dOptions(channels[0], config.num_classes, 1))));
    }
    return;
  }
  if (type == "resenc_unet") {
    stem_ = MakeBlock("stem", config.in_channels, channels[0], config.levels[0].kernel, {1, 1, 1});
    for (int l = 0; l < n; ++l) {
      std::vector<ResBlock> stage;
      for (int b = 0; b < blocks[l]; ++b) {
        const std::string p = "enc" + std::to_string(l) + "_b" + std::to_string(b);
        const int in = b > 0 ? channels[l] : (l == 0 ? channels[0] : channels[l - 1]);
        ResBlock block;
        block.stride = b == 0 ? config.levels[l].stride : Shape3{1, 1, 1};
        block.first = MakeBlock(p + "_1", in, channels[l], config.levels[l].kernel, block.stride);
        block.second = MakeBlock(p + "_2", channels[l], channels[l], config.levels[l].kernel, {1, 1, 1});
        if (in != channels[l]) {
          block.skip_conv = register_module(p + "_skip_conv", torch::nn::Conv3d(
              torch::nn::Conv3dOptions(in, channels[l], 1).bias(false)));
          block.skip_norm = register_module(p + "_skip_norm", torch::nn::InstanceNorm3d(
              torch::nn::InstanceNorm3dOptions(channels[l]).affine(true).eps(1e-5)));
        }
        stage.push_back(std::move(block));
      }
      res_encoder_.push_back(std::move(stage));
    }
  } else {
    for (int l = 0; l < n; ++l) {
      const int in = l == 0 ? config.in_channels : channels[l - 1];
      encoder_.push_back(MakeBlocks("enc" + std::to_string(l), in, channels[l],
                                    config.levels[l].kernel, config.levels[l].stride));
    }
  }
  const int decoder_blocks = type == "resenc_unet" ? 1 : 2;  // nnU-Net ResEnc: one conv per decoder stage
  // Decoder level l (n-2 .. 0) receives level l+1's output.
  for (int l = n - 2; l >= 0; --l) {
    const Shape3 s = config.levels[l + 1].stride;
    up_.push_back(register_module(
        "up" + std::to_string(l),
        torch::nn::ConvTranspose3d(
            torch::nn::ConvTranspose3dOptions(channels[l + 1], channels[l], Arr(s)).stride(Arr(s)))));
    decoder_.push_back(MakeBlocks("dec" + std::to_string(l), 2 * channels[l], channels[l],
                                  config.levels[l].kernel, {1, 1, 1}, decoder_blocks));
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
  const auto blocks = BlocksPerLevel(config);
  const int n = static_cast<int>(config.levels.size());
  const auto prod = [](const Shape3& s) { return double(s[0]) * double(s[1]) * double(s[2]); };
  // A convolution of cin -> cout channels, kernel k, on an output of `voxels` voxels.
  const auto conv = [&](double cin, double cout, const Shape3& k, double voxels) {
    return 2.0 * cin * cout * prod(k) * voxels;
  };
  std::vector<double> vol(n);
  Shape3 current = patch;
  for (int l = 0; l < n; ++l) {
    for (int a = 0; a < 3; ++a) current[a] = std::max<int64_t>(1, current[a] / config.levels[l].stride[a]);
    vol[l] = prod(current);
  }
  const Shape3 one{1, 1, 1};
  double flops = 0;
  if (config.type == "vnet") {
    for (int l = 0; l < n; ++l) {
      const auto& k = config.levels[l].kernel;
      const double in = l == 0 ? config.in_channels : channels[l - 1];
      if (l == 0) flops += conv(in, channels[0], one, vol[0]);                         // projection
      else flops += conv(in, channels[l], config.levels[l].stride, vol[l]);            // down
      flops += conv(l == 0 ? in : channels[l], channels[l], k, vol[l]);
      flops += (blocks[l] - 1) * conv(channels[l], channels[l], k, vol[l]);
    }
    for (int l = n - 2; l >= 0; --l) {
      const double in = l == n - 2 ? channels[n - 1] : 2.0 * channels[l + 1];
      flops += conv(in, channels[l], config.levels[l + 1].stride, vol[l + 1]);          // up
      flops += blocks[l] * conv(2.0 * channels[l], 2.0 * channels[l], config.levels[l].kernel, vol[l]);
    }
    flops += conv(n == 1 ? channels[0] : 2.0 * channels[0], config.num_classes, one, vol[0]);
    return flops;
  }
  if (config.type == "resenc_unet") {
    flops += conv(config.in_channels, channels[0], config.levels[0].kernel, vol[0]);  // stem
    for (int l = 0; l < n; ++l) {
      const auto& k = config.levels[l].kernel;
      for (int b = 0; b < blocks[l]; ++b) {
        const double in = b > 0 ? channels[l] : (l == 0 ? channels[0] : channels[l - 1]);
        flops += conv(in, channels[l], k, vol[l]) + conv(channels[l], channels[l], k, vol[l]);
        if (in != channels[l]) flops += conv(in, channels[l], one, vol[l]);
      }
    }
  } else {
    for (int l = 0; l < n; ++l) {
      const double in = l == 0 ? config.in_channels : channels[l - 1];
      flops += conv(in, channels[l], config.levels[l].kernel, vol[l]);
      flops += conv(channels[l], channels[l], config.levels[l].kernel, vol[l]);
    }
  }
  const bool single_decoder_block = config.type == "resenc_unet";
  for (int l = n - 2; l >= 0; --l) {
    flops += conv(channels[l + 1], channels[l], config.levels[l + 1].stride, vol[l + 1]);
    flops += conv(2.0 * channels[l], channels[l], config.levels[l].kernel, vol[l]);
    if (!single_decoder_block) flops += conv(channels[l], channels[l], config.levels[l].kernel, vol[l]);
  }
  flops += conv(channels[0], config.num_classes, one, vol[0]);
  return flops;
}

torch::Tensor UNetImpl::RunBlocks(std::vector<Block>& blocks, torch::Tensor x) {
  for (auto& b : blocks) {
    x = torch::leaky_relu(b.norm->forward(b.conv->forward(x)), 0.01);
  }
  return x;
}

torch::Tensor UNetImpl::RunResBlock(ResBlock& block, torch::Tensor x) {
  auto y = torch::leaky_relu(block.first.norm->forward(block.first.conv->forward(x)), 0.01);
  y = block.second.norm->forward(block.second.conv->forward(y));
  torch::Tensor residual = x;
  if (block.stride != Shape3{1, 1, 1}) {
    residual = torch::avg_pool3d(residual, Arr(block.stride), Arr(block.stride));
  }
  if (block.skip_conv) residual = block.skip_norm->forward(block.skip_conv->forward(residual));
  return torch::leaky_relu(y + residual, 0.01);
}

torch::Tensor UNetImpl::RunVStage(VStage& stage, torch::Tensor x, torch::Tensor residual) {
  const std::size_t n = stage.convs.size();
  for (std::size_t i = 0; i < n; ++i) {
    x = stage.convs[i].norm->forward(stage.convs[i].conv->forward(x));
    if (i + 1 < n) x = stage.acts[i]->forward(x);
  }
  return stage.acts[n - 1]->forward(x + residual);
}

std::vector<torch::Tensor> UNetImpl::ForwardVNet(torch::Tensor x) {
  const int n = static_cast<int>(v_encoder_.size());
  std::vector<torch::Tensor> skips;
  for (int l = 0; l < n; ++l) {
    auto& stage = v_encoder_[l];
    if (l == 0) {
      x = RunVStage(stage, x, stage.project->forward(x));
    } else {
      const auto down = stage.resample_act->forward(stage.resample_norm->forward(stage.down->forward(x)));
      x = RunVStage(stage, down, down);
    }
    skips.push_back(x);
  }
  if (n == 1) return {heads_[0]->forward(x)};
  std::vector<torch::Tensor> outputs;
  for (int i = 0; i < n - 1; ++i) {
    const int l = n - 2 - i;
    auto& stage = v_decoder_[i];
    const auto up = stage.resample_act->forward(stage.resample_norm->forward(stage.up->forward(x)));
    const auto joined = torch::cat({up, skips[l]}, 1);
    x = RunVStage(stage, joined, joined);
    if (l == 0 || (config_.deep_supervision && is_training())) outputs.push_back(heads_[i]->forward(x));
  }
  std::reverse(outputs.begin(), outputs.end());
  return outputs;
}

std::vector<torch::Tensor> UNetImpl::forward(torch::Tensor x) {
  if (!v_encoder_.empty()) return ForwardVNet(x);
  const bool residual = !res_encoder_.empty();
  const int n = static_cast<int>(residual ? res_encoder_.size() : encoder_.size());
  std::vector<torch::Tensor> skips;
  if (residual) x = torch::leaky_relu(stem_.norm->forward(stem_.conv->forward(x)), 0.01);
  for (int l = 0; l < n; ++l) {
    if (residual) {
      for (auto& block : res_encoder_[l]) x = RunResBlock(block, x);
    } else {
      x = RunBlocks(encoder_[l], x);
    }
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
