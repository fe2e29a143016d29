#include "synthetic.h"

#include <itkImageFileWriter.h>

#include "cardioseg/imaging/io.h"

namespace cardioseg::test {

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
