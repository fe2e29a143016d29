#include "cardioseg/nn/train.h"

#include <chrono>
#include <cmath>
#include <fstream>
#include <numeric>
#include <future>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <ATen/CPUGeneratorImpl.h>
#include <spdlog/spdlog.h>

#include "cardioseg/core/atomic_file.h"
#include "cardioseg/core/config.h"
#include "cardioseg/core/config_visitors.h"
#include "cardioseg/core/error.h"
#include "cardioseg/core/statistics.h"
#include "cardioseg/core/version.h"
#include "cardioseg/nn/cache.h"
#include "cardioseg/nn/network.h"

namespace cardioseg::nn {

namespace fs = std::filesystem;
namespace F = torch::nn::functional;
using nlohmann::json;
using torch::indexing::Slice;

TrainConfig TrainConfigFromJson(const json& document) {
  return config::SectionFromJson<TrainConfig>(document);
}
json ToJson(const TrainConfig& config) { return config::SectionToJson(config); }

std::string SubjectOf(const std::string& case_id, const std::string& subject_pattern) {
  try {
    return cardioseg::SubjectOf(case_id, subject_pattern);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string("subject_pattern: ") + e.what());
  }
}

std::pair<std::vector<std::string>, std::vector<std::string>> SplitCases(
    std::vector<std::string> ids, const TrainConfig& config) {
  std::map<std::string, std::vector<std::string>> by_subject;
  for (const auto& id : ids) by_subject[SubjectOf(id, config.subject_pattern)].push_back(id);
  std::vector<std::string> subjects;
  for (const auto& [subject, cases] : by_subject) subjects.push_back(subject);  // sorted
  std::mt19937 rng(static_cast<unsigned>(config.seed));
  std::shuffle(subjects.begin(), subjects.end(), rng);
  std::vector<std::string> train, val;
  const auto add = [&](std::vector<std::string>& side, const std::string& subject) {
    const auto& cases = by_subject[subject];
    side.insert(side.end(), cases.begin(), cases.end());
  };
  if (config.folds >= 2) {
    for (std::size_t i = 0; i < subjects.size(); ++i) {
      add(static_cast<int>(i % config.folds) == config.fold ? val : train, subjects[i]);
    }
  } else {
    auto n_val =
        static_cast<std::size_t>(std::llround(config.validation_fraction * subjects.size()));
    if (config.validation_fraction > 0 && n_val == 0 && subjects.size() >= 2) n_val = 1;
    for (std::size_t i = 0; i < subjects.size(); ++i) add(i < n_val ? val : train, subjects[i]);
  }
  std::sort(train.begin(), train.end());
  std::sort(val.begin(), val.end());
  return {train, val};
}

