// OpenRbdBackend: loads the aoekit-rbd module once and forwards to it (see rbd_open.h).
#include "storage/rbd/rbd_open.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>

#include "storage/rbd/rbd_module.h"
#include "storage/storage_error.h"

namespace aoe {
namespace {

// Where this program looks for the module: AOE_RBD_MODULE_FROM_BIN (the install's
// LIBDIR/aoekit/rbd.so, relative to BINDIR) from the directory of /proc/self/exe. The build tree
// puts rbd.so at the same place relative to its `aoe`, so one rule serves both, and an installed
// tree unpacked anywhere (dpkg -x) finds its own module.
std::string RbdModulePath() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  return (exe.parent_path() / AOE_RBD_MODULE_FROM_BIN).lexically_normal().string();
}

// Whether the dynamic loader's message names a missing symbol of namespace aoe (glibc: "...:
// undefined symbol: NAME"): a function, member, vtable or typeinfo, whatever its mangling.
bool NeedsAnAoekitSymbol(const char* dlerror_text) {
  if (dlerror_text == nullptr) return false;
  static constexpr std::string_view kUndefined = "undefined symbol: ";
  const std::string_view text(dlerror_text);
  const size_t at = text.find(kUndefined);
  if (at == std::string_view::npos) return false;
  std::string_view symbol = text.substr(at + kUndefined.size());
  symbol = symbol.substr(0, symbol.find_first_of(" \t,("));
  return symbol.starts_with("_Z") && symbol.find("3aoe") != std::string_view::npos;
}

struct LoadedModule {
  RbdModuleOpen open = nullptr;
  StorageErrc error{};  // when open is null
  std::string failure;  // when open is null: RbdModuleLoadFailure()
};

LoadedModule Load() {
  const std::string path = RbdModulePath();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return {.error = StorageErrc::kRbdModuleMissing,
            .failure = "no module at " + path + ": " + std::strerror(errno)};
  }
  // RTLD_NOW: a library the module needs that is missing fails here, at start-up, not at the
  // first I/O. RTLD_GLOBAL: Ceph's libraries are in the global scope, as when the program was
  // linked with them; the plugins libceph-common loads itself (compressors, crypto) take its
  // symbols from there. (The module's own symbols are hidden but for its two entry points.)
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (handle == nullptr) {
    // A module that needs an aoekit symbol this program does not export was built from other
    // aoekit sources: a mismatch, like a different version string. Anything else (a library
    // of its own missing, not an ELF object) is a broken install.
    const char* why = ::dlerror();
    return {.error = NeedsAnAoekitSymbol(why) ? StorageErrc::kRbdModuleMismatch
                                              : StorageErrc::kRbdModuleUnloadable,
            .failure = why != nullptr ? why : "cannot load " + path};
  }
  const auto* version = static_cast<const char*>(::dlsym(handle, kRbdModuleVersionSymbol));
  auto* open = reinterpret_cast<RbdModuleOpen>(::dlsym(handle, kRbdModuleOpenSymbol));
  if (version == nullptr || open == nullptr || std::strcmp(version, AOE_VERSION) != 0) {
    std::string failure =
        version == nullptr || open == nullptr
            ? path + " lacks the module's entry points"
            : path + " is aoekit-rbd " + version + ", this program aoekit " + AOE_VERSION;
    ::dlclose(handle);
    return {.error = StorageErrc::kRbdModuleMismatch, .failure = std::move(failure)};
  }
  return {.open = open, .error = {}, .failure = {}};  // never closed: its backends run its code
}

// Guards the loaded entry point and the last failure.
std::mutex module_mutex;
RbdModuleOpen module_open = nullptr;
std::string module_failure;

}  // namespace

Result<OpenedBackend> OpenRbdBackend(CompletionQueue& completions, const BackendSpec& spec,
                                     bool read_only) {
  // Loaded on first use, from any thread that opens storage; a failure is not remembered (only
  // described), so installing aoekit-rbd and reloading (SIGHUP) is enough.
  RbdModuleOpen open = nullptr;
  {
    std::lock_guard lock(module_mutex);
    if (module_open == nullptr) {
      LoadedModule module = Load();
      module_failure = std::move(module.failure);
      if (module.open == nullptr) return StorageError(module.error);
      module_open = module.open;
    }
    open = module_open;
  }
  Result<OpenedBackend> result = Unexpected{std::make_error_code(std::errc::io_error)};
  open(&result, completions, spec, read_only);
  return result;
}

std::string RbdModuleLoadFailure() {
  std::lock_guard lock(module_mutex);
  return module_failure;
}

}  // namespace aoe
