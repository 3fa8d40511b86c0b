#include "testutil.h"

#include <QDir>
#include <QThread>

namespace sidecar::test {

TempDir::TempDir() : m_dir(QDir::tempPath() + QStringLiteral("/sidecar-test-XXXXXX")) {}

QString TempDir::uniqueFile(const QString &stem, const QString &suffix)
{
    return file(QStringLiteral("%1-%2%3").arg(stem).arg(++m_counter).arg(suffix));
}

QString describe(const Error &error)
{
    return QStringLiteral("%1: %2").arg(QLatin1String(errorCodeName(error.code)), error.message);
}

bool waitUntil(const std::function<bool()> &done, int timeoutMs)
{
    QElapsedTimer timer;
    timer.start();
    while (!done()) {
        if (timer.elapsed() > timeoutMs)
            return false;
        QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
        QThread::msleep(1);
    }
    return true;
}

} // namespace sidecar::test
