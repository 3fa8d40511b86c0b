// mcp-state-inspector: the desktop client. Everything lives in the UI library (mainwindow.h).

#include <QApplication>
#include <QCommandLineParser>

#include "mainwindow.h"

int main(int argc, char *argv[])
{
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("mcp-state-inspector"));
    QApplication::setApplicationDisplayName(QStringLiteral("MCP State Inspector"));
    QApplication::setApplicationVersion(QStringLiteral(SIDECAR_VERSION));
    QApplication::setOrganizationName(QStringLiteral("mcp-state-sidecar"));
    QApplication::setDesktopFileName(
        QStringLiteral("mcp-state-inspector")); // packaging/mcp-state-inspector.desktop

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Browse and watch the state of an MCP State Sidecar."));
    parser.addHelpOption();
    parser.addVersionOption();
    parser.process(app);

    sidecar::inspector::MainWindow window;
    window.show();
    return QApplication::exec();
}
