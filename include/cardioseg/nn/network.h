#pragma once
// The 3D U-Net and sliding-window inference in LibTorch. Tensors are [N, C, D, H, W].
// Include only from the few translation units that need LibTorch (it compiles slowly).
#include <functional>
#include <vector>

#include <torch/torch.h>

#include "cardioseg/nn/model_card.h"

namespace cardioseg::nn {

// 3D U-Net with a kernel and a pooling stride per level (nnU-Net's planned topology): each level
// is two (conv -> instance norm -> leaky ReLU 0.01) blocks; the first conv of level l > 0 is
// strided by levels[l].stride (no max-pooling); the decoder upsamples by transposed convolution.
// With type "attention_unet", skip connections pass through additive attention gates
// (Oktay et al., "Attention U-Net", MIDL 2018) driven by the coarser decoder features.
//
// Type "resenc_unet" (nnU-Net's ResidualEncoderUNet; Isensee et al., "nnU-Net Revisited",
// MICCAI 2024; github.com/MIC-DKFZ/dynamic-network-architectures): a stem (conv -> norm -> leaky
// ReLU) to base_channels, then per level blocks_per_level[l] residual blocks (conv -> norm ->
// leaky ReLU -> conv -> norm, plus the input, which is average-pooled where the block is strided
// and projected by a 1x1x1 conv and norm where the channels change; leaky ReLU after the sum), the
// first block of level l > 0 strided by levels[l].stride; the decoder has one conv block per level.
//
// Type "vnet" (Milletari et al., "V-Net", 3DV 2016): residual stages of blocks_per_level[l]
// (1-3) convolutions with PReLU, the stage input added before the last PReLU; down-sampling by a
// strided convolution (kernel = stride = levels[l].stride) and up-sampling by a transposed
// convolution, each followed by norm and PReLU; a decoder stage works on the concatenation of the
// up-sampled features and the skip (2 x channels of its level) with as many convolutions as the
// encoder stage of that level. Kernels are the plan's per level (the paper's 5x5x5 does not suit
// 10 mm cine slices). Departures from the paper: instance norm after every convolution (the paper
// has none; batches of 2 rule out batch norm), a 1x1x1 convolution as the first stage's residual
// projection (the paper repeats the input channel), and 1x1x1 output heads with softmax cross
// entropy + Dice as for the U-Net.
//
// Input [N, in_channels, D, H, W] with D, H, W divisible by the product of the strides; output
// logits [N, num_classes, D, H, W]. With deep_supervision, forward() also returns coarser logits
// (one per decoder level below the top, finest first); otherwise one tensor. Throws
// std::invalid_argument on an unknown type, no levels, or blocks per level out of range.
class UNetImpl : public torch::nn::Module {
 public:
  explicit UNetImpl(const ArchitectureConfig& config);
  std::vector<torch::Tensor> forward(torch::Tensor x);
  const ArchitectureConfig& config() const { return config_; }

 private:
  struct Block {
    torch::nn::Conv3d conv{nullptr};
    torch::nn::InstanceNorm3d norm{nullptr};
  };
  // resenc_unet: a residual block; skip_conv/skip_norm only where the channels change.
  struct ResBlock {
    Block first, second;
    torch::nn::Conv3d skip_conv{nullptr};
    torch::nn::InstanceNorm3d skip_norm{nullptr};
    Shape3 stride{1, 1, 1};
  };
  // vnet: one stage. Encoder stages > 0 have `down`, decoder stages `up`, stage 0 `project`.
  struct VStage {
    torch::nn::Conv3d down{nullptr}, project{nullptr};
    torch::nn::ConvTranspose3d up{nullptr};
    torch::nn::InstanceNorm3d resample_norm{nullptr};
    torch::nn::PReLU resample_act{nullptr};
    std::vector<Block> convs;
    std::vector<torch::nn::PReLU> acts;  // after each conv but the last, then after the sum
  };
  torch::Tensor RunBlocks(std::vector<Block>& blocks, torch::Tensor x);
  std::vector<Block> MakeBlocks(const std::string& prefix, int in, int out, const Shape3& kernel,
                                const Shape3& first_stride, int count = 2);
  Block MakeBlock(const std::string& prefix, int in, int out, const Shape3& kernel, const Shape3& stride);
  VStage MakeVStage(const std::string& prefix, int in, int channels, const Shape3& kernel, int convs);
  torch::Tensor RunVStage(VStage& stage, torch::Tensor x, torch::Tensor residual);
  torch::Tensor RunResBlock(ResBlock& block, torch::Tensor x);
  std::vector<torch::Tensor> ForwardVNet(torch::Tensor x);