namespace {

using Clock = std::chrono::steady_clock;

struct Case {
  std::string id;
  torch::Tensor image;  // [C, D, H, W] float, padded to at least the patch
  torch::Tensor uncorrected;  // the image without N4, like `image`; undefined when not loaded
  torch::Tensor label;  // [D, H, W] uint8
  std::vector<std::vector<std::int64_t>> foreground;  // flat indices per label value (1..K-1)
};

// With `uncorrected`, the case must hold an image without N4 (else ConfigError).
Case LoadCase(const fs::path& cache, const std::string& id, const Shape3& patch, int num_classes,
              bool uncorrected = false) {
  CachedCase c = ReadCachedCase(cache, id, uncorrected);
  if (uncorrected && c.uncorrected.empty()) {
    throw ConfigError("augmentation.uncorrected_probability needs each training case without N4, "
                      "but " + (cache / "cases" / (id + ".json")).string() + " has none: make the "
                      "cache with `cardioseg plan-preprocess --keep-uncorrected`");
  }
  Case out;
  out.id = id;
  const std::vector<int64_t> shape{c.channels, c.shape[0], c.shape[1], c.shape[2]};
  out.image = torch::from_blob(c.image.data(), shape, torch::kFloat).clone();
  if (uncorrected) {
    out.uncorrected = torch::from_blob(c.uncorrected.data(), shape, torch::kFloat).clone();
  }
  out.label = torch::from_blob(c.labels.data(), {c.shape[0], c.shape[1], c.shape[2]}, torch::kUInt8)
                  .clone();
  std::vector<int64_t> pad;  // F::pad order: W, H, D pairs
  bool any = false;
  for (int a = 2; a >= 0; --a) {
    const int64_t missing = std::max<int64_t>(0, patch[a] - c.shape[a]);
    pad.push_back(missing / 2);
    pad.push_back(missing - missing / 2);
    any = any || missing > 0;
  }
  if (any) {
    out.image = F::pad(out.image.unsqueeze(0), F::PadFuncOptions(pad)).squeeze(0);
    if (uncorrected) {
      out.uncorrected = F::pad(out.uncorrected.unsqueeze(0), F::PadFuncOptions(pad)).squeeze(0);
    }
    out.label = F::pad(out.label.unsqueeze(0).unsqueeze(0).to(torch::kFloat), F::PadFuncOptions(pad))
                    .squeeze(0).squeeze(0).to(torch::kUInt8);
  }
  const auto flat = out.label.flatten();
  out.foreground.resize(num_classes);
  for (int k = 1; k < num_classes; ++k) {
    const auto idx = torch::nonzero(flat == k).flatten();
    out.foreground[k] = std::vector<int64_t>(idx.data_ptr<int64_t>(), idx.data_ptr<int64_t>() + idx.numel());
  }
  return out;
}

// One patch [C, pd, ph, pw] of `image` (the case's, or its uncorrected one) and its labels,
// centred on foreground with probability `fg`.
std::pair<torch::Tensor, torch::Tensor> SamplePatch(const Case& c, const torch::Tensor& image,
                                                    const Shape3& patch, double fg,
                                                    std::mt19937& rng) {
  const Shape3 size{c.label.size(0), c.label.size(1), c.label.size(2)};
  Shape3 origin{0, 0, 0};
  std::vector<int> present;
  for (std::size_t k = 1; k < c.foreground.size(); ++k) {
    if (!c.foreground[k].empty()) present.push_back(static_cast<int>(k));
  }
  const bool centre_on_fg = !present.empty() && std::uniform_real_distribution<>(0, 1)(rng) < fg;
  if (centre_on_fg) {
    const int k = present[std::uniform_int_distribution<std::size_t>(0, present.size() - 1)(rng)];
    const auto& voxels = c.foreground[k];
    const int64_t v = voxels[std::uniform_int_distribution<std::size_t>(0, voxels.size() - 1)(rng)];
    const Shape3 centre{v / (size[1] * size[2]), (v / size[2]) % size[1], v % size[2]};
    for (int a = 0; a < 3; ++a) {
      origin[a] = std::clamp<int64_t>(centre[a] - patch[a] / 2, 0, size[a] - patch[a]);
    }
  } else {
    for (int a = 0; a < 3; ++a) {
      origin[a] = std::uniform_int_distribution<int64_t>(0, size[a] - patch[a])(rng);
    }
  }
  const auto d = Slice(origin[0], origin[0] + patch[0]);
  const auto h = Slice(origin[1], origin[1] + patch[1]);
  const auto w = Slice(origin[2], origin[2] + patch[2]);
  return {image.index({Slice(), d, h, w}), c.label.index({d, h, w})};
}

double Uniform(std::mt19937& rng, double lo, double hi) {
  return std::uniform_real_distribution<>(lo, hi)(rng);
}
bool Chance(std::mt19937& rng, double p) { return Uniform(rng, 0, 1) < p; }

// In-plane Gaussian blur of [C, D, H, W] by separable convolution.
torch::Tensor BlurInPlane(const torch::Tensor& x, double sigma) {
  const int radius = std::max(1, static_cast<int>(std::ceil(3 * sigma)));
  auto t = torch::arange(-radius, radius + 1, torch::kFloat);
  auto kernel = torch::exp(-0.5 * (t / sigma).pow(2));
  kernel = kernel / kernel.sum();
  const int64_t c = x.size(0);
  auto y = x.unsqueeze(0);
  y = F::conv3d(y, kernel.view({1, 1, 1, 1, -1}).repeat({c, 1, 1, 1, 1}),
                F::Conv3dFuncOptions().padding({0, 0, radius}).groups(c));
  y = F::conv3d(y, kernel.view({1, 1, 1, -1, 1}).repeat({c, 1, 1, 1, 1}),
                F::Conv3dFuncOptions().padding({0, radius, 0}).groups(c));
  return y.squeeze(0);
}

// Augments one sample in place: image [C, D, H, W] float, label [D, H, W] float.
void Augment(torch::Tensor& image, torch::Tensor& label, const AugmentationConfig& a,
             std::mt19937& rng, at::Generator& generator) {
  const int64_t D = image.size(1), H = image.size(2), W = image.size(3);
  if (Chance(rng, a.spatial_probability)) {
    // Rotation about the slice axis and in-plane scaling, in affine_grid's (x=W, y=H, z=D) order.
    const double angle = Uniform(rng, -a.rotation_deg, a.rotation_deg) * M_PI / 180.0;
    const double s = Uniform(rng, a.scale[0], a.scale[1]);
    auto theta = torch::tensor({std::cos(angle) / s, -std::sin(angle) / s, 0.0, 0.0,
                                std::sin(angle) / s, std::cos(angle) / s, 0.0, 0.0,
                                0.0, 0.0, 1.0, 0.0}, torch::kFloat).view({1, 3, 4});
    auto grid = F::affine_grid(theta, {1, image.size(0), D, H, W}, false);
    if (a.elastic && a.elastic_magnitude_voxels > 0) {
      auto coarse = torch::randn({1, 3, 4, 4, 4}, generator) * a.elastic_magnitude_voxels;
      auto field = F::interpolate(coarse, F::InterpolateFuncOptions()
                                              .size(std::vector<int64_t>{D, H, W})
                                              .mode(torch::kTrilinear)
                                              .align_corners(false));
      // Voxels to normalised coordinates per axis (x=W, y=H, z=D); no displacement across slices.
      auto scale = torch::tensor({2.0f / W, 2.0f / H, 0.0f}).view({1, 1, 1, 1, 3});
      grid = grid + field.permute({0, 2, 3, 4, 1}) * scale;
    }
    image = F::grid_sample(image.unsqueeze(0), grid,
                           F::GridSampleFuncOptions().mode(torch::kBilinear)
                               .padding_mode(torch::kZeros).align_corners(false)).squeeze(0);
    label = F::grid_sample(label.unsqueeze(0).unsqueeze(0), grid,
                           F::GridSampleFuncOptions().mode(torch::kNearest)
                               .padding_mode(torch::kZeros).align_corners(false)).squeeze(0).squeeze(0);
  }
  for (int axis : a.mirror_axes) {  // 0 = D, 1 = H, 2 = W of the label [D, H, W]
    if (Chance(rng, 0.5)) {
      image = torch::flip(image, {axis + 1});
      label = torch::flip(label, {axis});
    }
  }
  if (Chance(rng, a.brightness_probability)) image = image * Uniform(rng, a.brightness[0], a.brightness[1]);
  if (Chance(rng, a.contrast_probability)) {
    const auto lo = image.min(), hi = image.max(), mean = image.mean();
    image = ((image - mean) * Uniform(rng, a.contrast[0], a.contrast[1]) + mean).clamp(lo, hi);
  }
  if (Chance(rng, a.gamma_probability)) {
    const auto lo = image.min(), range = image.max() - lo + 1e-7;
    image = ((image - lo) / range).pow(Uniform(rng, a.gamma[0], a.gamma[1])) * range + lo;
  }
  if (Chance(rng, a.noise_probability)) {
    image = image + torch::randn(image.sizes(), generator) * Uniform(rng, 0, a.noise_sd);
  }
  if (Chance(rng, a.blur_probability)) image = BlurInPlane(image, Uniform(rng, a.blur_sigma[0], a.blur_sigma[1]));
}

// Soft Dice over the batch (foreground classes) + cross-entropy, nnU-Net's default loss.
torch::Tensor DiceCeLoss(const torch::Tensor& logits_any, const torch::Tensor& target) {
  const auto logits = logits_any.to(torch::kFloat);  // the loss in fp32 under autocast
  const int64_t k = logits.size(1);
  auto ce = F::cross_entropy(logits, target);
  auto probs = torch::softmax(logits, 1);
  auto onehot = F::one_hot(target, k).permute({0, 4, 1, 2, 3}).to(torch::kFloat);
  const std::vector<int64_t> dims{0, 2, 3, 4};
  auto inter = (probs * onehot).sum(dims);
  auto denom = probs.sum(dims) + onehot.sum(dims);
  auto dice = (2 * inter + 1e-5) / (denom + 1e-5);
  return ce + (1 - dice.slice(0, 1).mean());
}

torch::Tensor DeepSupervisionLoss(const std::vector<torch::Tensor>& outputs,
                                  const torch::Tensor& target) {
  torch::Tensor total;
  double weight_sum = 0;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const double w = 1.0 / (1 << i);
    torch::Tensor t = target;
    if (outputs[i].sizes().slice(2) != target.sizes().slice(1)) {
      t = F::interpolate(target.unsqueeze(1).to(torch::kFloat),
                         F::InterpolateFuncOptions()
                             .size(std::vector<int64_t>(outputs[i].sizes().begin() + 2,
                                                        outputs[i].sizes().end()))
                             .mode(torch::kNearest))
              .squeeze(1).to(torch::kLong);
    }
    auto l = DiceCeLoss(outputs[i], t) * w;
    total = total.defined() ? total + l : l;
    weight_sum += w;
  }
  return total / weight_sum;
}

