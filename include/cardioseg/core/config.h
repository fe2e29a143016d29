#pragma once
// The cardioseg config: one JSON document with a section per stage.
//
// Strict, like PDAL's pipeline options: a missing key takes the default written beside its
// declaration below; an unknown key is a ConfigError naming its JSON path; a wrong type or an
// out-of-range value is a ConfigError naming the value and the allowed range.
// `cardioseg config --print` shows the fully resolved document.
//
// Each section declares its fields once, in Visit(); the same declaration drives reading,
// validation and writing, so the three cannot drift apart.
#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace cardioseg::config {

// "input": how an input is turned into one 3D volume.
struct InputConfig {
  // SeriesInstanceUID of the DICOM series to load from a folder. Default "" = the series with
  // the most slices.
  std::string dicom_series_uid;
  // Cardiac phase (0-based) to load from a cine DICOM series with several phases per slice
  // position, or the volume index of a 4D NIfTI. Default 0, range [0, 1000].
  int phase = 0;
  // Memory a case may take, estimated from the header before any voxel is read (the input as
  // float plus the working copies of N4, standardisation, resampling and the class
  // probabilities: 12 x 4 bytes a voxel); a larger input is refused with its sizes named.
  // GiB; default 0 = half of the physical memory. Range [0, 65536].
  double max_memory_gib = 0;
  // Let a MetaImage header (.mhd) name a data file outside its own folder (ElementDataFile with
  // an absolute path or ".."). Default false: cardioseg may be fed untrusted uploads, and such a
  // header could make it read any file on the system.
  bool allow_external_data_files = false;

  template <class V> void Visit(V& v) {
    v.Field("dicom_series_uid", dicom_series_uid);
    v.Field("phase", phase, 0, 1000);
    v.Field("max_memory_gib", max_memory_gib, 0.0, 65536.0);
    v.Field("allow_external_data_files", allow_external_data_files);
  }
};

// "preprocess.n4": N4 bias-field correction (Tustison et al., IEEE TMI 29(6):1310, 2010) through
// itk::N4BiasFieldCorrectionImageFilter. The field is fitted on a shrunk copy and applied at full
// resolution to the original image.
struct N4Config {
  // Run the stage. Default true.
  bool enabled = true;
  // Shrink factor per image axis (i, j, k), range [1, 16]. Default {4, 4, 1}: thin stacks such as
  // cine short-axis (6-21 slices) keep their slices.
  std::array<int, 3> shrink_factors{4, 4, 1};
  // Voxels the field is fitted on: "otsu" (Otsu foreground of the input) or "none" (every voxel
  // with a positive intensity). Default "otsu".
  std::string mask = "otsu";
  // Maximum iterations at each fitting level; the number of entries is the number of levels,
  // 1 to 8 entries, each in [1, 1000]. Default {50, 50, 30}.
  std::vector<int> iterations_per_level{50, 50, 30};
  // Convergence threshold on the coefficient of variation of the field between iterations,
  // range [0, 1]. Default 0.001 (ITK's default).
  double convergence_threshold = 0.001;
  // Distance between B-spline knots at the first level in mm (ANTs' "-b [d]"); the mesh is
  // refined (halved) at each further level. Range [10, 1000]. Default 150.
  double spline_distance_mm = 150.0;
  // B-spline order, range [1, 3]. Default 3.
  int spline_order = 3;
  // Histogram bins for the log-intensity sharpening, range [16, 1024]. Default 200.
  int histogram_bins = 200;
  // Wiener filter noise of the sharpening, range [0, 1]. Default 0.01.
  double wiener_filter_noise = 0.01;
  // Full width at half maximum of the bias-field Gaussian model, range [0.01, 1]. Default 0.15.
  double bias_field_fwhm = 0.15;

  // `run --all-phases`: fit the field on the first phase and apply it to every phase of the
  // series (one heart, one coil, one acquisition: one bias field), instead of one fit a phase.
  // About 2x faster on a 20-phase series, but the cine model, trained on per-image fits, loses
  // accuracy at end-systole with the end-diastolic field (held-out ACDC: mean Dice at ES -0.005,
  // LV EF MAE 2.35 -> 2.59 points). Default false.
  bool reuse_across_phases = false;

