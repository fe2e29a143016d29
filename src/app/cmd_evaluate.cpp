// `cardioseg evaluate PRED GT [-o OUTDIR] [--labels 1,2,3] [--mask MASK]`: Dice, IoU, HD95, ASSD (mm), volumes.
// PRED and GT are label-map files, or folders paired by case name: a GT folder of
// <case>.nii.gz files, a PRED folder of <case>.nii.gz files or of <case>/seg.nii.gz run outputs.
#include <cmath>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include <spdlog/spdlog.h>

#include "cardioseg/core/atomic_file.h"
#include "cardioseg/core/error.h"
#include "cardioseg/imaging/io.h"
#include "cardioseg/imaging/metrics.h"
#include "commands.h"

namespace cardioseg::app {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct EvaluateOptions {
  std::string prediction;
  std::string reference;
  std::string output_dir;
  std::vector<int> labels;
  std::string mask;
};

// Sets the voxels of `labels` outside `mask` to 0 (same grid required).
void ApplyMask(imaging::LabelMapType* labels, const imaging::LabelMapType* mask,
               const fs::path& mask_path) {
  if (labels->GetLargestPossibleRegion().GetSize() != mask->GetLargestPossibleRegion().GetSize()) {
    throw InputError(mask_path.string(), "the mask's size differs from the label map's");
  }
  auto* l = labels->GetBufferPointer();
  const auto* m = mask->GetBufferPointer();
  for (std::size_t i = 0, n = labels->GetLargestPossibleRegion().GetNumberOfPixels(); i < n; ++i) {
    if (!m[i]) l[i] = 0;
  }
}

bool IsLabelFile(const fs::path& p) {
  const auto ext = SplitExtension(p.filename().string()).second;
  return ext == ".nii.gz" || ext == ".nii" || ext == ".nrrd" || ext == ".mha" || ext == ".mhd";
}

std::map<std::string, fs::path> CasesIn(const fs::path& dir) {
  std::map<std::string, fs::path> cases;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_directory() && fs::exists(e.path() / "seg.nii.gz")) {
      cases[e.path().filename().string()] = e.path() / "seg.nii.gz";
    } else if (e.is_regular_file() && IsLabelFile(e.path())) {
      cases[SplitExtension(e.path().filename().string()).first] = e.path();
    }
  }
  return cases;
}

std::vector<int> LabelsPresent(const imaging::LabelMapType* a, const imaging::LabelMapType* b) {
  std::set<int> values;
  for (const auto* image : {a, b}) {
    const auto* p = image->GetBufferPointer();
    values.insert(p, p + image->GetLargestPossibleRegion().GetNumberOfPixels());
  }
  values.erase(0);
  return {values.begin(), values.end()};
}

