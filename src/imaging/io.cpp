#include "cardioseg/imaging/io.h"

#include <atomic>
#include <cmath>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <optional>

#include <unistd.h>

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

double MemoryLimitBytes(const config::InputConfig& input) {
  double limit = input.max_memory_gib * 1024.0 * 1024.0 * 1024.0;
  if (limit <= 0) {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    limit = pages > 0 && page > 0 ? 0.5 * double(pages) * double(page) : 8.0 * (1 << 30);
  }
  return limit;
}

namespace {

namespace fs = std::filesystem;

bool IsNifti(const fs::path& path) {
  const auto ext = SplitExtension(path.filename().string()).second;
  return ext == ".nii" || ext == ".nii.gz";
}

std::string GiB(double bytes) { return fmt::format("{:.1f} GiB", bytes / (1024.0 * 1024.0 * 1024.0)); }

// Refuses a volume whose estimated working memory exceeds the limit, before any allocation.
void RequireMemory(const fs::path& path, const std::vector<std::size_t>& size,
                   const config::InputConfig& input) {
  constexpr double kBytesPerVoxel = 12 * 4.0;
  double voxels = 1;
  for (std::size_t i = 0; i < std::min<std::size_t>(3, size.size()); ++i) voxels *= double(size[i]);
  const double limit = MemoryLimitBytes(input);
  if (voxels * kBytesPerVoxel > limit) {
    std::string dims;
    for (std::size_t i = 0; i < size.size(); ++i) dims += (i ? " x " : "") + std::to_string(size[i]);
    throw InputError(path.string(),
                     fmt::format("too large: {} voxels ({}) would need about {} of memory, over "
                                 "the limit of {} (input.max_memory_gib)",
                                 voxels, dims, GiB(voxels * kBytesPerVoxel), GiB(limit)));
  }
}

// The fields of a NIfTI-1 header as stored in the file (byte order fixed). niftilib "repairs" some
// of them when it builds a nifti_image (a pixdim of 0 or NaN becomes 1.0), so the checks below
// read the header itself: niftilib's nifti_read_header without its checks, which also decides the
// byte order by dim[0] (as every NIfTI reader does) rather than by sizeof_hdr.
struct RawNifti1Header {
  short dim[8];
  float pixdim[8];
  float vox_offset;
  short qform_code, sform_code;
  float quatern[6];  // b, c, d, qoffset x, y, z
  float srow[12];
  bool single_file;  // magic "n+1"
};

std::optional<RawNifti1Header> ReadRawNifti1Header(const fs::path& path) {
  int swapped = 0;
  std::unique_ptr<nifti_1_header, void (*)(void*)> h(nifti_read_header(path.c_str(), &swapped, 0),
                                                     std::free);
  if (!h) return std::nullopt;
  RawNifti1Header r{};
  for (int i = 0; i < 8; ++i) {
    r.dim[i] = h->dim[i];
    r.pixdim[i] = h->pixdim[i];
  }
  r.vox_offset = h->vox_offset;
  r.qform_code = h->qform_code;
  r.sform_code = h->sform_code;
  const float quatern[6] = {h->quatern_b, h->quatern_c, h->quatern_d,
                            h->qoffset_x, h->qoffset_y, h->qoffset_z};
  std::copy(quatern, quatern + 6, r.quatern);
  std::copy(h->srow_x, h->srow_x + 4, r.srow);
  std::copy(h->srow_y, h->srow_y + 4, r.srow + 4);
  std::copy(h->srow_z, h->srow_z + 4, r.srow + 8);
  r.single_file = std::memcmp(h->magic, "n+1", 3) == 0;
  return r;
}

// Header checks that ITK and niftilib leave to the caller (NIfTI-1 standard, nifti1.h):
// dimensions, a finite non-zero voxel size, finite qform/sform, a data offset past the header.
// Returns warnings to record in the report.
std::vector<std::string> CheckNiftiHeader(const fs::path& path, const nifti_image& nim,
                                          const config::InputConfig& input) {
  std::vector<std::string> warnings;
  const int dims[3] = {nim.nx, nim.ny, nim.nz};
  for (int i = 0; i < 3; ++i) {
    if (dims[i] < 1) {
      throw InputError(path.string(), "dim[" + std::to_string(i + 1) + "] = " +
                                          std::to_string(dims[i]) + " is not a size");
    }
  }
  if (nim.ndim >= 3) {
    std::vector<std::size_t> size{std::size_t(nim.nx), std::size_t(nim.ny), std::size_t(nim.nz)};
    RequireMemory(path, size, input);
  }
  const auto raw = ReadRawNifti1Header(path);
  if (!raw) return warnings;
  const int ndim = raw->dim[0];
  for (int i = 1; i <= 3 && i <= ndim; ++i) {
    if (i == 3 && raw->dim[3] < 2) continue;  // a single slice: refused as 2D later
    const float v = raw->pixdim[i];
    if (!std::isfinite(v) || v == 0.0f) {
      throw InputError(path.string(),
                       fmt::format("pixdim[{}] = {}: the header gives no valid voxel spacing "
                                   "(the NIfTI standard takes spacing from pixdim[1..3])", i, v));
    }
  }
  // Bounds far beyond any scanner: ITK's reader runs an SVD of the orientation matrix, which on
  // entries of 1e20 ran for minutes (found by tests/fuzz/fuzz_nifti).
  constexpr double kMinVoxelMm = 1e-6, kMaxVoxelMm = 1e5, kMaxCoordinateMm = 1e7;
  for (int i = 1; i <= 3 && i <= ndim; ++i) {
    if (i == 3 && raw->dim[3] < 2) continue;
    const double v = std::abs(raw->pixdim[i]);
    if (v < kMinVoxelMm || v > kMaxVoxelMm) {
      throw InputError(path.string(), fmt::format("pixdim[{}] = {:g} mm is not a plausible voxel size "
                                                  "(accepted: {:g} to {:g} mm)", i, raw->pixdim[i],
                                                  kMinVoxelMm, kMaxVoxelMm));
    }
  }
  if (raw->sform_code > 0) {
    for (float v : raw->srow) {
      if (!std::isfinite(v)) throw InputError(path.string(), "the sform (srow_x/y/z) holds NaN or Inf");
      if (std::abs(v) > kMaxCoordinateMm) {
        throw InputError(path.string(), fmt::format("the sform holds {:g}, beyond any scanner's "
                                                    "coordinates (at most {:g} mm)", v, kMaxCoordinateMm));
      }
    }
  }
  if (raw->qform_code > 0) {
    for (float v : raw->quatern) {
      if (!std::isfinite(v)) {
        throw InputError(path.string(), "the qform (quatern_b/c/d, qoffset_x/y/z) holds NaN or Inf");
      }
      if (std::abs(v) > kMaxCoordinateMm) {
        throw InputError(path.string(), fmt::format("the qform holds {:g}, beyond any scanner's "
                                                    "coordinates (at most {:g} mm)", v, kMaxCoordinateMm));
      }
    }
  }
  if (raw->single_file && !(raw->vox_offset >= 352.0f)) {
    throw InputError(path.string(), fmt::format("vox_offset {} lies inside the 352-byte header of a "
                                                "single-file NIfTI", raw->vox_offset));
  }
  // A scaled sform whose column lengths disagree with pixdim: ReadFile says which one was used.
  if (raw->sform_code > 0) {
    for (int c = 0; c < 3; ++c) {
      const double norm = std::sqrt(double(raw->srow[c]) * raw->srow[c] +
                                    double(raw->srow[4 + c]) * raw->srow[4 + c] +
                                    double(raw->srow[8 + c]) * raw->srow[8 + c]);
      const double p = std::abs(raw->pixdim[c + 1]);
      if (std::abs(norm - 1.0) > 1e-3 && std::abs(norm - p) > 1e-3 * std::max(1.0, p)) {
        warnings.push_back(fmt::format("sform column {} has length {:.6g} mm but pixdim[{}] = {:.6g} mm",
                                       c + 1, norm, c + 1, p));
      }
    }
  }
  return warnings;
}

// MetaImage (.mhd): the data file named by ElementDataFile must stay in the header's folder
// (unless allowed), and an uncompressed one must hold every voxel the header declares (ITK reads
// a short raw file without a word).
void CheckMetaImageHeader(const fs::path& path, const config::InputConfig& input) {
  std::ifstream in(path);
  std::string line, data_file, element_type;
  std::vector<std::size_t> dims;
  int channels = 1;
  bool compressed = false;
  const auto trim = [](std::string v) {
    const auto a = v.find_first_not_of(" \t\r"), b = v.find_last_not_of(" \t\r");
    return a == std::string::npos ? std::string() : v.substr(a, b - a + 1);
  };
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    if (key == "ElementDataFile") data_file = value;
    else if (key == "ElementType") element_type = value;
    else if (key == "ElementNumberOfChannels") channels = std::max(1, std::atoi(value.c_str()));
    else if (key == "CompressedData") compressed = value == "True" || value == "true";
    else if (key == "DimSize") {
      std::istringstream ds(value);
      for (long long d; ds >> d;) dims.push_back(d > 0 ? static_cast<std::size_t>(d) : 0);
    }
    if (key == "ElementDataFile") break;  // the header ends here
  }
  if (data_file.empty() || data_file == "LOCAL" || data_file == "LIST" ||
      data_file.find('%') != std::string::npos) {
    return;
  }
  const fs::path named(data_file);
  const fs::path folder = fs::absolute(path).parent_path();
  const fs::path resolved = fs::weakly_canonical(named.is_absolute() ? named : folder / named);
  const fs::path canonical_folder = fs::weakly_canonical(folder);
  const auto rel = resolved.lexically_relative(canonical_folder);
  const bool outside = rel.empty() || *rel.begin() == "..";
  if (outside && !input.allow_external_data_files) {
    throw InputError(path.string(), "ElementDataFile '" + data_file +
                                        "' lies outside the header's folder; set "
                                        "input.allow_external_data_files=true to read it");
  }
  static const std::map<std::string, int> kBytes = {
      {"MET_UCHAR", 1}, {"MET_CHAR", 1}, {"MET_USHORT", 2}, {"MET_SHORT", 2}, {"MET_UINT", 4},
      {"MET_INT", 4}, {"MET_FLOAT", 4}, {"MET_DOUBLE", 8}, {"MET_ULONG", 8}, {"MET_LONG", 8},
      {"MET_ULONG_LONG", 8}, {"MET_LONG_LONG", 8}};
  const auto bytes = kBytes.find(element_type);
  std::error_code ec;
  if (compressed || bytes == kBytes.end() || dims.empty() || !fs::exists(resolved, ec)) return;
  double expected = double(bytes->second) * channels;
  for (auto d : dims) expected *= double(d);
  const double available = double(fs::file_size(resolved, ec));
  if (!ec && available < expected) {
    throw InputError(path.string(), fmt::format("truncated data file {}: {:.0f} of {:.0f} bytes "
                                                "the header declares", resolved.string(), available,
                                                expected));
  }
}

