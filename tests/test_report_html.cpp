// report.html: self-contained, within budget, and the overlay lies where the anatomy is. The
// geometry test renders the page in headless Chromium (SwiftShader WebGL) and checks pixel
// colours on screen; it is skipped, saying so, where Chromium is not installed.
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <itkImageFileReader.h>
#include <itkRGBPixel.h>
#include <nlohmann/json.hpp>
#include <vtkSphereSource.h>

#include "cardioseg/pipeline/report_html.h"
#include "synthetic.h"
#include "test_util.h"

namespace cardioseg::pipeline {
namespace {

namespace fs = std::filesystem;

std::string Read(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::vector<nn::LabelInfo> kTable = {{0, "background", {0, 0, 0}},
                                           {1, "left thing", {255, 0, 0}},
                                           {2, "anterior thing", {0, 255, 0}}};

// A scan of 200 (a thin slab of 0 for the display range) and two labels on a grid of `direction`:
// label 1 at the patient's left (LPS x > 20 mm), label 2 anterior (LPS y < -20 mm). With a
// flipped direction the voxels are reordered so that the anatomy stays where it is in the world.
struct Case {
  imaging::ImageType::Pointer scan;
  imaging::LabelMapType::Pointer labels;
};
Case AsymmetricCase(double dx, double dy) {
  Geometry g;
  g.size = {40, 40, 10};
  g.spacing = {2.0, 2.0, 4.0};
  g.direction = {dx, 0, 0, 0, dy, 0, 0, 0, 1};
  g.origin = {-dx * 39.0, -dy * 39.0, -18.0};  // the grid's centre at the world origin
  Case c{imaging::MakeImage<imaging::ImageType>(g, 200.0f), imaging::MakeImage<imaging::LabelMapType>(g, 0)};
  for (std::size_t k = 0; k < 10; ++k)
    for (std::size_t j = 0; j < 40; ++j)
      for (std::size_t i = 0; i < 40; ++i) {
        const std::size_t v = (k * 40 + j) * 40 + i;
        const double x = g.origin[0] + dx * 2.0 * double(i), y = g.origin[1] + dy * 2.0 * double(j);
        if (k == 0) c.scan->GetBufferPointer()[v] = 0.0f;
        if (k < 2 || k > 7) continue;
        if (x > 20 && std::abs(y) < 12) c.labels->GetBufferPointer()[v] = 1;
        if (y < -20 && std::abs(x) < 12) c.labels->GetBufferPointer()[v] = 2;
      }
  return c;
}

TEST(ReportHtml, IsSelfContainedAndSmall) {
  test::TempDir dir;
  const auto c = AsymmetricCase(1, 1);
  const nlohmann::json report = {{"input", {{"path", "case.nii.gz"}}},
                                 {"label_volumes_ml", {{"left thing", 1.5}, {"anterior thing", 2.5}}},
                                 {"stages", {{{"name", "load"}, {"wall_s", 0.1}}}}};
  WriteReportHtml(dir / "report.html", c.scan.GetPointer(), c.labels.GetPointer(), kTable, {}, report);
  const std::string html = Read(dir / "report.html");
  // No external resource: every script and style is inline.
  EXPECT_EQ(html.find("<script src"), std::string::npos);
  EXPECT_EQ(html.find("<link "), std::string::npos);
  EXPECT_NE(html.find("niivue"), std::string::npos);
  EXPECT_NE(html.find(std::string(NiivueScript().substr(0, 200))), std::string::npos);
  EXPECT_LT(html.size(), 15u * 1024 * 1024);
  EXPECT_NE(html.find("left thing"), std::string::npos);
  EXPECT_NE(html.find("2.5"), std::string::npos);
  // The embedded scan is a NIfTI of the crop, with the labels' margin.
  const auto start = html.find("<script id=\"case-data\" type=\"application/json\">");
  ASSERT_NE(start, std::string::npos);
  const auto body = html.substr(start + 47, html.find("</script>", start) - start - 47);
  const auto data = nlohmann::json::parse(body);
  EXPECT_TRUE(data.contains("scan"));
  EXPECT_TRUE(data.contains("labels"));
  EXPECT_EQ(data["lut"]["R"][1], 255);
}

TEST(ReportHtml, Base64MatchesRfc4648) {
  EXPECT_EQ(Base64(""), "");
  EXPECT_EQ(Base64("f"), "Zg==");
  EXPECT_EQ(Base64("fo"), "Zm8=");
  EXPECT_EQ(Base64("foo"), "Zm9v");
  EXPECT_EQ(Base64("foobar"), "Zm9vYmFy");
}

const char* Chromium() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"}) {
    if (fs::exists(p)) return p;
  }
  return nullptr;
}

// Centroids (x, y) of the red and green overlay pixels, relative to the centre of the bright
// scan square, in a screenshot of the page's axial view.
struct Placement {
  double red_x = 0, red_y = 0, green_x = 0, green_y = 0;
  int red = 0, green = 0;
};
Placement Screenshot(const fs::path& html, const fs::path& png, const fs::path& profile,
                     const std::string& view = "axial") {
  const std::string cmd = std::string(Chromium()) +
                          " --headless --no-sandbox --disable-gpu --use-angle=swiftshader"
                          " --enable-unsafe-swiftshader --disable-quic --no-first-run"
                          " --disable-background-networking --disable-component-update --disable-sync"
                          " --user-data-dir=" + test::Quote(profile) +
                          " --window-size=1000,700 --virtual-time-budget=15000 --screenshot=" +
                          test::Quote(png) + " " + test::Quote("file://" + html.string() + "#" + view);
  const auto r = test::RunCommand(cmd);
  EXPECT_TRUE(fs::exists(png)) << r.output;
  using Rgb = itk::Image<itk::RGBPixel<unsigned char>, 2>;
  auto reader = itk::ImageFileReader<Rgb>::New();
  reader->SetFileName(png.string());
  reader->Update();
  const auto* image = reader->GetOutput();
  const auto size = image->GetLargestPossibleRegion().GetSize();
  const auto* px = image->GetBufferPointer();
  // The canvas is the page's left part; the scan renders as a bright square in it.
  long x0 = 1 << 30, x1 = -1, y0 = 1 << 30, y1 = -1;
  Placement p;
  for (long y = 60; y < long(size[1]); ++y) {
    for (long x = 0; x < long(size[0]) * 6 / 10; ++x) {
      const auto& c = px[y * size[0] + x];
      const int r = c[0], g = c[1], b = c[2];
      const bool bright = r > 120 || g > 120 || b > 120;
      if (bright) { x0 = std::min(x0, x); x1 = std::max(x1, x); y0 = std::min(y0, y); y1 = std::max(y1, y); }
      if (r > 180 && g < 170 && b < 170 && r - g > 50 && r - b > 50) { p.red_x += x; p.red_y += y; ++p.red; }
      if (g > 180 && r < 170 && b < 170 && g - r > 50 && g - b > 50) { p.green_x += x; p.green_y += y; ++p.green; }
    }
  }
  const double cx = (x0 + x1) / 2.0, cy = (y0 + y1) / 2.0;
  if (p.red) { p.red_x = p.red_x / p.red - cx; p.red_y = p.red_y / p.red - cy; }
  if (p.green) { p.green_x = p.green_x / p.green - cx; p.green_y = p.green_y / p.green - cy; }
  return p;
}

// The overlay lies on the anatomy and the view follows the NIfTI's orientation: in NiiVue's
// axial view (neurological convention: the patient's left on the screen's left, anterior up),
// the label at the patient's left is drawn left of centre and the anterior one above centre,
// whether the file stores x and y forwards or reversed.
TEST(ReportHtml, OverlayLiesOnTheAnatomyInTheBrowser) {
  if (!Chromium()) GTEST_SKIP() << "chromium not installed (scripts/install-deps.sh --python installs it)";
  test::TempDir dir;
  for (const auto& [dx, dy, name] : {std::tuple{1.0, 1.0, "forward"}, std::tuple{-1.0, -1.0, "reversed"}}) {
    const auto c = AsymmetricCase(dx, dy);
    const auto html = dir / (std::string(name) + ".html");
    WriteReportHtml(html, c.scan.GetPointer(), c.labels.GetPointer(), kTable, {},
                    {{"input", {{"path", name}}}}, {/*margin_mm*/ 100.0});
    const auto p = Screenshot(html, dir / (std::string(name) + ".png"), dir / (std::string("profile-") + name));
    ASSERT_GT(p.red, 50) << name << ": the left label is not on screen";
    ASSERT_GT(p.green, 50) << name << ": the anterior label is not on screen";
    EXPECT_LT(p.red_x, -20) << name << ": the patient's left is not on the screen's left";
    EXPECT_LT(std::abs(p.red_y), 15) << name;
    EXPECT_LT(p.green_y, -20) << name << ": anterior is not up";
    EXPECT_LT(std::abs(p.green_x), 15) << name;
  }
}

// The meshes / VR view: three.js loads from the embedded modules and draws the meshes, with
// WebXR's button ("VR NOT SUPPORTED" in headless Chromium).
TEST(ReportHtml, MeshesViewDrawsTheMeshesWithAVrButton) {
  if (!Chromium()) GTEST_SKIP() << "chromium not installed (scripts/install-deps.sh --python installs it)";
  test::TempDir dir;
  const auto c = AsymmetricCase(1, 1);
  auto sphere = vtkSmartPointer<vtkSphereSource>::New();
  sphere->SetRadius(15.0);
  sphere->SetThetaResolution(32);
  sphere->SetPhiResolution(32);
  sphere->Update();
  std::vector<mesh::NamedMesh> meshes{{"left thing", {255, 0, 0}, sphere->GetOutput()}};
  WriteReportHtml(dir / "vr.html", c.scan.GetPointer(), c.labels.GetPointer(), kTable, meshes,
                  {{"input", {{"path", "vr"}}}});
  const std::string html = Read(dir / "vr.html");
  EXPECT_NE(html.find("VRButton"), std::string::npos);
  EXPECT_NE(html.find("three-data"), std::string::npos);
  const auto p = Screenshot(dir / "vr.html", dir / "vr.png", dir / "profile", "vr");
  EXPECT_GT(p.red, 500) << "the red mesh is not drawn in the meshes view";
}

}  // namespace
}  // namespace cardioseg::pipeline
