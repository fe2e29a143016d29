// `cardioseg compare BASELINE_DIR NEW_DIR [--tolerances FILE] [--allow-missing] [--allow-extra]
//                    [--junit FILE] [--json]`: regression check of a whole run folder (the output
// of `batch`, or of several `run`s) against a baseline. Cases are paired by folder name; for each:
//   - label map (seg.nii.gz): the same grid (size, spacing, origin, direction), Dice per label at
//     least label_map.min_dice and HD95 at most label_map.max_hd95_mm;
//   - label volumes and clinical figures in report.json: |new - base| <= abs + rel_pct% x |base|;
//   - ventricular function (function.json of --all-phases): EF within ef_points;
//   - meshes: a watertight baseline mesh stays watertight, its volume within mesh.volume_pct %.
// Defaults are strict: the same build on the same input must reproduce itself exactly.
// Exit code 0 when everything holds, 3 when a check fails (a table on stderr), 1 for unreadable
// outputs, 2 for usage errors.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cardioseg/core/atomic_file.h"
#include "cardioseg/core/config.h"
#include "cardioseg/core/error.h"
#include "cardioseg/imaging/io.h"
#include "cardioseg/imaging/metrics.h"
#include "commands.h"
#include "junit.h"

namespace cardioseg::app {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct CompareOptions {
  std::string baseline, candidate, tolerances_file, junit_file;
  bool allow_missing = false, allow_extra = false, json_output = false;
};

struct Tolerances {
  double min_dice = 1.0, max_hd95_mm = 0.0;
  double volume_abs_ml = 0.0, volume_rel_pct = 0.0;
  double ef_points = 0.0;
  double mesh_volume_pct = 0.0;
  bool allow_missing = false, allow_extra = false;
};

// The tolerance file: {"label_map": {"min_dice", "max_hd95_mm"}, "volumes": {"abs_ml",
// "rel_pct"}, "ef_points", "mesh": {"volume_pct"}, "allow_missing", "allow_extra"}; every key
// optional, unknown keys refused.
Tolerances ReadTolerances(const std::string& file) {
  Tolerances t;
  if (file.empty()) return t;
  const json j = config::ReadJsonFile(file);
  const std::set<std::string> known{"label_map", "volumes", "ef_points", "mesh", "allow_missing", "allow_extra"};
  for (const auto& [k, v] : j.items()) {
    if (!known.count(k)) throw ConfigError(file + ": " + k + ": unknown key");
  }
  try {
    const json lm = j.value("label_map", json::object()), vol = j.value("volumes", json::object()),
               mesh = j.value("mesh", json::object());
    t.min_dice = lm.value("min_dice", t.min_dice);
    t.max_hd95_mm = lm.value("max_hd95_mm", t.max_hd95_mm);
    t.volume_abs_ml = vol.value("abs_ml", t.volume_abs_ml);
    t.volume_rel_pct = vol.value("rel_pct", t.volume_rel_pct);
    t.ef_points = j.value("ef_points", t.ef_points);
    t.mesh_volume_pct = mesh.value("volume_pct", t.mesh_volume_pct);
    t.allow_missing = j.value("allow_missing", false);
    t.allow_extra = j.value("allow_extra", false);
  } catch (const json::exception& e) {
    throw ConfigError(file + ": " + e.what());
  }
  for (double v : {t.max_hd95_mm, t.volume_abs_ml, t.volume_rel_pct, t.ef_points, t.mesh_volume_pct}) {
    if (!(v >= 0)) throw ConfigError(file + ": tolerances must be numbers >= 0");
  }
  if (!(t.min_dice >= 0 && t.min_dice <= 1)) throw ConfigError(file + ": label_map.min_dice must be in [0, 1]");
  return t;
}

std::set<std::string> CaseFolders(const fs::path& dir) {
  std::set<std::string> cases;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_directory() && (fs::exists(e.path() / "report.json") || fs::exists(e.path() / "function.json"))) {
      cases.insert(e.path().filename().string());
    }
  }
  return cases;
}

json ReadJsonOrNull(const fs::path& file) {
  if (!fs::exists(file)) return nullptr;
  return config::ReadJsonFile(file);
}

std::string Num(double v) {
  std::ostringstream s;
  s.precision(6);
  s << v;
  return s.str();
}

