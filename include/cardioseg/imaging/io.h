#pragma once
// Reading scans and writing volumes with their exact geometry.
//
// Inputs: NIfTI (.nii, .nii.gz), NRRD (.nrrd, .nhdr), MetaImage (.mha, .mhd) through ITK, and
// DICOM folders through GDCM (see dicom.h). The input's direction is kept as it is: no silent
// reorientation. World coordinates are LPS, as in ITK.
//
// NIfTI files whose sform has unit-norm columns while the voxel size is only in pixdim (the ACDC
// files: qform_code 0, sform_code 2, sform diag(-1, -1, 1)) are refused by ITK 5.2's reader
// ("ITK only supports orthonormal direction cosines"). For those, cardioseg reads the file with
// niftilib and takes spacing from pixdim[1..3], direction from the column-normalised sform and
// origin from the sform's translation (converted RAS -> LPS), and logs a warning.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cardioseg/core/config.h"
#include "cardioseg/imaging/image.h"

namespace cardioseg::imaging {

struct LoadedVolume {
  ImageType::Pointer image;   // float voxels, input grid
  // How the volume was read: {"path", "format", "reader", ...}; DICOM adds series, phases and
  // slice counts; NIfTI adds the header codes when the pixdim fallback was taken.
  nlohmann::json source;
  // DICOM input: the file of each slice k of `image`, in slice order (for DICOM SEG output and
  // its references to the source images). Empty for other formats.
  std::vector<std::filesystem::path> slice_files;
};

// Reads one 3D volume from a file or a DICOM folder. A 4D NIfTI yields volume `input.phase`.
// Throws InputError naming the path and the problem: no such file, unknown format, unreadable
// or truncated data, fewer than 3 dimensions or a single slice ("2D image"), a folder with no
// DICOM series, a phase out of range.
LoadedVolume ReadVolume(const std::filesystem::path& path, const config::InputConfig& input);

// The memory a case may take, bytes: input.max_memory_gib, or half the physical memory when 0.
double MemoryLimitBytes(const config::InputConfig& input);

// Reads a label map (NIfTI/NRRD/MHA), with the same NIfTI fallback. Voxels are cast to uint8.
// Throws InputError as ReadVolume, and when a value is outside [0, 255] or not an integer.
LabelMapType::Pointer ReadLabelMap(const std::filesystem::path& path);

// Writes atomically (temporary name, then rename); the format follows the extension, and NIfTI
// is gzip-compressed for ".nii.gz". Throws InputError naming the file on failure.
void WriteImage(const ImageType* image, const std::filesystem::path& path);
void WriteLabelMap(const LabelMapType* labels, const std::filesystem::path& path);

}  // namespace cardioseg::imaging
