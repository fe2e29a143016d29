#include "cardioseg/imaging/dicom_seg.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <memory>
#include <sstream>
#include <stdexcept>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcstack.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcvrda.h>
#include <dcmtk/dcmdata/dcvrui.h>
#include <dcmtk/dcmfg/fgderimg.h>
#include <dcmtk/dcmfg/fgfracon.h>
#include <dcmtk/dcmfg/fgpixmsr.h>
#include <dcmtk/dcmfg/fgplanor.h>
#include <dcmtk/dcmfg/fgplanpo.h>
#include <dcmtk/dcmfg/fgseg.h>
#include <dcmtk/dcmiod/iodmacro.h>
#include <dcmtk/dcmiod/modequipment.h>
#include <dcmtk/dcmseg/segdoc.h>
#include <dcmtk/dcmseg/segment.h>
#include <dcmtk/dcmseg/segutils.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cardioseg/core/error.h"
#include "dcmtk_log.h"

namespace cardioseg::imaging {
namespace {

namespace fs = std::filesystem;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

void Check(const OFCondition& status, const fs::path& path, const std::string& what) {
  if (status.bad()) {
    throw Error(path.string() + ": DICOM SEG: " + what + ": " + status.text() + " (DCMTK)");
  }
}

// sRGB (0-255) to the DICOM Recommended Display CIELab Value: CIELab under D50 (the ICC profile
// connection space that DICOM's CIELab refers to, PS3.3 C.10.7.1.1), L* in [0, 100] and a*, b*
// in [-128, 127] each scaled to [0, 65535].
std::array<Uint16, 3> DicomLab(const std::array<int, 3>& rgb) {
  double lin[3];
  for (int i = 0; i < 3; ++i) {
    const double c = std::clamp(rgb[i], 0, 255) / 255.0;
    lin[i] = c <= 0.04045 ? c / 12.92 : std::pow((c + 0.055) / 1.055, 2.4);
  }
  // sRGB to XYZ, Bradford-adapted to D50.
  const double x = 0.4360747 * lin[0] + 0.3850649 * lin[1] + 0.1430804 * lin[2];
  const double y = 0.2225045 * lin[0] + 0.7168786 * lin[1] + 0.0606169 * lin[2];
  const double z = 0.0139322 * lin[0] + 0.0971045 * lin[1] + 0.7141733 * lin[2];
  const auto f = [](double t) {
    return t > 216.0 / 24389.0 ? std::cbrt(t) : (24389.0 / 27.0 * t + 16.0) / 116.0;
  };
  const double fx = f(x / 0.9642), fy = f(y / 1.0), fz = f(z / 0.8249);
  const double l = 116.0 * fy - 16.0, a = 500.0 * (fx - fy), b = 200.0 * (fy - fz);
  const auto scale = [](double v, double lo, double hi) {
    return static_cast<Uint16>(std::lround(std::clamp((v - lo) / (hi - lo), 0.0, 1.0) * 65535.0));
  };
  return {scale(l, 0, 100), scale(a, -128, 127), scale(b, -128, 127)};
}

// The value of a string attribute of a source image, "" when absent.
std::string StringOf(DcmDataset& dataset, const DcmTagKey& tag) {
  OFString value;
  dataset.findAndGetOFStringArray(tag, value);
  return value.c_str();
}

std::vector<std::string> SplitBackslash(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, '\\')) out.push_back(item);
  return out;
}

// Source UIDs must be repeated as the source holds them, but DCMTK's IOD layer refuses to encode
// a UID that is not strictly conformant (a component with a leading zero, as in Sunnybrook's).
// Such a UID goes in as a conformant placeholder, and Restore puts the source's own UID back into
// the encoded data set (every UI element, at any depth).
class VerbatimUids {
 public:
  std::string Conformant(const std::string& uid) {
    if (uid.empty() || DcmUniqueIdentifier::checkStringValue(uid.c_str()).good()) return uid;
    for (const auto& [placeholder, original] : originals_) {
      if (original == uid) return placeholder;
    }
    char placeholder[100];
    dcmGenerateUniqueIdentifier(placeholder, SITE_INSTANCE_UID_ROOT);
    originals_.emplace_back(placeholder, uid);
    return placeholder;
  }
  void Restore(DcmDataset& dataset, const fs::path& path) const {
    if (originals_.empty()) return;
    DcmStack stack;
    while (dataset.nextObject(stack, OFTrue).good()) {
      DcmObject* object = stack.top();
      if (object->ident() != EVR_UI) continue;
      auto* element = static_cast<DcmElement*>(object);
      OFString value;
      if (element->getOFString(value, 0).bad()) continue;
      for (const auto& [placeholder, original] : originals_) {
        if (value == placeholder.c_str()) {
          Check(element->putString(original.c_str()), path, "source UID " + original);
        }
      }
    }
  }

