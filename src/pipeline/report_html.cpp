#include "cardioseg/pipeline/report_html.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "cardioseg/imaging/io.h"
#include <vtkCellArray.h>
#include <vtkIdList.h>
#include <vtkPoints.h>
#include <vtkPolyData.h>
#include <vtkQuadricDecimation.h>
#include <vtkSmartPointer.h>
#include <vtkTriangleFilter.h>

#include "cardioseg/core/atomic_file.h"
#include "cardioseg/core/error.h"
#include "cardioseg/core/markup.h"
#include "cardioseg/core/version.h"

namespace cardioseg::pipeline {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string ReadBytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// `image` as .nii.gz bytes (written through a temporary file beside `near`).
std::string NiftiBytes(const imaging::LabelMapType* image, const fs::path& near) {
  const fs::path tmp = TemporaryPathFor(near.parent_path() / "viewer.nii.gz");
  try {
    imaging::WriteLabelMap(image, tmp);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
  std::string bytes = ReadBytes(tmp);
  std::error_code ec;
  fs::remove(tmp, ec);
  return bytes;
}

// Bounding box of labels > 0 grown by margin_mm, clamped; the whole grid without labels.
std::pair<std::array<std::size_t, 3>, std::array<std::size_t, 3>> CropBox(
    const imaging::LabelMapType* labels, const Geometry& g, double margin_mm) {
  std::array<std::size_t, 3> lo{0, 0, 0}, hi{g.size[0] - 1, g.size[1] - 1, g.size[2] - 1};
  if (!labels) return {lo, hi};
  std::array<std::size_t, 3> a{g.size[0], g.size[1], g.size[2]}, b{0, 0, 0};
  const std::uint8_t* l = labels->GetBufferPointer();
  bool any = false;
  for (std::size_t k = 0, v = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i, ++v) {
        if (!l[v]) continue;
        any = true;
        const std::size_t idx[3] = {i, j, k};
        for (int d = 0; d < 3; ++d) {
          a[d] = std::min(a[d], idx[d]);
          b[d] = std::max(b[d], idx[d]);
        }
      }
  if (!any) return {lo, hi};
  for (int d = 0; d < 3; ++d) {
    const auto m = static_cast<std::size_t>(std::ceil(margin_mm / g.spacing[d]));
    lo[d] = a[d] > m ? a[d] - m : 0;
    hi[d] = std::min(g.size[d] - 1, b[d] + m);
  }
  return {lo, hi};
}

// A sub-grid of `g` from index `lo` of size `size` (origin moved along the direction).
Geometry SubGrid(const Geometry& g, const std::array<std::size_t, 3>& lo, const std::array<std::size_t, 3>& size) {
  Geometry s = g;
  s.size = size;
  for (int r = 0; r < 3; ++r) {
    s.origin[r] = g.origin[r];
    for (int c = 0; c < 3; ++c) s.origin[r] += g.direction[3 * r + c] * g.spacing[c] * double(lo[c]);
  }
  return s;
}

// Binary STL of `mesh` in RAS mm (from LPS when `lps`), decimated to at most `max_triangles`.
std::string StlBytes(vtkPolyData* input, bool lps, long max_triangles) {
  auto triangles = vtkSmartPointer<vtkTriangleFilter>::New();
  triangles->SetInputData(input);
  triangles->Update();
  vtkSmartPointer<vtkPolyData> mesh = triangles->GetOutput();
  const auto count = mesh->GetNumberOfPolys();
  if (max_triangles > 0 && count > max_triangles) {
    auto decimate = vtkSmartPointer<vtkQuadricDecimation>::New();
    decimate->SetInputData(mesh);
    decimate->SetTargetReduction(1.0 - double(max_triangles) / double(count));
    decimate->Update();
    mesh = decimate->GetOutput();
  }
  std::string out(80, '\0');
  const std::string title = "cardioseg viewer mesh (RAS mm)";
  std::memcpy(out.data(), title.data(), title.size());
  std::uint32_t n = 0;
  std::string body;
  auto* polys = mesh->GetPolys();
  auto ids = vtkSmartPointer<vtkIdList>::New();
  polys->InitTraversal();
  const float flip = lps ? -1.0f : 1.0f;
  while (polys->GetNextCell(ids)) {
    if (ids->GetNumberOfIds() != 3) continue;
    float v[3][3];
    for (int t = 0; t < 3; ++t) {
      double p[3];
      mesh->GetPoint(ids->GetId(t), p);
      v[t][0] = flip * static_cast<float>(p[0]);
      v[t][1] = flip * static_cast<float>(p[1]);
      v[t][2] = static_cast<float>(p[2]);
    }
    float normal[3] = {0, 0, 0};  // readers recompute it
    char record[50] = {0};
    std::memcpy(record, normal, 12);
    std::memcpy(record + 12, v, 36);
    body.append(record, 50);
    ++n;
  }
  out.append(reinterpret_cast<const char*>(&n), 4);
  out += body;
  return out;
}

// JSON for a <script> block: "</" cannot close the element.
std::string ScriptJson(const json& j) {
  std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '<' && i + 1 < s.size() && s[i + 1] == '/') {
      out += "<\\/";
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string Fixed(double v, int digits) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(digits);
  s << v;
  return s.str();
}

// The figures of report.json as HTML tables.
std::string FigureTables(const json& report, const std::vector<nn::LabelInfo>& table) {
  std::ostringstream h;
  const json volumes = report.value("label_volumes_ml", json::object());
  h << "<h3>Labels</h3><table id=\"labels\"><tr><th></th><th>value</th><th>label</th><th>volume (mL)</th></tr>";
  for (const auto& l : table) {
    if (l.value == 0) continue;
    const double ml = volumes.contains(l.name) ? volumes[l.name].get<double>() : 0.0;
    h << "<tr><td><span class=\"swatch\" style=\"background:rgb(" << l.color[0] << "," << l.color[1] << ","
      << l.color[2] << ")\"></span></td><td>" << l.value << "</td><td>" << EscapeMarkup(l.name) << "</td><td>"
      << Fixed(ml, 1) << "</td></tr>";
  }
  h << "</table>";
  if (report.contains("clinical")) {
    h << "<h3>Clinical figures</h3><table id=\"clinical\">";
    for (const auto& [k, v] : report["clinical"].items()) {
      const int digits = v.is_number() && std::abs(v.get<double>()) < 10 ? 2 : 1;
      h << "<tr><td>" << EscapeMarkup(k) << "</td><td>" << (v.is_number() ? Fixed(v.get<double>(), digits) : EscapeMarkup(v.dump()))
        << "</td></tr>";
    }
    h << "</table>";
  }
  if (report.contains("function")) {
    h << "<h3>Ventricular function</h3><table id=\"function\"><tr><th></th><th>EDV (mL)</th><th>ESV (mL)</th>"
         "<th>SV (mL)</th><th>EF (%)</th></tr>";
    for (const auto& [k, f] : report["function"].items()) {
      h << "<tr><td>" << EscapeMarkup(k) << "</td><td>" << Fixed(f.value("edv_ml", 0.0), 1) << "</td><td>"
        << Fixed(f.value("esv_ml", 0.0), 1) << "</td><td>" << Fixed(f.value("sv_ml", 0.0), 1) << "</td><td>"
        << Fixed(f.value("ef_percent", 0.0), 1) << "</td></tr>";
    }
    h << "</table>";
  }
  if (report.contains("evaluation")) {
    h << "<h3>Against the reference</h3><table id=\"evaluation\"><tr><th>label</th><th>Dice</th><th>HD95 (mm)</th>"
         "<th>ASSD (mm)</th></tr>";
    for (const auto& m : report["evaluation"].value("labels", json::array())) {
      const auto num = [&](const char* key) {
        return m.contains(key) && m[key].is_number() ? Fixed(m[key].get<double>(), 3) : std::string("-");
      };
      h << "<tr><td>" << m.value("label", 0) << "</td><td>" << num("dice") << "</td><td>" << num("hd95_mm")
        << "</td><td>" << num("assd_mm") << "</td></tr>";
    }
    h << "</table>";
  }
  json mesh_rows = json::array();
  for (const auto& s : report.value("stages", json::array())) {
    if (s.value("name", "") == "mesh.surface") mesh_rows = s["details"].value("meshes", json::array());
  }
  if (!mesh_rows.empty()) {
    h << "<h3>Meshes</h3><table id=\"meshes\"><tr><th>label</th><th>triangles</th><th>watertight</th>"
         "<th>volume (mL)</th><th>label volume (mL)</th></tr>";
    for (const auto& m : mesh_rows) {
      const json q = m.value("quality", json::object());
      h << "<tr><td>" << EscapeMarkup(m.value("name", "")) << "</td><td>" << q.value("triangles", 0) << "</td><td>"
        << (q.value("watertight", false) ? "yes" : "no") << "</td><td>" << Fixed(q.value("volume_ml", 0.0), 1)
        << "</td><td>" << Fixed(q.value("label_volume_ml", 0.0), 1) << "</td></tr>";
    }
    h << "</table>";
  }
  h << "<h3>Stages</h3><table id=\"stages\"><tr><th>stage</th><th>time (s)</th></tr>";
  for (const auto& s : report.value("stages", json::array())) {
    h << "<tr><td>" << EscapeMarkup(s.value("name", "")) << "</td><td>" << Fixed(s.value("wall_s", 0.0), 2) << "</td></tr>";
  }
  h << "</table>";
  return h.str();
}

}  // namespace

std::string Base64(const std::string& bytes) {
  static const char* kTable = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const auto a = static_cast<unsigned char>(bytes[i]), b = static_cast<unsigned char>(bytes[i + 1]),
               c = static_cast<unsigned char>(bytes[i + 2]);
    out += kTable[a >> 2];
    out += kTable[((a & 3) << 4) | (b >> 4)];
    out += kTable[((b & 15) << 2) | (c >> 6)];
    out += kTable[c & 63];
  }
  if (i < bytes.size()) {
    const auto a = static_cast<unsigned char>(bytes[i]);
    const unsigned b = i + 1 < bytes.size() ? static_cast<unsigned char>(bytes[i + 1]) : 0;
    out += kTable[a >> 2];
    out += kTable[((a & 3) << 4) | (b >> 4)];
    out += i + 1 < bytes.size() ? kTable[(b & 15) << 2] : '=';
    out += '=';
  }
  return out;
}