  ArchitectureConfig config_;
  std::vector<std::vector<Block>> encoder_;
  std::vector<torch::nn::ConvTranspose3d> up_;
  std::vector<std::vector<Block>> decoder_;
  std::vector<torch::nn::Conv3d> heads_;
  // Attention gates per decoder level: W_x (skip), W_g (gate), psi.
  std::vector<torch::nn::Conv3d> att_x_, att_g_, att_psi_;
  // resenc_unet
  Block stem_;
  std::vector<std::vector<ResBlock>> res_encoder_;
  // vnet
  std::vector<VStage> v_encoder_, v_decoder_;
};
TORCH_MODULE(UNet);

// Mixed precision of a network's forward (and backward) pass through LibTorch autocast: the
// convolutions run in the lower precision, reductions and the loss in fp32.
//   kFloat32: no autocast.
//   kBFloat16: bfloat16, on a CPU with AVX-512 BF16 or AMX-BF16 instructions (oneDNN's
//              avx512_core_bf16 kernels) or on CUDA.
//   kFloat16: float16, CUDA only (on the CPU it falls back to fp32).
enum class Precision { kFloat32, kBFloat16, kFloat16 };
const char* PrecisionName(Precision precision);  // "fp32", "bf16", "fp16"

// True when this CPU has bfloat16 arithmetic (AVX512_BF16 or AMX-BF16), from CPUID.
bool CpuHasBf16();

// Resolves a configured precision ("auto", "fp32", "bf16", "fp16") for `device`: "auto" is bf16
// on a CPU with bf16 instructions and on CUDA, fp32 elsewhere. Throws std::invalid_argument for
// "bf16" on a CPU without bf16 instructions, "fp16" off CUDA, or an unknown name.
Precision ResolvePrecision(const std::string& name, const torch::Device& device);

// Autocast to `precision` on `device` for the lifetime of the object, in the calling thread
// (autocast state is thread-local). On destruction the autocast weight cache is cleared, so the
// next scope casts the weights afresh (required after every optimizer step), and the previous
// state is restored. kFloat32 is a no-op.
class AutocastScope {
 public:
  AutocastScope(const torch::Device& device, Precision precision);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  bool cuda_ = false;
  bool previous_enabled_ = false;
  c10::ScalarType previous_dtype_ = c10::ScalarType::Float;
};

// Puts every 5-D parameter and buffer of `module` into channels-last-3D memory format
// (NDHWC strides), which oneDNN's bf16 convolutions prefer. Values are unchanged.
void ToChannelsLast3d(torch::nn::Module& module);

// Floating-point operations (2 x multiply-adds) of the convolutions and transposed convolutions
// of one inference forward pass of UNet(config) on a [1, C, patch] tile, for every type;
// normalisation, activations, pooling and attention gates are left out (under 1 %).
double ForwardFlops(const ArchitectureConfig& config, const Shape3& patch);

// Channels at each level: base x 2^level, capped at max_channels.
std::vector<int> LevelChannels(const ArchitectureConfig& config);

struct SlidingWindowOptions {
  Shape3 patch{16, 128, 128};   // [D, H, W]
  double step_fraction = 0.5;   // nnU-Net's default
  int batch_tiles = 2;          // tiles per forward pass
  double sigma_scale = 1.0 / 8; // Gaussian importance map sigma / patch size
  // Axes (0 = D, 1 = H, 2 = W) to mirror for test-time augmentation; empty = none. All subsets
  // of these axes are predicted and their logits averaged.
  std::vector<int> mirror_axes;
  // Precision of the network's forward pass (autocast; logits are stitched in fp32).
  Precision precision = Precision::kFloat32;
};

// Sliding-window prediction (nnU-Net semantics): the volume [C, D, H, W] (CPU, float) is padded
// to at least the patch, cut into tiles with TileOrigins, predicted in batches by `forward`
// (taking [B, C, pd, ph, pw] on `device`, returning logits [B, K, pd, ph, pw]), weighted by the
// Gaussian importance map and stitched on the CPU. Returns averaged logits [K, D, H, W] on the
// CPU. `on_tile` (optional) is called after each batch with (tiles done, tiles total).
torch::Tensor SlidingWindowLogits(const torch::Tensor& volume,
                                  const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                                  const SlidingWindowOptions& options, const torch::Device& device,
                                  const std::function<void(int, int)>& on_tile = {});

// "auto" -> CUDA when available, else CPU; "cpu"; "cuda". Throws std::invalid_argument for
// "cuda" without a CUDA build or device, or an unknown name.
torch::Device ResolveDevice(const std::string& name);

}  // namespace cardioseg::nn