  template <class V> void Visit(V& v) {
    v.Field("enabled", enabled);
    v.Field("shrink_factors", shrink_factors, 1, 16);
    v.Choice("mask", mask, {"otsu", "none"});
    v.Field("iterations_per_level", iterations_per_level, 1, 1000, 1, 8);
    v.Field("convergence_threshold", convergence_threshold, 0.0, 1.0);
    v.Field("spline_distance_mm", spline_distance_mm, 10.0, 1000.0);
    v.Field("spline_order", spline_order, 1, 3);
    v.Field("histogram_bins", histogram_bins, 16, 1024);
    v.Field("wiener_filter_noise", wiener_filter_noise, 0.0, 1.0);
    v.Field("bias_field_fwhm", bias_field_fwhm, 0.01, 1.0);
    v.Field("reuse_across_phases", reuse_across_phases);
  }
};

// "preprocess.intensity": intensity standardization.
struct IntensityConfig {
  // "zscore": (I - mean) / sd over the mask, after percentile clipping (nnU-Net's MRI scheme);
  // "ct_window": clip to ct_window_hu and map linearly onto [0, 1];
  // "nyul": Nyul-Udupa piecewise-linear histogram standardization (Nyul, Udupa & Zhang,
  //         IEEE TMI 19(2):143, 2000) onto the scale of nyul_landmarks_file, after clipping;
  // "none". Default "zscore".
  std::string method = "zscore";
  // Voxels the statistics are taken over: "all", "nonzero" (I != 0) or "otsu". Default "all".
  std::string mask = "all";
  // Lower and upper percentile (0-100) of the masked intensities to clip to before "zscore" and
  // "nyul". {0, 100} disables clipping. Default {0.5, 99.5}.
  std::array<double, 2> clip_percentiles{0.5, 99.5};
  // CT window in HU {lower, upper} for "ct_window", range [-2000, 5000]. Default {-200, 600}
  // (a cardiac CTA window, level 200 HU, width 800 HU).
  std::array<double, 2> ct_window_hu{-200.0, 600.0};
  // JSON file of landmarks written by `cardioseg nyul-learn`; required for "nyul". Default "".
  std::string nyul_landmarks_file;

  template <class V> void Visit(V& v) {
    v.Choice("method", method, {"zscore", "ct_window", "nyul", "none"});
    v.Choice("mask", mask, {"all", "nonzero", "otsu"});
    v.Field("clip_percentiles", clip_percentiles, 0.0, 100.0);
    v.Check(clip_percentiles[0] < clip_percentiles[1], "clip_percentiles",
            "lower percentile must be below the upper one");
    v.Field("ct_window_hu", ct_window_hu, -2000.0, 5000.0);
    v.Check(ct_window_hu[0] < ct_window_hu[1], "ct_window_hu",
            "lower bound must be below the upper one");
    v.Field("nyul_landmarks_file", nyul_landmarks_file);
    v.Check(method != "nyul" || !nyul_landmarks_file.empty(), "nyul_landmarks_file",
            "method \"nyul\" needs a landmarks file (make one with `cardioseg nyul-learn`)");
  }
};

// "preprocess.resample": resampling to a target spacing. Its exact inverse puts results back on
// the input grid (same size, spacing, origin and direction).
struct ResampleConfig {
  // Run the stage. Default false (a model's own spacing turns it on through its model card).
  bool enabled = false;
  // Target spacing in mm along image axes (i, j, k); 0 keeps the input's spacing on that axis.
  // Range [0, 50]. Default {0, 0, 0}.
  std::array<double, 3> target_spacing_mm{0.0, 0.0, 0.0};
  // Image interpolation: "linear" or "bspline" (cubic). Labels always use nearest neighbour.
  // Default "linear".
  std::string interpolation = "linear";
  // An axis whose spacing exceeds anisotropy_ratio times the finest spacing is "sparse" (e.g.
  // 10 mm short-axis slices at 1.5 mm in-plane): it is resampled by nearest neighbour, so no
  // value is interpolated across slices (nnU-Net's separate-z rule). Range [1, 100]. Default 3.
  double anisotropy_ratio = 3.0;
  // Interpolate along sparse axes anyway. Default false.
  bool interpolate_across_slices = false;