// Dice per foreground label of one predicted label map against the truth (1 when both empty).
std::vector<double> DicePerLabel(const torch::Tensor& pred, const torch::Tensor& truth, int k) {
  std::vector<double> out;
  for (int c = 1; c < k; ++c) {
    const auto p = pred == c, t = truth == c;
    const double inter = (p & t).sum().item<double>();
    const double sum = p.sum().item<double>() + t.sum().item<double>();
    out.push_back(sum == 0 ? 1.0 : 2 * inter / sum);
  }
  return out;
}

// One optimizer step on a batch already on `device`; returns the loss. Autocast covers the
// forward pass and the loss's inputs (the loss itself is computed in fp32); its weight cache is
// cleared when the scope closes, before the next step's forward.
double TrainStep(UNet& model, torch::optim::Optimizer& optimizer, const torch::Tensor& x,
                 const torch::Tensor& y, const torch::Device& device, Precision precision) {
  optimizer.zero_grad();
  torch::Tensor loss;
  {
    AutocastScope autocast(device, precision);
    loss = DeepSupervisionLoss(model->forward(x), y);
  }
  loss.backward();
  torch::nn::utils::clip_grad_norm_(model->parameters(), 12.0);
  optimizer.step();
  return loss.item<double>();
}

// One training batch: x [B, C, pd, ph, pw] float, y [B, pd, ph, pw] long. Its random choices
// (cases, patch positions, augmentation) come from streams seeded by (seed, iteration) alone, so
// a batch does not depend on the thread that prepares it or on where a run was resumed.
struct Batch {
  torch::Tensor x, y;
};

