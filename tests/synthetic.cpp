#include "synthetic.h"

#include <cstdio>

#include <itkGDCMImageIO.h>
#include <itkImageFileWriter.h>
#include <itkMetaDataObject.h>

#include "cardioseg/imaging/io.h"

namespace cardioseg::test {

std::vector<std::filesystem::path> WriteDicomSeries(const std::filesystem::path& dir, int slices) {
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
    itk::EncapsulateMetaData<std::string>(dict, "0020|000e", "1.2.826.0.1.3680043.2.1125.1.42");
    itk::EncapsulateMetaData<std::string>(dict, "0020|000d", "1.2.826.0.1.3680043.2.1125.1.41");
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
