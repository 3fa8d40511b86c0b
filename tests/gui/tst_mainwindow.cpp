// The inspector's main window as a user first sees it: title, tabs, menus, status bar, and that
// it paints.

#include <QAction>
#include <QImage>
#include <QLabel>
#include <QMenu>
#include <QMenuBar>
#include <QPixmap>
#include <QSignalSpy>
#include <QStatusBar>
#include <QTabWidget>
#include <QTest>

#include "mainwindow.h"

using sidecar::inspector::MainWindow;

class TestMainWindow : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void titleAndStatus();
    void tabs();
    void menus();
    void connectShowsAStatusMessage();
    void paints();
};

void TestMainWindow::titleAndStatus()
{
    MainWindow window;
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QCOMPARE(window.windowTitle(), QStringLiteral("MCP State Inspector"));
    QCOMPARE(window.connectionStatus(), QStringLiteral("Not connected"));
    auto *label = window.statusBar()->findChild<QLabel *>(QStringLiteral("connectionStatus"));
    QVERIFY(label);
    QVERIFY(label->isVisible());
    QCOMPARE(label->text(), QStringLiteral("Not connected"));
}

void TestMainWindow::tabs()
{
    MainWindow window;
    window.show();
    QTabWidget *tabs = window.tabs();
    QVERIFY(tabs);
    QCOMPARE(window.centralWidget(), tabs);
    const QStringList expected = {QStringLiteral("Keys"), QStringLiteral("Workflows"),
                                  QStringLiteral("Leases"), QStringLiteral("Sessions"),
                                  QStringLiteral("History")};
    QStringList names;
    for (int i = 0; i < tabs->count(); ++i)
        names << tabs->tabText(i);
    QCOMPARE(names, expected);
    QCOMPARE(tabs->currentIndex(), 0);
}

void TestMainWindow::menus()
{
    MainWindow window;
    QStringList menuTitles;
    QStringList actionTexts;
    const auto menus = window.menuBar()->findChildren<QMenu *>(Qt::FindDirectChildrenOnly);
    for (QMenu *menu : menus) {
        menuTitles << menu->title();
        for (QAction *action : menu->actions()) {
            if (!action->isSeparator())
                actionTexts << action->text();
        }
    }
    QCOMPARE(menuTitles, (QStringList{QStringLiteral("&File"), QStringLiteral("&Help")}));
    QVERIFY2(actionTexts.contains(QStringLiteral("&Connect…")), qPrintable(actionTexts.join(u", ")));
    QVERIFY(actionTexts.contains(QStringLiteral("&Quit")));
    QVERIFY(actionTexts.contains(QStringLiteral("&About")));
}

void TestMainWindow::connectShowsAStatusMessage()
{
    MainWindow window;
    window.show();
    QSignalSpy requested(&window, &MainWindow::connectRequested);
    QVERIFY(window.connectAction());
    window.connectAction()->trigger();
    QCOMPARE(requested.count(), 1);
    QVERIFY(!window.statusBar()->currentMessage().isEmpty());
    QCOMPARE(window.connectionStatus(), QStringLiteral("Not connected"));
}

void TestMainWindow::paints()
{
    MainWindow window;
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    const QPixmap pixmap = window.grab();
    QVERIFY(!pixmap.isNull());
    QCOMPARE(pixmap.size(), window.size() * pixmap.devicePixelRatio());
    const QImage image = pixmap.toImage();
    QVERIFY(!image.isNull());
    // Something was drawn: a window of one colour would mean nothing painted.
    const QRgb first = image.pixel(0, 0);
    bool varied = false;
    for (int y = 0; y < image.height() && !varied; y += 7) {
        for (int x = 0; x < image.width() && !varied; x += 7)
            varied = image.pixel(x, y) != first;
    }
    QVERIFY(varied);
    // A screenshot for humans when asked for: SIDECAR_GUI_SCREENSHOT=/path/to/file.png
    const QByteArray screenshot = qgetenv("SIDECAR_GUI_SCREENSHOT");
    if (!screenshot.isEmpty())
        QVERIFY(image.save(QString::fromLocal8Bit(screenshot)));
}

QTEST_MAIN(TestMainWindow)
#include "tst_mainwindow.moc"