Batch MakeBatch(const std::vector<Case>& cases, const Shape3& patch, const TrainConfig& config,
                std::int64_t iteration) {
  torch::NoGradGuard no_grad;
  std::seed_seq seq{static_cast<std::uint32_t>(config.seed),
                    static_cast<std::uint32_t>(iteration & 0xffffffff),
                    static_cast<std::uint32_t>(iteration >> 32)};
  std::mt19937 rng(seq);
  auto generator = at::detail::createCPUGenerator((static_cast<std::uint64_t>(rng()) << 32) | rng());
  std::vector<torch::Tensor> images, labels;
  for (int b = 0; b < config.batch_size; ++b) {
    const auto& c = cases[std::uniform_int_distribution<std::size_t>(0, cases.size() - 1)(rng)];
    const double p = config.augmentation.uncorrected_probability;
    const bool uncorrected = p > 0 && Chance(rng, p);  // no draw at 0: the former streams
    auto [image, label] = SamplePatch(c, uncorrected ? c.uncorrected : c.image, patch,
                                      config.foreground_oversampling, rng);
    torch::Tensor img = image.clone(), lab = label.to(torch::kFloat);
    Augment(img, lab, config.augmentation, rng, generator);
    images.push_back(img);
    labels.push_back(lab.round().to(torch::kLong));
  }
  return {torch::stack(images), torch::stack(labels)};
}

// The rows of training_log.csv up to and including `epochs_done` (the header kept): a run killed
// after logging an epoch but before its checkpoint logs that epoch again on resume.
void TruncateLog(const fs::path& log_file, int epochs_done) {
  std::ifstream in(log_file);
  std::string line, kept;
  bool header = true;
  while (std::getline(in, line)) {
    if (!header) {
      const int epoch = std::atoi(line.substr(0, line.find(',')).c_str());
      if (epoch > epochs_done || epoch <= 0) continue;
    }
    header = false;
    kept += line + "\n";
  }
  in.close();
  WriteTextAtomically(log_file, kept);
}

template <class T>
void SaveAtomically(const T& object, const fs::path& path) {
  WriteAtomically(path, [&](const fs::path& tmp) { torch::save(object, tmp.string()); });
}

}  // namespace

double SecondsPerTrainingIteration(const ArchitectureConfig& architecture, const Shape3& patch,
                                   int batch_size, const std::string& precision_name,
                                   bool channels_last, int warmup, int iterations,
                                   const std::string& device_name) {
  const torch::Device device = ResolveDevice(device_name);
  const Precision precision = ResolvePrecision(precision_name, device);
  torch::manual_seed(1);
  UNet model(architecture);
  model->to(device);
  if (channels_last) ToChannelsLast3d(*model);
  torch::optim::SGD optimizer(model->parameters(),
                              torch::optim::SGDOptions(0.01).momentum(0.99).nesterov(true));
  model->train();
  auto x = torch::randn({batch_size, architecture.in_channels, patch[0], patch[1], patch[2]}).to(device);
  if (channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast3d);
  const auto y = torch::randint(0, architecture.num_classes, {batch_size, patch[0], patch[1], patch[2]},
                                torch::kLong).to(device);
  for (int i = 0; i < warmup; ++i) TrainStep(model, optimizer, x, y, device, precision);
  if (device.is_cuda()) torch::cuda::synchronize();
  const auto start = Clock::now();
  for (int i = 0; i < iterations; ++i) TrainStep(model, optimizer, x, y, device, precision);
  if (device.is_cuda()) torch::cuda::synchronize();
  return std::chrono::duration<double>(Clock::now() - start).count() / std::max(1, iterations);
}

