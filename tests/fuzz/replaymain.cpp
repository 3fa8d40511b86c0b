// The main() of a fuzz target outside the fuzz build: runs LLVMFuzzerTestOneInput once on every file
// named on the command line or found (recursively, in name order) in a directory named there, so
// that ordinary CI replays the seed corpus and the regressions (ctest -L fuzz-replay). A directory
// that does not exist counts as empty (regressions/<target>/ exists only once a crash was found).
// Any failed check aborts, which fails the test.

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzzsupport.h"

namespace {

std::vector<std::filesystem::path> inputsOf(const std::filesystem::path &arg)
{
    namespace fs = std::filesystem;
    std::vector<fs::path> out;
    std::error_code ec;
    if (fs::is_regular_file(arg, ec)) {
        out.push_back(arg);
    } else if (fs::is_directory(arg, ec)) {
        for (const auto &entry : fs::recursive_directory_iterator(arg, ec)) {
            if (entry.is_regular_file() && entry.path().filename().string().front() != '.')
                out.push_back(entry.path());
        }
        std::sort(out.begin(), out.end());
    } else {
        std::fprintf(stderr, "replay: %s does not exist, skipped\n", arg.c_str());
    }
    return out;
}

} // namespace

int main(int argc, char **argv)
{
    LLVMFuzzerInitialize(&argc, &argv);
    int count = 0;
    for (int i = 1; i < argc; ++i) {
        for (const auto &path : inputsOf(argv[i])) {
            std::ifstream in(path, std::ios::binary);
            const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            std::fprintf(stderr, "replay: %s (%zu bytes)\n", path.c_str(), bytes.size());
            LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t *>(bytes.data()), bytes.size());
            ++count;
        }
    }
    std::fprintf(stderr, "replay: %d inputs, all passed\n", count);
    return count > 0 ? 0 : 1; // no input at all: the corpus path is wrong
}
