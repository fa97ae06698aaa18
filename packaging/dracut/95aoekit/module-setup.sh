#!/bin/bash
# dracut module 95aoekit: the root file system on an AoE disk (root=/dev/etherd/eX.YpN).
# The work is done by aoekit-root.sh, the same script as aoekit's initramfs-tools local-top
# script: it brings up the boot NIC (BOOTIF=, aoe.iface= or every NIC), loads aoe.ko, repeats
# the discovery until the root disk appears (aoe.wait=, default 60 s) or says what it saw, and
# leaves the NIC to the real root marked as not to be managed.

# Included when asked for (--add aoekit), when building a generic image, or in host-only mode
# when this system's root is on AoE.
check() {
    # shellcheck disable=SC2154  # set by dracut
    if [[ $hostonly ]]; then
        [[ $(findmnt -n -o SOURCE /) == /dev/etherd/* ]] || return 255
    fi
    return 0
}

# udevadm settle.
depends() {
    echo udev-rules
    return 0
}

# aoe.ko and the NIC drivers: this machine's in host-only mode, else every Ethernet driver.
installkernel() {
    instmods aoe
    # shellcheck disable=SC2154  # set by dracut
    if [[ $hostonly ]]; then
        local module
        for module in /sys/class/net/*/device/driver/module; do
            [[ -e $module ]] && instmods "$(basename "$(readlink -f "$module")")"
        done
    else
        instmods "=drivers/net/ethernet" virtio_net
    fi
}

install() {
    inst_multiple ip cat ls sleep mkdir modprobe udevadm
    # shellcheck disable=SC2154  # set by dracut
    inst_simple "$moddir/aoekit-root.sh" /sbin/aoekit-root
    inst_hook cmdline 90 "$moddir/parse-aoekit.sh"
}