TrainSummary Train(const fs::path& cache_dir, const fs::path& out_dir, const TrainConfig& config,
                   const TrainOptions& options) {
  const auto start = Clock::now();
  const json plan = config::ReadJsonFile(cache_dir / "plan.json");
  const int num_classes = plan.at("num_classes").get<int>();
  const auto spacing_ijk = plan.at("spacing_mm").get<std::array<double, 3>>();
  Shape3 patch = plan.at("patch_size_dhw").get<Shape3>();
  if (config.patch_size_dhw[0] > 0) {
    patch = {config.patch_size_dhw[0], config.patch_size_dhw[1], config.patch_size_dhw[2]};
  }
  const std::array<double, 3> spacing_dhw{spacing_ijk[2], spacing_ijk[1], spacing_ijk[0]};
  ArchitectureConfig arch;
  arch.type = config.architecture;
  arch.in_channels = plan.value("in_channels", 1);
  arch.num_classes = num_classes;
  arch.base_channels = config.base_channels;
  arch.max_channels = config.max_channels;
  arch.deep_supervision = config.deep_supervision;
  arch.levels = PlanLevels(spacing_dhw, patch, config.max_levels);
  if (!config.blocks_per_level.empty() && config.blocks_per_level.size() != arch.levels.size()) {
    throw ConfigError("blocks_per_level: " + std::to_string(config.blocks_per_level.size()) +
                      " entries for the " + std::to_string(arch.levels.size()) + " levels of the plan");
  }
  arch.blocks_per_level = config.blocks_per_level;
  arch.blocks_per_level = BlocksPerLevel(arch);  // the card records the resolved blocks
  patch = DivisibleShape(patch, arch.levels);

  const torch::Device device = [&] {
    try {
      return ResolveDevice(config.device);
    } catch (const std::invalid_argument& e) {
      throw ConfigError(std::string("device: ") + e.what());
    }
  }();
  Precision precision = Precision::kFloat32;
  try {
    precision = ResolvePrecision(config.precision, device);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string("precision: ") + e.what());
  }
  torch::set_num_threads(config::ThreadCount(config.threads));
  torch::manual_seed(config.seed);

  const auto ids = ListCachedCases(cache_dir);
  if (ids.size() < 2) throw InputError(cache_dir.string(), "the cache holds fewer than 2 cases");
  const auto [train_ids, val_ids] = SplitCases(ids, config);
  if (train_ids.empty()) {
    throw ConfigError("validation_fraction/folds leave no training case in " + cache_dir.string());
  }
  std::vector<Case> train_cases, val_cases;
  const bool uncorrected = config.augmentation.uncorrected_probability > 0;
  for (const auto& id : train_ids) {
    train_cases.push_back(LoadCase(cache_dir, id, patch, num_classes, uncorrected));
  }
  for (const auto& id : val_ids) val_cases.push_back(LoadCase(cache_dir, id, {1, 1, 1}, num_classes));
  std::set<std::string> train_subjects, val_subjects;
  for (const auto& id : train_ids) train_subjects.insert(SubjectOf(id, config.subject_pattern));
  for (const auto& id : val_ids) val_subjects.insert(SubjectOf(id, config.subject_pattern));
  spdlog::info("training on {} cases ({} subjects), validating on {} ({} subjects); patch [{}, {}, {}], "
               "{} levels, device {}, {}{}",
               train_cases.size(), train_subjects.size(), val_cases.size(), val_subjects.size(),
               patch[0], patch[1], patch[2], arch.levels.size(), device.str(),
               PrecisionName(precision), config.channels_last ? ", channels-last" : "");

  fs::create_directories(out_dir);
  UNet model(arch);
  model->to(device);
  const auto make_optimizer = [&]() -> std::unique_ptr<torch::optim::Optimizer> {
    if (config.optimizer == "sgd") {
      return std::make_unique<torch::optim::SGD>(
          model->parameters(), torch::optim::SGDOptions(config.learning_rate)
                                   .momentum(config.momentum)
                                   .nesterov(true)
                                   .weight_decay(config.weight_decay));
    }
    return std::make_unique<torch::optim::Adam>(
        model->parameters(),
        torch::optim::AdamOptions(config.learning_rate).weight_decay(config.weight_decay));
  };
  const auto load_optimizer = [&](torch::optim::Optimizer& optimizer, const fs::path& file) {
    if (config.optimizer == "sgd") {
      torch::load(static_cast<torch::optim::SGD&>(optimizer), file.string());
    } else {
      torch::load(static_cast<torch::optim::Adam&>(optimizer), file.string());
    }
  };
  const auto save_optimizer = [&](torch::optim::Optimizer& optimizer, const fs::path& file) {
    if (config.optimizer == "sgd") {
      SaveAtomically(static_cast<torch::optim::SGD&>(optimizer), file);
    } else {
      SaveAtomically(static_cast<torch::optim::Adam&>(optimizer), file);
    }
  };

  int first_epoch = 0;
  double previous_seconds = 0;  // training wall time of earlier runs of this schedule
  const fs::path state_file = out_dir / "trainer_state.json";
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  if (options.resume) {
    if (fs::exists(state_file)) {
      const json state = config::ReadJsonFile(state_file);
      try {
        first_epoch = state.at("epochs_done").get<int>();
        previous_seconds = state.value("training_seconds", 0.0);
        const auto weights = out_dir / state.at("weights").get<std::string>();
        const auto optimizer_file = out_dir / state.at("optimizer").get<std::string>();
        if (state.value("iterations_per_epoch", config.iterations_per_epoch) !=
            config.iterations_per_epoch) {
          throw InputError(state_file.string(),
                           "the checkpoint was made with iterations_per_epoch " +
                               std::to_string(state.value("iterations_per_epoch", 0)) +
                               "; resume with the same value");
        }
        if (state.contains("training_config") && state.at("training_config") != ToJson(config)) {
          spdlog::warn("{}: the training config differs from the checkpoint's; continuing with "
                       "the new one (the learning rate follows its epochs)", state_file.string());
        }
        torch::load(model, weights.string());
        model->to(device);
        optimizer = make_optimizer();
        load_optimizer(*optimizer, optimizer_file);
      } catch (const json::exception& e) {
        throw InputError(state_file.string(), std::string("not a trainer state: ") + e.what());
      } catch (const c10::Error& e) {
        throw InputError(state_file.string(),
                         std::string("its checkpoint cannot be loaded: ") + e.what_without_backtrace());
      }
      spdlog::info("resuming after epoch {} (iteration {}) from {}", first_epoch,
                   std::int64_t(first_epoch) * config.iterations_per_epoch, state_file.string());
    } else if (fs::exists(out_dir / "model.json") && fs::exists(out_dir / "weights.pt")) {
      // Seed from a model folder: weights and iteration count, fresh optimizer state.
      const ModelCard card = ReadModelCard(out_dir);
      ModelCard planned;
      planned.architecture = arch;
      if (ToJson(card).at("architecture") != ToJson(planned).at("architecture")) {
        throw InputError((out_dir / "model.json").string(),
                         "its architecture differs from the one this config and plan give");
      }
      std::int64_t iterations = card.provenance.value("iterations_done", std::int64_t(-1));
      if (iterations < 0) {
        iterations = std::int64_t(card.provenance.value("epochs_done", 0)) *
                     card.provenance.value("training_config", json::object())
                         .value("iterations_per_epoch", config.iterations_per_epoch);
      }
      first_epoch = static_cast<int>(iterations / config.iterations_per_epoch);
      previous_seconds = card.provenance.value("training_seconds_total", 0.0);
      try {
        torch::load(model, (out_dir / card.weights).string());
      } catch (const c10::Error& e) {
        throw InputError((out_dir / card.weights).string(),
                         std::string("cannot be loaded: ") + e.what_without_backtrace());
      }
      model->to(device);
      spdlog::warn("no checkpoint in {}: resuming from the model folder's weights at iteration {} "
                   "(epoch {}); optimizer momentum restarts from zero",
                   out_dir.string(), iterations, first_epoch);
    } else {
      throw InputError(out_dir.string(),
                       "nothing to resume: no trainer_state.json and no model.json + weights.pt");
    }
  }
  if (config.channels_last) ToChannelsLast3d(*model);
  if (!optimizer) optimizer = make_optimizer();

  std::vector<std::string> label_names;
  for (const auto& l : plan.at("labels")) {
    if (l.at("value").get<int>() > 0) label_names.push_back(l.at("name").get<std::string>());
  }
  const fs::path log_file = out_dir / "training_log.csv";
  if (!options.resume || !fs::exists(log_file)) {
    std::string header = "epoch,learning_rate,train_loss,val_mean_dice";
    for (const auto& n : label_names) header += ",val_dice_" + n;
    WriteTextAtomically(log_file, header + ",epoch_seconds,iterations\n");
  } else {
    TruncateLog(log_file, first_epoch);
  }
  json split{{"subject_pattern", config.subject_pattern},
             {"seed", config.seed},
             {"train_subjects", train_subjects},
             {"validation_subjects", val_subjects},
             {"train", train_ids},
             {"validation", val_ids}};
  WriteTextAtomically(out_dir / "split.json", split.dump(2) + "\n");

  TrainSummary summary;
  summary.epochs_done = first_epoch;
  int last_epoch = config.epochs;
  if (options.max_epochs_this_run > 0) {
    last_epoch = std::min(config.epochs, first_epoch + options.max_epochs_this_run);
  }
  const auto prepare = [&](std::int64_t iteration) {
    return MakeBatch(train_cases, patch, config, iteration);
  };
  std::future<Batch> next;
  for (int epoch = first_epoch; epoch < last_epoch; ++epoch) {
    const auto epoch_start = Clock::now();
    const double lr = config.learning_rate * std::pow(1.0 - double(epoch) / config.epochs, 0.9);
    for (auto& group : optimizer->param_groups()) {
      if (config.optimizer == "sgd") {
        static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
      } else {
        static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
      }
    }
    model->train();
    double loss_sum = 0;
    for (int it = 0; it < config.iterations_per_epoch; ++it) {
      const std::int64_t iteration = std::int64_t(epoch) * config.iterations_per_epoch + it;
      Batch batch = next.valid() ? next.get() : prepare(iteration);
      const bool more = it + 1 < config.iterations_per_epoch || epoch + 1 < last_epoch;
      if (config.background_batches && more) {
        next = std::async(std::launch::async, prepare, iteration + 1);
      }
      auto x = batch.x.to(device);
      if (config.channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast3d);
      const auto y = batch.y.to(device);
      const double value = TrainStep(model, *optimizer, x, y, device, precision);
      if (!std::isfinite(value)) {
        throw std::runtime_error(fmt::format("training diverged: the loss is {} at iteration {}",
                                             value, iteration));
      }
      loss_sum += value;
    }
    const double epoch_loss = loss_sum / config.iterations_per_epoch;
    if (epoch == first_epoch) summary.first_epoch_loss = epoch_loss;
    summary.last_epoch_loss = epoch_loss;

    std::vector<double> dice;
    const bool validate = !val_cases.empty() &&
                          ((epoch + 1) % config.validate_every == 0 || epoch + 1 == config.epochs);
    if (validate) {
      model->eval();
      dice.assign(num_classes - 1, 0.0);
      SlidingWindowOptions sw;
      sw.patch = patch;
      sw.precision = precision;
      for (const auto& c : val_cases) {
        auto logits = SlidingWindowLogits(
            c.image,
            [&](const torch::Tensor& t) {
              return model->forward(config.channels_last
                                        ? t.contiguous(torch::MemoryFormat::ChannelsLast3d)
                                        : t)[0];
            },
            sw, device);
        const auto d = DicePerLabel(logits.argmax(0), c.label.to(torch::kLong), num_classes);
        for (std::size_t i = 0; i < d.size(); ++i) dice[i] += d[i] / val_cases.size();
      }
      summary.validation_dice = dice;
    }
    const double mean_dice =
        dice.empty() ? std::nan("") : std::accumulate(dice.begin(), dice.end(), 0.0) / dice.size();
    const double seconds = std::chrono::duration<double>(Clock::now() - epoch_start).count();
    previous_seconds += seconds;
    {
      std::ofstream log(log_file, std::ios::app);
      log << epoch + 1 << "," << lr << "," << epoch_loss << ",";
      if (!dice.empty()) log << mean_dice;
      for (std::size_t i = 0; i < label_names.size(); ++i) {
        log << ",";
        if (!dice.empty()) log << dice[i];
      }
      log << "," << seconds << "," << std::int64_t(epoch + 1) * config.iterations_per_epoch << "\n";
      if (!log) throw Error(log_file.string() + ": cannot append to the training log");
    }
    spdlog::info("epoch {}/{}: loss {:.4f}, lr {:.5f}{}, {:.1f} s ({:.2f} s/iteration)", epoch + 1,
                 config.epochs, epoch_loss, lr,
                 dice.empty() ? std::string() : fmt::format(", validation mean Dice {:.3f}", mean_dice),
                 seconds, seconds / config.iterations_per_epoch);
    // The checkpoint: weights and optimizer under new names, then the state naming them, then the
    // previous files go. A kill at any point leaves one complete checkpoint.
    const auto weights_name = fmt::format("checkpoint_e{}.pt", epoch + 1);
    const auto optimizer_name = fmt::format("optimizer_e{}.pt", epoch + 1);
    SaveAtomically(model, out_dir / weights_name);
    save_optimizer(*optimizer, out_dir / optimizer_name);
    WriteTextAtomically(
        state_file,
        json{{"epochs_done", epoch + 1},
             {"iterations_done", std::int64_t(epoch + 1) * config.iterations_per_epoch},
             {"iterations_per_epoch", config.iterations_per_epoch},
             {"total_iterations", std::int64_t(config.epochs) * config.iterations_per_epoch},
             {"weights", weights_name},
             {"optimizer", optimizer_name},
             {"seed", config.seed},
             {"random_state", "batches are drawn from streams seeded by (seed, iteration)"},
             {"training_seconds", previous_seconds},
             {"training_config", ToJson(config)}}
                .dump(2) + "\n");
    for (const auto& entry : fs::directory_iterator(out_dir)) {
      const auto name = entry.path().filename().string();
      if ((name.rfind("checkpoint_e", 0) == 0 || name.rfind("optimizer_e", 0) == 0) &&
          name != weights_name && name != optimizer_name) {
        std::error_code ec;
        fs::remove(entry.path(), ec);
      }
    }
    summary.epochs_done = epoch + 1;
    if (options.stop && *options.stop && epoch + 1 < last_epoch) {
      spdlog::warn("stopping after epoch {} as asked; train --resume continues", epoch + 1);
      break;
    }
  }
  if (next.valid()) next.wait();
  summary.seconds = std::chrono::duration<double>(Clock::now() - start).count();

  // The model folder: weights + card.
  SaveAtomically(model, out_dir / "weights.pt");
  ModelCard card;
  card.name = out_dir.filename().string();
  card.architecture = arch;
  for (const auto& l : plan.at("labels")) {
    LabelInfo info;
    info.value = l.at("value").get<int>();
    info.name = l.at("name").get<std::string>();
    info.color = DefaultLabelColor(info.value);
    card.labels.push_back(info);
  }
  card.patch_size = patch;
  card.spacing_mm = spacing_ijk;
  card.preprocessing = plan.value("preprocessing", json::object());
  // Learned preprocessing parameters travel with the model: a Nyul landmarks file is copied into
  // the model folder and referenced relative to it.
  if (card.preprocessing.contains("intensity")) {
    auto& intensity = card.preprocessing["intensity"];
    const std::string landmarks = intensity.value("nyul_landmarks_file", "");
    if (intensity.value("method", "") == "nyul" && !landmarks.empty()) {
      fs::copy_file(landmarks, out_dir / "nyul_landmarks.json", fs::copy_options::overwrite_existing);
      intensity["nyul_landmarks_file"] = "nyul_landmarks.json";
    }
  }
  json validation = json::object();
  for (std::size_t i = 0; i < summary.validation_dice.size() && i < label_names.size(); ++i) {
    validation["dice"][label_names[i]] = summary.validation_dice[i];
  }
  std::int64_t parameters = 0;
  for (const auto& t : model->parameters()) parameters += t.numel();
  card.provenance = {{"cardioseg_version", Version()},
                     {"git_revision", GitRevision()},
                     {"command", options.command_line},
                     {"dataset", plan.value("dataset", json::object())},
                     {"training_config", ToJson(config)},
                     {"epochs_done", summary.epochs_done},
                     {"iterations_done", std::int64_t(summary.epochs_done) * config.iterations_per_epoch},
                     {"total_iterations", std::int64_t(config.epochs) * config.iterations_per_epoch},
                     {"precision", PrecisionName(precision)},
                     {"channels_last", config.channels_last},
                     {"training_seconds_total", previous_seconds},
                     {"subject_pattern", config.subject_pattern},
                     {"training_subjects", train_subjects.size()},
                     {"training_cases", train_ids.size()},
                     {"validation_cases", val_ids},
                     {"device", device.str()},
                     {"parameters", parameters},
                     {"threads", torch::get_num_threads()},
                     {"wall_time_s_this_run", summary.seconds},
                     {"validation_during_training", validation}};
  WriteTextAtomically(out_dir / "model.json", ToJson(card).dump(2) + "\n");
  return summary;
}

