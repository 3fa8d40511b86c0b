#include "mainwindow.h"

#include <QAction>
#include <QApplication>
#include <QKeySequence>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QStatusBar>
#include <QTabWidget>
#include <QVBoxLayout>

namespace sidecar::inspector {

namespace {

constexpr int kStatusMessageMs = 5000;

// A tab's body until its view and model exist: one centred line saying what will be shown.
QWidget *placeholder(const QString &objectName, const QString &text)
{
    auto *page = new QWidget;
    page->setObjectName(objectName);
    auto *layout = new QVBoxLayout(page);
    auto *label = new QLabel(text, page);
    label->setAlignment(Qt::AlignCenter);
    label->setWordWrap(true);
    label->setEnabled(false); // drawn greyed: there is nothing to interact with yet
    layout->addWidget(label);
    return page;
}

} // namespace

MainWindow::MainWindow(QWidget *parent) : QMainWindow(parent)
{
    setWindowTitle(tr("MCP State Inspector"));
    setObjectName(QStringLiteral("MainWindow"));
    resize(1000, 650);

    createTabs();
    createMenus();

    m_connectionLabel = new QLabel(tr("Not connected"), this);
    m_connectionLabel->setObjectName(QStringLiteral("connectionStatus"));
    statusBar()->addPermanentWidget(m_connectionLabel);

    connect(this, &MainWindow::connectRequested, this, &MainWindow::onConnectRequested);
}

MainWindow::~MainWindow() = default;

QString MainWindow::connectionStatus() const
{
    return m_connectionLabel->text();
}

void MainWindow::createTabs()
{
    m_tabs = new QTabWidget(this);
    m_tabs->setObjectName(QStringLiteral("stateTabs"));
    m_tabs->setDocumentMode(true);
    const struct
    {
        const char *objectName;
        const char *title;
        const char *description;
    } pages[] = {
        {"keysPage", QT_TR_NOOP("Keys"), QT_TR_NOOP("Keys of the connected sidecar, as a tree by prefix.")},
        {"workflowsPage", QT_TR_NOOP("Workflows"),
         QT_TR_NOOP("Workflow runs, their status, claims and steps.")},
        {"leasesPage", QT_TR_NOOP("Leases"), QT_TR_NOOP("Live leases, their holders, fences and expiry.")},
        {"sessionsPage", QT_TR_NOOP("Sessions"), QT_TR_NOOP("Saved agent sessions.")},
        {"historyPage", QT_TR_NOOP("History"), QT_TR_NOOP("The history of every change, newest first.")},
    };
    for (const auto &page : pages)
        m_tabs->addTab(placeholder(QLatin1StringView(page.objectName), tr(page.description)), tr(page.title));
    setCentralWidget(m_tabs);
}

void MainWindow::createMenus()
{
    QMenu *fileMenu = menuBar()->addMenu(tr("&File"));
    m_connectAction = fileMenu->addAction(tr("&Connect…"));
    m_connectAction->setObjectName(QStringLiteral("connectAction"));
    m_connectAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_K));
    m_connectAction->setStatusTip(tr("Connect to a sidecar over stdio or Streamable HTTP"));
    connect(m_connectAction, &QAction::triggered, this, &MainWindow::connectRequested);
    fileMenu->addSeparator();
    QAction *quitAction = fileMenu->addAction(tr("&Quit"));
    quitAction->setObjectName(QStringLiteral("quitAction"));
    quitAction->setShortcut(QKeySequence::Quit);
    quitAction->setMenuRole(QAction::QuitRole);
    connect(quitAction, &QAction::triggered, this, &QWidget::close);

    QMenu *helpMenu = menuBar()->addMenu(tr("&Help"));
    QAction *aboutAction = helpMenu->addAction(tr("&About"));
    aboutAction->setObjectName(QStringLiteral("aboutAction"));
    aboutAction->setMenuRole(QAction::AboutRole);
    connect(aboutAction, &QAction::triggered, this, &MainWindow::showAbout);
    QAction *aboutQtAction = helpMenu->addAction(tr("About &Qt"));
    aboutQtAction->setMenuRole(QAction::AboutQtRole);
    connect(aboutQtAction, &QAction::triggered, qApp, &QApplication::aboutQt);
}

void MainWindow::showAbout()
{
    QMessageBox::about(this, tr("About MCP State Inspector"),
                       tr("<h3>MCP State Inspector %1</h3>"
                          "<p>Browses and watches the keys, workflows, leases, sessions and history of an "
                          "MCP State Sidecar.</p>"
                          "<p>Released under the MIT License.</p>")
                           .arg(QStringLiteral(SIDECAR_VERSION)));
}

void MainWindow::onConnectRequested()
{
    statusBar()->showMessage(tr("Connecting is not available in this version yet"), kStatusMessageMs);
}

} // namespace sidecar::inspector