void WriteReportHtml(const fs::path& file, const imaging::ImageType* scan,
                     const imaging::LabelMapType* labels, const std::vector<nn::LabelInfo>& table,
                     const std::vector<mesh::NamedMesh>& meshes, const json& report,
                     const ReportHtmlOptions& options) {
  const Geometry g = imaging::GeometryOf(scan);
  const auto [lo, hi] = CropBox(labels, g, options.margin_mm);
  const std::array<std::size_t, 3> size{hi[0] - lo[0] + 1, hi[1] - lo[1] + 1, hi[2] - lo[2] + 1};
  const Geometry crop = SubGrid(g, lo, size);

  // Display intensities: 0.5-99.5th percentiles of the crop onto 0..255 (uint8).
  std::vector<float> values;
  values.reserve(crop.NumberOfVoxels());
  const float* s = scan->GetBufferPointer();
  for (std::size_t k = 0; k < size[2]; ++k)
    for (std::size_t j = 0; j < size[1]; ++j)
      for (std::size_t i = 0; i < size[0]; ++i)
        values.push_back(s[((lo[2] + k) * g.size[1] + lo[1] + j) * g.size[0] + lo[0] + i]);
  std::vector<float> sorted = values;
  const auto at = [&](double q) {
    const auto idx = static_cast<std::size_t>(q * double(sorted.size() - 1));
    std::nth_element(sorted.begin(), sorted.begin() + idx, sorted.end());
    return sorted[idx];
  };
  const float p_lo = at(0.005), p_hi = std::max(at(0.995), p_lo + 1e-6f);
  auto crop_labels = imaging::MakeImage<imaging::LabelMapType>(crop, 0);
  auto display = imaging::MakeImage<imaging::LabelMapType>(crop, 0);
  std::uint8_t* d = display->GetBufferPointer();
  std::uint8_t* cl = crop_labels->GetBufferPointer();
  for (std::size_t v = 0; v < values.size(); ++v) {
    const float t = std::clamp((values[v] - p_lo) / (p_hi - p_lo), 0.0f, 1.0f);
    d[v] = static_cast<std::uint8_t>(std::lround(255.0f * t));
  }
  if (labels) {
    const std::uint8_t* l = labels->GetBufferPointer();
    std::size_t v = 0;
    for (std::size_t k = 0; k < size[2]; ++k)
      for (std::size_t j = 0; j < size[1]; ++j)
        for (std::size_t i = 0; i < size[0]; ++i, ++v)
          cl[v] = l[((lo[2] + k) * g.size[1] + lo[1] + j) * g.size[0] + lo[0] + i];
  }

  json data;
  data["scan"] = Base64(NiftiBytes(display.GetPointer(), file));
  if (labels) data["labels"] = Base64(NiftiBytes(crop_labels.GetPointer(), file));
  // NiiVue's label colour table, indexed by label value.
  int max_value = 0;
  for (const auto& l : table) max_value = std::max(max_value, l.value);
  json lut{{"R", json::array()}, {"G", json::array()}, {"B", json::array()}, {"A", json::array()},
           {"I", json::array()}, {"labels", json::array()}};
  for (int v = 0; v <= max_value; ++v) {
    std::array<int, 3> c{0, 0, 0};
    std::string name;
    for (const auto& l : table) {
      if (l.value == v) {
        c = l.color;
        name = l.name;
      }
    }
    lut["R"].push_back(c[0]);
    lut["G"].push_back(c[1]);
    lut["B"].push_back(c[2]);
    lut["A"].push_back(v == 0 ? 0 : 255);
    lut["I"].push_back(v);
    lut["labels"].push_back(name);
  }
  data["lut"] = lut;
  data["meshes"] = json::array();
  for (const auto& m : meshes) {
    data["meshes"].push_back({{"name", m.name},
                              {"color", m.color},
                              {"stl", Base64(StlBytes(m.mesh, options.meshes_are_lps, options.max_mesh_triangles))}});
  }
  const std::string case_name = report.value("input", json::object()).value("path", std::string());
  const json model = report.value("model", json::object());

  std::ostringstream html;
  html << R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cardioseg: )" << EscapeMarkup(fs::path(case_name).filename().string()) << R"(</title>
<style>
body{margin:0;font:14px system-ui,sans-serif;background:#111;color:#ddd;display:flex;height:100vh}
#left{flex:1 1 65%;display:flex;flex-direction:column;min-width:0}
#bar{padding:6px;display:flex;gap:6px;flex-wrap:wrap;align-items:center;background:#222}
#bar button{background:#333;color:#ddd;border:1px solid #555;padding:3px 8px;cursor:pointer}
#bar button.on{background:#556}
#slices{flex:1;min-height:0;position:relative}#gl{width:100%;height:100%;display:block}
#vr{flex:1;min-height:0;position:relative;display:none}#vr canvas{width:100%;height:100%;display:block}
#right{flex:0 0 35%;overflow:auto;padding:8px 12px;background:#181818}
table{border-collapse:collapse;margin-bottom:8px}td,th{padding:2px 8px;border-bottom:1px solid #333;text-align:left}
.swatch{display:inline-block;width:12px;height:12px;border:1px solid #888}
h2{font-size:16px;margin:6px 0}h3{font-size:14px;margin:10px 0 4px}
.meta{color:#999;font-size:12px}
</style></head><body>
<div id="left"><div id="bar">
<button data-slice="3" class="on">multiplanar</button><button data-slice="0">axial</button>
<button data-slice="1">coronal</button><button data-slice="2">sagittal</button><button data-slice="4">3D</button>
<button id="vrTab">meshes / VR</button>
<label>labels <input id="opacity" type="range" min="0" max="100" value="50"></label>
<label><input id="showMeshes" type="checkbox" checked> meshes in 3D</label>
</div><div id="slices"><canvas id="gl"></canvas></div><div id="vr"><canvas id="vrCanvas"></canvas></div></div>
<div id="right"><h2>)" << EscapeMarkup(case_name) << R"(</h2>
<div class="meta">cardioseg )" << EscapeMarkup(Version()) << " (" << EscapeMarkup(GitRevision()) << R"()<br>model: )"
       << EscapeMarkup(model.value("name", std::string("none"))) << " " << EscapeMarkup(model.value("precision", std::string()))
       << R"(<br>viewer: NiiVue )" << NiivueVersion() << R"( (BSD-2-Clause), three.js )" << ThreeVersion()
       << R"( (MIT)</div>
)" << FigureTables(report, table) << R"(
<p class="meta">Scan cropped to the labels with a )" << Fixed(options.margin_mm, 0)
       << R"( mm margin, intensities for display only. Drag to move the crosshair, scroll to change slices,
right-drag in 3D to rotate.</p></div>
<script>)"
       << NiivueScript() << R"(</script>
<script id="case-data" type="application/json">)"
       << ScriptJson(data) << R"(</script>
<script id="three-data" type="application/json">)"
       << ScriptJson(json{{"core", Base64(std::string(ThreeCoreScript()))},
                          {"module", Base64(std::string(ThreeModuleScript()))},
                          {"orbit", Base64(std::string(OrbitControlsScript()))},
                          {"vr", Base64(std::string(VrButtonScript()))}})
       << R"(</script>
