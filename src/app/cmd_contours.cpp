// `cardioseg contours CASE_DIR -o OUTDIR`: Sunnybrook manual contours -> reference label maps on
// the grid of each contoured phase (see imaging/contours.h), for `run --phase K --gt` and
// `evaluate --mask`.
#include <filesystem>
#include <memory>

#include <spdlog/spdlog.h>

#include "cardioseg/core/atomic_file.h"
#include "cardioseg/core/error.h"
#include "cardioseg/imaging/contours.h"
#include "cardioseg/imaging/io.h"
#include "commands.h"

namespace cardioseg::app {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct ContoursOptions {
  std::string case_dir;
  std::string output_dir;
  std::string dicom_dir;
  std::vector<std::string> contour_dirs;
};

int RunContours(const ContoursOptions& o) {
  const fs::path root(o.case_dir);
  const fs::path dicom = o.dicom_dir.empty() ? root / "dicom" : fs::path(o.dicom_dir);
  std::vector<fs::path> folders;
  for (const auto& d : o.contour_dirs) folders.emplace_back(d);
  if (folders.empty()) folders = {root / "i-contours", root / "o-contours"};
  if (!fs::is_directory(dicom)) {
    throw InputError(dicom.string(), "no such DICOM folder (use --dicom to name it)");
  }
  const auto phases = imaging::RasterizeSunnybrookContours(dicom, folders);
  json summary = {{"dicom", dicom.string()},
                  {"labels", {{"2", "left ventricle myocardium"}, {"3", "left ventricle cavity"}}},
                  {"phases", json::array()}};
  const fs::path out(o.output_dir);
  for (const auto& p : phases) {
    char name[32];
    std::snprintf(name, sizeof name, "phase_%02d", p.phase);
    imaging::WriteLabelMap(p.labels.GetPointer(), out / name / "reference.nii.gz");
    imaging::WriteLabelMap(p.contoured.GetPointer(), out / name / "contoured_slices.nii.gz");
    json entry = p.details;
    entry["reference"] = std::string(name) + "/reference.nii.gz";
    entry["contoured_slices"] = std::string(name) + "/contoured_slices.nii.gz";
    summary["phases"].push_back(entry);
    spdlog::info("phase {}: {} contoured slices{}", p.phase, p.slices.size(),
                 p.has_epicardium ? " (endocardium and epicardium)" : " (endocardium only)");
  }
  WriteTextAtomically(out / "contours.json", summary.dump(2) + "\n");
  return kExitOk;
}

}  // namespace

Command RegisterContours(CLI::App& app) {
  auto o = std::make_shared<ContoursOptions>();
  CLI::App* sub = app.add_subcommand(
      "contours", "Rasterize Sunnybrook LV contours into reference label maps per phase");
  sub->add_option("case", o->case_dir, "Case folder with dicom/, i-contours/, o-contours/")
      ->required()->check(CLI::ExistingDirectory);
  sub->add_option("-o,--output", o->output_dir, "Output folder")->required();
  sub->add_option("--dicom", o->dicom_dir, "DICOM folder (default: CASE/dicom)");
  sub->add_option("--contours", o->contour_dirs,
                  "Contour folders (default: CASE/i-contours CASE/o-contours)")
      ->allow_extra_args(false);
  return {sub, [o] { return RunContours(*o); }};
}

}  // namespace cardioseg::app
