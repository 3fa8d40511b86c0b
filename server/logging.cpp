#include "logging.h"

#include <cstdio>

#include <QByteArray>
#include <QDateTime>

namespace sidecar::daemon {

Q_LOGGING_CATEGORY(lcServer, "sidecar.server", QtInfoMsg)

namespace {

const char *levelName(QtMsgType type)
{
    switch (type) {
    case QtDebugMsg:
        return "debug";
    case QtInfoMsg:
        return "info";
    case QtWarningMsg:
        return "warning";
    case QtCriticalMsg:
        return "error";
    case QtFatalMsg:
        return "fatal";
    }
    return "unknown";
}

void writeToStderr(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    QString text = message;
    text.replace(u'\n', QStringLiteral("\\n")); // one line per message, whatever it holds
    const QByteArray line = QDateTime::currentDateTimeUtc().toString(Qt::ISODateWithMs).toUtf8() + ' '
        + levelName(type) + ' ' + (context.category ? context.category : "default") + ": " + text.toUtf8()
        + '\n';
    std::fwrite(line.constData(), 1, std::size_t(line.size()), stderr);
    std::fflush(stderr);
    // For QtFatalMsg, Qt aborts after the handler returns.
}

} // namespace

QtMessageHandler installLogging(const QString &level)
{
    const QString l = level.trimmed().toLower();
    // The levels below `level` are switched off, for our categories and the default one.
    const bool debug = l == QLatin1String("debug");
    const bool info = debug || (l != QLatin1String("warning") && l != QLatin1String("error"));
    const bool warning = l != QLatin1String("error");
    QString rules;
    for (const char *category : {"sidecar.*", "default"}) {
        const QString c = QString::fromLatin1(category);
        rules += c + QStringLiteral(".debug=") + (debug ? QStringLiteral("true\n") : QStringLiteral("false\n"));
        rules += c + QStringLiteral(".info=") + (info ? QStringLiteral("true\n") : QStringLiteral("false\n"));
        rules += c + QStringLiteral(".warning=") + (warning ? QStringLiteral("true\n") : QStringLiteral("false\n"));
    }
    QLoggingCategory::setFilterRules(rules);
    return qInstallMessageHandler(writeToStderr);
}

} // namespace sidecar::daemon