 private:
  std::vector<std::pair<std::string, std::string>> originals_;  // placeholder, source UID
};

}  // namespace

CodedConcept AnatomicCodeFor(const std::string& label_name) {
  const std::string n = Lower(label_name);
  const auto has = [&](const char* s) { return n.find(s) != std::string::npos; };
  if (has("myocardium") || n == "myo") return {"74281007", "SCT", "Myocardium"};
  if (has("right ventricle") || n == "rv") return {"53085002", "SCT", "Right ventricle"};
  if (has("left ventricle") || n == "lv") return {"87878005", "SCT", "Left ventricle"};
  if (has("left atrium") || n == "la") return {"82471001", "SCT", "Left atrium"};
  return {"85756007", "SCT", "Tissue"};
}

void WriteDicomSeg(const LabelMapType* labels, const std::vector<fs::path>& source_files,
                   const std::vector<SegmentDescription>& segments, const fs::path& path,
                   const std::string& series_description, const std::string& software_version) {
  QuietDcmtkLog();
  const auto size = labels->GetLargestPossibleRegion().GetSize();
  const std::size_t columns = size[0], rows = size[1], slices = size[2];
  if (source_files.size() != slices) {
    throw Error(fmt::format("{}: DICOM SEG: the label map has {} slices but {} source "
                                            "images were given", path.string(), slices, source_files.size()));
  }
  if (rows > 65535 || columns > 65535) {
    throw Error(path.string() + ": DICOM SEG: the slices are too large for DICOM");
  }
  // The source images' headers (values over 4 KiB, i.e. the pixel data, are not loaded).
  std::vector<std::unique_ptr<DcmFileFormat>> sources;
  std::vector<DcmDataset*> datasets;
  for (const auto& file : source_files) {
    auto format = std::make_unique<DcmFileFormat>();
    const OFCondition status = format->loadFile(file.c_str(), EXS_Unknown, EGL_noChange, 4096, ERM_autoDetect);
    if (status.bad()) throw InputError(file.string(), std::string("cannot read for DICOM SEG: ") + status.text());
    Uint16 file_rows = 0, file_columns = 0;
    format->getDataset()->findAndGetUint16(DCM_Rows, file_rows);
    format->getDataset()->findAndGetUint16(DCM_Columns, file_columns);
    if (file_rows != rows || file_columns != columns) {
      throw InputError(file.string(), fmt::format("{} x {} pixels, but the label map slice is {} x {}",
                                                  file_columns, file_rows, columns, rows));
    }
    // Some series leave SOPClassUID/SOPInstanceUID empty in the data set and carry them only in
    // the file meta information (the JPEG 2000 CT test series): the reference uses those.
    for (const auto& [tag, meta_tag] : {std::pair{DCM_SOPClassUID, DCM_MediaStorageSOPClassUID},
                                        std::pair{DCM_SOPInstanceUID, DCM_MediaStorageSOPInstanceUID}}) {
      OFString value, meta;
      format->getDataset()->findAndGetOFString(tag, value);
      if (value.empty() && format->getMetaInfo()->findAndGetOFString(meta_tag, meta).good() && !meta.empty()) {
        format->getDataset()->putAndInsertString(tag, meta.c_str());
      }
    }
    datasets.push_back(format->getDataset());
    sources.push_back(std::move(format));
  }
  DcmDataset& first = *datasets.front();
  // Patient and study attributes are taken over from the first source image. Anonymised series
  // often carry dates that are no dates ("00000000", Sunnybrook); DCMTK refuses to write those,
  // and the attributes are type 2, so such a value is left empty in the SEG.
  for (const DcmTagKey& tag : {DCM_PatientBirthDate, DCM_StudyDate, DCM_SeriesDate, DCM_ContentDate}) {
    OFString value;
    if (first.findAndGetOFString(tag, value).good() && !value.empty() &&
        DcmDate::checkStringValue(value).bad()) {
      spdlog::warn("{}: {} \"{}\" is not a DICOM date: left empty in the DICOM SEG",
                   source_files.front().string(), DcmTag(tag).getTagName(), value.c_str());
      first.putAndInsertString(tag, "");
    }
  }

  VerbatimUids uids;
  for (const DcmTagKey& tag : {DCM_StudyInstanceUID, DCM_FrameOfReferenceUID}) {
    first.putAndInsertString(tag, uids.Conformant(StringOf(first, tag)).c_str());
  }
  if (StringOf(first, DCM_StudyInstanceUID).empty()) {
    char study[100];
    dcmGenerateUniqueIdentifier(study, SITE_STUDY_UID_ROOT);
    first.putAndInsertString(DCM_StudyInstanceUID, study);
    spdlog::warn("{}: empty StudyInstanceUID; the DICOM SEG gets a new study", source_files.front().string());
  }
  if (StringOf(first, DCM_FrameOfReferenceUID).empty()) {
    // A SEG needs a frame of reference (DCMTK checks it as type 1); the source names none.
    char frame_of_reference[100];
    dcmGenerateUniqueIdentifier(frame_of_reference, SITE_INSTANCE_UID_ROOT);
    first.putAndInsertString(DCM_FrameOfReferenceUID, frame_of_reference);
    spdlog::warn("{}: no FrameOfReferenceUID; the DICOM SEG gets a new one", source_files.front().string());
  }

  IODGeneralEquipmentModule::EquipmentInfo equipment("cardioseg", "cardioseg", "0", software_version.c_str());
  ContentIdentificationMacro identification("1", "SEGMENTATION", "cardioseg automatic segmentation",
                                            "cardioseg");
  DcmSegmentation* raw = nullptr;
  Check(DcmSegmentation::createBinarySegmentation(raw, static_cast<Uint16>(rows), static_cast<Uint16>(columns),
                                                  equipment, identification),
        path, "create");
  std::unique_ptr<DcmSegmentation> seg(raw);
  Check(seg->importFromSourceImage(first), path, "patient, study and frame of reference from " +
                                                    source_files.front().string());
  seg->getSeries().setSeriesDescription(series_description.substr(0, 64).c_str(), OFFalse);
  seg->getSeries().setSeriesNumber("9001");
  if (StringOf(first, DCM_LossyImageCompression) == "01") {
    std::string ratio = StringOf(first, DCM_LossyImageCompressionRatio);
    std::string method = StringOf(first, DCM_LossyImageCompressionMethod);
    Check(seg->setLossyImageCompressionFlag(ratio.empty() ? "1" : ratio.c_str(),
                                            method.empty() ? "ISO_15444_1" : method.c_str(), OFFalse),
          path, "lossy compression flag");
  }

  // Shared functional groups: pixel measures and orientation, as the source images give them.
  FGPixelMeasures measures;
  Check(measures.setPixelSpacing(StringOf(first, DCM_PixelSpacing).c_str()), path,
        "PixelSpacing of " + source_files.front().string());
  const std::string thickness = StringOf(first, DCM_SliceThickness);
  const auto spacing = labels->GetSpacing();
  measures.setSliceThickness(thickness.empty() ? fmt::format("{:.6g}", spacing[2]).c_str() : thickness.c_str(),
                             OFFalse);
  measures.setSpacingBetweenSlices(fmt::format("{:.6g}", spacing[2]).c_str(), OFFalse);
  Check(seg->addForAllFrames(measures), path, "pixel measures");
  const auto orientation = SplitBackslash(StringOf(first, DCM_ImageOrientationPatient));
  if (orientation.size() != 6) {
    throw InputError(source_files.front().string(), "no ImageOrientationPatient: cannot write a DICOM SEG");
  }
  std::unique_ptr<FGPlaneOrientationPatient> plane(FGPlaneOrientationPatient::createMinimal(
      orientation[0].c_str(), orientation[1].c_str(), orientation[2].c_str(), orientation[3].c_str(),
      orientation[4].c_str(), orientation[5].c_str()));
  Check(seg->addForAllFrames(*plane), path, "plane orientation");

  char uid[100];
  dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT);
  IODMultiframeDimensionModule& dimensions = seg->getDimensions();
  Check(dimensions.addDimensionIndex(DCM_ReferencedSegmentNumber, uid, DCM_SegmentIdentificationSequence,
                                     "ReferencedSegmentNumber"),
        path, "dimension");
  Check(dimensions.addDimensionIndex(DCM_ImagePositionPatient, uid, DCM_PlanePositionSequence,
                                     "ImagePositionPatient"),
        path, "dimension");

  const std::uint8_t* voxels = labels->GetBufferPointer();
  const std::size_t per_slice = rows * columns;
  std::vector<Uint8> frame(per_slice);
  for (const auto& description : segments) {
    if (description.value <= 0 || description.value > 255) continue;
    const auto value = static_cast<std::uint8_t>(description.value);
    std::vector<std::size_t> present;
    for (std::size_t k = 0; k < slices; ++k) {
      const std::uint8_t* s = voxels + k * per_slice;
      if (std::find(s, s + per_slice, value) != s + per_slice) present.push_back(k);
    }
    if (present.empty()) continue;  // an empty label has no segment
    const CodedConcept code = AnatomicCodeFor(description.name);
    DcmSegment* segment = nullptr;
    Check(DcmSegment::create(segment, description.name.substr(0, 64).c_str(),
                             CodeSequenceMacro("123037004", "SCT", "Anatomical Structure"),
                             CodeSequenceMacro(code.value.c_str(), code.scheme.c_str(), code.meaning.c_str()),
                             DcmSegTypes::SAT_AUTOMATIC, "cardioseg"),
          path, "segment " + description.name);
    const auto lab = DicomLab(description.color);
    segment->setRecommendedDisplayCIELabValue(lab[0], lab[1], lab[2]);
    Uint16 number = 0;
    const OFCondition added = seg->addSegment(segment, number);
    if (added.bad()) delete segment;
    Check(added, path, "segment " + description.name);
    for (const std::size_t k : present) {
      const std::uint8_t* s = voxels + k * per_slice;
      std::transform(s, s + per_slice, frame.begin(), [value](std::uint8_t v) { return v == value ? 1 : 0; });
      DcmDataset& source = *datasets[k];
      const auto position = SplitBackslash(StringOf(source, DCM_ImagePositionPatient));
      if (position.size() != 3) {
        throw InputError(source_files[k].string(), "no ImagePositionPatient: cannot write a DICOM SEG");
      }
      std::unique_ptr<FGPlanePosPatient> plane_position(
          FGPlanePosPatient::createMinimal(position[0].c_str(), position[1].c_str(), position[2].c_str()));
      FGFrameContent content;
      content.setDimensionIndexValues(number, 0);
      content.setDimensionIndexValues(static_cast<Uint32>(k + 1), 1);
      FGDerivationImage derivation;
      DerivationImageItem* item = nullptr;
      Check(derivation.addDerivationImageItem(CodeSequenceMacro("113076", "DCM", "Segmentation"), "", item),
            path, "derivation");
      // The reference is built here rather than with addSourceImageItems, which takes the UIDs
      // from the data set as they are: they go through VerbatimUids (see above).
      const std::string sop_class = StringOf(source, DCM_SOPClassUID);
      const std::string sop_instance = StringOf(source, DCM_SOPInstanceUID);
      if (sop_class.empty() || sop_instance.empty()) {
        throw InputError(source_files[k].string(), "no SOPClassUID/SOPInstanceUID: cannot be referenced by a DICOM SEG");
      }
      auto* reference = new SourceImageItem();
      item->getSourceImageItems().push_back(reference);
      Check(reference->getPurposeOfReferenceCode().set("121322", "DCM", "Source image for image processing operation"),
            path, "purpose of reference");
      Check(reference->getImageSOPInstanceReference().setReferencedSOPClassUID(uids.Conformant(sop_class).c_str()), path,
            "source SOP class of " + source_files[k].string());
      Check(reference->getImageSOPInstanceReference().setReferencedSOPInstanceUID(uids.Conformant(sop_instance).c_str()),
            path, "source SOP instance of " + source_files[k].string());
      OFVector<FGBase*> per_frame;
      per_frame.push_back(plane_position.get());
      per_frame.push_back(&content);
      per_frame.push_back(&derivation);
      Check(seg->addFrame(frame.data(), number, per_frame), path, "frame");
    }
  }
  DcmFileFormat file;
  Check(seg->writeDataset(*file.getDataset()), path, "encode");
  uids.Restore(*file.getDataset(), path);
  Check(file.saveFile(path.c_str(), EXS_LittleEndianExplicit), path, "write");
}

