// `cardioseg series DICOM_FOLDER [--json]`: the image series of a DICOM folder, to pick one with
// `run --series UID`: UID, modality, description, images, slice positions and cardiac phases.
#include <cstdio>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "cardioseg/imaging/dicom.h"
#include "commands.h"

namespace cardioseg::app {

Command RegisterSeries(CLI::App& app) {
  struct Options {
    std::string folder;
    bool json = false;
  };
  auto o = std::make_shared<Options>();
  CLI::App* sub = app.add_subcommand("series", "List the image series of a DICOM folder");
  sub->add_option("folder", o->folder, "DICOM folder (searched recursively)")
      ->required()->check(CLI::ExistingDirectory);
  sub->add_flag("--json", o->json, "Print JSON instead of a table");
  return {sub, [o] {
            nlohmann::json list = nlohmann::json::array();
            for (const auto& s : imaging::ScanDicomFolder(o->folder)) {
              nlohmann::json entry = {{"series_uid", s.series_uid}, {"modality", s.modality},
                                      {"description", s.description}, {"images", s.slices.size()}};
              try {
                const auto phases = imaging::GroupIntoPhases(s.slices);
                entry["phases"] = phases.size();
                entry["slice_positions"] = phases.empty() ? 0 : phases.front().size();
              } catch (const std::invalid_argument& e) {
                entry["problem"] = e.what();
              }
              list.push_back(entry);
            }
            if (o->json) {
              std::cout << list.dump(2) << "\n";
              return kExitOk;
            }
            std::printf("%-64s %-4s %6s %9s %6s  %s\n", "series_uid", "mod", "images", "positions",
                        "phases", "description");
            for (const auto& e : list) {
              std::printf("%-64s %-4s %6zu %9s %6s  %s\n",
                          e["series_uid"].get<std::string>().empty()
                              ? "(empty)" : e["series_uid"].get<std::string>().c_str(),
                          e["modality"].get<std::string>().c_str(), e["images"].get<std::size_t>(),
                          e.contains("slice_positions") ? std::to_string(e["slice_positions"].get<std::size_t>()).c_str() : "-",
                          e.contains("phases") ? std::to_string(e["phases"].get<std::size_t>()).c_str() : "-",
                          e["description"].get<std::string>().c_str());
            }
            return kExitOk;
          }};
}

}  // namespace cardioseg::app
