#!/bin/sh
# dracut cmdline hook of 95aoekit: with root=/dev/etherd/eX.YpN, dracut's block root handling
# waits for the device; aoekit-root brings it into existence once udev has settled (the NIC
# drivers are loaded then).
root=$(getarg root=)
case "${root#block:}" in
/dev/etherd/*)
    # shellcheck disable=SC2034  # read by dracut
    rootok=1
    /sbin/initqueue --settled --onetime --unique --name aoekit /sbin/aoekit-root
    ;;
esac
