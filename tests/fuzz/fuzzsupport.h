#pragma once

// What every fuzz target in tests/fuzz shares: the libFuzzer entry points it defines, a check that
// fails the run whatever the build type (Q_ASSERT may be compiled out), and the Qt set-up.
//
// Each target defines LLVMFuzzerInitialize and LLVMFuzzerTestOneInput. Under SIDECAR_FUZZ they are
// driven by libFuzzer's main(); otherwise by replaymain.cpp, which runs every file of the target's
// corpus and regressions once (ctest label fuzz-replay).

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv);
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size);

namespace sidecar::fuzz {

// Prints the failed condition and aborts (libFuzzer then saves the input as a crash).
[[noreturn]] void checkFailed(const char *condition, const char *file, int line);

// A QCoreApplication for the targets that need an event loop's posted events; created once.
void ensureCoreApplication();
// Silences the library's logging categories: a fuzzer calls the error paths millions of times.
void quietLogging();

} // namespace sidecar::fuzz

#define FUZZ_CHECK(condition)                                                                                \
    ((condition) ? void(0) : ::sidecar::fuzz::checkFailed(#condition, __FILE__, __LINE__))
