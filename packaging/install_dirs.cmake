# Where `cmake --install` puts aoekit (GNUInstallDirs, plus the places that other programs look
# in: systemd, initramfs-tools, dracut). Included from the top-level CMakeLists.txt before the
# sources, because the `aoe` binary needs to know where its mkimage worker is installed.
#
#   PREFIX/bin/aoe                          the program
#   PREFIX/libexec/aoekit/mkimage           the worker of `aoe mkimage`
#   SYSCONFDIR/aoekit/serve.toml, netboot.toml   example configurations (/etc with PREFIX=/usr)
#   AOE_SYSTEMD_UNIT_DIR/aoe-serve.service, aoe-netboot.service
#   AOE_INITRAMFS_TOOLS_DIR/hooks/aoekit, scripts/local-top/aoekit
#   AOE_DRACUT_MODULES_DIR/95aoekit/
#   MANDIR/man5, man8; DOCDIR (README.md, docs/)
include(GNUInstallDirs)

# systemd's own answer for PREFIX=/usr (Debian 12: /lib/systemd/system), else under PREFIX.
set(_aoe_unit_dir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  pkg_get_variable(_aoe_systemd_unit_dir systemd systemdsystemunitdir)
  if(_aoe_systemd_unit_dir)
    set(_aoe_unit_dir "${_aoe_systemd_unit_dir}")
  endif()
endif()
set(AOE_SYSTEMD_UNIT_DIR "${_aoe_unit_dir}" CACHE PATH "Where the systemd units are installed")
set(AOE_INITRAMFS_TOOLS_DIR "${CMAKE_INSTALL_FULL_DATADIR}/initramfs-tools" CACHE PATH
    "Where the initramfs-tools hook and script are installed (read from /usr/share/initramfs-tools)")
set(AOE_DRACUT_MODULES_DIR "${CMAKE_INSTALL_PREFIX}/lib/dracut/modules.d" CACHE PATH
    "Where the dracut module is installed (read from /usr/lib/dracut/modules.d)")
set(AOE_INSTALLED_MKIMAGE "${CMAKE_INSTALL_FULL_LIBEXECDIR}/aoekit/mkimage")
set(AOE_INSTALLED_INITRAMFS_TOOLS_DIR "${AOE_INITRAMFS_TOOLS_DIR}")
