// `cardioseg evaluate PRED GT [-o OUTDIR] [--labels 1,2,3] [--mask MASK]`: Dice, IoU, HD95, ASSD (mm), volumes.
// PRED and GT are label-map files, or folders paired by case name: a GT folder of
// <case>.nii.gz files, a PRED folder of <case>.nii.gz files or of <case>/seg.nii.gz run outputs.
#include <cmath>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <memory>
#include <set>
#include <sstream>

#include <spdlog/spdlog.h>

#include "cardioseg/core/atomic_file.h"
#include "cardioseg/core/error.h"
#include "cardioseg/core/plot.h"
#include "cardioseg/core/statistics.h"
#include "cardioseg/imaging/preview.h"
#include "cardioseg/imaging/io.h"
#include "cardioseg/imaging/metrics.h"
#include "commands.h"
#include "junit.h"

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
  // Gates: "0.9" (every label) or "3=0.95" (label 3), repeatable; a per-label value wins.
  std::vector<std::string> min_dice, max_hd95_mm, max_assd_mm, max_volume_diff_pct;
  std::string junit_file;
  bool json_output = false;
  bool clinical = false;
  std::string subject_pattern = "^(.+?)(?:_(?:ed|es|ED|ES))?$";
  int lv = 3, rv = 1, myo = 2;  // label values of the cavities and the LV myocardium (ACDC's)
};

// A threshold for every label, and per label.
struct Gate {
  std::string metric;  // "dice", "hd95_mm", "assd_mm", "volume_diff_pct"
  bool minimum = false;
  std::optional<double> all;
  std::map<int, double> per_label;
  std::optional<double> For(int label) const {
    const auto it = per_label.find(label);
    return it != per_label.end() ? std::optional<double>(it->second) : all;
  }
};

Gate ParseGate(const std::string& option, const std::string& metric, bool minimum,
               const std::vector<std::string>& specs) {
  Gate g{metric, minimum, std::nullopt, {}};
  for (const auto& spec : specs) {
    try {
      std::size_t used = 0;
      const auto eq = spec.find('=');
      if (eq == std::string::npos) {
        g.all = std::stod(spec, &used);
        if (used != spec.size()) throw std::invalid_argument(spec);
      } else {
        const int label = std::stoi(spec.substr(0, eq));
        const std::string v = spec.substr(eq + 1);
        g.per_label[label] = std::stod(v, &used);
        if (used != v.size() || label < 0 || label > 255) throw std::invalid_argument(spec);
      }
    } catch (const std::exception&) {
      throw UsageError(option + " \"" + spec + "\": expected a number or LABEL=number");
    }
  }
  return g;
}

struct GateResult {
  std::string case_id;
  int label = 0;
  std::string metric;
  double value = 0, limit = 0;
  bool passed = true;
};

// One subject's ventricular function from its frames' label volumes (mL): ED is the frame whose
// reference LV cavity is largest, ES the one whose is smallest; both methods are read at those
// frames, as in ACDC, where the ED and ES frames are given.
struct ClinicalRow {
  std::string subject, ed_case, es_case;
  std::vector<std::pair<double, double>> values;  // (predicted, reference) per ClinicalQuantities()
};

const std::vector<std::pair<std::string, std::string>>& ClinicalQuantities() {
  static const std::vector<std::pair<std::string, std::string>> kQuantities = {
      {"lv_edv_ml", "mL"}, {"lv_esv_ml", "mL"}, {"lv_ef_percent", "%"}, {"lv_mass_g", "g"},
      {"rv_edv_ml", "mL"}, {"rv_esv_ml", "mL"}, {"rv_ef_percent", "%"}};
  return kQuantities;
}

constexpr double kMyocardiumDensity = 1.05;  // g/mL

