# Debian's ITK 5.2 headers were generated for GCC only: itk_compiler_detection.h stops with
# "Unsupported compiler" under clang, which libFuzzer needs. For the fuzz build only, this makes
# a shadow of the ITK include folder (symbolic links) whose itk_compiler_detection.h treats clang
# as the GCC it emulates (clang implements every C++ feature that header tests for), and puts it
# in place of the real folder in ITK_INCLUDE_DIRS before ITK_USE_FILE reads it.
set(_itk_real "")
foreach(dir IN LISTS ITK_INCLUDE_DIRS)
  if(EXISTS "${dir}/itk_compiler_detection.h")
    set(_itk_real "${dir}")
  endif()
endforeach()
if(NOT _itk_real)
  message(FATAL_ERROR "fuzz build: itk_compiler_detection.h not found in ITK_INCLUDE_DIRS")
endif()
set(_itk_shadow "${CMAKE_BINARY_DIR}/itk-clang-include")
file(MAKE_DIRECTORY "${_itk_shadow}")
file(GLOB _itk_entries RELATIVE "${_itk_real}" "${_itk_real}/*")
foreach(entry IN LISTS _itk_entries)
  if(NOT entry STREQUAL "itk_compiler_detection.h" AND NOT EXISTS "${_itk_shadow}/${entry}")
    file(CREATE_LINK "${_itk_real}/${entry}" "${_itk_shadow}/${entry}" SYMBOLIC)
  endif()
endforeach()
file(READ "${_itk_real}/itk_compiler_detection.h" _detection)
string(REPLACE "#  if ITK_COMPILER_IS_GNU\n" "#  if ITK_COMPILER_IS_GNU || ITK_COMPILER_IS_Clang\n"
       _detection "${_detection}")
string(REPLACE "\"compilers/ITK_COMPILER_INFO_GNU_CXX.h\"" "\"cardioseg_itk_compiler_info_clang.h\""
       _detection "${_detection}")
file(WRITE "${_itk_shadow}/itk_compiler_detection.h" "${_detection}")
# The GCC feature table, with the GCC version taken as 12.2 (the version Debian built ITK with).
file(READ "${_itk_real}/compilers/ITK_COMPILER_INFO_GNU_CXX.h" _info)
string(REPLACE "(__GNUC__ * 100 + __GNUC_MINOR__)" "(1202)" _info "${_info}")
file(WRITE "${_itk_shadow}/cardioseg_itk_compiler_info_clang.h" "${_info}")
list(TRANSFORM ITK_INCLUDE_DIRS REPLACE "^${_itk_real}$" "${_itk_shadow}")
