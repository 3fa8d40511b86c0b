# Project-wide options and the one INTERFACE target that carries every flag and Qt define.
include_guard(GLOBAL)

set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
set(CMAKE_EXPORT_COMPILE_COMMANDS ON)
if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
    set(CMAKE_BUILD_TYPE RelWithDebInfo CACHE STRING "Build type" FORCE)
endif()

option(SIDECAR_BUILD_TESTS "Build the test suites" ON)
option(SIDECAR_BUILD_BENCH "Build the benchmark harness" ON)
option(SIDECAR_WERROR "Treat warnings as errors" OFF)
option(SIDECAR_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(SIDECAR_FORCE_ASSERTS "Keep Q_ASSERT in release builds" OFF)
option(SIDECAR_FUZZ "Build tests/fuzz as libFuzzer targets, everything with ASan + UBSan (clang; the fuzz preset)" OFF)

add_library(sidecar_flags INTERFACE)
add_library(sidecar::flags ALIAS sidecar_flags)
target_compile_features(sidecar_flags INTERFACE cxx_std_20)
target_compile_options(sidecar_flags INTERFACE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align -Woverloaded-virtual
    -Wimplicit-fallthrough -Wformat=2
    $<$<BOOL:${SIDECAR_WERROR}>:-Werror>)
target_compile_definitions(sidecar_flags INTERFACE
    QT_NO_CAST_FROM_ASCII
    QT_NO_CAST_TO_ASCII
    QT_NO_URL_CAST_FROM_STRING
    QT_NO_NARROWING_CONVERSIONS_IN_CONNECT
    QT_USE_QSTRINGBUILDER
    QT_NO_KEYWORDS_FOR_SIGNALS_DISABLED
    SIDECAR_VERSION="${PROJECT_VERSION}"
    $<$<BOOL:${SIDECAR_FORCE_ASSERTS}>:QT_FORCE_ASSERTS>)
if(SIDECAR_SANITIZE)
    # float-cast-overflow (a double out of an integer's range converted to it: UB) is not part of
    # g++'s "undefined"; hostile numbers in requests make it worth checking.
    target_compile_options(sidecar_flags INTERFACE
        -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer
        -fno-sanitize-recover=undefined,float-cast-overflow)
    target_link_options(sidecar_flags INTERFACE -fsanitize=address,undefined,float-cast-overflow)
endif()
if(SIDECAR_FUZZ)
    if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
        message(FATAL_ERROR "SIDECAR_FUZZ needs clang (configure with the fuzz preset)")
    endif()
    # Coverage instrumentation for libFuzzer and the sanitizers in every library; the targets in
    # tests/fuzz add -fsanitize=fuzzer, which links libFuzzer's main().
    target_compile_options(sidecar_flags INTERFACE
        -fsanitize=fuzzer-no-link,address,undefined,float-cast-overflow -fno-omit-frame-pointer
        -fno-sanitize-recover=undefined,float-cast-overflow)
    target_link_options(sidecar_flags INTERFACE -fsanitize=address,undefined,float-cast-overflow)
endif()
