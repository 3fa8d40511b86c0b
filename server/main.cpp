// mcp-state-sidecar: the headless daemon. Everything lives in the daemon shell (daemon.h).

#include <QCoreApplication>
#include <QTextStream>

#include <cstdio>

#include "config.h"
#include "daemon.h"
#include "logging.h"

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("mcp-state-sidecar"));
    QCoreApplication::setApplicationVersion(QStringLiteral(SIDECAR_VERSION));

    QStringList args = QCoreApplication::arguments();
    const QString program = args.isEmpty() ? QStringLiteral("mcp-state-sidecar") : args.takeFirst().section(u'/', -1);
    // mcp-state-sidecar-http is the HTTP daemon (as in the original package): HTTP unless a later
    // flag says otherwise.
    if (program.endsWith(QLatin1String("-http")))
        args.prepend(QStringLiteral("--transport=http"));
    const auto outcome = sidecar::daemon::parseConfig(args, QProcessEnvironment::systemEnvironment(), program);
    if (!outcome.out.isEmpty())
        std::fputs(outcome.out.toLocal8Bit().constData(), stdout);
    if (!outcome.err.isEmpty())
        std::fputs((outcome.err + u'\n').toLocal8Bit().constData(), stderr);
    if (!outcome.config)
        return outcome.exitCode;

    sidecar::daemon::installLogging(outcome.config->logLevel);
    // A one-off import of the original package's Redis data: no transport, then exit.
    if (!outcome.config->importRedisFrom.isEmpty())
        return sidecar::daemon::runRedisImport(*outcome.config);
    // A one-off copy of the SQLite database: no transport, then exit.
    if (!outcome.config->backupTo.isEmpty())
        return sidecar::daemon::runBackup(*outcome.config);
    sidecar::daemon::Daemon daemon(*outcome.config);
    QObject::connect(&daemon, &sidecar::daemon::Daemon::stopped, &app, &QCoreApplication::exit, Qt::QueuedConnection);
    if (const int failed = daemon.start())
        return failed;
    return app.exec();
}
