#include "cardioseg/imaging/postprocess.h"

#include <cmath>
#include <set>

#include <itkBinaryFillholeImageFilter.h>
#include <itkConnectedComponentImageFilter.h>
#include <itkRelabelComponentImageFilter.h>

namespace cardioseg::imaging {

namespace {
using ComponentImage = itk::Image<std::uint32_t, 3>;
}

LabelMapType::Pointer CleanComponents(const LabelMapType* labels,
                                      const config::ComponentsConfig& config,
                                      nlohmann::json* details) {
  const Geometry g = GeometryOf(labels);
  const std::size_t n = g.NumberOfVoxels();
  const std::uint8_t* in = labels->GetBufferPointer();
  auto out = MakeImage<LabelMapType>(g);
  std::uint8_t* o = out->GetBufferPointer();
  std::copy(in, in + n, o);
  std::set<int> values(in, in + n);
  values.erase(0);
  const auto min_voxels =
      static_cast<std::uint64_t>(std::ceil(config.min_component_volume_ml / g.VoxelVolumeMl()));
  nlohmann::json report = nlohmann::json::object();
  for (int v : values) {
    auto mask = MakeImage<LabelMapType>(g);
    std::uint8_t* m = mask->GetBufferPointer();
    std::size_t before = 0;
    for (std::size_t i = 0; i < n; ++i) before += (m[i] = in[i] == v);
    auto cc = itk::ConnectedComponentImageFilter<LabelMapType, ComponentImage>::New();
    cc->SetInput(mask);
    cc->SetFullyConnected(false);
    auto relabel = itk::RelabelComponentImageFilter<ComponentImage, ComponentImage>::New();
    relabel->SetInput(cc->GetOutput());
    relabel->SetMinimumObjectSize(min_voxels);
    relabel->Update();
    const std::uint32_t* comp = relabel->GetOutput()->GetBufferPointer();
    const auto components = cc->GetObjectCount();
    for (std::size_t i = 0; i < n; ++i) {
      const bool keep = comp[i] != 0 && (!config.largest_component || comp[i] == 1);
      m[i] = keep;
      if (o[i] == v && !keep) o[i] = 0;
    }
    if (config.fill_holes) {
      auto fill = itk::BinaryFillholeImageFilter<LabelMapType>::New();
      fill->SetInput(mask);
      fill->SetForegroundValue(1);
      fill->SetFullyConnected(false);
      fill->Update();
      const std::uint8_t* f = fill->GetOutput()->GetBufferPointer();
      for (std::size_t i = 0; i < n; ++i) {
        if (f[i] && o[i] == 0) o[i] = static_cast<std::uint8_t>(v);
      }
    }
    std::size_t after = 0;
    for (std::size_t i = 0; i < n; ++i) after += o[i] == v;
    report[std::to_string(v)] = {{"components", components},
                                 {"voxels_before", before},
                                 {"voxels_after", after}};
  }
  if (details) *details = report;
  return out;
}

std::map<int, double> LabelVolumesMl(const LabelMapType* labels) {
  const Geometry g = GeometryOf(labels);
  std::map<int, std::size_t> counts;
  const std::uint8_t* p = labels->GetBufferPointer();
  for (std::size_t i = 0, n = g.NumberOfVoxels(); i < n; ++i) {
    if (p[i]) ++counts[p[i]];
  }
  std::map<int, double> volumes;
  for (const auto& [v, c] : counts) volumes[v] = c * g.VoxelVolumeMl();
  return volumes;
}

}  // namespace cardioseg::imaging
