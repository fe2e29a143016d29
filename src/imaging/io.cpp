#include "cardioseg/imaging/io.h"

#include <atomic>
#include <cmath>
#include <memory>

#include <itkExtractImageFilter.h>
#include <itkImageFileReader.h>
#include <itkImageFileWriter.h>
#include <itkImageIOFactory.h>
#include <nifti1_io.h>
#include <spdlog/spdlog.h>
#include <zlib.h>

#include "cardioseg/core/atomic_file.h"
#include "cardioseg/core/error.h"
#include "cardioseg/imaging/dicom.h"

namespace cardioseg::imaging {
namespace {

namespace fs = std::filesystem;

bool IsNifti(const fs::path& path) {
  const auto ext = SplitExtension(path.filename().string()).second;
  return ext == ".nii" || ext == ".nii.gz";
}

// ITK 5.2's NIfTI reader accepts a .nii.gz cut short and returns partly blank voxels, so the
// data length is checked against the header before reading: header offset + voxels x bytes.
void RequireCompleteNifti(const fs::path& path) {
  nifti_set_debug_level(0);
  std::unique_ptr<nifti_image, void (*)(nifti_image*)> nim(nifti_image_read(path.c_str(), 0),
                                                           nifti_image_free);
  if (!nim) throw InputError(path.string(), "not a readable NIfTI file (bad or truncated header)");
  const auto expected = static_cast<std::uintmax_t>(nim->iname_offset) +
                        static_cast<std::uintmax_t>(nim->nvox) * nim->nbyper;
  std::uintmax_t available = 0;
  if (SplitExtension(path.filename().string()).second == ".nii.gz") {
    gzFile gz = gzopen(path.c_str(), "rb");
    if (!gz) throw InputError(path.string(), "cannot be opened");
    std::vector<char> buffer(1 << 20);
    int n = 0;
    while ((n = gzread(gz, buffer.data(), static_cast<unsigned>(buffer.size()))) > 0) available += n;
    gzclose(gz);
  } else {
    available = fs::file_size(path);
  }
  if (available < expected) {
    throw InputError(path.string(), "truncated file: " + std::to_string(available) + " of " +
                                        std::to_string(expected) +
                                        " bytes of header and image data present");
  }
}

void RequireVolume(const fs::path& path, unsigned dimensions, const std::vector<std::size_t>& size) {
  if (dimensions < 3) {
    throw InputError(path.string(), "2D image (" + std::to_string(dimensions) +
                                        " dimensions); cardioseg needs a 3D volume");
  }
  if (dimensions > 4) {
    throw InputError(path.string(), std::to_string(dimensions) +
                                        "D image; cardioseg reads 3D volumes or 4D cine series");
  }
  if (size[2] < 2) {
    throw InputError(path.string(), "2D image (a single slice, size " + std::to_string(size[0]) +
                                        "x" + std::to_string(size[1]) +
                                        "x1); cardioseg needs a 3D volume");
  }
}

void CheckPhase(const fs::path& path, int phase, std::size_t phases) {
  if (phase < 0 || static_cast<std::size_t>(phase) >= phases) {
    throw InputError(path.string(), "phase " + std::to_string(phase) + " requested, but it has " +
                                        std::to_string(phases) + " phase(s)");
  }
}

// ITK's own readers (NIfTI, NRRD, MetaImage, ...). A 4D file yields volume `phase`.
LoadedVolume ReadWithItk(const fs::path& path, itk::ImageIOBase* io, int phase) {
  const unsigned dims = io->GetNumberOfDimensions();
  std::vector<std::size_t> size;
  for (unsigned i = 0; i < dims; ++i) size.push_back(io->GetDimensions(i));
  while (size.size() < 3) size.push_back(1);
  RequireVolume(path, dims, size);

  LoadedVolume out;
  out.source = {{"path", path.string()}, {"reader", std::string("itk:") + io->GetNameOfClass()}};
  try {
    if (dims == 3) {
      auto reader = itk::ImageFileReader<ImageType>::New();
      reader->SetFileName(path.string());
      reader->SetImageIO(io);
      reader->Update();
      out.image = reader->GetOutput();
    } else {
      CheckPhase(path, phase, size[3]);
      using Image4 = itk::Image<float, 4>;
      auto reader = itk::ImageFileReader<Image4>::New();
      reader->SetFileName(path.string());
      reader->SetImageIO(io);
      reader->Update();
      auto region = reader->GetOutput()->GetLargestPossibleRegion();
      region.SetIndex(3, phase);
      region.SetSize(3, 0);
      auto extract = itk::ExtractImageFilter<Image4, ImageType>::New();
      extract->SetInput(reader->GetOutput());
      extract->SetExtractionRegion(region);
      extract->SetDirectionCollapseToSubmatrix();
      extract->Update();
      out.image = extract->GetOutput();
      out.source["phases"] = size[3];
      out.source["phase"] = phase;
    }
  } catch (const itk::ExceptionObject& e) {
    throw InputError(path.string(),
                     std::string("cannot read image data (truncated or corrupt file?): ") +
                         e.GetDescription());
  }
  out.image->DisconnectPipeline();
  return out;
}

template <class T>
void CopyAsFloat(const void* data, std::size_t offset, std::size_t count, float slope, float inter,
                 float* out) {
  const T* in = static_cast<const T*>(data) + offset;
  for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<float>(in[i]) * slope + inter;
}

// niftilib route for headers ITK 5.2 refuses (see io.h): spacing from pixdim, direction from the
// column-normalised sform.
LoadedVolume ReadNiftiWithPixdim(const fs::path& path, int phase, const std::string& itk_error) {
  nifti_set_debug_level(0);
  std::unique_ptr<nifti_image, void (*)(nifti_image*)> nim(nifti_image_read(path.c_str(), 0),
                                                           nifti_image_free);
  if (!nim) throw InputError(path.string(), "not a readable NIfTI file: " + itk_error);
  if (nim->sform_code <= 0) throw InputError(path.string(), itk_error);

  const std::vector<std::size_t> size{static_cast<std::size_t>(nim->nx),
                                      static_cast<std::size_t>(nim->ny),
                                      static_cast<std::size_t>(nim->nz)};
  RequireVolume(path, static_cast<unsigned>(nim->ndim), size);
  const std::size_t phases = nim->ndim >= 4 ? static_cast<std::size_t>(nim->nt) : 1;
  CheckPhase(path, phase, phases);

  // Direction: sform columns normalised; they must then be orthonormal.
  Geometry g;
  double ras[3][3];
  for (int c = 0; c < 3; ++c) {
    double norm = 0;
    for (int r = 0; r < 3; ++r) norm += nim->sto_xyz.m[r][c] * nim->sto_xyz.m[r][c];
    norm = std::sqrt(norm);
    if (!(norm > 0)) throw InputError(path.string(), "sform has a zero column");
    for (int r = 0; r < 3; ++r) ras[r][c] = nim->sto_xyz.m[r][c] / norm;
  }
  for (int a = 0; a < 3; ++a) {
    for (int b = a + 1; b < 3; ++b) {
      double dot = 0;
      for (int r = 0; r < 3; ++r) dot += ras[r][a] * ras[r][b];
      if (std::abs(dot) > 1e-4) {
        throw InputError(path.string(), "sform columns are not orthogonal: " + itk_error);
      }
    }
  }
  for (int r = 0; r < 3; ++r) {
    const double flip = r < 2 ? -1.0 : 1.0;  // RAS -> LPS
    for (int c = 0; c < 3; ++c) g.direction[3 * r + c] = flip * ras[r][c];
    g.origin[r] = flip * nim->sto_xyz.m[r][3];
  }
  for (int i = 0; i < 3; ++i) {
    g.size[i] = size[i];
    g.spacing[i] = std::abs(nim->pixdim[i + 1]);
    if (!(g.spacing[i] > 0)) {
      throw InputError(path.string(), "pixdim[" + std::to_string(i + 1) + "] is not positive");
    }
  }

  if (nifti_image_load(nim.get()) != 0 || nim->data == nullptr) {
    throw InputError(path.string(), "cannot read image data (truncated or corrupt file?)");
  }
  auto image = MakeImage<ImageType>(g);
  const std::size_t count = g.NumberOfVoxels();
  const std::size_t offset = count * static_cast<std::size_t>(phase);
  const bool scaled = nim->scl_slope != 0.0f;
  const float slope = scaled ? nim->scl_slope : 1.0f;
  const float inter = scaled ? nim->scl_inter : 0.0f;
  float* out = image->GetBufferPointer();
  switch (nim->datatype) {
    case DT_UINT8: CopyAsFloat<std::uint8_t>(nim->data, offset, count, slope, inter, out); break;
    case DT_INT8: CopyAsFloat<std::int8_t>(nim->data, offset, count, slope, inter, out); break;
    case DT_INT16: CopyAsFloat<std::int16_t>(nim->data, offset, count, slope, inter, out); break;
    case DT_UINT16: CopyAsFloat<std::uint16_t>(nim->data, offset, count, slope, inter, out); break;
    case DT_INT32: CopyAsFloat<std::int32_t>(nim->data, offset, count, slope, inter, out); break;
    case DT_UINT32: CopyAsFloat<std::uint32_t>(nim->data, offset, count, slope, inter, out); break;
    case DT_FLOAT32: CopyAsFloat<float>(nim->data, offset, count, slope, inter, out); break;
    case DT_FLOAT64: CopyAsFloat<double>(nim->data, offset, count, slope, inter, out); break;
    default:
      throw InputError(path.string(), std::string("unsupported NIfTI datatype ") +
                                          nifti_datatype_string(nim->datatype));
  }
  // Warn once per process (a dataset of such files would repeat it for every case), then debug.
  static std::atomic<bool> warned{false};
  spdlog::log(warned.exchange(true) ? spdlog::level::debug : spdlog::level::warn,
              "{}: ITK's NIfTI reader refused the header ({}); read with spacing from pixdim and "
              "direction from the normalised sform (reported once)", path.string(), itk_error);
  LoadedVolume loaded;
  loaded.image = image;
  loaded.source = {{"path", path.string()},
                   {"reader", "niftilib (pixdim spacing, normalised sform)"},
                   {"qform_code", nim->qform_code},
                   {"sform_code", nim->sform_code}};
  if (phases > 1) {
    loaded.source["phases"] = phases;
    loaded.source["phase"] = phase;
  }
  return loaded;
}

LoadedVolume ReadFile(const fs::path& path, int phase) {
  auto io = itk::ImageIOFactory::CreateImageIO(path.c_str(), itk::IOFileModeEnum::ReadMode);
  if (!io) {
    throw InputError(path.string(),
                     "not a recognised image (expected NIfTI .nii/.nii.gz, NRRD, MetaImage "
                     ".mha/.mhd, or a DICOM folder)");
  }
  io->SetFileName(path.string());
  if (IsNifti(path)) RequireCompleteNifti(path);
  try {
    io->ReadImageInformation();
  } catch (const itk::ExceptionObject& e) {
    if (IsNifti(path)) return ReadNiftiWithPixdim(path, phase, e.GetDescription());
    throw InputError(path.string(), std::string("cannot read the header: ") + e.GetDescription());
  }
  return ReadWithItk(path, io, phase);
}

}  // namespace

LoadedVolume ReadVolume(const fs::path& path, const config::InputConfig& input) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError(path.string(), "no such file or folder");
  LoadedVolume volume = fs::is_directory(path, ec) ? ReadDicomFolder(path, input)
                                                   : ReadFile(path, input.phase);
  volume.source["geometry"] = ToJson(GeometryOf(volume.image.GetPointer()));
  return volume;
}