<script>
async function loadThree() {
  const t = JSON.parse(document.getElementById('three-data').textContent);
  const text = b64 => new TextDecoder().decode(Uint8Array.from(atob(b64), c => c.charCodeAt(0)));
  const url = s => URL.createObjectURL(new Blob([s], { type: 'text/javascript' }));
  const core = url(text(t.core));
  const module = url(text(t.module).split("'./three.core.js'").join(JSON.stringify(core)));
  const orbit = url(text(t.orbit).split("from 'three'").join('from ' + JSON.stringify(module)));
  const vrButton = url(text(t.vr));
  return { THREE: await import(module), OrbitControls: (await import(orbit)).OrbitControls,
           VRButton: (await import(vrButton)).VRButton };
}

// Binary STL (RAS mm) to three.js (metres, Y up: x = -R, y = S, z = A, so the patient faces +Z).
function stlGeometry(THREE, b64) {
  const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
  const view = new DataView(bytes.buffer);
  const n = view.getUint32(80, true);
  const pos = new Float32Array(n * 9);
  for (let t = 0; t < n; ++t) {
    for (let v = 0; v < 3; ++v) {
      const o = 84 + t * 50 + 12 + v * 12;
      const x = view.getFloat32(o, true), y = view.getFloat32(o + 4, true), z = view.getFloat32(o + 8, true);
      pos.set([-x / 1000, z / 1000, y / 1000], t * 9 + v * 3);
    }
  }
  const g = new THREE.BufferGeometry();
  g.setAttribute('position', new THREE.BufferAttribute(pos, 3));
  g.computeVertexNormals();
  return g;
}

