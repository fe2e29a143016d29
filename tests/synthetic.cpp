#include "synthetic.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include <gdcmReader.h>
#include <gdcmScanner.h>
#include <gtest/gtest.h>

#include <itkGDCMImageIO.h>
#include <itkImageFileWriter.h>
#include <itkMetaDataObject.h>

#include "cardioseg/imaging/dicom_seg.h"
#include "cardioseg/imaging/io.h"

namespace cardioseg::test {

std::vector<std::filesystem::path> WriteDicomSeries(const std::filesystem::path& dir, int slices,
                                                    const std::string& series_description) {
  // One-slice 3D images: GDCMImageIO writes ImagePositionPatient from the image's origin.
  using Image2 = itk::Image<short, 3>;
  std::filesystem::create_directories(dir);
  std::vector<std::filesystem::path> files;
  for (int z = 0; z < slices; ++z) {
    auto image = Image2::New();
    Image2::RegionType region;
    region.SetSize({{32, 32, 1}});
    image->SetRegions(region);
    const double origin[3] = {0.0, 0.0, 4.0 * z};
    image->SetOrigin(origin);
    const double spacing[3] = {1.5, 1.5, 4.0};
    image->SetSpacing(spacing);
    image->Allocate();
    for (unsigned i = 0; i < 32 * 32; ++i) {
      const int x = i % 32 - 16, y = int(i / 32) - 16;
      image->GetBufferPointer()[i] = static_cast<short>(x * x + y * y < 100 ? 800 : 100 + z);
    }
    auto io = itk::GDCMImageIO::New();
    io->KeepOriginalUIDOn();
    auto& dict = image->GetMetaDataDictionary();  // the writer hands the image's dictionary to the IO
    itk::EncapsulateMetaData<std::string>(dict, "0008|0016", "1.2.840.10008.5.1.4.1.1.4");  // MR Image Storage
    char position[64], number[16];
    std::snprintf(position, sizeof position, "0\\0\\%d", 4 * z);
    std::snprintf(number, sizeof number, "%d", z + 1);
    itk::EncapsulateMetaData<std::string>(dict, "0008|0060", "MR");
    if (!series_description.empty()) {
      itk::EncapsulateMetaData<std::string>(dict, "0008|103e", series_description);
    }
    itk::EncapsulateMetaData<std::string>(dict, "0020|000e", "1.2.826.0.1.3680043.2.1125.1.42");
    itk::EncapsulateMetaData<std::string>(dict, "0020|000d", "1.2.826.0.1.3680043.2.1125.1.41");
    itk::EncapsulateMetaData<std::string>(dict, "0020|0052", "1.2.826.0.1.3680043.2.1125.1.43");
    itk::EncapsulateMetaData<std::string>(dict, "0020|0032", position);
    itk::EncapsulateMetaData<std::string>(dict, "0020|0037", "1\\0\\0\\0\\1\\0");
    itk::EncapsulateMetaData<std::string>(dict, "0020|0013", number);
    itk::EncapsulateMetaData<std::string>(dict, "0028|0030", "1.5\\1.5");
    char name[32];
    std::snprintf(name, sizeof name, "IM-%04d.dcm", z + 1);
    auto writer = itk::ImageFileWriter<Image2>::New();
    writer->SetInput(image);
    writer->SetImageIO(io);
    writer->SetFileName((dir / name).string());
    writer->Update();
    files.push_back(dir / name);
  }
  return files;
}

void WriteFlatImage(const std::filesystem::path& path, unsigned size) {
  using Image2 = itk::Image<float, 2>;
  auto flat = Image2::New();
  Image2::RegionType region;
  region.SetSize({{size, size}});
  flat->SetRegions(region);
  flat->Allocate();
  flat->FillBuffer(1);
  auto writer = itk::ImageFileWriter<Image2>::New();
  writer->SetInput(flat);
  writer->SetFileName(path.string());
  writer->Update();
}

void WriteTruncatedNifti(const std::filesystem::path& dir, const std::string& name) {
  Geometry g;
  g.size = {64, 64, 32};
  imaging::WriteImage(Sphere(g, 10.0, 1.0f, 0.0f, 0.5f).GetPointer(), dir / "full.nii.gz");
  std::filesystem::copy_file(dir / "full.nii.gz", dir / name);
  std::filesystem::resize_file(dir / name, std::filesystem::file_size(dir / "full.nii.gz") / 2);
}

}  // namespace cardioseg::test