class Checker {
 public:
  explicit Checker(const Tolerances& t) : t_(t) {}
  void Add(const std::string& group, const std::string& name, bool passed, const std::string& message) {
    results.push_back({group, name, passed, passed ? std::string() : message});
  }
  // |new - base| <= abs + rel% |base|
  void Close(const std::string& group, const std::string& name, double base, double now, double abs,
             double rel_pct, const std::string& unit) {
    const double limit = abs + rel_pct / 100.0 * std::abs(base);
    const double diff = std::abs(now - base);
    Add(group, name, diff <= limit,
        name + " " + Num(now) + " " + unit + " against " + Num(base) + " (difference " + Num(diff) + ", limit " +
            Num(limit) + ")");
  }
  void Numbers(const std::string& group, const std::string& prefix, const json& base, const json& now,
               double abs, double rel, const std::string& unit) {
    for (const auto& [k, v] : base.items()) {
      if (!v.is_number()) continue;
      if (!now.contains(k) || !now[k].is_number()) {
        Add(group, prefix + k, false, prefix + k + " is missing in the new run");
        continue;
      }
      Close(group, prefix + k, v.get<double>(), now[k].get<double>(), abs, rel, unit);
    }
  }
  void Case(const std::string& id, const fs::path& base_dir, const fs::path& new_dir) {
    const json base = ReadJsonOrNull(base_dir / "report.json"), now = ReadJsonOrNull(new_dir / "report.json");
    if (base.is_null() != now.is_null()) {
      Add(id, "report", false, "report.json exists in only one of the runs");
      return;
    }
    if (fs::exists(base_dir / "seg.nii.gz")) {
      if (!fs::exists(new_dir / "seg.nii.gz")) {
        Add(id, "label map", false, "seg.nii.gz is missing in the new run");
      } else {
        const auto a = imaging::ReadLabelMap(base_dir / "seg.nii.gz");
        const auto b = imaging::ReadLabelMap(new_dir / "seg.nii.gz");
        const Geometry ga = imaging::GeometryOf(a.GetPointer()), gb = imaging::GeometryOf(b.GetPointer());
        const bool same = SameGrid(ga, gb, 1e-6, 1e-6, 1e-6);
        Add(id, "label map geometry", same, "the label map's grid changed: baseline " + Describe(ga) + "; new " + Describe(gb));
        if (same) {
          std::set<int> labels;
          for (const auto* img : {a.GetPointer(), b.GetPointer()}) {
            const auto* p = img->GetBufferPointer();
            labels.insert(p, p + img->GetLargestPossibleRegion().GetNumberOfPixels());
          }
          labels.erase(0);
          for (const auto& m : imaging::Evaluate(b.GetPointer(), a.GetPointer(), {labels.begin(), labels.end()})) {
            const std::string l = "label " + std::to_string(m.label);
            Add(id, l + " dice", m.dice >= t_.min_dice, l + " dice " + Num(m.dice) + " < limit " + Num(t_.min_dice));
            Add(id, l + " hd95_mm", m.hd95_mm <= t_.max_hd95_mm,
                l + " hd95 " + Num(m.hd95_mm) + " mm > limit " + Num(t_.max_hd95_mm));
          }
        }
      }
    }
    if (!base.is_null()) {
      Numbers(id, "volume ", base.value("label_volumes_ml", json::object()),
              now.value("label_volumes_ml", json::object()), t_.volume_abs_ml, t_.volume_rel_pct, "mL");
      Numbers(id, "", base.value("clinical", json::object()), now.value("clinical", json::object()),
              t_.volume_abs_ml, t_.volume_rel_pct, "");
      Meshes(id, base, now);
    }
    const json fb = ReadJsonOrNull(base_dir / "function.json"), fn = ReadJsonOrNull(new_dir / "function.json");
    if (!fb.is_null()) {
      const json functions = fb.value("function", json::object());  // items() needs a live object
      for (const auto& [k, f] : functions.items()) {
        if (fn.is_null() || !fn["function"].contains(k)) {
          Add(id, k + " ef", false, k + " EF is missing in the new run");
          continue;
        }
        Close(id, k + " ef_percent", f.value("ef_percent", 0.0), fn["function"][k].value("ef_percent", 0.0),
              t_.ef_points, 0.0, "points");
        Close(id, k + " edv_ml", f.value("edv_ml", 0.0), fn["function"][k].value("edv_ml", 0.0),
              t_.volume_abs_ml, t_.volume_rel_pct, "mL");
        Close(id, k + " esv_ml", f.value("esv_ml", 0.0), fn["function"][k].value("esv_ml", 0.0),
              t_.volume_abs_ml, t_.volume_rel_pct, "mL");
      }
    }
  }
  void Meshes(const std::string& id, const json& base, const json& now) {
    const auto meshes = [](const json& report) {
      std::map<std::string, json> out;
      for (const auto& s : report.value("stages", json::array())) {
        if (s.value("name", "") != "mesh.surface") continue;
        for (const auto& m : s["details"].value("meshes", json::array())) out[m.value("name", "")] = m.value("quality", json::object());
      }
      return out;
    };
    const auto mb = meshes(base), mn = meshes(now);
    for (const auto& [name, q] : mb) {
      if (!mn.count(name)) {
        Add(id, "mesh " + name, false, "mesh " + name + " is missing in the new run");
        continue;
      }
      const json& qn = mn.at(name);
      if (q.value("watertight", false)) {
        Add(id, "mesh " + name + " watertight", qn.value("watertight", false),
            "mesh " + name + " is no longer watertight");
      }
      Close(id, "mesh " + name + " volume_ml", q.value("volume_ml", 0.0), qn.value("volume_ml", 0.0), 0.0,
            t_.mesh_volume_pct, "mL");
    }
  }
  std::vector<CheckResult> results;

