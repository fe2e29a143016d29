#pragma once
// DICOM Segmentation objects (SEG, PS3.3 A.51) for label maps of DICOM inputs, written and read
// with DCMTK's dcmseg module, the way dcmqi's itkimage2segimage writes them.
//
// A SEG written here is a BINARY segmentation with one segment per label (empty labels left
// out) and one frame per segment and source slice that holds at least one voxel of the label.
// It takes from the source images:
//   - patient, study and frame of reference (importFromSourceImage of the first slice);
//   - PixelSpacing, SliceThickness and ImageOrientationPatient (shared functional groups), and
//     each frame's ImagePositionPatient, as the strings the source images hold;
//   - per frame, a Derivation Image reference (DCM 113076 "Segmentation") to its source SOP
//     instance, with purpose DCM 121322 "Source image for image processing operation";
//   - the lossy compression flag, when a source image has undergone lossy compression.
// Segments are coded in SNOMED CT (category 123037004 "Anatomical Structure"), with the codes
// TotalSegmentator and dcmqi use: left ventricle 87878005, right ventricle 53085002, myocardium
// 74281007, left atrium 82471001 (see AnatomicCodeFor). Dimensions: ReferencedSegmentNumber and
// ImagePositionPatient.
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "cardioseg/imaging/image.h"

namespace cardioseg::imaging {

// A coded concept: code value, coding scheme designator ("SCT" for SNOMED CT), code meaning.
struct CodedConcept {
  std::string value, scheme, meaning;
};

// The SNOMED CT anatomic code for a label name, matched case-insensitively on the structure it
// names ("left ventricle myocardium" and "MYO" -> myocardium 74281007; "right ventricle cavity"
// and "RV" -> 53085002; "left ventricle cavity" and "LV" -> 87878005; "left atrium" and "LA" ->
// 82471001). An unknown name gets SCT 85756007 "Tissue".
CodedConcept AnatomicCodeFor(const std::string& label_name);

struct SegmentDescription {
  int value = 0;                       // the label value in the label map, 1-255
  std::string name;                    // SegmentLabel
  std::array<int, 3> color{0, 0, 0};   // sRGB 0-255, stored as CIELab
};

// Writes `labels` (the grid of the DICOM slices `source_files`, slice k = source_files[k]) as a
// DICOM SEG to `path`. `series_description` becomes SeriesDescription; `software_version` goes
// into the equipment module. Throws InputError naming the source file when a source cannot be
// read or its Rows/Columns differ from the label map, and cardioseg::Error naming `path` when
// DCMTK refuses the object or the file cannot be written.
void WriteDicomSeg(const LabelMapType* labels, const std::vector<std::filesystem::path>& source_files,
                   const std::vector<SegmentDescription>& segments, const std::filesystem::path& path,
                   const std::string& series_description, const std::string& software_version);

// One frame of a SEG as read back.
struct DicomSegFrame {
  int segment_number = 0;                 // 1-based, in the object's Segment Sequence
  std::array<double, 3> position{0, 0, 0};  // ImagePositionPatient, mm
  std::string source_sop_instance_uid;    // the derivation reference, "" if none
  std::vector<std::uint8_t> pixels;       // rows x columns, row-major, 0 or 1
};
struct DicomSegObject {
  int rows = 0, columns = 0;
  std::vector<std::string> segment_labels;  // [segment_number - 1]
  std::vector<CodedConcept> segment_types;  // SegmentedPropertyTypeCodeSequence
  std::string study_uid, frame_of_reference_uid;
  std::vector<DicomSegFrame> frames;
};

// Reads a SEG written by WriteDicomSeg (or another binary SEG with plane positions per frame).
// Throws InputError naming `path` when DCMTK cannot read it as a segmentation.
DicomSegObject ReadDicomSeg(const std::filesystem::path& path);

}  // namespace cardioseg::imaging