async function buildVr(meshes) {
  const { THREE, OrbitControls, VRButton } = await loadThree();
  const canvas = document.getElementById('vrCanvas');
  const renderer = new THREE.WebGLRenderer({ canvas, antialias: true });
  renderer.xr.enabled = true;
  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0x121212);
  scene.add(new THREE.HemisphereLight(0xffffff, 0x444444, 2.0));
  const sun = new THREE.DirectionalLight(0xffffff, 1.5);
  sun.position.set(1, 2, 3);
  scene.add(sun);
  // The heart at eye height, half a metre in front of a standing viewer (the WebXR origin).
  const heart = new THREE.Group();
  const models = new THREE.Group();
  for (const m of meshes) {
    const material = new THREE.MeshStandardMaterial({ color: new THREE.Color(m.color[0] / 255, m.color[1] / 255, m.color[2] / 255),
                                                      side: THREE.DoubleSide, roughness: 0.6 });
    const mesh = new THREE.Mesh(stlGeometry(THREE, m.stl), material);
    mesh.name = m.name;
    models.add(mesh);
  }
  const box = new THREE.Box3().setFromObject(models);
  const centre = box.isEmpty() ? new THREE.Vector3() : box.getCenter(new THREE.Vector3());
  models.position.sub(centre);
  heart.add(models);
  heart.position.set(0, 1.4, -0.5);
  scene.add(heart);
  const size = box.isEmpty() ? 0.1 : box.getSize(new THREE.Vector3()).length();
  const camera = new THREE.PerspectiveCamera(40, 1, 0.01, 20);
  camera.position.set(0, 1.4, -0.5 + 1.6 * size);
  const controls = new OrbitControls(camera, canvas);
  controls.target.copy(heart.position);
  controls.update();
  const button = VRButton.createButton(renderer);
  document.getElementById('vr').appendChild(button);
  const resize = () => {
    const w = canvas.parentElement.clientWidth, h = canvas.parentElement.clientHeight;
    if (w > 0 && h > 0) { renderer.setSize(w, h, false); camera.aspect = w / h; camera.updateProjectionMatrix(); }
  };
  window.addEventListener('resize', resize);
  renderer.setAnimationLoop(() => { controls.update(); renderer.render(scene, camera); });
  window.cardiosegVr = { scene, camera, renderer };
  return { resize };
}

