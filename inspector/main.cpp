// mcp-state-inspector: the desktop client. Everything lives in the UI library (mainwindow.h); this
// file reads the command line and opens the window:
//
//   mcp-state-inspector [--url URL [--token T] | --command "cmd args" | --db FILE] [--read-only]
//
// connects at start to an HTTP endpoint, a stdio command, or a SQLite file (opened by launching
// the sidecar on it). A token on the command line is visible to other local users (ps); the
// connection dialog or MCP_STATE_INSPECTOR_TOKEN keep it out of the process list.

#include <QApplication>
#include <QCommandLineParser>
#include <QLoggingCategory>
#include <QUrl>

#include <cstdio>
#include <optional>

#include "connection.h"
#include "mainwindow.h"

using sidecar::inspector::ConnectionSpec;
using sidecar::inspector::MainWindow;

int main(int argc, char *argv[])
{
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("mcp-state-inspector"));
    QApplication::setApplicationDisplayName(QStringLiteral("MCP State Inspector"));
    QApplication::setApplicationVersion(QStringLiteral(SIDECAR_VERSION));
    QApplication::setOrganizationName(QStringLiteral("mcp-state-sidecar"));
    QApplication::setDesktopFileName(
        QStringLiteral("mcp-state-inspector")); // packaging/mcp-state-inspector.desktop
    QApplication::setWindowIcon(MainWindow::applicationIcon());
    // The client library's debug lines (every state change) are for its tests, not for users;
    // QT_LOGGING_RULES still turns them on.
    if (qEnvironmentVariableIsEmpty("QT_LOGGING_RULES"))
        QLoggingCategory::setFilterRules(QStringLiteral("sidecar.*.debug=false"));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Browse and watch the state of an MCP State Sidecar.\n\n"
        "Without a connection option, the window opens unconnected (File > Connect, Ctrl+O)."));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption url(QStringLiteral("url"),
                                 QStringLiteral("Connect to the sidecar's Streamable HTTP endpoint, e.g. %1.")
                                     .arg(ConnectionSpec::defaultUrl().toString()),
                                 QStringLiteral("URL"));
    const QCommandLineOption token(
        QStringLiteral("token"),
        QStringLiteral("Bearer token for --url (default: $MCP_STATE_INSPECTOR_TOKEN)."), QStringLiteral("T"));
    const QCommandLineOption command(
        QStringLiteral("command"),
        QStringLiteral("Launch this command line and speak MCP over its stdio; leading "
                       "NAME=value words set its environment."),
        QStringLiteral("cmd args"));
    const QCommandLineOption db(
        QStringLiteral("db"),
        QStringLiteral("Open this SQLite file by launching mcp-state-sidecar on it over stdio."),
        QStringLiteral("FILE"));
    const QCommandLineOption readOnly(
        QStringLiteral("read-only"),
        QStringLiteral("Start in read-only mode: no action that changes state."));
    parser.addOptions({url, token, command, db, readOnly});
    parser.process(app);

    const auto fatal = [](const QString &message) {
        std::fprintf(stderr, "mcp-state-inspector: %s\n", qPrintable(message));
        return 2;
    };
    if (!parser.positionalArguments().isEmpty())
        return fatal(QStringLiteral("unexpected argument \"%1\" (see --help)")
                         .arg(parser.positionalArguments().first()));
    const int targets = int(parser.isSet(url)) + int(parser.isSet(command)) + int(parser.isSet(db));
    if (targets > 1)
        return fatal(QStringLiteral("give only one of --url, --command and --db"));
    if (parser.isSet(token) && !parser.isSet(url))
        return fatal(QStringLiteral("--token goes with --url"));

    std::optional<ConnectionSpec> spec;
    if (parser.isSet(url)) {
        QByteArray bearer = parser.value(token).toUtf8();
        if (bearer.isEmpty())
            bearer = qgetenv("MCP_STATE_INSPECTOR_TOKEN");
        spec = ConnectionSpec::http(QUrl::fromUserInput(parser.value(url)), bearer);
    } else if (parser.isSet(command)) {
        spec = ConnectionSpec::stdioCommand(parser.value(command));
    } else if (parser.isSet(db)) {
        spec = ConnectionSpec::database(parser.value(db));
    }
    if (spec) {
        if (const QString problem = spec->problem(); !problem.isEmpty())
            return fatal(problem);
    }

    MainWindow window;
    window.setReadOnly(parser.isSet(readOnly));
    window.show();
    if (spec)
        window.connectTo(*spec);
    return QApplication::exec();
}
