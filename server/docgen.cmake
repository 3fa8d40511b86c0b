# The generated references, docs/tools.md and docs/metrics.md, against what sidecar-docgen prints:
# MODE=update writes them into the source tree (the update-docs target); MODE=check fails with a
# diff when they differ (the docs_reference test).
#
#   cmake -DDOCGEN=<sidecar-docgen> -DSOURCE_DIR=<source tree> -DMODE=update|check -P docgen.cmake
cmake_minimum_required(VERSION 3.25)

if(NOT DOCGEN OR NOT SOURCE_DIR OR NOT MODE MATCHES "^(update|check)$")
    message(FATAL_ERROR "usage: cmake -DDOCGEN=<sidecar-docgen> -DSOURCE_DIR=<dir> -DMODE=update|check -P docgen.cmake")
endif()

set(stale)
foreach(kind tools metrics)
    set(name "docs/${kind}.md")
    set(file "${SOURCE_DIR}/${name}")
    execute_process(COMMAND "${DOCGEN}" ${kind} OUTPUT_VARIABLE generated RESULT_VARIABLE status)
    if(NOT status EQUAL 0)
        message(FATAL_ERROR "sidecar-docgen ${kind} failed (${status})")
    endif()
    set(committed "")
    if(EXISTS "${file}")
        file(READ "${file}" committed)
    endif()
    if(generated STREQUAL committed)
        continue()
    endif()
    if(MODE STREQUAL "update")
        file(WRITE "${file}" "${generated}")
        message(STATUS "Wrote ${name}")
        continue()
    endif()
    list(APPEND stale "${name}")
    # Show what changed: the generated text next to the committed file, compared by diff.
    set(fresh "${CMAKE_CURRENT_BINARY_DIR}/docs_reference-${kind}.md")
    file(WRITE "${fresh}" "${generated}")
    find_program(DIFF diff)
    if(DIFF)
        execute_process(COMMAND "${DIFF}" -u -N --label "${name} (committed)" --label "${name} (generated)"
            "${file}" "${fresh}" OUTPUT_VARIABLE changes)
        message("${changes}")
    endif()
    file(REMOVE "${fresh}")
endforeach()

if(stale)
    list(JOIN stale " and " names)
    message(FATAL_ERROR "${names} differ from what sidecar-docgen prints from the code: regenerate with "
        "`cmake --build <dir> --target update-docs` and commit the result.")
endif()