  template <class V> void Visit(V& v) {
    v.Field("enabled", enabled);
    v.Field("target_spacing_mm", target_spacing_mm, 0.0, 50.0);
    v.Choice("interpolation", interpolation, {"linear", "bspline"});
    v.Field("anisotropy_ratio", anisotropy_ratio, 1.0, 100.0);
    v.Field("interpolate_across_slices", interpolate_across_slices);
  }
};

struct PreprocessConfig {
  N4Config n4;
  IntensityConfig intensity;
  ResampleConfig resample;

  template <class V> void Visit(V& v) {
    v.Section("n4", n4);
    v.Section("intensity", intensity);
    v.Section("resample", resample);
  }
};

// "inference.unet": U-Net segmentation by sliding window (nnU-Net's semantics).
struct UNetInferenceConfig {
  // Model folder holding model.json and its weights. A relative path is looked up in the working
  // directory, then under $CARDIOSEG_HOME, then in the source tree cardioseg was built from.
  // When set, the model card's preprocessing (N4, intensity, spacing) replaces the config's.
  // "" = no inference. Default "models/acdc-cine-mri" (cine short-axis MRI: RV, myocardium, LV).
  std::string model = "models/acdc-cine-mri";
  // "auto" (CUDA when LibTorch has it), "cpu" or "cuda". Default "auto".
  std::string device = "auto";
  // Tile step as a fraction of the patch, range [0.1, 1]. Default 0.5.
  double step_fraction = 0.5;
  // Tiles per forward pass, range [1, 64]. Default 2.
  int batch_tiles = 2;
  // Mirroring test-time augmentation (averages flipped predictions; 4-8x slower). Default false.
  bool mirroring = false;
  // Precision of the network: "auto" (bfloat16 autocast on a CPU with bf16 instructions,
  // AVX512_BF16 or AMX; float16 on CUDA; fp32 elsewhere), "fp32", "bf16" (CPU with bf16
  // instructions, or CUDA), "fp16" (CUDA). The report names the precision used. Default "auto".
  std::string precision = "auto";
  // Heart-box pass (after nnU-Net's cascade idea, with the model itself as the coarse stage): the
  // model first segments the volume once at heart_box_downsample x its spacing along the
  // in-plane axes (those finer than 3 x the finest spacing; thick-slice axes stay), and the
  // sliding window then runs only over the bounding box of what it found, grown by
  // heart_box_margin_mm and to at least one patch. Skipped when the whole volume takes 2 tiles
  // or fewer; the full volume is used when the coarse pass finds nothing. Default true.
  bool heart_box = true;
  // Spacing factor of the coarse pass, range [1, 4]. Default 2.
  double heart_box_downsample = 2.0;
  // Margin around the coarse foreground, mm, range [0, 500]. Default 25.
  double heart_box_margin_mm = 25.0;
  // In `run --all-phases`, the phases after the first take the first phase's heart box (one heart,
  // one grid) instead of a coarse pass each; a phase whose foreground reaches an inner face of the
  // reused box finds its own. Default true.
  bool heart_box_reuse_across_phases = true;
  // Longest tile along an axis, as a multiple of the training patch: 0 (the model card's
  // inference.max_tile_stretch, 1 when it has none) or [1, 2]. A volume (or heart box) longer
  // than the patch by at most this factor takes one tile along that axis, its length rounded up to
  // the network's stride product, instead of two or more overlapping ones (nn::StretchedTile).
  // 1 = always the training patch. Used for models in the cardioseg format (the strides are
  // known); TorchScript models keep the patch. Default 0.
  double max_tile_stretch = 0.0;