(async function () {
  const data = JSON.parse(document.getElementById('case-data').textContent);
  const nv = new niivue.Niivue({ backColor: [0.07, 0.07, 0.07, 1], show3Dcrosshair: true,
                                 crosshairColor: [0.0, 0.8, 1.0, 1.0],
                                 isOrientCube: true, dragAndDropEnabled: false });
  await nv.attachTo('gl');
  const scan = await niivue.NVImage.loadFromBase64({ base64: data.scan, name: 'scan.nii.gz',
                                                     colormap: 'gray', cal_min: 0, cal_max: 255 });
  nv.addVolume(scan);
  if (data.labels) {
    const labels = await niivue.NVImage.loadFromBase64({ base64: data.labels, name: 'labels.nii.gz', opacity: 0.5 });
    labels.setColormapLabel(data.lut);
    nv.addVolume(labels);
  }
  const meshes = [];
  for (const m of data.meshes) {
    const bytes = Uint8Array.from(atob(m.stl), c => c.charCodeAt(0)).buffer;
    const mesh = await niivue.NVMesh.readMesh(bytes, m.name + '.stl', nv.gl, 1.0,
                                              new Uint8Array([m.color[0], m.color[1], m.color[2], 255]));
    meshes.push(mesh);
  }
  // In 3D with meshes on, the meshes alone (the volume rendering would hide them).
  const labelOpacity = () => Number(document.getElementById('opacity').value) / 100;
  const showMeshes = (on) => {
    on = on && meshes.length > 0;
    for (const m of meshes) { const i = nv.meshes.indexOf(m); if (on && i < 0) nv.addMesh(m); if (!on && i >= 0) nv.removeMesh(m); }
    nv.setOpacity(0, on ? 0 : 1);
    if (nv.volumes.length > 1) nv.setOpacity(1, on ? 0 : labelOpacity());
  };
  nv.opts.multiplanarShowRender = 1;  // SHOW_RENDER.ALWAYS: the 3D tile beside the planes
  // report.html#axial (coronal, sagittal, render) opens on one view.
  const views = { axial: 0, coronal: 1, sagittal: 2, multiplanar: 3, render: 4 };
  const first = views[location.hash.slice(1)] ?? 3;
  nv.setSliceType(first);
  showMeshes(first === 4 && document.getElementById('showMeshes').checked);
  document.querySelectorAll('#bar button').forEach(x => x.classList.toggle('on', Number(x.dataset.slice) === first));
  document.querySelectorAll('#bar button').forEach(b => b.onclick = () => {
    document.querySelectorAll('#bar button').forEach(x => x.classList.remove('on'));
    b.classList.add('on');
    const st = Number(b.dataset.slice);
    showMeshes(st === 4 && document.getElementById('showMeshes').checked);
    nv.setSliceType(st);
  });
  document.getElementById('showMeshes').onchange = (e) => {
    showMeshes(e.target.checked && nv.opts.sliceType === 4); nv.drawScene();
  };
  document.getElementById('opacity').oninput = (e) => {
    if (nv.volumes.length > 1 && nv.volumes[0].opacity > 0) nv.setOpacity(1, labelOpacity());
  };
  // Meshes / VR: the surface meshes in three.js, with WebXR's "Enter VR" where the browser has it.
  // three.js is loaded from blob: URLs of the embedded modules (no server, no import map).
  let vr = null;
  const showVr = async (on) => {
    document.getElementById('slices').style.display = on ? 'none' : '';
    document.getElementById('vr').style.display = on ? 'block' : 'none';
    document.getElementById('vrTab').classList.toggle('on', on);
    if (on && !vr) vr = await buildVr(data.meshes);
    if (vr) vr.resize();
  };
  document.getElementById('vrTab').onclick = () => {
    document.querySelectorAll('#bar button[data-slice]').forEach(x => x.classList.remove('on'));
    showVr(true);
  };
  document.querySelectorAll('#bar button[data-slice]').forEach(b => b.addEventListener('click', () => showVr(false)));
  if (location.hash === '#vr') await showVr(true);
  nv.drawScene();
  window.cardiosegViewer = nv;  // for tests and the console
  document.body.dataset.ready = 'true';
})().catch(e => { document.body.dataset.ready = 'error'; document.body.dataset.error = String(e); console.error(e); });
</script>
</body></html>
)";
  WriteTextAtomically(file, html.str());
}

}  // namespace cardioseg::pipeline
