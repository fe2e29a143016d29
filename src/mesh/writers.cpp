#include <cstring>
#include <fstream>
#include <sstream>

#include <vtkGLTFWriter.h>
#include <vtkMultiBlockDataSet.h>
#include <vtkOBJWriter.h>
#include <vtkPLYWriter.h>
#include <vtkSTLWriter.h>
#include <vtkTriangleFilter.h>
#include <vtkXMLPolyDataWriter.h>

#include "cardioseg/core/atomic_file.h"
#include "cardioseg/core/error.h"
#include "cardioseg/mesh/surface.h"

namespace cardioseg::mesh {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<char> DecodeBase64(const std::string& text) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<char> out;
  unsigned value = 0;
  int bits = -8;
  for (char c : text) {
    const auto pos = kAlphabet.find(c);
    if (pos == std::string::npos) break;  // '=' padding ends the data
    value = (value << 6) | static_cast<unsigned>(pos);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((value >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

void Pad(std::string& s, char fill) {
  while (s.size() % 4) s.push_back(fill);
}

void AppendU32(std::string& s, std::uint32_t v) {
  char bytes[4];
  std::memcpy(bytes, &v, 4);  // GLB is little-endian, as x86-64 and ARM64 are
  s.append(bytes, 4);
}

}  // namespace

void WriteMesh(vtkPolyData* mesh, const fs::path& path) {
  const auto ext = SplitExtension(path.filename().string()).second;
  WriteAtomically(path, [&](const fs::path& tmp) {
    int ok = 0;
    if (ext == ".stl") {
      auto triangles = vtkSmartPointer<vtkTriangleFilter>::New();
      triangles->SetInputData(mesh);
      auto w = vtkSmartPointer<vtkSTLWriter>::New();
      w->SetInputConnection(triangles->GetOutputPort());
      w->SetFileName(tmp.c_str());
      w->SetFileTypeToBinary();
      ok = w->Write();
    } else if (ext == ".ply") {
      auto w = vtkSmartPointer<vtkPLYWriter>::New();
      w->SetInputData(mesh);
      w->SetFileName(tmp.c_str());
      w->SetFileTypeToBinary();
      ok = w->Write();
    } else if (ext == ".obj") {
      auto w = vtkSmartPointer<vtkOBJWriter>::New();
      w->SetInputData(mesh);
      w->SetFileName(tmp.c_str());
      ok = w->Write();
    } else if (ext == ".vtp") {
      auto w = vtkSmartPointer<vtkXMLPolyDataWriter>::New();
      w->SetInputData(mesh);
      w->SetFileName(tmp.c_str());
      w->SetDataModeToAppended();
      ok = w->Write();
    } else {
      throw InputError(path.string(), "unknown mesh format (expected .stl, .ply, .obj or .vtp)");
    }
    if (!ok || !fs::exists(tmp)) throw InputError(path.string(), "VTK could not write the mesh");
  });
}

void WriteGlbScene(const std::vector<NamedMesh>& meshes, const fs::path& path) {
  // vtkGLTFWriter expects renderers (outer blocks) holding actors (inner blocks), as its exporter
  // sibling writes them; a bare poly data crashes it.
  auto scene = vtkSmartPointer<vtkMultiBlockDataSet>::New();
  auto renderer = vtkSmartPointer<vtkMultiBlockDataSet>::New();
  std::vector<const NamedMesh*> written;
  for (const auto& m : meshes) {
    if (!m.mesh || m.mesh->GetNumberOfPolys() == 0) continue;
    auto triangles = vtkSmartPointer<vtkTriangleFilter>::New();
    triangles->SetInputData(m.mesh);
    triangles->Update();
    renderer->SetBlock(renderer->GetNumberOfBlocks(), triangles->GetOutput());
    written.push_back(&m);
  }
  if (written.empty()) throw InputError(path.string(), "no mesh to write into the GLB scene");
  scene->SetBlock(0, renderer);

  WriteAtomically(path, [&](const fs::path& tmp) {
    const fs::path gltf = TemporaryPathFor(path.parent_path() / "scene.gltf");
    auto w = vtkSmartPointer<vtkGLTFWriter>::New();
    w->SetInputData(scene);
    w->SetFileName(gltf.c_str());
    w->InlineDataOn();
    w->SaveNormalOn();
    w->Write();
    std::ifstream in(gltf);
    if (!in) throw InputError(path.string(), "vtkGLTFWriter wrote nothing");
    json doc = json::parse(in);
    in.close();
    fs::remove(gltf);

    // One BIN chunk: concatenate the inline buffers (4-byte aligned) and re-point the views.
    std::string bin;
    std::vector<std::size_t> offsets;
    for (const auto& buffer : doc.at("buffers")) {
      const std::string uri = buffer.at("uri");
      const auto comma = uri.find(',');
      const auto data = DecodeBase64(uri.substr(comma == std::string::npos ? 0 : comma + 1));
      offsets.push_back(bin.size());
      bin.append(data.data(), data.size());
      Pad(bin, '\0');
    }
    for (auto& view : doc.at("bufferViews")) {
      const auto b = view.value("buffer", 0);
      view["byteOffset"] = view.value("byteOffset", std::size_t{0}) + offsets.at(b);
      view["buffer"] = 0;
    }
    doc["buffers"] = json::array({{{"byteLength", bin.size()}}});

    // A material of the label's colour for each mesh, and names on meshes and nodes.
    json materials = json::array();
    for (std::size_t i = 0; i < written.size() && i < doc["meshes"].size(); ++i) {
      const auto& c = written[i]->color;
      materials.push_back({{"name", written[i]->name},
                           {"doubleSided", true},
                           {"pbrMetallicRoughness",
                            {{"baseColorFactor", {c[0] / 255.0, c[1] / 255.0, c[2] / 255.0, 1.0}},
                             {"metallicFactor", 0.0},
                             {"roughnessFactor", 0.7}}}});
      doc["meshes"][i]["name"] = written[i]->name;
      for (auto& primitive : doc["meshes"][i]["primitives"]) primitive["material"] = i;
    }
    doc["materials"] = materials;
    for (auto& node : doc["nodes"]) {
      if (node.contains("mesh")) node["name"] = written.at(node["mesh"].get<std::size_t>())->name;
    }
    doc["asset"]["generator"] = "cardioseg (geometry by vtkGLTFWriter)";
    doc["asset"]["extras"] = {{"units", "mm"}, {"frame", "the label map's world frame"}};

    std::string json_chunk = doc.dump();
    Pad(json_chunk, ' ');
    std::string glb;
    AppendU32(glb, 0x46546C67);  // "glTF"
    AppendU32(glb, 2);
    AppendU32(glb, static_cast<std::uint32_t>(12 + 8 + json_chunk.size() + 8 + bin.size()));
    AppendU32(glb, static_cast<std::uint32_t>(json_chunk.size()));
    AppendU32(glb, 0x4E4F534A);  // "JSON"
    glb += json_chunk;
    AppendU32(glb, static_cast<std::uint32_t>(bin.size()));
    AppendU32(glb, 0x004E4942);  // "BIN\0"
    glb += bin;
    std::ofstream out(tmp, std::ios::binary);
    out.write(glb.data(), static_cast<std::streamsize>(glb.size()));
    if (!out) throw InputError(path.string(), "write failed");
  });
}

}  // namespace cardioseg::mesh
