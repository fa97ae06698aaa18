// Starting the program under test from an integration test: fork and exec with stdout and
// stderr appended to a log file, so a failing test can show what the program said.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace aoe::testing {

// Runs `argv` (argv[0] looked up in PATH) with its output appended to `log_path`. Returns the
// child's pid, or -1 when fork fails. The caller stops and reaps it.
pid_t SpawnLogged(std::vector<std::string> argv, const std::string& log_path);

}  // namespace aoe::testing