LabelMapType::Pointer ReadLabelMap(const fs::path& path) {
  const LoadedVolume volume = ReadVolume(path, config::InputConfig{});
  const Geometry g = GeometryOf(volume.image.GetPointer());
  auto labels = MakeImage<LabelMapType>(g);
  const float* in = volume.image->GetBufferPointer();
  std::uint8_t* out = labels->GetBufferPointer();
  for (std::size_t i = 0, n = g.NumberOfVoxels(); i < n; ++i) {
    if (!(in[i] >= 0 && in[i] <= 255 && in[i] == std::floor(in[i]))) {
      throw InputError(path.string(), "not a label map: voxel value " + std::to_string(in[i]) +
                                          " is not an integer in [0, 255]");
    }
    out[i] = static_cast<std::uint8_t>(in[i]);
  }
  return labels;
}

template <class TImage>
void WriteItk(const TImage* image, const fs::path& path) {
  WriteAtomically(path, [&](const fs::path& tmp) {
    auto writer = itk::ImageFileWriter<TImage>::New();
    writer->SetInput(image);
    writer->SetFileName(tmp.string());
    writer->SetUseCompression(true);
    try {
      writer->Update();
    } catch (const itk::ExceptionObject& e) {
      throw InputError(path.string(), std::string("cannot write: ") + e.GetDescription());
    }
  });
}

void WriteImage(const ImageType* image, const fs::path& path) { WriteItk(image, path); }
void WriteLabelMap(const LabelMapType* labels, const fs::path& path) { WriteItk(labels, path); }

}  // namespace cardioseg::imaging
