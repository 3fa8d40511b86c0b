#pragma once

// Small fixtures for tests of asynchronous, callback-based APIs (the Store seam and the like):
// a temporary directory, and await(), which starts an operation with a callback and runs the
// event loop until the callback has run.
//
// Thread: use on the test's main thread (the one running the event loop).

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QString>
#include <QTemporaryDir>
#include <QTimer>

#include <functional>
#include <memory>
#include <optional>

#include "protocol/result.h"

namespace sidecar::test {

// A directory removed with everything in it when the object goes away.
class TempDir
{
public:
    TempDir();
    bool isValid() const { return m_dir.isValid(); }
    QString path() const { return m_dir.path(); }
    // An absolute path for `name` inside the directory (nothing is created).
    QString file(const QString &name) const { return m_dir.filePath(name); }
    // A fresh file name inside the directory on each call ("<stem>-<n><suffix>").
    QString uniqueFile(const QString &stem, const QString &suffix);

private:
    QTemporaryDir m_dir;
    int m_counter = 0;
};

// The text of an error for test failure messages.
QString describe(const Error &error);

template<class T>
QString describe(const Result<T> &result)
{
    return result ? QStringLiteral("ok") : describe(result.error());
}

// Runs `start(callback)` and the event loop until the callback ran, then returns what it got.
// Fails (ErrorCode::Internal) when the callback runs inside `start` itself (an asynchronous
// API must answer later), or does not run within `timeoutMs`.
template<class T, class Start>
Result<T> await(Start &&start, int timeoutMs = 15000)
{
    struct State
    {
        std::optional<Result<T>> result;
        bool insideCall = true;
        bool synchronous = false;
        QEventLoop *loop = nullptr;
    };
    auto state = std::make_shared<State>();
    start([state](Result<T> r) {
        state->synchronous = state->insideCall;
        state->result = std::move(r);
        if (state->loop)
            state->loop->quit();
    });
    state->insideCall = false;
    if (state->synchronous)
        return fail(ErrorCode::Internal, QStringLiteral("the callback ran inside the call"));
    if (!state->result) {
        QEventLoop loop;
        state->loop = &loop;
        QTimer timer;
        timer.setSingleShot(true);
        QObject::connect(&timer, &QTimer::timeout, &loop, &QEventLoop::quit);
        timer.start(timeoutMs);
        loop.exec();
        state->loop = nullptr;
    }
    if (!state->result)
        return fail(ErrorCode::Internal, QStringLiteral("the callback did not run within %1 ms").arg(timeoutMs));
    return std::move(*state->result);
}

// Processes events until `done()` is true or `timeoutMs` passed; returns done().
bool waitUntil(const std::function<bool()> &done, int timeoutMs = 15000);

} // namespace sidecar::test