int RunEvaluate(const EvaluateOptions& options) {
  std::vector<std::tuple<std::string, fs::path, fs::path>> pairs;
  if (fs::is_directory(options.prediction) != fs::is_directory(options.reference)) {
    throw UsageError("PRED and GT must both be files or both be folders");
  }
  if (fs::is_directory(options.prediction)) {
    const auto pred = CasesIn(options.prediction), ref = CasesIn(options.reference);
    for (const auto& [id, path] : ref) {
      if (pred.count(id)) pairs.emplace_back(id, pred.at(id), path);
      else spdlog::warn("{}: no prediction for case {}", options.prediction, id);
    }
    if (pairs.empty()) throw InputError(options.prediction, "no case matches a reference by name");
  } else {
    pairs.emplace_back(SplitExtension(fs::path(options.reference).filename().string()).first,
                       options.prediction, options.reference);
  }

  imaging::LabelMapType::Pointer mask;
  if (!options.mask.empty()) mask = imaging::ReadLabelMap(options.mask);
  json cases = json::array();
  std::ostringstream csv;
  csv << "case,label,dice,iou,hd95_mm,assd_mm,volume_pred_ml,volume_ref_ml,volume_difference_ml\n";
  std::map<int, std::map<std::string, std::vector<double>>> per_label;
  int failed = 0;
  for (const auto& [id, pred_path, ref_path] : pairs) {
    try {
      const auto pred = imaging::ReadLabelMap(pred_path);
      const auto ref = imaging::ReadLabelMap(ref_path);
      if (mask) {
        ApplyMask(pred.GetPointer(), mask.GetPointer(), options.mask);
        ApplyMask(ref.GetPointer(), mask.GetPointer(), options.mask);
      }
      const auto labels = options.labels.empty() ? LabelsPresent(pred.GetPointer(), ref.GetPointer())
                                                 : options.labels;
      std::vector<imaging::LabelMetrics> metrics;
      try {
        metrics = imaging::Evaluate(pred.GetPointer(), ref.GetPointer(), labels);
      } catch (const std::invalid_argument& e) {
        throw InputError(pred_path.string(), std::string(e.what()) + " (reference " +
                                                 ref_path.string() + ")");
      }
      json entry = {{"case", id}, {"prediction", pred_path.string()},
                    {"reference", ref_path.string()}, {"labels", json::array()}};
      for (const auto& m : metrics) {
        entry["labels"].push_back(imaging::ToJson(m));
        csv << id << "," << m.label << "," << m.dice << "," << m.iou << "," << m.hd95_mm << ","
            << m.assd_mm << "," << m.volume_pred_ml << "," << m.volume_ref_ml << ","
            << m.volume_difference_ml << "\n";
        auto& s = per_label[m.label];
        s["dice"].push_back(m.dice);
        s["iou"].push_back(m.iou);
        if (!std::isnan(m.hd95_mm)) s["hd95_mm"].push_back(m.hd95_mm);
        if (!std::isnan(m.assd_mm)) s["assd_mm"].push_back(m.assd_mm);
        s["volume_difference_ml"].push_back(m.volume_difference_ml);
      }
      cases.push_back(entry);
    } catch (const InputError& e) {
      spdlog::error("{}", e.what());
      ++failed;
    }
  }
  json summary = json::object();
  std::cout << "label  metric                 mean        sd   n\n";
  for (const auto& [label, metrics] : per_label) {
    for (const auto& [name, values] : metrics) {
      double mean = 0, sd = 0;
      for (double v : values) mean += v / values.size();
      for (double v : values) sd += (v - mean) * (v - mean) / values.size();
      sd = std::sqrt(sd);
      summary[std::to_string(label)][name] = {{"mean", mean}, {"sd", sd}, {"n", values.size()}};
      std::printf("%5d  %-20s %9.4f %9.4f %3zu\n", label, name.c_str(), mean, sd, values.size());
    }
  }
  if (!options.output_dir.empty()) {
    const fs::path out(options.output_dir);
    WriteTextAtomically(out / "metrics.csv", csv.str());
    WriteTextAtomically(out / "metrics.json",
                        json{{"cases", cases}, {"summary", summary},
                             {"conventions",
                              "HD95: 95th percentile of pooled directed surface distances; ASSD: "
                              "mean of the two directed mean surface distances; mm on the image "
                              "spacing; both empty -> Dice 1, HD95 0; one empty -> Dice 0, HD95 "
                              "null"}}.dump(2) + "\n");
  }
  return failed ? kExitCaseFailed : kExitOk;
}

}  // namespace

Command RegisterEvaluate(CLI::App& app) {
  auto options = std::make_shared<EvaluateOptions>();
  CLI::App* sub = app.add_subcommand(
      "evaluate", "Dice, IoU, HD95 and ASSD (mm) and volumes of predictions against references");
  sub->add_option("prediction", options->prediction, "Predicted label map, or a folder of them")
      ->required()->check(CLI::ExistingPath);
  sub->add_option("reference", options->reference, "Reference label map, or a folder of them")
      ->required()->check(CLI::ExistingPath);
  sub->add_option("-o,--output", options->output_dir, "Folder for metrics.csv and metrics.json");
  sub->add_option("--labels", options->labels, "Labels to score (default: all present)")
      ->delimiter(',');
  sub->add_option("--mask", options->mask,
                  "Score only inside this mask (e.g. contoured_slices.nii.gz from `contours`)")
      ->check(CLI::ExistingFile);
  return {sub, [options] { return RunEvaluate(*options); }};
}

}  // namespace cardioseg::app
