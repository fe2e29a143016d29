#pragma once
// report.html: one self-contained page per case that opens offline from file:// (no server, no
// network): the scan with the label map as an overlay in three planes and a 3D render (NiiVue,
// vendored in third_party/niivue and embedded in the executable), the surface meshes in the same
// world frame, a meshes / VR view (three.js from third_party/three, WebXR's VRButton), the label
// table with opacity controls, and the case's figures (volumes, clinical figures, mesh quality,
// stage times, model and version).
//
// Data inside the page, base64-encoded:
//   - the scan cropped to the labels' bounding box plus `margin_mm`, as uint8 NIfTI (gzip):
//     intensities clipped to the 0.5-99.5th percentiles and mapped to 0..255 (display only);
//   - the label map on the same crop, uint8 NIfTI (gzip);
//   - each mesh as binary STL in RAS millimetres (NiiVue's world frame), decimated to at most
//     `max_mesh_triangles` triangles for the page (the mesh files keep full resolution).
// The NIfTI headers carry the input's spacing, origin and direction, so the viewer's L/R, A/P,
// S/I labels follow the scan's orientation.
#include <filesystem>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cardioseg/imaging/image.h"
#include "cardioseg/mesh/surface.h"
#include "cardioseg/nn/model_card.h"

namespace cardioseg::pipeline {

struct ReportHtmlOptions {
  double margin_mm = 20.0;          // around the labels' bounding box
  long max_mesh_triangles = 60000;  // per mesh, in the page
  bool meshes_are_lps = true;       // mesh.surface.coordinates == "LPS"
};

// Writes `file` atomically. `labels` may be null (no inference): the whole scan is shown.
// `report` is the case's report.json content (figures shown as tables). Throws InputError naming
// the file when it cannot be written.
void WriteReportHtml(const std::filesystem::path& file, const imaging::ImageType* scan,
                     const imaging::LabelMapType* labels, const std::vector<nn::LabelInfo>& table,
                     const std::vector<mesh::NamedMesh>& meshes, const nlohmann::json& report,
                     const ReportHtmlOptions& options = {});

// The embedded NiiVue bundle (third_party/niivue/niivue.umd.js) and its version.
std::string_view NiivueScript();
const char* NiivueVersion();
// The embedded three.js modules (third_party/three) and their version.
std::string_view ThreeCoreScript();
std::string_view ThreeModuleScript();
std::string_view OrbitControlsScript();
std::string_view VrButtonScript();
const char* ThreeVersion();

// Standard base64 (RFC 4648) of `bytes`.
std::string Base64(const std::string& bytes);

}  // namespace cardioseg::pipeline
