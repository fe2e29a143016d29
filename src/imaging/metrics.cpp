#include "cardioseg/imaging/metrics.h"

#include <cmath>
#include <limits>
#include <stdexcept>

#include <itkSignedMaurerDistanceMapImageFilter.h>

#include "cardioseg/core/intensity_math.h"

namespace cardioseg::imaging {
namespace {

using DistanceImage = itk::Image<float, 3>;

// Surface voxels: in the mask with at least one 6-neighbour outside it (or on the grid border).
std::vector<std::size_t> SurfaceVoxels(const std::vector<std::uint8_t>& mask,
                                       const std::array<std::size_t, 3>& size) {
  std::vector<std::size_t> surface;
  const std::size_t sx = size[0], sy = size[1], sz = size[2];
  for (std::size_t z = 0; z < sz; ++z) {
    for (std::size_t y = 0; y < sy; ++y) {
      for (std::size_t x = 0; x < sx; ++x) {
        const std::size_t i = (z * sy + y) * sx + x;
        if (!mask[i]) continue;
        const bool edge = x == 0 || y == 0 || z == 0 || x + 1 == sx || y + 1 == sy || z + 1 == sz ||
                          !mask[i - 1] || !mask[i + 1] || !mask[i - sx] || !mask[i + sx] ||
                          !mask[i - sx * sy] || !mask[i + sx * sy];
        if (edge) surface.push_back(i);
      }
    }
  }
  return surface;
}

// Distance in mm from every voxel to the nearest voxel of `surface`.
DistanceImage::Pointer DistanceToSurface(const std::vector<std::size_t>& surface, const Geometry& g) {
  auto mask = MakeImage<LabelMapType>(g, 0);
  for (auto i : surface) mask->GetBufferPointer()[i] = 1;
  auto maurer = itk::SignedMaurerDistanceMapImageFilter<LabelMapType, DistanceImage>::New();
  maurer->SetInput(mask);
  maurer->SetUseImageSpacing(true);
  maurer->SetSquaredDistance(false);
  maurer->SetInsideIsPositive(false);
  maurer->SetBackgroundValue(0);
  maurer->Update();
  return maurer->GetOutput();
}

std::vector<float> Directed(const std::vector<std::size_t>& from, const DistanceImage* to) {
  std::vector<float> d;
  d.reserve(from.size());
  const float* p = to->GetBufferPointer();
  for (auto i : from) d.push_back(std::max(0.0f, p[i]));  // surface voxels themselves: 0
  return d;
}

double Mean(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += x;
  return v.empty() ? 0 : s / v.size();
}

}  // namespace

std::vector<LabelMetrics> Evaluate(const LabelMapType* prediction, const LabelMapType* reference,
                                   const std::vector<int>& labels) {
  const Geometry g = GeometryOf(prediction), r = GeometryOf(reference);
  if (!SameGrid(g, r)) {
    throw std::invalid_argument("prediction and reference lie on different grids: prediction " +
                                Describe(g) + "; reference " + Describe(r));
  }
  const std::size_t n = g.NumberOfVoxels();
  const std::uint8_t* p = prediction->GetBufferPointer();
  const std::uint8_t* t = reference->GetBufferPointer();
  std::vector<LabelMetrics> out;
  for (int label : labels) {
    LabelMetrics m;
    m.label = label;
    std::vector<std::uint8_t> a(n), b(n);
    std::size_t na = 0, nb = 0, inter = 0;
    for (std::size_t i = 0; i < n; ++i) {
      a[i] = p[i] == label;
      b[i] = t[i] == label;
      na += a[i];
      nb += b[i];
      inter += a[i] && b[i];
    }
    m.volume_pred_ml = na * g.VoxelVolumeMl();
    m.volume_ref_ml = nb * g.VoxelVolumeMl();
    m.volume_difference_ml = m.volume_pred_ml - m.volume_ref_ml;
    if (na == 0 && nb == 0) {
      m.dice = m.iou = 1;
      m.hd95_mm = m.assd_mm = 0;
    } else if (na == 0 || nb == 0) {
      m.dice = m.iou = 0;
      m.hd95_mm = m.assd_mm = std::numeric_limits<double>::quiet_NaN();
    } else {
      m.dice = 2.0 * inter / (na + nb);
      m.iou = static_cast<double>(inter) / (na + nb - inter);
      const auto sa = SurfaceVoxels(a, g.size), sb = SurfaceVoxels(b, g.size);
      auto ab = Directed(sa, DistanceToSurface(sb, g).GetPointer());
      auto ba = Directed(sb, DistanceToSurface(sa, g).GetPointer());
      m.assd_mm = 0.5 * (Mean(ab) + Mean(ba));
      std::vector<float> pooled(ab);
      pooled.insert(pooled.end(), ba.begin(), ba.end());
      m.hd95_mm = intensity::Percentiles(pooled, {95})[0];
    }
    out.push_back(m);
  }
  return out;
}

nlohmann::json ToJson(const LabelMetrics& m) {
  auto number = [](double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };
  return {{"label", m.label},
          {"dice", m.dice},
          {"iou", m.iou},
          {"hd95_mm", number(m.hd95_mm)},
          {"assd_mm", number(m.assd_mm)},
          {"volume_pred_ml", m.volume_pred_ml},
          {"volume_ref_ml", m.volume_ref_ml},
          {"volume_difference_ml", m.volume_difference_ml}};
}

}  // namespace cardioseg::imaging
