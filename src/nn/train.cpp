#include "cardioseg/nn/train.h"

#include <chrono>
#include <cmath>
#include <fstream>
#include <numeric>
#include <random>
#include <thread>

#include <spdlog/spdlog.h>

#include "cardioseg/core/atomic_file.h"
#include "cardioseg/core/config.h"
#include "cardioseg/core/config_visitors.h"
#include "cardioseg/core/error.h"
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

std::pair<std::vector<std::string>, std::vector<std::string>> SplitCases(
    std::vector<std::string> ids, const TrainConfig& config) {
  std::sort(ids.begin(), ids.end());
  std::mt19937 rng(static_cast<unsigned>(config.seed));
  std::shuffle(ids.begin(), ids.end(), rng);
  std::vector<std::string> train, val;
  if (config.folds >= 2) {
    for (std::size_t i = 0; i < ids.size(); ++i) {
      (static_cast<int>(i % config.folds) == config.fold ? val : train).push_back(ids[i]);
    }
  } else {
    auto n_val = static_cast<std::size_t>(std::llround(config.validation_fraction * ids.size()));
    if (config.validation_fraction > 0 && n_val == 0 && ids.size() >= 2) n_val = 1;
    val.assign(ids.begin(), ids.begin() + n_val);
    train.assign(ids.begin() + n_val, ids.end());
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
  torch::Tensor label;  // [D, H, W] uint8
  std::vector<std::vector<std::int64_t>> foreground;  // flat indices per label value (1..K-1)
};

Case LoadCase(const fs::path& cache, const std::string& id, const Shape3& patch, int num_classes) {
  CachedCase c = ReadCachedCase(cache, id);
  Case out;
  out.id = id;
  out.image = torch::from_blob(c.image.data(), {c.channels, c.shape[0], c.shape[1], c.shape[2]},
                               torch::kFloat).clone();
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

// One patch [C, pd, ph, pw] and its labels, centred on foreground with probability `fg`.
std::pair<torch::Tensor, torch::Tensor> SamplePatch(const Case& c, const Shape3& patch, double fg,
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
  return {c.image.index({Slice(), d, h, w}), c.label.index({d, h, w})};
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
             std::mt19937& rng) {
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
      auto coarse = torch::randn({1, 3, 4, 4, 4}) * a.elastic_magnitude_voxels;
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
  if (a.flip) {
    for (int axis : {1, 2}) {  // H, W of the label [D, H, W]
      if (Chance(rng, 0.5)) {
        image = torch::flip(image, {axis + 1});
        label = torch::flip(label, {axis});
      }
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
    image = image + torch::randn_like(image) * Uniform(rng, 0, a.noise_sd);
  }
  if (Chance(rng, a.blur_probability)) image = BlurInPlane(image, Uniform(rng, a.blur_sigma[0], a.blur_sigma[1]));
}

// Soft Dice over the batch (foreground classes) + cross-entropy, nnU-Net's default loss.
torch::Tensor DiceCeLoss(const torch::Tensor& logits, const torch::Tensor& target) {
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

template <class T>
void SaveAtomically(const T& object, const fs::path& path) {
  WriteAtomically(path, [&](const fs::path& tmp) { torch::save(object, tmp.string()); });
}

}  // namespace

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
  patch = DivisibleShape(patch, arch.levels);

  const torch::Device device = [&] {
    try {
      return ResolveDevice(config.device);
    } catch (const std::invalid_argument& e) {
      throw ConfigError(std::string("device: ") + e.what());
    }
  }();
  torch::set_num_threads(config::ThreadCount(config.threads));
  torch::manual_seed(config.seed);
  std::mt19937 rng(static_cast<unsigned>(config.seed));

  const auto ids = ListCachedCases(cache_dir);
  if (ids.size() < 2) throw InputError(cache_dir.string(), "the cache holds fewer than 2 cases");
  const auto [train_ids, val_ids] = SplitCases(ids, config);
  std::vector<Case> train_cases, val_cases;
  for (const auto& id : train_ids) train_cases.push_back(LoadCase(cache_dir, id, patch, num_classes));
  for (const auto& id : val_ids) val_cases.push_back(LoadCase(cache_dir, id, {1, 1, 1}, num_classes));
  spdlog::info("training on {} cases, validating on {}; patch [{}, {}, {}], {} levels, device {}",
               train_cases.size(), val_cases.size(), patch[0], patch[1], patch[2],
               arch.levels.size(), device.str());

  fs::create_directories(out_dir);
  UNet model(arch);
  model->to(device);
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  if (config.optimizer == "sgd") {
    optimizer = std::make_unique<torch::optim::SGD>(
        model->parameters(), torch::optim::SGDOptions(config.learning_rate)
                                 .momentum(config.momentum)
                                 .nesterov(true)
                                 .weight_decay(config.weight_decay));
  } else {
    optimizer = std::make_unique<torch::optim::Adam>(
        model->parameters(),
        torch::optim::AdamOptions(config.learning_rate).weight_decay(config.weight_decay));
  }

  int first_epoch = 0;
  const fs::path state_file = out_dir / "trainer_state.json";
  if (options.resume) {
    if (!fs::exists(state_file)) {
      throw InputError(state_file.string(), "nothing to resume: no trainer_state.json");
    }
    const json state = config::ReadJsonFile(state_file);
    first_epoch = state.at("epochs_done").get<int>();
    torch::load(model, (out_dir / "checkpoint.pt").string());
    if (config.optimizer == "sgd") {
      torch::load(static_cast<torch::optim::SGD&>(*optimizer), (out_dir / "optimizer.pt").string());
    } else {
      torch::load(static_cast<torch::optim::Adam&>(*optimizer), (out_dir / "optimizer.pt").string());
    }
    model->to(device);
    rng.seed(static_cast<unsigned>(config.seed + first_epoch));
    torch::manual_seed(config.seed + first_epoch);
    spdlog::info("resuming after epoch {}", first_epoch);
  }

  std::vector<std::string> label_names;
  for (const auto& l : plan.at("labels")) {
    if (l.at("value").get<int>() > 0) label_names.push_back(l.at("name").get<std::string>());
  }
  const fs::path log_file = out_dir / "training_log.csv";
  if (!options.resume || !fs::exists(log_file)) {
    std::ofstream log(log_file);
    log << "epoch,learning_rate,train_loss,val_mean_dice";
    for (const auto& n : label_names) log << ",val_dice_" << n;
    log << ",epoch_seconds\n";
  }
  WriteTextAtomically(out_dir / "split.json",
                      json{{"train", train_ids}, {"validation", val_ids}}.dump(2) + "\n");

  TrainSummary summary;
  int last_epoch = config.epochs;
  if (options.max_epochs_this_run > 0) {
    last_epoch = std::min(config.epochs, first_epoch + options.max_epochs_this_run);
  }
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
      std::vector<torch::Tensor> images, labels;
      for (int b = 0; b < config.batch_size; ++b) {
        const auto& c = train_cases[std::uniform_int_distribution<std::size_t>(
            0, train_cases.size() - 1)(rng)];
        auto [image, label] = SamplePatch(c, patch, config.foreground_oversampling, rng);
        torch::Tensor img = image.clone(), lab = label.to(torch::kFloat);
        Augment(img, lab, config.augmentation, rng);
        images.push_back(img);
        labels.push_back(lab.round().to(torch::kLong));
      }
      const auto x = torch::stack(images).to(device);
      const auto y = torch::stack(labels).to(device);
      optimizer->zero_grad();
      auto loss = DeepSupervisionLoss(model->forward(x), y);
      loss.backward();
      torch::nn::utils::clip_grad_norm_(model->parameters(), 12.0);
      optimizer->step();
      loss_sum += loss.item<double>();
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
      for (const auto& c : val_cases) {
        auto logits = SlidingWindowLogits(
            c.image, [&](const torch::Tensor& t) { return model->forward(t)[0]; }, sw, device);
        const auto d = DicePerLabel(logits.argmax(0), c.label.to(torch::kLong), num_classes);
        for (std::size_t i = 0; i < d.size(); ++i) dice[i] += d[i] / val_cases.size();
      }
      summary.validation_dice = dice;
    }
    const double mean_dice =
        dice.empty() ? std::nan("") : std::accumulate(dice.begin(), dice.end(), 0.0) / dice.size();
    const double seconds = std::chrono::duration<double>(Clock::now() - epoch_start).count();
    {
      std::ofstream log(log_file, std::ios::app);
      log << epoch + 1 << "," << lr << "," << epoch_loss << ",";
      if (!dice.empty()) log << mean_dice;
      for (std::size_t i = 0; i < label_names.size(); ++i) {
        log << ",";
        if (!dice.empty()) log << dice[i];
      }
      log << "," << seconds << "\n";
    }
    spdlog::info("epoch {}/{}: loss {:.4f}, lr {:.5f}{}, {:.1f} s", epoch + 1, config.epochs,
                 epoch_loss, lr,
                 dice.empty() ? std::string() : fmt::format(", validation mean Dice {:.3f}", mean_dice),
                 seconds);
    SaveAtomically(model, out_dir / "checkpoint.pt");
    if (config.optimizer == "sgd") {
      SaveAtomically(static_cast<torch::optim::SGD&>(*optimizer), out_dir / "optimizer.pt");
    } else {
      SaveAtomically(static_cast<torch::optim::Adam&>(*optimizer), out_dir / "optimizer.pt");
    }
    WriteTextAtomically(state_file, json{{"epochs_done", epoch + 1}, {"seed", config.seed}}.dump(2));
    summary.epochs_done = epoch + 1;
  }
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
  card.provenance = {{"cardioseg_version", Version()},
                     {"git_revision", GitRevision()},
                     {"command", options.command_line},
                     {"dataset", plan.value("dataset", json::object())},
                     {"training_config", ToJson(config)},
                     {"epochs_done", summary.epochs_done},
                     {"training_cases", train_ids.size()},
                     {"validation_cases", val_ids},
                     {"device", device.str()},
                     {"threads", torch::get_num_threads()},
                     {"wall_time_s_this_run", summary.seconds},
                     {"validation_during_training", validation}};
  WriteTextAtomically(out_dir / "model.json", ToJson(card).dump(2) + "\n");
  return summary;
}

}  // namespace cardioseg::nn
