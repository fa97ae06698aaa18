// The aoekit-rbd module: the contract between `aoe` and rbd.so, the shared object that holds the
// RBD backend and is the only part of aoekit linked with librbd and librados.
//
// Why a module: librbd pulls in librados, Boost, RDMA and cryptsetup libraries (about 40 shared
// objects in all). Most hosts that run `aoe` (initiators, netboot servers, the diskless images
// `aoe mkimage` builds) never serve an RBD image, so the Debian package aoekit does not depend
// on Ceph and aoekit-rbd ships the module (docs/ceph.md, "Install").
//
// The module is loaded once, the first time an rbd: export is opened, and never unloaded (its
// backends' code must outlive them). It is built from the same tree as `aoe` and shares its C++
// types (BackendSpec, OpenedBackend, the storage error category); `aoe` exports its `aoe::`
// symbols (src/cli/exported_symbols.list) so the module uses the program's copies. The version
// check refuses a module from another version of aoekit, whose types may differ.
#pragma once

#include "base/result.h"
#include "storage/backend_spec.h"
#include "storage/completion_queue.h"
#include "storage/file_backend.h"

namespace aoe {

// The module's two symbols (extern "C", so their names are plain).
inline constexpr char kRbdModuleVersionSymbol[] = "aoekit_rbd_module_version";  // const char[]
inline constexpr char kRbdModuleOpenSymbol[] = "aoekit_rbd_open";               // RbdModuleOpen

// What OpenRbdBackend (rbd_open.h) forwards to: the same arguments, and its result stored in
// `*result` (an extern "C" function does not return a C++ type).
using RbdModuleOpen = void (*)(Result<OpenedBackend>* result, CompletionQueue& completions,
                               const BackendSpec& spec, bool read_only);

}  // namespace aoe