  template <class V> void Visit(V& v) {
    v.Field("model", model);
    v.Choice("device", device, {"auto", "cpu", "cuda"});
    v.Field("step_fraction", step_fraction, 0.1, 1.0);
    v.Field("batch_tiles", batch_tiles, 1, 64);
    v.Field("mirroring", mirroring);
    v.Choice("precision", precision, {"auto", "fp32", "bf16", "fp16"});
    v.Field("heart_box", heart_box);
    v.Field("heart_box_downsample", heart_box_downsample, 1.0, 4.0);
    v.Field("heart_box_margin_mm", heart_box_margin_mm, 0.0, 500.0);
    v.Field("heart_box_reuse_across_phases", heart_box_reuse_across_phases);
    v.Field("max_tile_stretch", max_tile_stretch, 0.0, 2.0);
  }
};

struct InferenceConfig {
  UNetInferenceConfig unet;
  template <class V> void Visit(V& v) { v.Section("unet", unet); }
};

// "postprocess.components": connected-component clean-up of the label map, per label.
struct ComponentsConfig {
  // Run the stage. Default true.
  bool enabled = true;
  // Keep only the largest 6-connected component of each label. Default true.
  bool largest_component = true;
  // Remove components smaller than this, in mL. Range [0, 10000]. Default 0.
  double min_component_volume_ml = 0.0;
  // Fill background holes enclosed by a label (3D). Default true.
  bool fill_holes = true;

  template <class V> void Visit(V& v) {
    v.Field("enabled", enabled);
    v.Field("largest_component", largest_component);
    v.Field("min_component_volume_ml", min_component_volume_ml, 0.0, 10000.0);
    v.Field("fill_holes", fill_holes);
  }
};

struct PostprocessConfig {
  ComponentsConfig components;
  template <class V> void Visit(V& v) { v.Section("components", components); }
};

// "mesh.surface": surface meshes of each label of the label map.
struct MeshConfig {
  // Run the stage. Default true.
  bool enabled = true;
  // "flying_edges" (vtkDiscreteFlyingEdges3D + windowed-sinc smoothing, as 3D Slicer) or
  // "ball_pivoting" (Open3D's ball pivoting on a point cloud sampled from the Gaussian-smoothed
  // label surface; see mesh/surface.h for its limits). Default "flying_edges".
  std::string method = "flying_edges";
  // Gaussian pre-smoothing of each label's mask, sigma in mm; 0 = off (discrete flying edges on
  // the mask itself; for ball_pivoting, 0 means the smallest voxel spacing). Range [0, 10].
  // Default 0.
  double presmoothing_sigma_mm = 0.0;
  // Windowed-sinc smoothing strength 0..1, mapped to the pass band as Slicer does
  // (pass band = 10^(-4 x factor)); 0 = no smoothing. Default 0.5.
  double smoothing_factor = 0.5;
  // Windowed-sinc iterations, range [1, 500]. Default 20 (Slicer's).
  int smoothing_iterations = 20;
  // Target reduction of the triangle count by quadric decimation, range [0, 0.99]; 0 = off.
  // Default 0.
  double decimation = 0.0;
  // World coordinates of the written meshes: "LPS" (ITK/DICOM) or "RAS" (NIfTI, Slicer's
  // default for STL/OBJ export). Default "LPS".
  std::string coordinates = "LPS";
  // Formats written per label: any of "stl" (binary), "ply", "obj", "vtp", "glb".
  // Default ["stl", "vtp", "glb"]; a combined GLB scene of all labels is written when "glb" is listed.
  std::vector<std::string> formats{"stl", "vtp", "glb"};
  // Compute the symmetric 95th-percentile distance between each mesh and its label boundary.
  // Default true.
  bool boundary_distance = true;
  // ball_pivoting: distance between the Poisson-disk samples of the point cloud, mm; 0 = the
  // smallest voxel spacing. Range [0, 20]. Default 0.
  double ball_pivoting_point_spacing_mm = 0.0;
  // ball_pivoting: ball radii as multiples of the point spacing, pivoted in turn (small first).
  // 1 to 8 values, each in [0.5, 20]. Default [1, 2, 4].
  std::vector<double> ball_pivoting_radius_factors{1.0, 2.0, 4.0};

