#pragma once
// DICOM folders through GDCM: series discovery, cine phase splitting, volume reading.
//
// A cine short-axis series often stores every cardiac phase of every slice position under ONE
// SeriesInstanceUID (e.g. Sunnybrook: 12 positions x 20 phases = 240 files). Stacking all files
// into one volume is wrong; cardioseg groups the images by slice position (ImagePositionPatient
// projected on the slice normal) and orders each position's images by TriggerTime, so that phase
// k is the k-th image at every position.
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "cardioseg/core/config.h"
#include "cardioseg/imaging/io.h"

namespace cardioseg::imaging {

struct DicomSlice {
  std::string file;
  std::array<double, 3> position{0, 0, 0};                 // ImagePositionPatient, LPS mm
  std::array<double, 6> orientation{1, 0, 0, 0, 1, 0};     // ImageOrientationPatient (row, col)
  bool has_position = false;
  double trigger_time_ms = 0;                             // TriggerTime (0018,1060), 0 if absent
  int instance_number = 0;                                // InstanceNumber (0020,0013)
};

struct DicomSeries {
  std::string series_uid;      // may be empty: some files carry an empty SeriesInstanceUID
  std::string description;     // SeriesDescription
  std::string modality;        // Modality
  std::vector<DicomSlice> slices;
};

// Every image series in `folder` (searched recursively), largest first. Files that are not
// DICOM images (no PixelData element) are skipped. Throws InputError when the folder holds no
// DICOM image, and, naming the file, for a file cut short in its file meta information or in its
// pixel data (GDCM 3.0 would abort the process on the first and read the second silently).
std::vector<DicomSeries> ScanDicomFolder(const std::filesystem::path& folder);

// Splits a series into phases: result[phase][i] is the file of slice position i, positions
// ordered along the slice normal (cross product of the orientation's row and column), phases by
// TriggerTime then InstanceNumber. A series with one image per position has one phase.
// Throws std::invalid_argument when positions hold different numbers of images, or when the
// positions are unevenly spaced (a gap over 1.2x the smallest step: a missing slice).
std::vector<std::vector<std::string>> GroupIntoPhases(const std::vector<DicomSlice>& slices);

// Reads one phase of one series from `folder` as a 3D volume: the series `input.dicom_series_uid`
// (default: the largest), phase `input.phase`. Throws InputError naming the folder and the
// problem (no DICOM, unknown series UID, phase out of range, single slice, unreadable pixels).
LoadedVolume ReadDicomFolder(const std::filesystem::path& folder, const config::InputConfig& input);

}  // namespace cardioseg::imaging