void AverageModels(const std::vector<fs::path>& model_dirs, const fs::path& out_dir) {
  if (model_dirs.size() < 2) throw UsageError("averaging needs at least two model folders");
  if (fs::exists(out_dir)) {
    throw UsageError(out_dir.string() + ": exists; averaging writes a new model folder");
  }
  ModelCard first, card;
  std::vector<torch::Tensor> sum;  // per parameter, fp32
  json sources = json::array();
  torch::NoGradGuard no_grad;
  UNet model{nullptr};
  for (const auto& dir : model_dirs) {
    card = ReadModelCard(dir);
    if (card.format != "cardioseg") {
      throw InputError((dir / "model.json").string(), "format \"" + card.format +
                                                         "\": only cardioseg models can be averaged");
    }
    if (!model) {
      first = card;
    } else if (ToJson(card).at("architecture") != ToJson(first).at("architecture")) {
      throw InputError((dir / "model.json").string(),
                       "its architecture differs from that of " + (model_dirs[0] / "model.json").string());
    }
    model = UNet(card.architecture);
    try {
      torch::load(model, (dir / card.weights).string());
    } catch (const c10::Error& e) {
      throw InputError((dir / card.weights).string(), std::string("cannot be loaded: ") + e.what_without_backtrace());
    }
    const auto params = model->parameters();
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (sum.size() < params.size()) sum.push_back(torch::zeros_like(params[i], torch::kFloat));
      if (!params[i].sizes().equals(sum[i].sizes())) {
        throw InputError((dir / card.weights).string(), "the weights do not match the architecture in model.json");
      }
      sum[i] += params[i].to(torch::kFloat);
    }
    sources.push_back({{"model", dir.string()}, {"iterations_done", card.provenance.value("iterations_done", json())}});
  }
  // `model` and `card` are the last folder's: overwrite its parameters with the mean.
  const auto params = model->parameters();
  for (std::size_t i = 0; i < params.size(); ++i) {
    params[i].copy_(sum[i] / double(model_dirs.size()));
  }
  card.name = out_dir.filename().string();
  card.weights = "weights.pt";
  card.provenance["averaged_from"] = sources;
  StagedFolder staged(out_dir);
  SaveAtomically(model, staged.path() / "weights.pt");
  WriteTextAtomically(staged.path() / "model.json", ToJson(card).dump(2) + "\n");
  for (const char* extra : {"split.json", "training_log.csv", "training_curves.png", "nyul_landmarks.json"}) {
    if (fs::exists(model_dirs.back() / extra)) fs::copy_file(model_dirs.back() / extra, staged.path() / extra);
  }
  staged.Commit();
}

}  // namespace cardioseg::nn