DicomSegObject ReadDicomSeg(const fs::path& path) {
  QuietDcmtkLog();
  DcmFileFormat format;
  OFCondition status = format.loadFile(path.c_str());
  if (status.bad()) throw InputError(path.string(), std::string("not a readable DICOM file: ") + status.text());
  DcmDataset& dataset = *format.getDataset();
  DicomSegObject out;
  Uint16 rows = 0, columns = 0;
  dataset.findAndGetUint16(DCM_Rows, rows);
  dataset.findAndGetUint16(DCM_Columns, columns);
  out.rows = rows;
  out.columns = columns;
  out.study_uid = StringOf(dataset, DCM_StudyInstanceUID);
  out.frame_of_reference_uid = StringOf(dataset, DCM_FrameOfReferenceUID);
  DcmSegmentation* raw = nullptr;
  status = DcmSegmentation::loadDataset(dataset, raw);
  if (status.bad()) throw InputError(path.string(), std::string("not a DICOM segmentation: ") + status.text());
  std::unique_ptr<DcmSegmentation> seg(raw);
  for (std::size_t s = 1; s <= seg->getNumberOfSegments(); ++s) {
    DcmSegment* segment = seg->getSegment(s);
    OFString label;
    if (segment != nullptr) segment->getSegmentLabel(label);
    out.segment_labels.push_back(label.c_str());
    CodedConcept code;
    if (segment != nullptr) {
      OFString v, d, m;
      segment->getSegmentedPropertyTypeCode().getCodeValue(v);
      segment->getSegmentedPropertyTypeCode().getCodingSchemeDesignator(d);
      segment->getSegmentedPropertyTypeCode().getCodeMeaning(m);
      code = {v.c_str(), d.c_str(), m.c_str()};
    }
    out.segment_types.push_back(code);
  }
  FGInterface& groups = seg->getFunctionalGroups();
  const std::size_t pixels = std::size_t(rows) * columns;
  for (std::size_t f = 0; f < seg->getNumberOfFrames(); ++f) {
    DicomSegFrame frame;
    const auto frame_number = static_cast<Uint32>(f);
    if (auto* s = dynamic_cast<FGSegmentation*>(groups.get(frame_number, DcmFGTypes::EFG_SEGMENTATION))) {
      Uint16 number = 0;
      s->getReferencedSegmentNumber(number);
      frame.segment_number = number;
    }
    if (auto* p = dynamic_cast<FGPlanePosPatient*>(groups.get(frame_number, DcmFGTypes::EFG_PLANEPOSPATIENT))) {
      p->getImagePositionPatient(frame.position[0], frame.position[1], frame.position[2]);
    }
    if (auto* d = dynamic_cast<FGDerivationImage*>(groups.get(frame_number, DcmFGTypes::EFG_DERIVATIONIMAGE))) {
      auto& items = d->getDerivationImageItems();
      if (!items.empty() && !items[0]->getSourceImageItems().empty()) {
        OFString uid;
        items[0]->getSourceImageItems()[0]->getImageSOPInstanceReference().getReferencedSOPInstanceUID(uid);
        frame.source_sop_instance_uid = uid.c_str();
      }
    }
    const DcmIODTypes::Frame* stored = seg->getFrame(f);
    if (stored == nullptr) throw InputError(path.string(), "frame " + std::to_string(f + 1) + " has no pixel data");
    std::unique_ptr<DcmIODTypes::Frame> unpacked;
    const DcmIODTypes::Frame* bytes = stored;
    if (stored->length != pixels) {
      unpacked.reset(DcmSegUtils::unpackBinaryFrame(stored, rows, columns));
      bytes = unpacked.get();
    }
    if (bytes == nullptr || bytes->length < pixels) {
      throw InputError(path.string(), "frame " + std::to_string(f + 1) + " is shorter than rows x columns");
    }
    frame.pixels.assign(bytes->pixData, bytes->pixData + pixels);
    for (auto& v : frame.pixels) v = v != 0 ? 1 : 0;
    out.frames.push_back(std::move(frame));
  }
  return out;
}

}  // namespace cardioseg::imaging
