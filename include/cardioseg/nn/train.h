#pragma once
// `cardioseg train`: trains a U-Net on a preprocessed cache (nn/cache.h) with LibTorch alone.
// Recipe after nnU-Net (Isensee et al., Nature Methods 2021): patches with foreground
// oversampling, on-the-fly spatial and intensity augmentation, Dice + cross-entropy loss, SGD with
// Nesterov momentum and a poly learning rate, validation Dice on whole held-out cases through
// the sliding window.
#include <array>
#include <atomic>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "cardioseg/nn/model_card.h"

namespace cardioseg::nn {

// "augmentation" section of the training config. Probabilities are per sample.
struct AugmentationConfig {
  // Random rotation about the slice axis (D) in degrees, +/- this. Range [0, 180]. Default 15.
  double rotation_deg = 15.0;
  // Random isotropic scaling range. Default {0.85, 1.25}.
  std::array<double, 2> scale{0.85, 1.25};
  // Probability of the spatial transform (rotation + scaling [+ elastic]). Default 0.2.
  double spatial_probability = 0.2;
  // Smooth random displacement (elastic deformation) added to the spatial transform. Default false.
  bool elastic = false;
  // Largest elastic displacement in voxels. Range [0, 20]. Default 2.
  double elastic_magnitude_voxels = 2.0;
  // Axes mirrored at random, probability 0.5 each: 0 = D (slices), 1 = H, 2 = W. Default none:
  // a heart is not mirror-symmetric (the RV lies to the patient's right of the LV, the LA's
  // pulmonary veins have a side), and mirroring teaches the network to ignore that cue.
  std::vector<int> mirror_axes;
  // Gamma range and probability (on intensities rescaled to [0, 1]). Default {0.7, 1.5}, 0.3.
  std::array<double, 2> gamma{0.7, 1.5};
  double gamma_probability = 0.3;
  // Multiplicative brightness range and probability. Default {0.75, 1.25}, 0.15.
  std::array<double, 2> brightness{0.75, 1.25};
  double brightness_probability = 0.15;
  // Contrast range and probability. Default {0.75, 1.25}, 0.15.
  std::array<double, 2> contrast{0.75, 1.25};
  double contrast_probability = 0.15;
  // Gaussian noise standard deviation (normalised units) and probability. Default 0.1, 0.1.
  double noise_sd = 0.1;
  double noise_probability = 0.1;
  // In-plane Gaussian blur sigma range (voxels) and probability. Default {0.5, 1.0}, 0.2.
  std::array<double, 2> blur_sigma{0.5, 1.0};
  double blur_probability = 0.2;
  // Probability that a training sample comes from the case's image without N4 bias-field
  // correction (CACHE/cases/<id>.uncorrected.f32, from `plan-preprocess --keep-uncorrected`;
  // ConfigError when a training case has none) instead of the corrected one: the network learns
  // to segment with and without N4, so that inference may skip it. Validation uses the corrected
  // images. Range [0, 1]. Default 0.
  double uncorrected_probability = 0.0;