// volumes[case][label] = (predicted mL, reference mL)
int ClinicalAgreement(const EvaluateOptions& options,
                      const std::map<std::string, std::map<int, std::pair<double, double>>>& volumes) {
  std::map<std::string, std::vector<std::string>> frames;
  for (const auto& [id, v] : volumes) {
    try {
      frames[SubjectOf(id, options.subject_pattern)].push_back(id);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--subject-pattern: ") + e.what());
    }
  }
  const auto volume = [&](const std::string& id, int label) -> std::pair<double, double> {
    const auto& v = volumes.at(id);
    const auto it = v.find(label);
    return it == v.end() ? std::pair<double, double>{0, 0} : it->second;
  };
  std::vector<ClinicalRow> rows;
  for (const auto& [subject, ids] : frames) {
    if (ids.size() < 2) {
      spdlog::warn("clinical agreement: subject {} has one frame ({}); it needs ED and ES", subject,
                   ids.front());
      continue;
    }
    const auto [es, ed] = std::minmax_element(ids.begin(), ids.end(), [&](const auto& a, const auto& b) {
      return volume(a, options.lv).second < volume(b, options.lv).second;
    });
    ClinicalRow row{subject, *ed, *es, {}};
    const auto ef = [](double edv, double esv) {
      return edv > 0 ? 100.0 * (edv - esv) / edv : std::numeric_limits<double>::quiet_NaN();
    };
    const auto lv_ed = volume(*ed, options.lv), lv_es = volume(*es, options.lv);
    const auto rv_ed = volume(*ed, options.rv), rv_es = volume(*es, options.rv);
    const auto myo_ed = volume(*ed, options.myo);
    row.values = {lv_ed, lv_es,
                  {ef(lv_ed.first, lv_es.first), ef(lv_ed.second, lv_es.second)},
                  {myo_ed.first * kMyocardiumDensity, myo_ed.second * kMyocardiumDensity},
                  rv_ed, rv_es,
                  {ef(rv_ed.first, rv_es.first), ef(rv_ed.second, rv_es.second)}};
    rows.push_back(row);
  }
  if (rows.empty()) {
    throw InputError(options.reference, "--clinical: no subject has two frames under --subject-pattern '" +
                                            options.subject_pattern + "'");
  }
  std::ostringstream csv;
  csv << "subject,ed_case,es_case,quantity,predicted,reference,difference\n";
  json subjects = json::array();
  for (const auto& r : rows) {
    json entry{{"subject", r.subject}, {"ed_case", r.ed_case}, {"es_case", r.es_case}};
    for (std::size_t q = 0; q < r.values.size(); ++q) {
      const auto& [pred, ref] = r.values[q];
      const auto& name = ClinicalQuantities()[q].first;
      csv << r.subject << "," << r.ed_case << "," << r.es_case << "," << name << "," << pred << ","
          << ref << "," << pred - ref << "\n";
      entry[name] = {{"predicted", pred}, {"reference", ref}, {"difference", pred - ref}};
    }
    subjects.push_back(entry);
  }
  json summary = json::object();
  std::printf("\nclinical agreement over %zu subjects (ED/ES by the reference LV volume)\n", rows.size());
  std::printf("%-15s %9s %9s %9s %19s %8s\n", "quantity", "r", "bias", "sd", "limits of agreement", "MAE");
  std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> series;
  for (std::size_t q = 0; q < ClinicalQuantities().size(); ++q) {
    std::vector<double> pred, ref;
    for (const auto& r : rows) {
      pred.push_back(r.values[q].first);
      ref.push_back(r.values[q].second);
    }
    const auto& name = ClinicalQuantities()[q].first;
    const Agreement a = ComputeAgreement(pred, ref);
    summary[name] = {{"n", a.n}, {"pearson_r", a.pearson_r}, {"bias", a.bias}, {"sd", a.sd},
                     {"loa_lower", a.loa_lower}, {"loa_upper", a.loa_upper}, {"mae", a.mae},
                     {"unit", ClinicalQuantities()[q].second}};
    std::printf("%-15s %9.3f %9.2f %9.2f %9.2f..%-8.2f %8.2f\n", name.c_str(), a.pearson_r, a.bias,
                a.sd, a.loa_lower, a.loa_upper, a.mae);
    series[name] = {pred, ref};
  }
  if (!options.output_dir.empty()) {
    const fs::path out(options.output_dir);
    WriteTextAtomically(out / "clinical.csv", csv.str());
    WriteTextAtomically(
        out / "clinical.json",
        json{{"subjects", subjects},
             {"summary", summary},
             {"subject_pattern", options.subject_pattern},
             {"labels", {{"lv_cavity", options.lv}, {"rv_cavity", options.rv}, {"lv_myocardium", options.myo}}},
             {"conventions",
              "ACDC (Bernard et al., IEEE TMI 2018): per subject ED = frame of largest reference LV "
              "cavity volume, ES = smallest; EDV/ESV cavity volumes (mL), EF = (EDV - ESV) / EDV "
              "(%), LV mass = myocardium volume at ED x 1.05 g/mL; both methods at the same frames. "
              "Bland-Altman: bias = mean(predicted - reference), limits = bias -/+ 1.96 sd (n - 1)"}}
                .dump(2) + "\n");
    const auto plot = [&](const std::string& name, const std::string& title, const std::string& unit) {
      const auto& [pred, ref] = series.at(name);
      try {
        imaging::WriteRgbPng(DrawBlandAltman(title, unit, pred, ref), out / ("bland_altman_" + name + ".png"));
      } catch (const std::invalid_argument& e) {
        spdlog::warn("no Bland-Altman plot of {}: {}", name, e.what());
      }
    };
    plot("lv_ef_percent", "LV EJECTION FRACTION", "%");
    plot("lv_mass_g", "LV MASS AT ED", "G");
  }
  return kExitOk;
}

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

  const std::vector<Gate> gates = {
      ParseGate("--min-dice", "dice", true, options.min_dice),
      ParseGate("--max-hd95-mm", "hd95_mm", false, options.max_hd95_mm),
      ParseGate("--max-assd-mm", "assd_mm", false, options.max_assd_mm),
      ParseGate("--max-volume-diff-pct", "volume_diff_pct", false, options.max_volume_diff_pct)};
  std::vector<GateResult> gate_results;
  const auto check_gates = [&](const std::string& id, const imaging::LabelMetrics& m) {
    for (const auto& g : gates) {
      const auto limit = g.For(m.label);
      if (!limit) continue;
      double value = 0;
      if (g.metric == "dice") value = m.dice;
      else if (g.metric == "hd95_mm") value = m.hd95_mm;
      else if (g.metric == "assd_mm") value = m.assd_mm;
      else {
        value = m.volume_ref_ml > 0 ? 100.0 * std::abs(m.volume_pred_ml - m.volume_ref_ml) / m.volume_ref_ml
                : m.volume_pred_ml > 0 ? std::numeric_limits<double>::infinity()
                                       : 0.0;
      }
      // NaN (a distance to an empty side) fails every gate.
      const bool passed = g.minimum ? value >= *limit : value <= *limit;
      gate_results.push_back({id, m.label, g.metric, value, *limit, passed && !std::isnan(value)});
    }
  };

  imaging::LabelMapType::Pointer mask;
  if (!options.mask.empty()) mask = imaging::ReadLabelMap(options.mask);
  json cases = json::array();
  std::ostringstream csv;
  csv << "case,label,dice,iou,hd95_mm,assd_mm,volume_pred_ml,volume_ref_ml,volume_difference_ml\n";
  std::map<int, std::map<std::string, std::vector<double>>> per_label;
  std::map<std::string, std::map<int, std::pair<double, double>>> volumes;
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
        volumes[id][m.label] = {m.volume_pred_ml, m.volume_ref_ml};
        check_gates(id, m);
      }
      cases.push_back(entry);
    } catch (const InputError& e) {
      spdlog::error("{}", e.what());
      ++failed;
    }
  }
  json summary = json::object();
  if (!options.json_output) std::cout << "label  metric                 mean        sd   n\n";
  for (const auto& [label, metrics] : per_label) {
    for (const auto& [name, values] : metrics) {
      double mean = 0, sd = 0;
      for (double v : values) mean += v / values.size();
      for (double v : values) sd += (v - mean) * (v - mean) / values.size();
      sd = std::sqrt(sd);
      summary[std::to_string(label)][name] = {{"mean", mean}, {"sd", sd}, {"n", values.size()}};
      if (!options.json_output) {
        std::printf("%5d  %-20s %9.4f %9.4f %3zu\n", label, name.c_str(), mean, sd, values.size());
      }
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
  if (options.clinical) ClinicalAgreement(options, volumes);
  // Gates: a table of what failed on stderr, JUnit XML, JSON.
  json gate_json = json::array();
  int gates_failed = 0;
  for (const auto& r : gate_results) {
    gates_failed += !r.passed;
    gate_json.push_back({{"case", r.case_id}, {"label", r.label}, {"metric", r.metric},
                         {"value", std::isfinite(r.value) ? json(r.value) : json(nullptr)},
                         {"limit", r.limit}, {"passed", r.passed}});
  }
  if (gates_failed > 0) {
    std::fprintf(stderr, "\n%d of %zu gates failed:\n%-24s %5s %-16s %10s %10s\n", gates_failed,
                 gate_results.size(), "case", "label", "metric", "value", "limit");
    for (const auto& r : gate_results) {
      if (!r.passed) {
        std::fprintf(stderr, "%-24s %5d %-16s %10.4g %10.4g\n", r.case_id.c_str(), r.label, r.metric.c_str(),
                     r.value, r.limit);
      }
    }
  } else if (!gate_results.empty() && !options.json_output) {
    std::printf("all %zu gates hold\n", gate_results.size());
  }
  if (!options.junit_file.empty()) {
    std::vector<CheckResult> checks;
    for (const auto& r : gate_results) {
      std::ostringstream message;
      message << r.metric << " " << r.value << (r.metric == "dice" ? " < " : " > ") << "limit " << r.limit;
      checks.push_back({r.case_id, "label " + std::to_string(r.label) + " " + r.metric, r.passed,
                        r.passed ? std::string() : message.str()});
    }
    WriteTextAtomically(options.junit_file, JUnitXml("cardioseg evaluate", checks));
  }
  if (options.json_output) {
    std::cout << json{{"summary", summary}, {"gates", gate_json}, {"gates_failed", gates_failed},
                      {"cases_failed", failed}}.dump(2) << "\n";
  }
  if (failed) return kExitCaseFailed;
  return gates_failed > 0 ? kExitGateFailed : kExitOk;
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
  sub->add_option("--min-dice", options->min_dice,
                  "Gate: Dice at least this, for every label (0.9) or one (3=0.95); repeatable");
  sub->add_option("--max-hd95-mm", options->max_hd95_mm, "Gate: HD95 at most this many mm (as --min-dice)");
  sub->add_option("--max-assd-mm", options->max_assd_mm, "Gate: ASSD at most this many mm (as --min-dice)");
  sub->add_option("--max-volume-diff-pct", options->max_volume_diff_pct,
                  "Gate: |volume - reference| / reference at most this many % (as --min-dice)");
  sub->add_option("--junit", options->junit_file,
                  "Write the gates as JUnit XML (one testcase per case, label and gate)");
  sub->add_flag("--json", options->json_output, "Print the summary and gates as JSON on stdout");
  sub->add_flag("--clinical", options->clinical,
                "Ventricular function agreement (LV/RV EDV, ESV, EF; LV mass at ED): frames grouped "
                "into subjects by --subject-pattern; clinical.csv/json and Bland-Altman PNGs in -o");
  sub->add_option("--subject-pattern", options->subject_pattern,
                  "Regex whose first group names a case's subject (default: the case name without a "
                  "trailing _ed/_es)");
  sub->add_option("--lv", options->lv, "Label value of the LV cavity (default 3)");
  sub->add_option("--rv", options->rv, "Label value of the RV cavity (default 1)");
  sub->add_option("--myo", options->myo, "Label value of the LV myocardium (default 2)");
  return {sub, [options] { return RunEvaluate(*options); }};
}

}  // namespace cardioseg::app
