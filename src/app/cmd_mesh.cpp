// `cardioseg mesh LABELMAP -o OUTDIR [--config FILE] [--set mesh.surface.key=value] [--labels FILE]`:
// the mesh.surface stage alone on an existing label map.
#include <chrono>
#include <memory>
#include <set>

#include <spdlog/spdlog.h>

#include "cardioseg/core/atomic_file.h"
#include "cardioseg/core/config.h"
#include "cardioseg/core/error.h"
#include "cardioseg/core/version.h"
#include "cardioseg/imaging/io.h"
#include "cardioseg/pipeline/pipeline.h"
#include "commands.h"

namespace cardioseg::app {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct MeshOptions {
  std::string label_map;
  std::string output_dir;
  std::string config_file;
  std::vector<std::string> overrides;
  std::string labels_file;
};

// The label table: --labels, else labels.json beside the label map, else "label N".
std::vector<nn::LabelInfo> LabelTable(const MeshOptions& o, const imaging::LabelMapType* labels) {
  fs::path file = o.labels_file;
  if (file.empty() && fs::exists(fs::path(o.label_map).parent_path() / "labels.json")) {
    file = fs::path(o.label_map).parent_path() / "labels.json";
  }
  std::vector<nn::LabelInfo> table;
  if (!file.empty()) {
    const json doc = config::ReadJsonFile(file);
    try {
      for (const auto& l : doc.at("labels")) {
        nn::LabelInfo info{l.at("value").get<int>(), l.at("name").get<std::string>(),
                           nn::DefaultLabelColor(l.at("value").get<int>())};
        if (l.contains("color")) info.color = l["color"].get<std::array<int, 3>>();
        table.push_back(info);
      }
    } catch (const json::exception& e) {
      throw InputError(file.string(), std::string("invalid label table: ") + e.what());
    }
    return table;
  }
  const auto* p = labels->GetBufferPointer();
  std::set<int> values(p, p + labels->GetLargestPossibleRegion().GetNumberOfPixels());
  for (int v : values) table.push_back({v, v == 0 ? "background" : "label " + std::to_string(v),
                                        nn::DefaultLabelColor(v)});
  return table;
}

int RunMesh(const MeshOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  const config::Config config = config::Resolve(o.config_file, o.overrides);
  pipeline::CaseState state;
  state.labels = imaging::ReadLabelMap(o.label_map);
  state.input_geometry = imaging::GeometryOf(state.labels.GetPointer());
  state.label_table = LabelTable(o, state.labels.GetPointer());
  const json meshes = pipeline::MeshLabels(state, config.mesh.surface);
  const auto files = pipeline::WriteMeshes(state, config.mesh.surface, o.output_dir);
  const json report = {
      {"cardioseg", {{"version", Version()}, {"git_revision", GitRevision()}}},
      {"config", {{"mesh", config::ToJson(config)["mesh"]}}},
      {"input", {{"path", o.label_map}, {"geometry", ToJson(state.input_geometry)}}},
      {"meshes", meshes},
      {"outputs", files},
      {"wall_s", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}};
  WriteTextAtomically(fs::path(o.output_dir) / "report.json", report.dump(2) + "\n");
  spdlog::info("{}: {} meshes written to {}", o.label_map, meshes.size(), o.output_dir);
  return kExitOk;
}

}  // namespace

Command RegisterMesh(CLI::App& app) {
  auto options = std::make_shared<MeshOptions>();
  CLI::App* sub = app.add_subcommand("mesh", "Surface meshes of every label of a label map");
  sub->add_option("labelmap", options->label_map, "Label map (NIfTI/NRRD/MHA)")->required();
  sub->add_option("-o,--output", options->output_dir, "Output folder")->required();
  sub->add_option("--config", options->config_file, "Config (its mesh.surface section is used)");
  sub->add_option("--set", options->overrides, "Override a config value: section.key=value")
      ->allow_extra_args(false);
  sub->add_option("--labels", options->labels_file,
                  "Label table JSON {\"labels\": [{value, name, color}]} (default: labels.json "
                  "beside the label map)");
  return {sub, [options] { return RunMesh(*options); }};
}

}  // namespace cardioseg::app
