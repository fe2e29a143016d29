#include "cardioseg/pipeline/plan.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "cardioseg/core/atomic_file.h"
#include "cardioseg/core/error.h"
#include "cardioseg/core/intensity_math.h"
#include "cardioseg/imaging/intensity.h"
#include "cardioseg/imaging/io.h"
#include "cardioseg/imaging/n4.h"
#include "cardioseg/imaging/postprocess.h"
#include "cardioseg/imaging/resample.h"
#include "cardioseg/nn/cache.h"
#include "cardioseg/nn/tiling.h"

namespace cardioseg::pipeline {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double Percentile(std::vector<double> v, double p) {
  std::vector<float> f(v.begin(), v.end());
  return intensity::Percentiles(f, {p})[0];
}

std::string CaseId(const std::string& image_path) {
  return SplitExtension(fs::path(image_path).filename().string()).first;
}

}  // namespace

json PlanPreprocess(const PlanOptions& options) {
  if (options.keep_uncorrected && !options.config.preprocess.n4.enabled) {
    throw ConfigError("--keep-uncorrected keeps the images without N4, but preprocess.n4.enabled "
                      "is false: every cached image is already uncorrected");
  }
  const fs::path dataset_file = options.dataset_dir / "dataset.json";
  const json dataset = config::ReadJsonFile(dataset_file);
  if (!dataset.contains("training") || !dataset["training"].is_array() ||
      dataset["training"].empty()) {
    throw InputError(dataset_file.string(), "no \"training\" list of {image, label} pairs");
  }
  if (!dataset.contains("labels") || !dataset["labels"].is_object()) {
    throw InputError(dataset_file.string(), "no \"labels\" object");
  }
  json labels = json::array();
  int num_classes = 0;
  for (const auto& [value, name] : dataset["labels"].items()) {
    labels.push_back({{"value", std::stoi(value)}, {"name", name.get<std::string>()}});
    num_classes = std::max(num_classes, std::stoi(value) + 1);
  }
  std::sort(labels.begin(), labels.end(),
            [](const json& a, const json& b) { return a["value"] < b["value"]; });

  struct Entry {
    std::string id;
    fs::path image, label;
  };
  std::vector<Entry> entries;
  for (const auto& t : dataset["training"]) {
    Entry e;
    e.image = options.dataset_dir / t.at("image").get<std::string>();
    e.label = options.dataset_dir / t.at("label").get<std::string>();
    e.id = CaseId(e.image.string());
    entries.push_back(e);
    if (options.max_cases > 0 && static_cast<int>(entries.size()) >= options.max_cases) break;
  }

  // 1. Fingerprint.
  json cases = json::array();
  std::array<std::vector<double>, 3> spacings, extents_mm;
  std::vector<double> all_p005, all_p995;
  std::ostringstream csv;
  csv << "case,size_i,size_j,size_k,spacing_i,spacing_j,spacing_k,p00_5,p50,p99_5,fg_p00_5,fg_p50,"
         "fg_p99_5";
  for (int v = 1; v < num_classes; ++v) csv << ",volume_ml_" << v;
  csv << "\n";
  for (const auto& e : entries) {
    const auto image = imaging::ReadVolume(e.image, {}).image;
    const auto label = imaging::ReadLabelMap(e.label);
    const Geometry g = imaging::GeometryOf(image.GetPointer());
    if (imaging::GeometryOf(label.GetPointer()).size != g.size) {
      throw InputError(e.label.string(), "label map size differs from its image");
    }
    auto values = imaging::MaskedValues(image.GetPointer(), nullptr);
    const auto p = intensity::Percentiles(values, {0.5, 50, 99.5});
    auto fg_mask = imaging::MakeImage<imaging::LabelMapType>(g);
    for (std::size_t i = 0; i < g.NumberOfVoxels(); ++i) {
      fg_mask->GetBufferPointer()[i] = label->GetBufferPointer()[i] != 0;
    }
    auto fg_values = imaging::MaskedValues(image.GetPointer(), fg_mask.GetPointer());
    const auto fp = fg_values.empty() ? std::vector<double>{0, 0, 0}
                                      : intensity::Percentiles(fg_values, {0.5, 50, 99.5});
    const auto volumes = imaging::LabelVolumesMl(label.GetPointer());
    json vol = json::object();
    for (int v = 1; v < num_classes; ++v) {
      vol[std::to_string(v)] = volumes.count(v) ? volumes.at(v) : 0.0;
    }
    cases.push_back({{"case", e.id}, {"size", g.size}, {"spacing_mm", g.spacing},
                     {"percentiles", {{"p00_5", p[0]}, {"p50", p[1]}, {"p99_5", p[2]}}},
                     {"foreground_percentiles", {{"p00_5", fp[0]}, {"p50", fp[1]}, {"p99_5", fp[2]}}},
                     {"label_volumes_ml", vol}});
    csv << e.id;
    for (auto s : g.size) csv << "," << s;
    for (auto s : g.spacing) csv << "," << s;
    csv << "," << p[0] << "," << p[1] << "," << p[2] << "," << fp[0] << "," << fp[1] << "," << fp[2];
    for (int v = 1; v < num_classes; ++v) csv << "," << vol[std::to_string(v)].get<double>();
    csv << "\n";
    for (int a = 0; a < 3; ++a) {
      spacings[a].push_back(g.spacing[a]);
      extents_mm[a].push_back(g.spacing[a] * g.size[a]);
    }
    all_p005.push_back(p[0]);
    all_p995.push_back(p[2]);
  }
  std::array<double, 3> median_spacing{Median(spacings[0]), Median(spacings[1]), Median(spacings[2])};
  json fingerprint = {{"dataset", dataset.value("name", options.dataset_dir.filename().string())},
                      {"cases", cases},
                      {"median_spacing_mm", median_spacing},
                      {"median_extent_mm", {Median(extents_mm[0]), Median(extents_mm[1]), Median(extents_mm[2])}},
                      {"median_p00_5", Median(all_p005)},
                      {"median_p99_5", Median(all_p995)}};
  WriteTextAtomically(options.cache_dir / "fingerprint.json", fingerprint.dump(2) + "\n");
  WriteTextAtomically(options.cache_dir / "fingerprint.csv", csv.str());

  // 2. Plan: target spacing, patch, topology.
  Geometry median;
  median.spacing = median_spacing;
  const auto sparse = imaging::SparseAxes(median, options.config.preprocess.resample.anisotropy_ratio);
  std::array<double, 3> target = median_spacing;
  for (int a = 0; a < 3; ++a) {
    if (sparse[a]) target[a] = Percentile(spacings[a], 10);  // nnU-Net's rule for the sparse axis
    if (options.spacing_mm[a] > 0) target[a] = options.spacing_mm[a];
  }
  nn::Shape3 shape;  // median shape at the target spacing, [D, H, W]
  for (int a = 0; a < 3; ++a) {
    shape[2 - a] = std::max<std::int64_t>(1, std::llround(Median(extents_mm[a]) / target[a]));
  }
  nn::Shape3 patch = shape;
  const std::array<double, 3> target_dhw{target[2], target[1], target[0]};
  while (patch[0] * patch[1] * patch[2] > options.max_patch_voxels) {
    // Shrink the axis with the largest physical extent by 10 %.
    int axis = 0;
    for (int a = 1; a < 3; ++a) {
      if (patch[a] * target_dhw[a] > patch[axis] * target_dhw[axis]) axis = a;
    }
    patch[axis] = std::max<std::int64_t>(4, patch[axis] * 9 / 10);
  }
  const auto levels = nn::PlanLevels(target_dhw, patch);
  patch = nn::DivisibleShape(patch, levels);
  json level_json = json::array();
  for (const auto& l : levels) level_json.push_back({{"kernel", l.kernel}, {"stride", l.stride}});

  config::Config pre = options.config;
  json plan = {
      {"dataset", {{"name", dataset.value("name", "")},
                   {"path", options.dataset_dir.string()},
                   {"licence", dataset.value("licence", dataset.value("license", ""))},
                   {"reference", dataset.value("reference", "")},
                   {"cases", entries.size()}}},
      {"num_classes", num_classes},
      {"uncorrected_images", options.keep_uncorrected},
      {"labels", labels},
      {"in_channels", 1},
      {"spacing_mm", target},
      {"median_shape_dhw", shape},
      {"patch_size_dhw", patch},
      {"levels", level_json},
      {"preprocessing",
       {{"n4", config::ToJson(pre)["preprocess"]["n4"]},
        {"intensity", config::ToJson(pre)["preprocess"]["intensity"]},
        {"anisotropy_ratio", pre.preprocess.resample.anisotropy_ratio}}}};

  // 3. Preprocess every case with the same stages as `cardioseg run`.
  config::ResampleConfig resample = pre.preprocess.resample;
  resample.enabled = true;
  resample.target_spacing_mm = target;
  int done = 0;
  for (const auto& e : entries) {
    auto image = imaging::ReadVolume(e.image, {}).image;
    auto label = imaging::ReadLabelMap(e.label);
    const Geometry source = imaging::GeometryOf(image.GetPointer());
    // Crop to the nonzero box, as inference does.
    const auto box = imaging::NonzeroBox(image.GetPointer());
    image = imaging::Crop(image.GetPointer(), box);
    label = imaging::Crop(label.GetPointer(), box);
    // The stages after N4, as `cardioseg run` runs them.
    const auto standardize_and_resample = [&](imaging::ImageType::Pointer im) {
      if (pre.preprocess.intensity.method != "none") {
        im = imaging::Standardize(im.GetPointer(), pre.preprocess.intensity).image;
      }
      return imaging::ResampleImage(im.GetPointer(), resample);
    };
    imaging::ImageType::Pointer uncorrected;
    if (options.keep_uncorrected) uncorrected = standardize_and_resample(image);
    if (pre.preprocess.n4.enabled) {
      image = imaging::CorrectBiasField(image.GetPointer(), pre.preprocess.n4).corrected;
    }
    image = standardize_and_resample(image);
    const Geometry grid = imaging::GeometryOf(image.GetPointer());
    label = imaging::ResampleLabelsOnto(label.GetPointer(), grid);
    nn::CachedCase c;
    c.id = e.id;
    c.shape = {static_cast<int64_t>(grid.size[2]), static_cast<int64_t>(grid.size[1]),
               static_cast<int64_t>(grid.size[0])};
    c.image.assign(image->GetBufferPointer(), image->GetBufferPointer() + grid.NumberOfVoxels());
    c.labels.assign(label->GetBufferPointer(), label->GetBufferPointer() + grid.NumberOfVoxels());
    if (uncorrected) {
      c.uncorrected.assign(uncorrected->GetBufferPointer(),
                           uncorrected->GetBufferPointer() + grid.NumberOfVoxels());
    }
    c.meta = {{"image", e.image.string()}, {"label", e.label.string()},
              {"source_geometry", ToJson(source)}, {"geometry", ToJson(grid)},
              {"crop_start", box.start}, {"crop_size", box.size}};
    nn::WriteCachedCase(options.cache_dir, c);
    spdlog::info("preprocessed {} ({}/{}): [{}, {}, {}]", e.id, ++done, entries.size(), c.shape[0],
                 c.shape[1], c.shape[2]);
  }
  WriteTextAtomically(options.cache_dir / "plan.json", plan.dump(2) + "\n");
  return plan;
}

}  // namespace cardioseg::pipeline
