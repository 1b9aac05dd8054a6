# The floor plan as build rules (docs/ARCHITECTURE.md, "Floor plan").
#
# Sources include each other as "floor/file.h" (host/<floor>/file.h). Rather than one include
# directory holding every floor, each target gets an include VIEW: a directory under
# build/include_views/<target>/ with a symbolic link per floor that target may use (itself and
# the floors below it) and nothing else. An include that points up, or sideways into a floor the
# target does not depend on, then fails to compile ("file not found") instead of creeping in.
# Tests and benchmarks are not floors: they see all of host/.

# Definitions every core translation unit and every user of the core sees.
# FEDGUARD_HAS_CUDA: the CUDA backend was built (as the plugin or linked in).
set(FEDGUARD_CORE_DEFINITIONS FEDGUARD_VERSION="${PROJECT_VERSION}" $<$<BOOL:${FEDGUARD_HAS_CUDA}>:FEDGUARD_HAS_CUDA>)

# fedguard_floor_view(<target> <floor>...): compile <target> with the public API (include/) and
# a view holding only the named floors (directories of host/, or "kernels" for the CUDA kernels'
# shared headers at the repository root).
function(fedguard_floor_view target)
  set(view "${CMAKE_BINARY_DIR}/include_views/${target}")
  file(MAKE_DIRECTORY "${view}")
  foreach(floor IN LISTS ARGN)
    if(floor STREQUAL "kernels")
      set(dir "${PROJECT_SOURCE_DIR}/kernels")
    else()
      set(dir "${PROJECT_SOURCE_DIR}/host/${floor}")
    endif()
    if(NOT IS_DIRECTORY "${dir}")
      message(FATAL_ERROR "fedguard_floor_view(${target}): no floor '${floor}' (${dir})")
    endif()
    if(NOT EXISTS "${view}/${floor}")
      file(CREATE_LINK "${dir}" "${view}/${floor}" SYMBOLIC)
    endif()
  endforeach()
  target_include_directories(${target} PRIVATE "${view}" "${PROJECT_SOURCE_DIR}/include")
  target_compile_definitions(${target} PRIVATE ${FEDGUARD_CORE_DEFINITIONS})
endfunction()

# fedguard_floor(<name> [SEES <floor>...] SOURCES <source>...): one floor of fedguard_core, an
# OBJECT library fedguard_floor_<name> that sees the floors named after SEES and itself.
function(fedguard_floor name)
  cmake_parse_arguments(PARSE_ARGV 1 F "" "" "SEES;SOURCES")
  set(sources ${F_SOURCES})
  set(target fedguard_floor_${name})
  add_library(${target} OBJECT ${sources})
  fedguard_floor_view(${target} ${F_SEES} ${name})
  target_link_libraries(${target} PRIVATE nlohmann_json::nlohmann_json fedguard_blas OpenMP::OpenMP_CXX fedguard_warnings)
endfunction()

# fedguard_plugin_properties(<module target> <entry symbol>): a plugin loaded with dlopen
# (the CUDA backend, the LibTorch components). It exports only its entry function (a version
# script; the copy of the core's code it links stays private to it, so nothing it contains
# interposes on the loading program's symbols), lives in build/lib/, and must resolve every
# symbol at link time.
function(fedguard_plugin_properties target entry)
  set(map "${CMAKE_BINARY_DIR}/plugin_maps/${target}.map")
  file(WRITE "${map}" "{ global: ${entry}; local: *; };\n")
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    LIBRARY_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/lib"
    LINK_DEPENDS "${map}")
  target_link_options(${target} PRIVATE "LINKER:--version-script=${map}" "LINKER:--no-undefined" "LINKER:--as-needed")
endfunction()