  template <class V> void Visit(V& v) {
    v.Field("enabled", enabled);
    v.Choice("method", method, {"flying_edges", "ball_pivoting"});
    v.Field("presmoothing_sigma_mm", presmoothing_sigma_mm, 0.0, 10.0);
    v.Field("smoothing_factor", smoothing_factor, 0.0, 1.0);
    v.Field("smoothing_iterations", smoothing_iterations, 1, 500);
    v.Field("decimation", decimation, 0.0, 0.99);
    v.Choice("coordinates", coordinates, {"LPS", "RAS"});
    v.Choices("formats", formats, {"stl", "ply", "obj", "vtp", "glb"});
    v.Field("boundary_distance", boundary_distance);
    v.Field("ball_pivoting_point_spacing_mm", ball_pivoting_point_spacing_mm, 0.0, 20.0);
    v.Field("ball_pivoting_radius_factors", ball_pivoting_radius_factors, 0.5, 20.0, 1, 8);
  }
};

struct MeshSection {
  MeshConfig surface;
  template <class V> void Visit(V& v) { v.Section("surface", surface); }
};

// "output": what `run` writes besides report.json.
struct OutputConfig {
  // Also write the N4-corrected volume, its bias field and the standardized volume. Default false.
  bool save_intermediate = false;
  // Write preview.png, a montage [image | reference | prediction] of slices through the label
  // map (reference only with --gt). Default true.
  bool preview = true;
  // Write report.html: the scan with the label overlay in three planes and 3D, the meshes and
  // the case's figures in one self-contained page that opens offline (see
  // pipeline/report_html.h). Default true.
  bool report_html = true;
  // Write seg.dcm, a DICOM Segmentation object referencing the source series, when the input is
  // a DICOM folder (see imaging/dicom_seg.h). Default true.
  bool dicom_seg = true;

  template <class V> void Visit(V& v) {
    v.Field("save_intermediate", save_intermediate);
    v.Field("preview", preview);
    v.Field("report_html", report_html);
    v.Field("dicom_seg", dicom_seg);
  }
};

// "runtime": resources.
struct RuntimeConfig {
  // Worker threads for ITK and LibTorch; 0 = all cores. Range [0, 256]. Default 0.
  int threads = 0;

  template <class V> void Visit(V& v) { v.Field("threads", threads, 0, 256); }
};

struct Config {
  InputConfig input;
  PreprocessConfig preprocess;
  InferenceConfig inference;
  PostprocessConfig postprocess;
  MeshSection mesh;
  OutputConfig output;
  RuntimeConfig runtime;

  template <class V> void Visit(V& v) {
    v.Section("input", input);
    v.Section("preprocess", preprocess);
    v.Section("inference", inference);
    v.Section("postprocess", postprocess);
    v.Section("mesh", mesh);
    v.Section("output", output);
    v.Section("runtime", runtime);
  }
};

// Validates `document` strictly and returns the typed config; missing keys take defaults.
// Throws ConfigError naming the JSON path of the first problem.
Config FromJson(const nlohmann::json& document);

// The fully resolved document: every key, defaults included.
nlohmann::json ToJson(const Config& config);

// Reads a JSON file. Throws InputError if it cannot be read, ConfigError (with the file name and
// the parser's position) if it is not valid JSON or not an object.
nlohmann::json ReadJsonFile(const std::filesystem::path& path);

// Parses JSON text from `origin` (a file name, for messages). Throws ConfigError "ORIGIN:
// invalid JSON: ..." for a syntax error, a number out of range, invalid UTF-8 in a string, or
// nesting deeper than 64 levels.
nlohmann::json ParseJsonText(const std::string& text, const std::string& origin);

// Applies one "dotted.path=value" override to `document`. The value is parsed as JSON when it
// parses (numbers, booleans, arrays), otherwise taken as a string. Throws UsageError when the
// assignment has no '=' or an empty key.
void ApplyOverride(nlohmann::json& document, const std::string& assignment);

// Worker threads for a "threads" setting: `requested` when > 0, else every core (at least 1).
int ThreadCount(int requested);

// Reads `config_file` (or starts from {} when empty), applies `overrides` in order, validates.
// Throws as FromJson / ReadJsonFile / ApplyOverride do.
Config Resolve(const std::filesystem::path& config_file, const std::vector<std::string>& overrides);

}  // namespace cardioseg::config
