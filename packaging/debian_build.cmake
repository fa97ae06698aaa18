# AOE_DEBIAN_BUILD=ON compiles and lays out this build tree exactly as debian/rules does: the
# compiler and linker flags of dpkg-buildflags (with debian/rules' DEB_BUILD_MAINT_OPTIONS:
# hardening), prefix /usr and libexec. The tests then run the very binary the package ships, and
# `scripts/package --from-build DIR` packages this tree without compiling it a second time
# (scripts/test's release build does both; docs/testing.md, "Times").
option(AOE_DEBIAN_BUILD "Compile with Debian's flags and paths, so scripts/package --from-build can package this tree" OFF)
if(NOT AOE_DEBIAN_BUILD)
  return()
endif()

if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr" OR NOT CMAKE_INSTALL_LIBEXECDIR STREQUAL "libexec"
   OR NOT CMAKE_BUILD_TYPE STREQUAL "None")
  message(FATAL_ERROR "AOE_DEBIAN_BUILD=ON needs the Debian package's settings: "
                      "-DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_INSTALL_LIBEXECDIR=libexec "
                      "-DCMAKE_BUILD_TYPE=None (the ci preset has them)")
endif()
find_program(DPKG_BUILDFLAGS dpkg-buildflags REQUIRED)

# debian/rules is the one place that says which hardening the package gets.
file(STRINGS ${PROJECT_SOURCE_DIR}/debian/rules _aoe_maint_options
     REGEX "^export DEB_BUILD_MAINT_OPTIONS *=")
string(REGEX REPLACE "^export DEB_BUILD_MAINT_OPTIONS *= *" "" _aoe_maint_options
       "${_aoe_maint_options}")

function(_aoe_debian_flags var)
  execute_process(
    COMMAND ${CMAKE_COMMAND} -E env DEB_BUILD_MAINT_OPTIONS=${_aoe_maint_options}
            ${DPKG_BUILDFLAGS} --get ${var}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
  set(_aoe_${var} "${flags}" PARENT_SCOPE)
endfunction()
foreach(var CPPFLAGS CXXFLAGS LDFLAGS)
  _aoe_debian_flags(${var})
endforeach()

# As debhelper's cmake build system does: CPPFLAGS go with the compiler flags.
string(APPEND CMAKE_CXX_FLAGS " ${_aoe_CXXFLAGS} ${_aoe_CPPFLAGS}")
string(APPEND CMAKE_EXE_LINKER_FLAGS " ${_aoe_LDFLAGS}")
string(APPEND CMAKE_SHARED_LINKER_FLAGS " ${_aoe_LDFLAGS}")
string(APPEND CMAKE_MODULE_LINKER_FLAGS " ${_aoe_LDFLAGS}")  # the RBD module, rbd.so
message(STATUS "Debian package build (${_aoe_maint_options}): "
               "CXXFLAGS ${CMAKE_CXX_FLAGS}, LDFLAGS ${_aoe_LDFLAGS}")
