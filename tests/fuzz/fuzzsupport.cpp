// The fuzz targets' shared helpers (see the header).

#include "fuzzsupport.h"

#include <cstdio>
#include <cstdlib>

#include <QCoreApplication>
#include <QLoggingCategory>

namespace sidecar::fuzz {

void checkFailed(const char *condition, const char *file, int line)
{
    std::fprintf(stderr, "FUZZ_CHECK failed: %s (%s:%d)\n", condition, file, line);
    std::fflush(stderr);
    std::abort();
}

void ensureCoreApplication()
{
    if (QCoreApplication::instance())
        return;
    static int argc = 1;
    static char name[] = "sidecar-fuzz";
    static char *argv[] = {name, nullptr};
    new QCoreApplication(argc, argv); // lives as long as the process
}

void quietLogging()
{
    // qFatal (Q_ASSERT included) is not a category message: it still aborts.
    QLoggingCategory::setFilterRules(QStringLiteral("*=false"));
}

} // namespace sidecar::fuzz