// ITK 5.2's NIfTI reader accepts a .nii.gz cut short and returns partly blank voxels, so the
// data length is checked against the header before reading: header offset + voxels x bytes.
std::vector<std::string> RequireCompleteNifti(const fs::path& path, const config::InputConfig& input) {
  nifti_set_debug_level(0);
  std::unique_ptr<nifti_image, void (*)(nifti_image*)> nim(nifti_image_read(path.c_str(), 0),
                                                           nifti_image_free);
  if (!nim) throw InputError(path.string(), "not a readable NIfTI file (bad or truncated header)");
  auto warnings = CheckNiftiHeader(path, *nim, input);
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
  return warnings;
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
LoadedVolume ReadWithItk(const fs::path& path, itk::ImageIOBase* io, const config::InputConfig& input) {
  const int phase = input.phase;
  const unsigned dims = io->GetNumberOfDimensions();
  std::vector<std::size_t> size;
  for (unsigned i = 0; i < dims; ++i) size.push_back(io->GetDimensions(i));
  while (size.size() < 3) size.push_back(1);
  RequireVolume(path, dims, size);
  RequireMemory(path, size, input);
  for (unsigned i = 0; i < std::min(3u, dims); ++i) {
    const double sp = io->GetSpacing(i);
    if (!std::isfinite(sp) || sp <= 0) {
      throw InputError(path.string(), fmt::format("spacing[{}] = {}: not a valid voxel spacing", i, sp));
    }
    if (!std::isfinite(io->GetOrigin(i))) {
      throw InputError(path.string(), fmt::format("origin[{}] is not finite", i));
    }
    for (unsigned j = 0; j < std::min(3u, dims); ++j) {
      if (!std::isfinite(io->GetDirection(i)[j])) {
        throw InputError(path.string(), "the direction matrix holds NaN or Inf");
      }
    }
  }

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
  const double det = ras[0][0] * (ras[1][1] * ras[2][2] - ras[1][2] * ras[2][1]) -
                     ras[0][1] * (ras[1][0] * ras[2][2] - ras[1][2] * ras[2][0]) +
                     ras[0][2] * (ras[1][0] * ras[2][1] - ras[1][1] * ras[2][0]);
  if (!(std::abs(std::abs(det) - 1.0) < 1e-3)) {  // also catches NaN and denormal columns
    throw InputError(path.string(), fmt::format("the normalised sform is not a rotation "
                                                "(determinant {:.6g}): {}", det, itk_error));
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

LoadedVolume ReadFile(const fs::path& path, const config::InputConfig& input) {
  const int phase = input.phase;
  auto io = itk::ImageIOFactory::CreateImageIO(path.c_str(), itk::IOFileModeEnum::ReadMode);
  if (!io) {
    throw InputError(path.string(),
                     "not a recognised image (expected NIfTI .nii/.nii.gz, NRRD, MetaImage "
                     ".mha/.mhd, or a DICOM folder)");
  }
  io->SetFileName(path.string());
  std::vector<std::string> warnings;
  if (IsNifti(path)) warnings = RequireCompleteNifti(path, input);
  if (SplitExtension(path.filename().string()).second == ".mhd") CheckMetaImageHeader(path, input);
  LoadedVolume volume;
  try {
    io->ReadImageInformation();
  } catch (const itk::ExceptionObject& e) {
    if (IsNifti(path)) {
      volume = ReadNiftiWithPixdim(path, phase, e.GetDescription());
    } else {
      throw InputError(path.string(), std::string("cannot read the header: ") + e.GetDescription());
    }
  }
  if (!volume.image) volume = ReadWithItk(path, io, input);
  if (!warnings.empty()) {
    const auto spacing = volume.image->GetSpacing();
    const std::string used = fmt::format("; the spacing read is {:.6g} x {:.6g} x {:.6g} mm", spacing[0],
                                         spacing[1], spacing[2]);
    for (auto& w : warnings) {
      w += used;
      spdlog::warn("{}: {}", path.string(), w);
    }
    volume.source["header_warnings"] = warnings;
  }
  return volume;
}

}  // namespace

LoadedVolume ReadVolume(const fs::path& path, const config::InputConfig& input) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError(path.string(), "no such file or folder");
  LoadedVolume volume;
  try {
    volume = fs::is_directory(path, ec) ? ReadDicomFolder(path, input) : ReadFile(path, input);
  } catch (const itk::ExceptionObject& e) {
    // The checks above name most problems; whatever ITK still refuses is named as ITK words it.
    throw InputError(path.string(), std::string("cannot read the image: ") + e.GetDescription());
  }
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
