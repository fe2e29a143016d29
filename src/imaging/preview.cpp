#include "cardioseg/imaging/preview.h"

#include <algorithm>
#include <stdexcept>

#include <png.h>

#include "cardioseg/core/atomic_file.h"
#include "cardioseg/core/error.h"
#include "cardioseg/core/intensity_math.h"

namespace cardioseg::imaging {

namespace {

// PNG bytes of an 8-bit RGB raster, encoded by libpng in memory. The file is then written with
// checked writes: ITK's PNG writer corrupted the heap when the disk filled up under it.
std::string EncodePng(const std::uint8_t* rgb, std::size_t width, std::size_t height,
                      const std::filesystem::path& path) {
  struct Sink {
    std::string bytes;
  } sink;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info) {
    png_destroy_write_struct(&png, nullptr);
    throw InputError(path.string(), "cannot write: libpng could not start");
  }
  // libpng reports errors by longjmp: nothing with a destructor lives between here and the end.
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    throw InputError(path.string(), "cannot write: libpng could not encode the image");
  }
  png_set_write_fn(
      png, &sink,
      [](png_structp p, png_bytep data, png_size_t n) {
        static_cast<Sink*>(png_get_io_ptr(p))->bytes.append(reinterpret_cast<const char*>(data), n);
      },
      nullptr);
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8,
               PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (std::size_t y = 0; y < height; ++y) {
    png_write_row(png, const_cast<png_bytep>(rgb + y * width * 3));
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return std::move(sink.bytes);
}



}  // namespace

std::array<std::size_t, 2> WritePreview(const ImageType* image, const LabelMapType* prediction,
                                        const LabelMapType* reference,
                                        const std::vector<PreviewLabel>& labels,
                                        const std::filesystem::path& path, std::size_t max_rows) {
  const Geometry g = GeometryOf(image);
  for (const LabelMapType* l : {prediction, reference}) {
    if (l && GeometryOf(l).size != g.size) throw std::invalid_argument("label map size differs");
  }
  const std::size_t nx = g.size[0], ny = g.size[1], nz = g.size[2], plane = nx * ny;
  // Slices holding a label.
  std::vector<std::size_t> slices;
  const LabelMapType* guide = prediction ? prediction : reference;
  for (std::size_t k = 0; guide && k < nz; ++k) {
    const auto* p = guide->GetBufferPointer() + k * plane;
    if (std::any_of(p, p + plane, [](std::uint8_t v) { return v != 0; })) slices.push_back(k);
  }
  if (slices.empty()) slices.push_back(nz / 2);
  std::vector<std::size_t> rows;
  const std::size_t n = std::min(max_rows, slices.size());
  for (std::size_t r = 0; r < n; ++r) rows.push_back(slices[(r * 2 + 1) * slices.size() / (2 * n)]);

  std::vector<float> values(image->GetBufferPointer(), image->GetBufferPointer() + g.NumberOfVoxels());
  const auto window = intensity::Percentiles(values, {1, 99});
  const double lo = window[0], range = std::max(1e-6, window[1] - window[0]);
  std::vector<const LabelMapType*> panels{nullptr};
  if (reference) panels.push_back(reference);
  if (prediction) panels.push_back(prediction);

  RgbRaster raster;
  raster.width = panels.size() * nx;
  raster.height = rows.size() * ny;
  raster.rgb.assign(raster.width * raster.height * 3, 0);
  std::array<std::array<int, 3>, 256> colors{};
  for (const auto& l : labels) {
    if (l.value > 0 && l.value < 256) colors[l.value] = l.color;
  }
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const std::size_t k = rows[r];
    for (std::size_t c = 0; c < panels.size(); ++c) {
      for (std::size_t j = 0; j < ny; ++j) {
        for (std::size_t i = 0; i < nx; ++i) {
          const std::size_t v = k * plane + j * nx + i;
          const double gray = std::clamp((image->GetBufferPointer()[v] - lo) / range, 0.0, 1.0) * 255;
          double px[3] = {gray, gray, gray};
          if (panels[c]) {
            const int label = panels[c]->GetBufferPointer()[v];
            if (label) {
              for (int ch = 0; ch < 3; ++ch) px[ch] = 0.5 * px[ch] + 0.5 * colors[label][ch];
            }
          }
          // Row j of the image is drawn top-down.
          std::uint8_t* out = &raster.rgb[((r * ny + j) * raster.width + c * nx + i) * 3];
          for (int ch = 0; ch < 3; ++ch) out[ch] = static_cast<std::uint8_t>(px[ch] + 0.5);
        }
      }
    }
  }
  WriteRgbPng(raster, path);
  return {raster.width, raster.height};
}

void WriteRgbPng(const RgbRaster& raster, const std::filesystem::path& path) {
  if (raster.rgb.size() != raster.width * raster.height * 3) {
    throw std::invalid_argument("RGB raster: " + std::to_string(raster.rgb.size()) + " bytes for " +
                                std::to_string(raster.width) + " x " + std::to_string(raster.height) + " pixels");
  }
  WriteTextAtomically(path, EncodePng(raster.rgb.data(), raster.width, raster.height, path));
}

}  // namespace cardioseg::imaging
