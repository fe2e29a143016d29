#pragma once
// Sliding-window geometry and network planning as pure functions (no LibTorch), after nnU-Net's
// compute_steps_for_sliding_window, compute_gaussian and experiment planning (Isensee et al.,
// "nnU-Net", Nature Methods 18:203-211, 2021; github.com/MIC-DKFZ/nnUNet).
//
// Every shape here is in tensor order [D, H, W] = image axes (k, j, i).
#include <array>
#include <cstdint>
#include <vector>

namespace cardioseg::nn {

using Shape3 = std::array<std::int64_t, 3>;

// Start offsets of the tiles along one axis of length `size` for tiles of `tile` voxels and a
// step of `step_fraction` x tile (nnU-Net: 0.5). The first tile starts at 0, the last ends at
// `size`, steps are spread evenly between them, so every voxel is covered. `size` < `tile` gives
// {0} (the volume is padded to the tile first). Throws std::invalid_argument when tile <= 0 or
// step_fraction is outside (0, 1].
std::vector<std::int64_t> TileStarts(std::int64_t size, std::int64_t tile, double step_fraction);

// All tile origins of a volume of `size` in [D, H, W], in raster order.
std::vector<Shape3> TileOrigins(const Shape3& size, const Shape3& tile, double step_fraction);

// Gaussian importance map over a tile, flattened in [D, H, W] raster order: a Gaussian centred on
// the tile with sigma = sigma_scale x tile size per axis (nnU-Net: 1/8), scaled so its maximum is
// 1, and with zeros replaced by the smallest positive value so every weight is > 0.
std::vector<float> GaussianImportanceMap(const Shape3& tile, double sigma_scale = 1.0 / 8.0);

// A box of voxels: `start` and `size` per axis, [D, H, W].
struct Box3 {
  Shape3 start{0, 0, 0};
  Shape3 size{0, 0, 0};
};

// Number of sliding-window tiles for a volume of `size` (padded to the patch where smaller).
std::int64_t TileCount(const Shape3& size, const Shape3& tile, double step_fraction);

// Tile size of the sliding window for a volume of `size`: the training `patch`, except along an
// axis where the volume is longer than the patch by at most (max_stretch - 1) x patch. There one
// tile covers the whole axis instead of two or more overlapping ones: its length is `size` rounded
// up to `multiple` (the product of the network's strides along that axis, so the U-Net's
// poolings divide it) and at most max_stretch x patch. Cine stacks of 11-15 slices for a
// 10-slice patch then take one tile along D instead of two (1.2-1.5x the FLOPs instead of 2x).
// max_stretch = 1 gives the patch. Throws std::invalid_argument on sizes or multiples <= 0 or
// max_stretch < 1.
Shape3 StretchedTile(const Shape3& size, const Shape3& patch, const Shape3& multiple, double max_stretch);

// Heart-box pass: the box on the full-resolution grid of `size` that the sliding window runs in,
// from the bounding box of the foreground found on a coarse grid of `coarse_size` (inclusive
// corners `coarse_first`..`coarse_last`, coarse voxel indices). The coarse box is mapped back
// outwards (voxel edges, so a coarse voxel's whole footprint is inside), grown by `margin` voxels
// per axis, grown symmetrically to at least `patch` where the volume allows (the network sees
// anatomy rather than padding), and clipped to the volume. Throws std::invalid_argument on
// sizes <= 0 or a coarse box outside the coarse grid.
Box3 HeartBoxOnFineGrid(const Shape3& coarse_first, const Shape3& coarse_last,
                        const Shape3& coarse_size, const Shape3& size, const Shape3& margin,
                        const Shape3& patch);

// One resolution level of a U-Net: convolution kernel and the stride that pools INTO this level
// (level 0 has stride {1, 1, 1}).
struct LevelPlan {
  Shape3 kernel{3, 3, 3};
  Shape3 stride{1, 1, 1};
};

// nnU-Net-style topology rules for a patch of `patch` voxels at `spacing_mm` ([D, H, W] order):
// at each level an axis is pooled (stride 2) while its spacing is < 2 x the finest spacing of
// that level and its size stays >= min_feature_size after pooling; its kernel is 3 when its
// spacing is < 2 x the finest spacing, else 1 (so 10 mm cine slices get 1x3x3 kernels and
// in-plane-only pooling at high resolution). Stops after `max_levels` levels or when no axis can
// pool. Returns the levels, level 0 first.
std::vector<LevelPlan> PlanLevels(const std::array<double, 3>& spacing_mm, const Shape3& patch,
                                  int max_levels = 5, std::int64_t min_feature_size = 4);

// Smallest shape >= `shape` divisible on each axis by the product of the levels' strides.
Shape3 DivisibleShape(const Shape3& shape, const std::vector<LevelPlan>& levels);

}  // namespace cardioseg::nn