namespace cardioseg::test {

std::size_t ExpectDicomSegMatches(const std::filesystem::path& seg, const imaging::LabelMapType* labels,
                                  const std::vector<std::filesystem::path>& slice_files,
                                  const std::vector<std::pair<int, std::string>>& names) {
  const auto object = imaging::ReadDicomSeg(seg);
  const auto size = labels->GetLargestPossibleRegion().GetSize();
  EXPECT_EQ(object.columns, static_cast<int>(size[0]));
  EXPECT_EQ(object.rows, static_cast<int>(size[1]));
  EXPECT_EQ(slice_files.size(), size[2]);
  // The source slices' positions and SOP instance UIDs, read by GDCM (not by the code under test).
  const gdcm::Tag kSopInstance(0x0008, 0x0018), kPosition(0x0020, 0x0032), kStudy(0x0020, 0x000d),
      kFrameOfReference(0x0020, 0x0052);
  gdcm::Scanner scanner;
  for (const auto& tag : {kSopInstance, kPosition, kStudy, kFrameOfReference}) scanner.AddTag(tag);
  std::vector<std::string> files;
  for (const auto& f : slice_files) files.push_back(f.string());
  EXPECT_TRUE(scanner.Scan(files));
  // The SEG belongs to the source's study and frame of reference, UIDs repeated as they are.
  const auto trimmed = [&](const gdcm::Tag& tag) {
    const char* v = scanner.GetValue(files.front().c_str(), tag);
    std::string s = v != nullptr ? v : "";
    while (!s.empty() && (s.back() == '\0' || s.back() == ' ')) s.pop_back();
    return s;
  };
  if (!trimmed(kStudy).empty()) EXPECT_EQ(object.study_uid, trimmed(kStudy));
  if (!trimmed(kFrameOfReference).empty()) EXPECT_EQ(object.frame_of_reference_uid, trimmed(kFrameOfReference));
  std::vector<std::array<double, 3>> positions;
  std::vector<std::string> uids;
  for (const auto& f : files) {
    std::array<double, 3> p{0, 0, 0};
    std::sscanf(scanner.GetValue(f.c_str(), kPosition), "%lf\\%lf\\%lf", &p[0], &p[1], &p[2]);
    positions.push_back(p);
    const char* value = scanner.GetValue(f.c_str(), kSopInstance);
    std::string uid = value != nullptr ? value : "";
    while (!uid.empty() && (uid.back() == '\0' || uid.back() == ' ')) uid.pop_back();
    if (uid.empty()) {  // only in the file meta information (MediaStorageSOPInstanceUID)
      gdcm::Reader reader;
      reader.SetFileName(f.c_str());
      if (reader.ReadUpToTag(gdcm::Tag(0x0008, 0x0000))) {
        const auto& meta = reader.GetFile().GetHeader();
        if (meta.FindDataElement(gdcm::Tag(0x0002, 0x0003))) {
          const auto* bytes = meta.GetDataElement(gdcm::Tag(0x0002, 0x0003)).GetByteValue();
          if (bytes != nullptr) uid.assign(bytes->GetPointer(), bytes->GetLength());
        }
      }
      while (!uid.empty() && (uid.back() == '\0' || uid.back() == ' ')) uid.pop_back();
    }
    uids.push_back(uid);
  }
  // Which label each segment stands for, by its SegmentLabel.
  std::vector<int> value_of_segment;
  for (std::size_t s = 0; s < object.segment_labels.size(); ++s) {
    int value = -1;
    for (const auto& [v, name] : names) {
      if (name == object.segment_labels[s]) value = v;
    }
    EXPECT_GE(value, 1) << "segment " << object.segment_labels[s] << " names no label";
    value_of_segment.push_back(value);
    EXPECT_EQ(object.segment_types[s].scheme, "SCT");
    EXPECT_EQ(object.segment_types[s].value, imaging::AnatomicCodeFor(object.segment_labels[s]).value);
  }
  const std::size_t per_slice = size[0] * size[1];
  const std::uint8_t* voxels = labels->GetBufferPointer();
  std::set<std::pair<int, std::size_t>> seen;  // (label value, slice)
  for (const auto& frame : object.frames) {
    EXPECT_GE(frame.segment_number, 1);
    if (frame.segment_number < 1 || frame.segment_number > static_cast<int>(value_of_segment.size())) continue;
    const int value = value_of_segment[frame.segment_number - 1];
    std::size_t k = positions.size();
    for (std::size_t i = 0; i < positions.size(); ++i) {
      if (positions[i] == frame.position) k = i;  // exactly: the source's own numbers
    }
    EXPECT_LT(k, positions.size()) << "a frame at " << frame.position[0] << ", " << frame.position[1] << ", "
                                   << frame.position[2] << " lies on no source slice";
    if (k == positions.size()) continue;
    EXPECT_EQ(frame.source_sop_instance_uid, uids[k]);
    std::size_t differ = 0;
    for (std::size_t i = 0; i < per_slice; ++i) {
      differ += frame.pixels[i] != (voxels[k * per_slice + i] == value ? 1 : 0);
    }
    EXPECT_EQ(differ, 0u) << "label " << value << ", slice " << k;
    seen.insert({value, k});
  }
  for (const auto& [value, name] : names) {
    for (std::size_t k = 0; k < size[2]; ++k) {
      const std::uint8_t* s = voxels + k * per_slice;
      if (std::find(s, s + per_slice, value) != s + per_slice) {
        EXPECT_TRUE(seen.count({value, k})) << name << " on slice " << k << " has no frame";
      }
    }
  }
  return object.frames.size();
}

}  // namespace cardioseg::test