 private:
  Tolerances t_;
};

int RunCompare(const CompareOptions& options) {
  Tolerances t = ReadTolerances(options.tolerances_file);
  t.allow_missing = t.allow_missing || options.allow_missing;
  t.allow_extra = t.allow_extra || options.allow_extra;
  for (const auto& dir : {options.baseline, options.candidate}) {
    if (!fs::is_directory(dir)) throw InputError(dir, "not a folder of run outputs");
  }
  const auto base_cases = CaseFolders(options.baseline), new_cases = CaseFolders(options.candidate);
  if (base_cases.empty()) throw InputError(options.baseline, "no case folder (with report.json) in the baseline");
  Checker checker(t);
  int unreadable = 0;
  for (const auto& id : base_cases) {
    if (!new_cases.count(id)) {
      checker.Add(id, "present", t.allow_missing, "case " + id + " is missing in the new run");
      continue;
    }
    try {
      checker.Case(id, fs::path(options.baseline) / id, fs::path(options.candidate) / id);
    } catch (const Error& e) {
      spdlog::error("{}", e.what());
      checker.Add(id, "readable", false, e.what());
      ++unreadable;
    }
  }
  for (const auto& id : new_cases) {
    if (!base_cases.count(id)) checker.Add(id, "expected", t.allow_extra, "case " + id + " is not in the baseline");
  }
  int failed = 0;
  for (const auto& r : checker.results) failed += !r.passed;
  if (failed) {
    std::fprintf(stderr, "%d of %zu checks failed:\n", failed, checker.results.size());
    for (const auto& r : checker.results) {
      if (!r.passed) std::fprintf(stderr, "  %s: %s\n", r.group.c_str(), r.message.c_str());
    }
  }
  if (!options.junit_file.empty()) {
    WriteTextAtomically(options.junit_file, JUnitXml("cardioseg compare", checker.results));
  }
  if (options.json_output) {
    json checks = json::array();
    for (const auto& r : checker.results) {
      checks.push_back({{"case", r.group}, {"check", r.name}, {"passed", r.passed}, {"message", r.message}});
    }
    std::cout << json{{"baseline", options.baseline}, {"new", options.candidate},
                      {"cases_compared", base_cases.size()}, {"checks", checks}, {"failed", failed}}.dump(2)
              << "\n";
  } else if (!failed) {
    std::printf("%zu cases, %zu checks: all hold\n", base_cases.size(), checker.results.size());
  }
  if (unreadable) return kExitCaseFailed;
  return failed ? kExitGateFailed : kExitOk;
}

}  // namespace

Command RegisterCompare(CLI::App& app) {
  auto options = std::make_shared<CompareOptions>();
  CLI::App* sub = app.add_subcommand(
      "compare", "Compare a run folder with a baseline run folder (regression check for CI)");
  sub->add_option("baseline", options->baseline, "Baseline run folder (case folders)")->required();
  sub->add_option("new", options->candidate, "New run folder to check")->required();
  sub->add_option("--tolerances", options->tolerances_file,
                  "JSON tolerances (default strict: exact reproduction; see README)")->check(CLI::ExistingFile);
  sub->add_flag("--allow-missing", options->allow_missing, "A baseline case absent from the new run is no failure");
  sub->add_flag("--allow-extra", options->allow_extra, "A new case absent from the baseline is no failure");
  sub->add_option("--junit", options->junit_file, "Write the checks as JUnit XML");
  sub->add_flag("--json", options->json_output, "Print the checks as JSON on stdout");
  return {sub, [options] { return RunCompare(*options); }};
}

}  // namespace cardioseg::app
