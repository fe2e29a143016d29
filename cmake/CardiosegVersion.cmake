# Records the git revision at configure time into a generated header.
find_package(Git QUIET)
set(CARDIOSEG_GIT_REVISION "unknown")
if(GIT_FOUND AND EXISTS ${CMAKE_SOURCE_DIR}/.git)
  execute_process(
    COMMAND ${GIT_EXECUTABLE} describe --always --dirty --abbrev=12
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
    OUTPUT_VARIABLE CARDIOSEG_GIT_REVISION
    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(NOT CARDIOSEG_GIT_REVISION)
    set(CARDIOSEG_GIT_REVISION "unknown")
  endif()
endif()
configure_file(${CMAKE_SOURCE_DIR}/cmake/version_generated.h.in
               ${CMAKE_BINARY_DIR}/generated/cardioseg/version_generated.h @ONLY)