  template <class V> void Visit(V& v) {
    v.Field("rotation_deg", rotation_deg, 0.0, 180.0);
    v.Field("scale", scale, 0.25, 4.0);
    v.Field("spatial_probability", spatial_probability, 0.0, 1.0);
    v.Field("elastic", elastic);
    v.Field("elastic_magnitude_voxels", elastic_magnitude_voxels, 0.0, 20.0);
    v.Field("mirror_axes", mirror_axes, 0, 2, 0, 3);
    v.Field("gamma", gamma, 0.1, 10.0);
    v.Field("gamma_probability", gamma_probability, 0.0, 1.0);
    v.Field("brightness", brightness, 0.1, 10.0);
    v.Field("brightness_probability", brightness_probability, 0.0, 1.0);
    v.Field("contrast", contrast, 0.1, 10.0);
    v.Field("contrast_probability", contrast_probability, 0.0, 1.0);
    v.Field("noise_sd", noise_sd, 0.0, 10.0);
    v.Field("noise_probability", noise_probability, 0.0, 1.0);
    v.Field("blur_sigma", blur_sigma, 0.1, 10.0);
    v.Field("blur_probability", blur_probability, 0.0, 1.0);
    v.Field("uncorrected_probability", uncorrected_probability, 0.0, 1.0);
  }
};

// The training config (`cardioseg train --config FILE`, strict like the run config).
struct TrainConfig {
  // Network: "unet", "attention_unet", "vnet" or "resenc_unet" (see nn/network.h). Default "unet".
  std::string architecture = "unet";
  // "vnet": convolutions per residual stage (1-3); "resenc_unet": residual blocks per encoder
  // level (1-16); one entry per level. Empty = the preset (see BlocksPerLevel in
  // nn/model_card.h). Default empty.
  std::vector<int> blocks_per_level;
  int base_channels = 16;      // [4, 64], default 16
  int max_channels = 256;      // [8, 512], default 256
  bool deep_supervision = true;
  int max_levels = 5;          // [1, 7], default 5
  // Patch [D, H, W]; {0, 0, 0} = the plan's. Default {0, 0, 0}.
  std::array<int, 3> patch_size_dhw{0, 0, 0};
  int epochs = 50;                 // [1, 100000]
  int iterations_per_epoch = 50;   // [1, 100000]
  int batch_size = 2;              // [1, 256]
  // "sgd" (Nesterov momentum, nnU-Net) or "adam". Default "sgd".
  std::string optimizer = "sgd";
  double learning_rate = 0.01;     // initial, (0, 1]; poly decay (1 - epoch/epochs)^0.9
  double momentum = 0.99;          // SGD, [0, 1)
  double weight_decay = 3e-5;      // [0, 1]
  // Fraction of patches centred on a random foreground voxel. Default 0.33.
  double foreground_oversampling = 0.33;
  // Validation: with folds = 0, a random validation_fraction of the subjects (fixed seed); with
  // folds = k >= 2, fold `fold` of a k-fold split of the subjects. Defaults 0.2, 0, 0.
  double validation_fraction = 0.2;
  // Which cases belong to one subject (patient), so that splits never separate them: an
  // ECMAScript regular expression searched in each case id; its first capture group (or the
  // whole match when it has none) is the subject. Cases it does not match are subjects of their
  // own. Default "" = every case is its own subject. ACDC ("patient001", "patient001_es"):
  // "^(patient[0-9]+)".
  std::string subject_pattern;
  int folds = 0;
  int fold = 0;
  int validate_every = 5;          // epochs, [1, 1000]
  // Mixed precision: "auto" (bf16 where the CPU has bf16 instructions, and on CUDA; else fp32),
  // "fp32", "bf16", "fp16" (CUDA). The loss is computed in fp32. Default "auto".
  std::string precision = "auto";
  // Weights and activations in channels-last-3D memory format (faster oneDNN bf16 kernels).
  bool channels_last = true;
  // Prepare the next batch (sampling, augmentation) on a background thread during the step.
  bool background_batches = true;
  int seed = 12345;
  std::string device = "auto";     // auto, cpu, cuda
  int threads = 0;                 // LibTorch threads, 0 = all cores
  AugmentationConfig augmentation;

