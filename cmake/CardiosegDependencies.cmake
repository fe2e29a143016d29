# Every dependency comes from a Debian 12 package (scripts/install-deps.sh).
find_package(nlohmann_json 3.10 REQUIRED)
find_package(spdlog REQUIRED)
if(CARDIOSEG_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
find_package(CLI11 2.1 REQUIRED CONFIG)

# LibTorch (Debian's libtorch-dev is CPU-only; a CUDA LibTorch from PyTorch works the same way
# through CMAKE_PREFIX_PATH=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')).
# The fuzz build (tests/fuzz) needs neither LibTorch, VTK nor Open3D.
if(NOT CARDIOSEG_FUZZ)
  find_package(Torch REQUIRED)
endif()

if(CARDIOSEG_TORCH_ONLY)
  return()
endif()

# ITK 5.2 has no ITK:: targets: use ${ITK_LIBRARIES} and ITK_USE_FILE, which also registers the
# NIfTI/NRRD/Meta/GDCM/PNG IO factories of the listed modules (without it, reading fails at run time).
find_package(ITK 5.2 REQUIRED COMPONENTS
  ITKCommon ITKIOImageBase ITKIONIFTI ITKNIFTI ITKIONRRD ITKIOMeta ITKIOGDCM ITKIOPNG
  ITKBiasCorrection ITKImageIntensity ITKThresholding ITKImageGrid ITKImageFunction
  ITKSmoothing ITKImageStatistics ITKConnectedComponents ITKDistanceMap ITKLabelMap
  ITKMathematicalMorphology ITKBinaryMathematicalMorphology ITKImageLabel)
if(CARDIOSEG_FUZZ)
  include(CardiosegFuzzItk)
endif()
include(${ITK_USE_FILE})
find_package(GDCM REQUIRED)
# DCMTK 3.6.7: checks each DICOM file's structure before GDCM reads it (dcmdata) and writes
# DICOM Segmentation objects (dcmseg).
find_package(DCMTK 3.6 REQUIRED CONFIG)
find_package(ZLIB REQUIRED)
find_package(PNG REQUIRED)  # previews and plots: libpng encodes in memory, the write is checked
# OpenSSL's libcrypto for the SHA-256 checksums of outputs in report.json.
find_package(OpenSSL REQUIRED COMPONENTS Crypto)

if(CARDIOSEG_FUZZ)
  return()
endif()

# Open3D 0.16 (Debian's libopen3d-dev) for ball pivoting. No version in find_package: Debian's
# Open3DConfigVersion.cmake does not accept one.
find_package(Open3D REQUIRED)

# VTK 9.1 for surface meshes (flying edges, smoothing, decimation, writers).
find_package(VTK 9.1 REQUIRED COMPONENTS
  CommonCore CommonDataModel CommonTransforms FiltersCore FiltersGeneral FiltersModeling
  FiltersGeometry FiltersSources ImagingCore ImagingGeneral IOGeometry IOPLY IOXML IOGeometry
  IOExport IOImport)