  template <class V> void Visit(V& v) {
    v.Choice("architecture", architecture, {"unet", "attention_unet", "vnet", "resenc_unet"});
    v.Field("blocks_per_level", blocks_per_level, 1, 16, 0, 8);
    v.Field("base_channels", base_channels, 4, 64);
    v.Field("max_channels", max_channels, 8, 512);
    v.Field("deep_supervision", deep_supervision);
    v.Field("max_levels", max_levels, 1, 7);
    v.Field("patch_size_dhw", patch_size_dhw, 0, 1024);
    v.Field("epochs", epochs, 1, 100000);
    v.Field("iterations_per_epoch", iterations_per_epoch, 1, 100000);
    v.Field("batch_size", batch_size, 1, 256);
    v.Choice("optimizer", optimizer, {"sgd", "adam"});
    v.Field("learning_rate", learning_rate, 1e-7, 1.0);
    v.Field("momentum", momentum, 0.0, 0.9999);
    v.Field("weight_decay", weight_decay, 0.0, 1.0);
    v.Field("foreground_oversampling", foreground_oversampling, 0.0, 1.0);
    v.Field("validation_fraction", validation_fraction, 0.0, 0.9);
    v.Field("subject_pattern", subject_pattern);
    v.Field("folds", folds, 0, 20);
    v.Field("fold", fold, 0, 19);
    v.Check(folds == 0 || fold < folds, "fold", "must be below folds");
    v.Field("validate_every", validate_every, 1, 1000);
    v.Choice("precision", precision, {"auto", "fp32", "bf16", "fp16"});
    v.Field("channels_last", channels_last);
    v.Field("background_batches", background_batches);
    v.Field("seed", seed, 0, 2147483647);
    v.Choice("device", device, {"auto", "cpu", "cuda"});
    v.Field("threads", threads, 0, 256);
    v.Section("augmentation", augmentation);
  }
};

TrainConfig TrainConfigFromJson(const nlohmann::json& document);  // throws ConfigError
nlohmann::json ToJson(const TrainConfig& config);

struct TrainOptions {
  // Continue in OUT: from its last checkpoint (trainer_state.json: weights, optimizer state,
  // iteration count; the random streams are a function of seed and iteration, so the run goes
  // on exactly as if uninterrupted), or, when OUT holds no checkpoint but a model folder
  // (model.json + weights.pt, e.g. a committed model copied there), from those weights and the
  // iteration count in the card, with SGD momentum restarting from zero.
  bool resume = false;
  std::string command_line;          // recorded in the model card
  // Stop after this many epochs in this invocation (0 = run to `epochs`); for smoke tests.
  int max_epochs_this_run = 0;
  // Set (e.g. by a SIGINT/SIGTERM handler) to stop at the end of the current epoch: its
  // checkpoint and the model folder are written as after a completed run. May be null.
  const std::atomic<bool>* stop = nullptr;
};

struct TrainSummary {
  int epochs_done = 0;
  double first_epoch_loss = 0;
  double last_epoch_loss = 0;
  double seconds = 0;
  std::vector<double> validation_dice;  // per foreground label, last validation (empty if none)
};

// Trains on `cache_dir`, writing into `out_dir`: model.json (card), weights.pt, the checkpoint
// (checkpoint_eN.pt, optimizer_eN.pt and trainer_state.json naming them, written once per epoch,
// each atomically, the state last), training_log.csv, split.json. The total iterations are
// declared up front (epochs x iterations_per_epoch); the poly learning rate follows that schedule
// across resumes. Throws InputError on a bad cache or checkpoint, ConfigError on a config that
// does not fit the data or the device.
TrainSummary Train(const std::filesystem::path& cache_dir, const std::filesystem::path& out_dir,
                   const TrainConfig& config, const TrainOptions& options);

// Seconds per training iteration (forward, Dice + CE loss with deep supervision, backward, SGD
// step) of `architecture` on random batches [batch_size, C, patch] after `warmup` iterations,
// averaged over `iterations`: the step `train` runs, for tools/bench_train. precision and
// device as in TrainConfig. Throws std::invalid_argument for an unavailable device/precision.
double SecondsPerTrainingIteration(const ArchitectureConfig& architecture, const Shape3& patch,
                                   int batch_size, const std::string& precision,
                                   bool channels_last, int warmup, int iterations,
                                   const std::string& device);

// Checkpoint averaging ("model soup"; Izmailov et al., "Averaging Weights Leads to Wider Optima
// and Better Generalization", UAI 2018; Wortsman et al., "Model soups", ICML 2022): writes to
// `out_dir` a model folder whose weights are the uniform mean of the weights of `model_dirs`
// (model folders of format "cardioseg", e.g. states of one training run), with the card of the
// last one and `provenance.averaged_from` listing each source's folder and iterations_done.
// Instance norm keeps no running statistics, so the mean of the parameters is the whole model.
// The folder appears all at once (written beside it, then renamed). Throws InputError when a
// folder is not a cardioseg model, its weights cannot be read, or its architecture differs from
// the first's; UsageError for fewer than two folders or an existing `out_dir`.
void AverageModels(const std::vector<std::filesystem::path>& model_dirs, const std::filesystem::path& out_dir);

// The subject of a case id under `subject_pattern` (see TrainConfig); the id itself when the
// pattern is empty or does not match. Throws ConfigError for an invalid regular expression.
std::string SubjectOf(const std::string& case_id, const std::string& subject_pattern);

// Case ids split into (training, validation) by the config's rule, whole subjects at a time:
// the subjects are sorted, shuffled with the seed, and cut by validation_fraction or into folds.
// Deterministic for a seed. With no subject pattern this is the former split of cases.
std::pair<std::vector<std::string>, std::vector<std::string>> SplitCases(
    std::vector<std::string> ids, const TrainConfig& config);

}  // namespace cardioseg::nn
