// The Keys tab against a real server over Streamable HTTP, with another MCP session acting as a
// second agent: the tree by prefix (folders, lazy paging, filter, separator), the selected key's
// exact value and details, live updates (and pausing them), the TTL countdown, create / edit with
// conflict detection / delete with confirmation, read-only mode and the shortcuts. Also the JSON
// viewer and the editor's validation on their own.

#include <QAbstractButton>
#include <QAction>
#include <QApplication>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QTest>
#include <QTextBlock>
#include <QTextLayout>
#include <QToolBar>
#include <QTreeView>

#include <memory>

#include "client/clienttransport.h"
#include "client/mcpclient.h"
#include "client/sidecarclient.h"
#include "httpserverprocess.h"
#include "jsoneditor.h"
#include "jsonviewer.h"
#include "keysview.h"
#include "keytreemodel.h"
#include "protocol/json.h"

using namespace sidecar;
using sidecar::inspector::JsonEditor;
using sidecar::inspector::JsonToken;
using sidecar::inspector::JsonTreeModel;
using sidecar::inspector::JsonViewer;
using sidecar::inspector::KeysView;
using sidecar::inspector::KeyTreeModel;

namespace {

constexpr int kWaitMs = 20000;

// The row of `model` under `parent` whose key column shows `key`.
QModelIndex childNamed(const QAbstractItemModel *model, const QModelIndex &parent, const QString &key)
{
    for (int row = 0; row < model->rowCount(parent); ++row) {
        const QModelIndex index = model->index(row, 0, parent);
        if (index.data().toString() == key)
            return index;
    }
    return {};
}

QString cell(const QModelIndex &keyIndex, int column, int role = Qt::DisplayRole)
{
    return keyIndex.siblingAtColumn(column).data(role).toString();
}

QColor colour(const QModelIndex &keyIndex, int column)
{
    return keyIndex.siblingAtColumn(column).data(Qt::ForegroundRole).value<QColor>();
}

// The colour the highlighter gave the text at `position` of `block` (invalid when none).
QColor highlightAt(const QTextBlock &block, int position)
{
    const auto formats = block.layout()->formats();
    for (const QTextLayout::FormatRange &range : formats) {
        if (position >= range.start && position < range.start + range.length)
            return range.format.foreground().color();
    }
    return {};
}

} // namespace

class TestKeysView : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();

    void jsonViewerShowsExactNumbersAndColours();
    void jsonViewerFoldsAndKeepsExpansion();
    void jsonViewerRawMode();
    void editorValidates();

    void treeByPrefixIsLive();
    void selectedKeyShowsExactValue();
    void editConflictIsReportedNotOverwritten();
    void editAndCreate();
    void ttlCountsDownAndDisappears();
    void deleteAsksAndDeletes();
    void readOnlyHidesActions();
    void filterAndSeparator();
    void pausedCatchesUpOnUnpause();
    void pagesLazily();
    void shortcuts();

private:
    // Calls a tool as the other agent; the structuredContent.
    QByteArray otherCall(const QString &tool, const QByteArray &arguments);
    qint64 otherSet(const QString &key, const QByteArray &value, const QByteArray &extra = {});
    // The key's stored value as the server has it ("null" when absent).
    QByteArray storedValue(const QString &key);
    void showKeyOf(const QString &key);

    std::unique_ptr<test::HttpServerProcess> m_server;
    std::unique_ptr<test::McpHttpClient> m_other;
    std::unique_ptr<client::McpClient> m_mcp;
    std::unique_ptr<client::SidecarClient> m_client;
    std::unique_ptr<KeysView> m_view;
};

QByteArray TestKeysView::otherCall(const QString &tool, const QByteArray &arguments)
{
    auto answer = m_other->call(tool, arguments);
    if (!answer) {
        qWarning("%s: %s", qPrintable(tool), qPrintable(m_other->errorString()));
        return {};
    }
    const json::Value *result = answer->root().find("result");
    const json::Value *content = result ? result->find("structuredContent") : nullptr;
    return content ? content->compact() : QByteArray();
}

qint64 TestKeysView::otherSet(const QString &key, const QByteArray &value, const QByteArray &extra)
{
    json::Writer w;
    w.beginObject().field("key", key).key("value").raw(value).field("agent_id", "other-agent").endObject();
    QByteArray arguments = w.take();
    if (!extra.isEmpty()) {
        arguments.chop(1);
        arguments += ',' + extra + '}';
    }
    const QByteArray result = otherCall(QStringLiteral("state_set"), arguments);
    auto document = json::parse(result);
    if (!document || !document->root().find("version"))
        return -1;
    return document->root().find("version")->toInt64().value_or(-1);
}

QByteArray TestKeysView::storedValue(const QString &key)
{
    json::Writer w;
    w.beginObject().field("key", key).endObject();
    auto document = json::parse(otherCall(QStringLiteral("state_get"), w.take()));
    if (!document || !document->root().find("value"))
        return {};
    return document->root().find("value")->compact();
}

// Walks the tree to `key` the way a user does: expands each folder on the way and selects it.
void TestKeysView::showKeyOf(const QString &key)
{
    KeyTreeModel *model = m_view->model();
    const QString separator(m_view->separator());
    const QStringList parts = key.split(separator);
    QString prefix;
    for (int i = 0; i + 1 < parts.size(); ++i) {
        prefix += parts[i] + separator;
        QTRY_VERIFY2_WITH_TIMEOUT(model->indexOf(prefix, true).isValid(), qPrintable(prefix), kWaitMs);
        m_view->treeView()->expand(model->indexOf(prefix, true));
    }
    QTRY_VERIFY2_WITH_TIMEOUT(model->indexOf(key).isValid(), qPrintable(key), kWaitMs);
    m_view->treeView()->setCurrentIndex(model->indexOf(key));
    QTRY_COMPARE_WITH_TIMEOUT(m_view->selectedKey(), key, kWaitMs);
    QTRY_VERIFY_WITH_TIMEOUT(m_view->shownVersion().has_value(), kWaitMs);
}

void TestKeysView::initTestCase()
{
    m_server = std::make_unique<test::HttpServerProcess>();
    QVERIFY2(m_server->start(), qPrintable(m_server->errorString()));
    m_other = std::make_unique<test::McpHttpClient>(m_server->port());
    QVERIFY2(m_other->initialize(), qPrintable(m_other->errorString()));

    const QUrl url(QStringLiteral("http://127.0.0.1:%1/mcp").arg(m_server->port()));
    m_mcp = std::make_unique<client::McpClient>(std::make_unique<client::HttpClientTransport>(url));
    m_mcp->connectToServer();
    QTRY_VERIFY_WITH_TIMEOUT(m_mcp->isReady(), kWaitMs);
    m_client = std::make_unique<client::SidecarClient>(*m_mcp);

    m_view = std::make_unique<KeysView>();
    m_view->resize(1100, 700);
    m_view->setSeparator(u'/');
    m_view->show();
    QVERIFY(QTest::qWaitForWindowExposed(m_view.get()));
    m_view->setClient(m_client.get());
    QTRY_VERIFY_WITH_TIMEOUT(m_view->model()->isLoaded({}), kWaitMs);
    QCOMPARE(m_view->model()->rowCount(), 0); // a fresh database
    QTRY_COMPARE_WITH_TIMEOUT(m_mcp->pendingCount(), 0, kWaitMs); // subscribed to state://kv
}

void TestKeysView::cleanupTestCase()
{
    if (m_view)
        m_view->setClient(nullptr);
    m_view.reset();
    m_client.reset();
    m_mcp.reset();
    m_other.reset();
    if (m_server) {
        m_server->terminate();
        m_server->waitForExit();
    }
}

// ---------------------------------------------------------------- the JSON viewer alone

void TestKeysView::jsonViewerShowsExactNumbersAndColours()
{
    JsonViewer viewer;
    const QByteArray json = R"({"big":12345678901234567890,"dec":1.50,"exp":1E+2,"s":"a\"b\u00e9",)"
                            R"("t":true,"f":false,"n":null,"arr":[1,{"k":[]}],"o":{}})";
    viewer.setJson(json);
    QCOMPARE(viewer.json(), json);
    const QAbstractItemModel *model = viewer.model();
    QCOMPARE(model->rowCount(), 9);
    const QPalette palette = viewer.palette();

    const QModelIndex big = childNamed(model, {}, QStringLiteral("big"));
    QVERIFY(big.isValid());
    QCOMPARE(cell(big, JsonTreeModel::ValueColumn), QStringLiteral("12345678901234567890"));
    QCOMPARE(big.data(JsonTreeModel::JsonRole).toByteArray(), QByteArray("12345678901234567890"));
    QCOMPARE(cell(childNamed(model, {}, QStringLiteral("dec")), JsonTreeModel::ValueColumn), QStringLiteral("1.50"));
    QCOMPARE(cell(childNamed(model, {}, QStringLiteral("exp")), JsonTreeModel::ValueColumn), QStringLiteral("1E+2"));
    const QModelIndex s = childNamed(model, {}, QStringLiteral("s"));
    QCOMPARE(s.data(JsonTreeModel::JsonRole).toByteArray(), QByteArray(R"("a\"b\u00e9")")); // escapes as sent
    QCOMPARE(cell(s, JsonTreeModel::ValueColumn, Qt::ToolTipRole), QStringLiteral("a\"b\u00e9"));
    QCOMPARE(cell(s, JsonTreeModel::TypeColumn), QStringLiteral("string"));

    // Colours: keys, then each value kind.
    QCOMPARE(colour(big, JsonTreeModel::KeyColumn), inspector::jsonTokenColor(JsonToken::Key, palette));
    QCOMPARE(colour(big, JsonTreeModel::ValueColumn), inspector::jsonTokenColor(JsonToken::Number, palette));
    QCOMPARE(colour(s, JsonTreeModel::ValueColumn), inspector::jsonTokenColor(JsonToken::String, palette));
    const QModelIndex t = childNamed(model, {}, QStringLiteral("t"));
    QCOMPARE(colour(t, JsonTreeModel::ValueColumn), inspector::jsonTokenColor(JsonToken::Boolean, palette));
    QCOMPARE(colour(childNamed(model, {}, QStringLiteral("f")), JsonTreeModel::ValueColumn),
             inspector::jsonTokenColor(JsonToken::Boolean, palette));
    const QModelIndex n = childNamed(model, {}, QStringLiteral("n"));
    QCOMPARE(colour(n, JsonTreeModel::ValueColumn), inspector::jsonTokenColor(JsonToken::Null, palette));
    QCOMPARE(cell(n, JsonTreeModel::ValueColumn), QStringLiteral("null"));
    const QModelIndex arr = childNamed(model, {}, QStringLiteral("arr"));
    QCOMPARE(colour(arr, JsonTreeModel::ValueColumn), inspector::jsonTokenColor(JsonToken::Summary, palette));
    QCOMPARE(arr.data(JsonTreeModel::TokenRole).toInt(), int(JsonToken::Summary));
    const QModelIndex item0 = model->index(0, 0, arr);
    QCOMPARE(item0.data().toString(), QStringLiteral("[0]"));
    QCOMPARE(colour(item0, JsonTreeModel::KeyColumn), inspector::jsonTokenColor(JsonToken::Index, palette));
    QCOMPARE(colour(item0, JsonTreeModel::ValueColumn), inspector::jsonTokenColor(JsonToken::Number, palette));
    QVERIFY(inspector::jsonTokenColor(JsonToken::Key, palette) != inspector::jsonTokenColor(JsonToken::String, palette));
    QVERIFY(inspector::jsonTokenColor(JsonToken::Number, palette)
            != inspector::jsonTokenColor(JsonToken::Boolean, palette));
    QVERIFY(inspector::jsonTokenColor(JsonToken::Null, palette)
            != inspector::jsonTokenColor(JsonToken::Boolean, palette));

    // Paths and subtrees.
    const QModelIndex k = model->index(0, 0, model->index(1, 0, arr));
    QCOMPARE(k.data().toString(), QStringLiteral("k"));
    QCOMPARE(k.data(JsonTreeModel::PathRole).toString(), QStringLiteral("$.arr[1].k"));
    QCOMPARE(model->index(1, 0, arr).data(JsonTreeModel::JsonRole).toByteArray(), QByteArray(R"({"k":[]})"));
    QCOMPARE(cell(childNamed(model, {}, QStringLiteral("o")), JsonTreeModel::ValueColumn), QStringLiteral("{}"));

    // A scalar document is one row; a document that is not JSON is shown as text with the error.
    viewer.setJson("12345678901234567890123");
    QCOMPARE(model->rowCount(), 1);
    QCOMPARE(cell(model->index(0, 0), JsonTreeModel::ValueColumn), QStringLiteral("12345678901234567890123"));
    viewer.setJson("{\"a\":\n tru}");
    QVERIFY(!viewer.model()->isValid());
    QVERIFY2(viewer.model()->errorString().contains(QStringLiteral("line 2")), qPrintable(viewer.model()->errorString()));
    QVERIFY(viewer.rawView()->isVisibleTo(&viewer));
    QCOMPARE(viewer.rawView()->toPlainText(), QStringLiteral("{\"a\":\n tru}"));
}

void TestKeysView::jsonViewerFoldsAndKeepsExpansion()
{
    JsonViewer viewer;
    viewer.resize(600, 400);
    viewer.show();
    QVERIFY(QTest::qWaitForWindowExposed(&viewer));
    viewer.setJson(R"({"a":{"b":{"c":1}},"list":[1,2,{"x":true}]})");
    QTreeView *tree = viewer.treeView();
    const QAbstractItemModel *model = viewer.model();
    const QModelIndex a = childNamed(model, {}, QStringLiteral("a"));
    const QModelIndex list = childNamed(model, {}, QStringLiteral("list"));
    // A small value opens fully.
    QVERIFY(tree->isExpanded(a));
    QVERIFY(tree->isExpanded(model->index(0, 0, a)));
    QVERIFY(tree->isExpanded(list));
    QVERIFY(model->index(0, 0, list).flags() & Qt::ItemNeverHasChildren); // a scalar cannot unfold

    viewer.collapseAll();
    QVERIFY(!tree->isExpanded(a));
    QVERIFY(!tree->isExpanded(list));
    viewer.expandAll();
    QVERIFY(tree->isExpanded(a));
    QVERIFY(tree->isExpanded(model->index(2, 0, list)));

    // A live update of the same value keeps what the user folded.
    tree->collapse(a);
    viewer.setJson(R"({"a":{"b":{"c":2}},"list":[1,2,{"x":false}],"new":{"y":1}})", true);
    const QModelIndex a2 = childNamed(model, {}, QStringLiteral("a"));
    const QModelIndex list2 = childNamed(model, {}, QStringLiteral("list"));
    QVERIFY(!tree->isExpanded(a2));
    QVERIFY(tree->isExpanded(list2));
    QVERIFY(tree->isExpanded(model->index(2, 0, list2)));

    // A big value opens one level only.
    QByteArray big = "{";
    for (int i = 0; i < 200; ++i)
        big += (i ? "," : "") + QByteArray("\"k") + QByteArray::number(i) + "\":[1,2]";
    big += '}';
    viewer.setJson(big);
    QCOMPARE(model->rowCount(), 200);
    QVERIFY(!tree->isExpanded(model->index(0, 0)));

    viewer.clear(QStringLiteral("Nothing"));
    QCOMPARE(model->rowCount(), 0);
    QCOMPARE(viewer.placeholderText(), QStringLiteral("Nothing"));
}

void TestKeysView::jsonViewerRawMode()
{
    JsonViewer viewer;
    viewer.resize(600, 400);
    viewer.show();
    QVERIFY(QTest::qWaitForWindowExposed(&viewer));
    const QByteArray json = R"({"big":12345678901234567890,"s":"x, y: {z}","e":[],"n":null,"t":true})";
    viewer.setJson(json);
    QSignalSpy modes(&viewer, &JsonViewer::modeChanged);
    viewer.setMode(JsonViewer::Mode::Raw);
    QCOMPARE(modes.count(), 1);
    QVERIFY(viewer.rawView()->isVisible());
    const QString pretty = viewer.rawView()->toPlainText();
    QCOMPARE(pretty, QStringLiteral("{\n  \"big\": 12345678901234567890,\n  \"s\": \"x, y: {z}\",\n  \"e\": [],\n"
                                    "  \"n\": null,\n  \"t\": true\n}"));
    QCOMPARE(json::minify(pretty.toStdString()), json); // only whitespace was added

    // Colours in the text: the key, the big number, null, true.
    const QTextBlock line = viewer.rawView()->document()->findBlockByNumber(1);
    const QPalette palette = QApplication::palette();
    QCOMPARE(highlightAt(line, 3), inspector::jsonTokenColor(JsonToken::Key, palette));
    QCOMPARE(highlightAt(line, 10), inspector::jsonTokenColor(JsonToken::Number, palette));
    const QTextBlock stringLine = viewer.rawView()->document()->findBlockByNumber(2);
    QCOMPARE(highlightAt(stringLine, 8), inspector::jsonTokenColor(JsonToken::String, palette));
    QCOMPARE(highlightAt(viewer.rawView()->document()->findBlockByNumber(4), 8),
             inspector::jsonTokenColor(JsonToken::Null, palette));
    QCOMPARE(highlightAt(viewer.rawView()->document()->findBlockByNumber(5), 8),
             inspector::jsonTokenColor(JsonToken::Boolean, palette));

    viewer.setPretty(false);
    QCOMPARE(viewer.rawView()->toPlainText().toUtf8(), json); // exactly as stored
    viewer.setMode(JsonViewer::Mode::Tree);
    QVERIFY(viewer.treeView()->isVisible());
}

void TestKeysView::editorValidates()
{
    auto ok = JsonEditor::validate("{\n  \"b\": 12345678901234567890,\n  \"a\": \"\\u00e9\"\n}");
    QVERIFY(ok.has_value());
    QCOMPARE(*ok, QByteArray(R"({"b":12345678901234567890,"a":"\u00e9"})"));
    auto bad = JsonEditor::validate("{\n  \"a\": 1,\n  \"b\": }");
    QVERIFY(!bad);
    QVERIFY2(bad.error().message.startsWith(QStringLiteral("Line 3, column")), qPrintable(bad.error().message));
    auto dup = JsonEditor::validate(R"({"a":1,"a":2})");
    QVERIFY(!dup);
    QVERIFY(dup.error().message.contains(QStringLiteral("twice")));
    QVERIFY(!JsonEditor::validate("  "));

    JsonEditor editor(JsonEditor::Mode::Create);
    editor.setKey(QStringLiteral("k"));
    editor.setText(QStringLiteral("[1, 2"));
    QVERIFY(!editor.isValid());
    auto *okButton = editor.findChild<QPushButton *>(QStringLiteral("editorOk"));
    QVERIFY(okButton);
    QVERIFY(!okButton->isEnabled());
    editor.setText(QStringLiteral("[1, 2.50]"));
    QVERIFY(editor.isValid());
    QVERIFY(okButton->isEnabled());
    QCOMPARE(editor.valueJson(), QByteArray("[1,2.50]"));
    QVERIFY(!editor.ttl().has_value());
    editor.setTtl(30);
    QCOMPARE(editor.ttl(), std::optional<double>(30));
    editor.setKey(QString());
    QVERIFY(!editor.isValid());
}

// ---------------------------------------------------------------- against the server

void TestKeysView::treeByPrefixIsLive()
{
    KeyTreeModel *model = m_view->model();
    QCOMPARE(model->rowCount(), 0);
    // Set by another agent after the view listed the (empty) store: it appears by itself.
    QVERIFY(otherSet(QStringLiteral("team/a/x"), R"({"big":12345678901234567890,"name":"x"})") > 0);
    QTRY_VERIFY_WITH_TIMEOUT(model->indexOf(QStringLiteral("team/"), true).isValid(), kWaitMs);
    const QModelIndex team = model->indexOf(QStringLiteral("team/"), true);
    QCOMPARE(team.data().toString(), QStringLiteral("team/"));
    QVERIFY(team.data(KeyTreeModel::IsFolderRole).toBool());
    QVERIFY(model->hasChildren(team));
    QCOMPARE(model->rowCount(team), 0); // not listed until expanded

    m_view->treeView()->expand(team);
    QTRY_VERIFY_WITH_TIMEOUT(model->indexOf(QStringLiteral("team/a/"), true).isValid(), kWaitMs);
    const QModelIndex a = model->indexOf(QStringLiteral("team/a/"), true);
    QCOMPARE(a.data().toString(), QStringLiteral("a/"));
    QCOMPARE(a.parent(), model->indexOf(QStringLiteral("team/"), true));
    m_view->treeView()->expand(a);
    QTRY_VERIFY_WITH_TIMEOUT(model->indexOf(QStringLiteral("team/a/x")).isValid(), kWaitMs);
    const QModelIndex x = model->indexOf(QStringLiteral("team/a/x"));
    QCOMPARE(x.data().toString(), QStringLiteral("x"));
    QCOMPARE(x.data(KeyTreeModel::NameRole).toString(), QStringLiteral("team/a/x"));
    QVERIFY(!model->hasChildren(x));

    // A sibling set later shows in the expanded folder, in order.
    QVERIFY(otherSet(QStringLiteral("team/a/w"), "1") > 0);
    QTRY_VERIFY_WITH_TIMEOUT(model->indexOf(QStringLiteral("team/a/w")).isValid(), kWaitMs);
    const QModelIndex folder = model->indexOf(QStringLiteral("team/a/"), true);
    QCOMPARE(model->rowCount(folder), 2);
    QCOMPARE(model->index(0, 0, folder).data().toString(), QStringLiteral("w"));
    QCOMPARE(model->index(1, 0, folder).data().toString(), QStringLiteral("x"));
    QVERIFY(m_view->treeView()->isExpanded(model->indexOf(QStringLiteral("team/a/"), true))); // kept open
}

void TestKeysView::selectedKeyShowsExactValue()
{
    const QString key = QStringLiteral("team/a/x");
    showKeyOf(key);
    QCOMPARE(m_view->viewer()->json(), QByteArray(R"({"big":12345678901234567890,"name":"x"})"));
    const QModelIndex big = childNamed(m_view->viewer()->model(), {}, QStringLiteral("big"));
    QCOMPARE(cell(big, JsonTreeModel::ValueColumn), QStringLiteral("12345678901234567890"));
    auto *keyLabel = m_view->findChild<QLabel *>(QStringLiteral("keyName"));
    QCOMPARE(keyLabel->text(), key);
    auto *agent = m_view->findChild<QLabel *>(QStringLiteral("agentLabel"));
    QCOMPARE(agent->text(), QStringLiteral("other-agent"));
    auto *version = m_view->findChild<QLabel *>(QStringLiteral("versionLabel"));
    QCOMPARE(version->text(), QString::number(*m_view->shownVersion()));
    auto *updated = m_view->findChild<QLabel *>(QStringLiteral("updatedLabel"));
    const QString today = QDate::currentDate().toString(Qt::ISODate);
    QVERIFY2(updated->text().startsWith(today + u'T'), qPrintable(updated->text()));
    QCOMPARE(m_view->ttlText(), QStringLiteral("no expiry"));
    QVERIFY(m_view->editAction()->isEnabled());

    // Another agent changes the key: the view follows.
    const qint64 v2 = otherSet(key, R"({"big":12345678901234567890,"name":"x2"})");
    QTRY_COMPARE_WITH_TIMEOUT(m_view->shownVersion(), std::optional<qint64>(v2), kWaitMs);
    QCOMPARE(m_view->viewer()->json(), QByteArray(R"({"big":12345678901234567890,"name":"x2"})"));
}

void TestKeysView::editConflictIsReportedNotOverwritten()
{
    const QString key = QStringLiteral("team/a/x");
    showKeyOf(key);
    const qint64 seen = *m_view->shownVersion();

    // The user opens the editor on the version shown...
    m_view->editSelected();
    JsonEditor *editor = nullptr;
    QTRY_VERIFY((editor = m_view->findChild<JsonEditor *>()) != nullptr);
    QCOMPARE(editor->mode(), JsonEditor::Mode::Edit);
    QCOMPARE(editor->key(), key);
    QCOMPARE(editor->valueJson(), m_view->viewer()->json());
    editor->setText(QStringLiteral("{\"mine\": true}"));

    // ...another agent writes meanwhile (the view shows it)...
    const QByteArray theirs = R"({"theirs":12345678901234567890})";
    const qint64 current = otherSet(key, theirs);
    QVERIFY(current > seen);
    QTRY_COMPARE_WITH_TIMEOUT(m_view->shownVersion(), std::optional<qint64>(current), kWaitMs);

    // ...and the user saves: refused, reported with both versions, nothing overwritten.
    QSignalSpy finished(m_view.get(), &KeysView::writeFinished);
    QSignalSpy status(m_view.get(), &KeysView::statusMessage);
    editor->accept();
    QTRY_VERIFY(m_view->findChild<JsonEditor *>() == nullptr);
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, kWaitMs);
    QCOMPARE(finished.at(0).at(1).toBool(), false);
    const QString message = m_view->conflictMessage();
    QVERIFY2(message.contains(QStringLiteral("now at version %1").arg(current)), qPrintable(message));
    QVERIFY2(message.contains(QStringLiteral("you edited version %1").arg(seen)), qPrintable(message));
    QVERIFY(!status.isEmpty());
    QCOMPARE(status.last().at(0).toString(), message);
    QCOMPARE(storedValue(key), theirs);
    auto *banner = m_view->findChild<QWidget *>(QStringLiteral("conflictBanner"));
    QVERIFY(banner->isVisible());
    QVERIFY(!m_view->grab().isNull()); // it paints with the banner

    // The same through the API: an old version never overwrites.
    finished.clear();
    m_view->saveValue(key, "{\"mine\":2}", seen);
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, kWaitMs);
    QCOMPARE(finished.at(0).at(1).toBool(), false);
    QCOMPARE(storedValue(key), theirs);

    // Reload offered: it shows the current value and hides the banner.
    auto *reload = m_view->findChild<QPushButton *>(QStringLiteral("conflictReload"));
    QVERIFY(reload->isVisible());
    reload->click();
    QVERIFY(m_view->conflictMessage().isEmpty());
    QTRY_COMPARE_WITH_TIMEOUT(m_view->viewer()->json(), theirs, kWaitMs);
}

void TestKeysView::editAndCreate()
{
    const QString key = QStringLiteral("team/a/x");
    showKeyOf(key);
    const qint64 version = *m_view->shownVersion();
    QSignalSpy finished(m_view.get(), &KeysView::writeFinished);

    // Invalid JSON is not sent.
    m_view->saveValue(key, "{\"a\":", version);
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, kWaitMs);
    QCOMPARE(finished.at(0).at(1).toBool(), false);
    QVERIFY(m_view->conflictMessage().contains(QStringLiteral("Line 1")));
    QCOMPARE(*m_view->shownVersion(), version);

    finished.clear();
    m_view->saveValue(key, "{\"mine\": 98765432109876543210}", version);
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, kWaitMs);
    QCOMPARE(finished.at(0).at(1).toBool(), true);
    QCOMPARE(storedValue(key), QByteArray(R"({"mine":98765432109876543210})"));
    QTRY_VERIFY_WITH_TIMEOUT(*m_view->shownVersion() > version, kWaitMs);
    QCOMPARE(m_view->viewer()->json(), QByteArray(R"({"mine":98765432109876543210})"));
    auto *agent = m_view->findChild<QLabel *>(QStringLiteral("agentLabel"));
    QCOMPARE(agent->text(), m_view->agentId());

    // Create: through the dialog, only if absent.
    finished.clear();
    m_view->newKey();
    JsonEditor *editor = nullptr;
    QTRY_VERIFY((editor = m_view->findChild<JsonEditor *>()) != nullptr);
    QCOMPARE(editor->mode(), JsonEditor::Mode::Create);
    QCOMPARE(editor->key(), QStringLiteral("team/a/")); // the folder of the selected key
    editor->setKey(QStringLiteral("team/a/new"));
    editor->setText(QStringLiteral("[1, 2.50, \"z\"]"));
    editor->accept();
    QTRY_VERIFY(m_view->findChild<JsonEditor *>() == nullptr);
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, kWaitMs);
    QCOMPARE(finished.at(0).at(1).toBool(), true);
    QCOMPARE(storedValue(QStringLiteral("team/a/new")), QByteArray(R"([1,2.50,"z"])"));
    QTRY_COMPARE_WITH_TIMEOUT(m_view->selectedKey(), QStringLiteral("team/a/new"), kWaitMs);
    QTRY_VERIFY_WITH_TIMEOUT(m_view->model()->indexOf(QStringLiteral("team/a/new")).isValid(), kWaitMs);

    finished.clear();
    m_view->createKey(QStringLiteral("team/a/new"), "{}");
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, kWaitMs);
    QCOMPARE(finished.at(0).at(1).toBool(), false);
    QVERIFY2(m_view->conflictMessage().contains(QStringLiteral("already exists")), qPrintable(m_view->conflictMessage()));
    QCOMPARE(storedValue(QStringLiteral("team/a/new")), QByteArray(R"([1,2.50,"z"])"));
}

void TestKeysView::ttlCountsDownAndDisappears()
{
    KeyTreeModel *model = m_view->model();
    QVERIFY(otherSet(QStringLiteral("ttl/keep"), "true") > 0);
    QTRY_VERIFY_WITH_TIMEOUT(model->indexOf(QStringLiteral("ttl/"), true).isValid(), kWaitMs);
    m_view->treeView()->expand(model->indexOf(QStringLiteral("ttl/"), true));
    QTRY_VERIFY_WITH_TIMEOUT(model->indexOf(QStringLiteral("ttl/keep")).isValid(), kWaitMs);

    auto appeared = std::make_shared<bool>(false);
    const auto watch = connect(model, &QAbstractItemModel::rowsInserted, this, [appeared, model] {
        *appeared = *appeared || model->indexOf(QStringLiteral("ttl/k")).isValid();
    });
    const QString key = QStringLiteral("ttl/k");
    QVERIFY(otherSet(key, "{\"short\":1}", "\"ttl_seconds\":2") > 0);
    m_view->selectKey(key);
    QTRY_VERIFY_WITH_TIMEOUT(m_view->ttlText().startsWith(QStringLiteral("expires in")), kWaitMs);
    QVERIFY2(m_view->ttlText().startsWith(QStringLiteral("expires in 2 s"))
                 || m_view->ttlText().startsWith(QStringLiteral("expires in 1 s")),
             qPrintable(m_view->ttlText()));
    QVERIFY(!m_view->treeView()->currentIndex().isValid()
            || m_view->treeView()->currentIndex().data(KeyTreeModel::NameRole).toString() == key);
    QTRY_COMPARE_WITH_TIMEOUT(m_view->ttlText(), QStringLiteral("expired"), kWaitMs);
    disconnect(watch);
    QVERIFY2(*appeared, "the key never showed in its (expanded) folder before it expired");
    QTRY_VERIFY_WITH_TIMEOUT(!model->indexOf(key).isValid(), kWaitMs);
    auto *state = m_view->findChild<QLabel *>(QStringLiteral("keyState"));
    QCOMPARE(state->text(), QStringLiteral("Expired"));
    QVERIFY(!m_view->shownVersion().has_value());
    QVERIFY(!m_view->editAction()->isEnabled());
    // It stays gone (the server agrees), while its sibling stays.
    QTest::qWait(1500);
    QVERIFY(!model->indexOf(key).isValid());
    QVERIFY(model->indexOf(QStringLiteral("ttl/keep")).isValid());
    QCOMPARE(storedValue(key), QByteArray("null"));
}

void TestKeysView::deleteAsksAndDeletes()
{
    const QString key = QStringLiteral("team/a/w");
    showKeyOf(key);
    QSignalSpy finished(m_view.get(), &KeysView::writeFinished);

    // Cancel keeps the key.
    m_view->deleteAction()->trigger();
    QMessageBox *box = nullptr;
    QTRY_VERIFY((box = m_view->findChild<QMessageBox *>(QStringLiteral("deleteConfirmation"))) != nullptr);
    QVERIFY(box->text().contains(key));
    box->button(QMessageBox::Cancel)->click();
    QTRY_VERIFY(m_view->findChild<QMessageBox *>(QStringLiteral("deleteConfirmation")) == nullptr);
    QTest::qWait(200);
    QCOMPARE(finished.count(), 0);
    QCOMPARE(storedValue(key), QByteArray("1"));

    m_view->deleteAction()->trigger();
    QTRY_VERIFY((box = m_view->findChild<QMessageBox *>(QStringLiteral("deleteConfirmation"))) != nullptr);
    box->button(QMessageBox::Yes)->click();
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, kWaitMs);
    QCOMPARE(finished.at(0).at(1).toBool(), true);
    QCOMPARE(storedValue(key), QByteArray("null"));
    QTRY_VERIFY_WITH_TIMEOUT(!m_view->model()->indexOf(key).isValid(), kWaitMs);
    QVERIFY(m_view->model()->indexOf(QStringLiteral("team/a/x")).isValid());

    // A delete of a version that is no longer current is refused.
    const QString other = QStringLiteral("team/a/x");
    showKeyOf(other);
    const qint64 seen = *m_view->shownVersion();
    const qint64 current = otherSet(other, "\"changed\"");
    finished.clear();
    m_view->deleteKey(other, seen);
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, kWaitMs);
    QCOMPARE(finished.at(0).at(1).toBool(), false);
    QVERIFY2(m_view->conflictMessage().contains(QStringLiteral("version %1").arg(current)),
             qPrintable(m_view->conflictMessage()));
    QCOMPARE(storedValue(other), QByteArray("\"changed\""));
}

void TestKeysView::readOnlyHidesActions()
{
    auto *toolBar = m_view->findChild<QToolBar *>(QStringLiteral("keysToolBar"));
    QVERIFY(toolBar);
    for (QAction *action : {m_view->newAction(), m_view->editAction(), m_view->deleteAction()}) {
        QVERIFY(action->isVisible());
        QVERIFY(toolBar->widgetForAction(action)->isVisible());
    }
    m_view->setReadOnly(true);
    QVERIFY(m_view->isReadOnly());
    for (QAction *action : {m_view->newAction(), m_view->editAction(), m_view->deleteAction()}) {
        QVERIFY(!action->isVisible());
        QTRY_VERIFY(!toolBar->widgetForAction(action)->isVisible()); // the tool bar lays out later
    }
    QVERIFY(m_view->reloadAction()->isVisible());
    // The commands do nothing, the API writes nothing.
    m_view->newKey();
    QVERIFY(m_view->findChild<JsonEditor *>() == nullptr);
    QSignalSpy finished(m_view.get(), &KeysView::writeFinished);
    m_view->createKey(QStringLiteral("ro/x"), "1");
    QCOMPARE(finished.count(), 1);
    QCOMPARE(finished.at(0).at(1).toBool(), false);
    QCOMPARE(storedValue(QStringLiteral("ro/x")), QByteArray("null"));

    m_view->setReadOnly(false);
    for (QAction *action : {m_view->newAction(), m_view->editAction(), m_view->deleteAction()})
        QVERIFY(action->isVisible());
}

void TestKeysView::filterAndSeparator()
{
    KeyTreeModel *model = m_view->model();
    QVERIFY(otherSet(QStringLiteral("team/abc"), "2") > 0);
    m_view->setFilter(QStringLiteral("team/a"));
    QTRY_VERIFY_WITH_TIMEOUT(model->isLoaded({}) && model->rowCount() == 2, kWaitMs);
    QCOMPARE(model->index(0, 0).data().toString(), QStringLiteral("a/"));
    QCOMPARE(model->index(0, 0).data(KeyTreeModel::NameRole).toString(), QStringLiteral("team/a/"));
    QCOMPARE(model->index(1, 0).data().toString(), QStringLiteral("abc"));
    QVERIFY(!model->indexOf(QStringLiteral("ttl/"), true).isValid());

    // Typing in the box filters too (after a short pause).
    auto *edit = m_view->findChild<QLineEdit *>(QStringLiteral("filterEdit"));
    edit->clear();
    QTest::keyClicks(edit, QStringLiteral("tt"));
    QTRY_COMPARE_WITH_TIMEOUT(m_view->filter(), QStringLiteral("tt"), kWaitMs);
    QTRY_VERIFY_WITH_TIMEOUT(model->isLoaded({}) && model->indexOf(QStringLiteral("ttl/"), true).isValid(), kWaitMs);
    QCOMPARE(model->rowCount(), 1);

    m_view->setFilter(QString());
    QVERIFY(otherSet(QStringLiteral("cfg:db:host"), "\"localhost\"") > 0);
    m_view->setSeparator(u':');
    QCOMPARE(m_view->separator(), QChar(u':'));
    QTRY_VERIFY_WITH_TIMEOUT(model->indexOf(QStringLiteral("cfg:"), true).isValid(), kWaitMs);
    QVERIFY(model->indexOf(QStringLiteral("team/a/x")).isValid()); // no ':' in it: a key at the top
    showKeyOf(QStringLiteral("cfg:db:host"));
    QCOMPARE(m_view->viewer()->json(), QByteArray("\"localhost\""));

    m_view->setSeparator(u'/');
    QTRY_VERIFY_WITH_TIMEOUT(model->indexOf(QStringLiteral("team/"), true).isValid(), kWaitMs);
}

void TestKeysView::pausedCatchesUpOnUnpause()
{
    KeyTreeModel *model = m_view->model();
    QTRY_VERIFY_WITH_TIMEOUT(model->isLoaded({}) && !model->isLoading(), kWaitMs);
    m_view->setPaused(true);
    QVERIFY(otherSet(QStringLiteral("paused/k"), "1") > 0);
    QTest::qWait(1500); // updates arrive and are held
    QVERIFY(!model->indexOf(QStringLiteral("paused/"), true).isValid());
    m_view->setPaused(false);
    QTRY_VERIFY_WITH_TIMEOUT(model->indexOf(QStringLiteral("paused/"), true).isValid(), kWaitMs);
}

void TestKeysView::pagesLazily()
{
    KeyTreeModel *model = m_view->model();
    constexpr int total = 450;
    for (int i = 0; i < total; ++i)
        QVERIFY(otherSet(QStringLiteral("many/k%1").arg(i, 4, 10, QLatin1Char('0')), QByteArray::number(i)) > 0);
    QTRY_VERIFY_WITH_TIMEOUT(model->indexOf(QStringLiteral("many/"), true).isValid(), kWaitMs);
    const auto many = [model] { return model->indexOf(QStringLiteral("many/"), true); };
    QTreeView *tree = m_view->treeView();
    tree->scrollToTop();
    tree->expand(many());
    QTRY_COMPARE_WITH_TIMEOUT(model->rowCount(many()), KeyTreeModel::kDefaultPageSize, kWaitMs);
    QVERIFY(model->hasMorePages(many()));
    QTest::qWait(1000); // one page only: nobody looks further
    QCOMPARE(model->rowCount(many()), KeyTreeModel::kDefaultPageSize);
    QVERIFY(!model->canFetchMore(many()));

    // Scrolling to the folder's last row lists the next page.
    tree->scrollTo(model->index(KeyTreeModel::kDefaultPageSize - 1, 0, many()), QAbstractItemView::PositionAtBottom);
    QTRY_COMPARE_WITH_TIMEOUT(model->rowCount(many()), 2 * KeyTreeModel::kDefaultPageSize, kWaitMs);
    QTest::qWait(500);
    QCOMPARE(model->rowCount(many()), 2 * KeyTreeModel::kDefaultPageSize);
    QVERIFY(model->fetchNextPage(many()));
    QTRY_COMPARE_WITH_TIMEOUT(model->rowCount(many()), total, kWaitMs);
    QVERIFY(!model->hasMorePages(many()));
    QVERIFY(!model->fetchNextPage(many()));
    QCOMPARE(model->index(total - 1, 0, many()).data().toString(), QStringLiteral("k0449"));

    // A live refresh keeps every loaded row and adds the new one in its place.
    QVERIFY(otherSet(QStringLiteral("many/k0100a"), "0") > 0);
    QTRY_COMPARE_WITH_TIMEOUT(model->rowCount(many()), total + 1, kWaitMs);
    QCOMPARE(model->index(101, 0, many()).data().toString(), QStringLiteral("k0100a"));
    QVERIFY(tree->isExpanded(many()));
    tree->collapse(many());
    tree->scrollToTop();
}

void TestKeysView::shortcuts()
{
    // A dialog that closed may leave no active window offscreen: shortcuts need the view's.
    const auto focusTree = [this] {
        m_view->activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(m_view.get()));
        m_view->treeView()->setFocus();
    };
    m_view->activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(m_view.get()));
    m_view->treeView()->setFocus();
    auto *edit = m_view->findChild<QLineEdit *>(QStringLiteral("filterEdit"));
    QTest::keyClick(m_view->treeView(), Qt::Key_F, Qt::ControlModifier);
    QTRY_VERIFY(edit->hasFocus());

    QVERIFY(otherSet(QStringLiteral("sc/k"), "{\"k\":1}") > 0);
    showKeyOf(QStringLiteral("sc/k"));
    m_view->treeView()->setFocus();
    QTest::keyClick(m_view->treeView(), Qt::Key_F2);
    JsonEditor *editor = nullptr;
    QTRY_VERIFY((editor = m_view->findChild<JsonEditor *>()) != nullptr);
    QCOMPARE(editor->mode(), JsonEditor::Mode::Edit);
    editor->reject();
    QTRY_VERIFY(m_view->findChild<JsonEditor *>() == nullptr);

    focusTree();
    QTest::keyClick(m_view->treeView(), Qt::Key_N, Qt::ControlModifier);
    QTRY_VERIFY((editor = m_view->findChild<JsonEditor *>()) != nullptr);
    QCOMPARE(editor->mode(), JsonEditor::Mode::Create);
    editor->reject();
    QTRY_VERIFY(m_view->findChild<JsonEditor *>() == nullptr);

    focusTree();
    QTest::keyClick(m_view->treeView(), Qt::Key_Delete);
    QMessageBox *box = nullptr;
    QTRY_VERIFY((box = m_view->findChild<QMessageBox *>(QStringLiteral("deleteConfirmation"))) != nullptr);
    box->button(QMessageBox::Cancel)->click();
    QTRY_VERIFY(m_view->findChild<QMessageBox *>(QStringLiteral("deleteConfirmation")) == nullptr);

    // F5 lists again: a key set while paused shows without unpausing.
    m_view->setPaused(true);
    QVERIFY(otherSet(QStringLiteral("f5/k"), "1") > 0);
    focusTree();
    QTest::keyClick(m_view->treeView(), Qt::Key_F5);
    QTRY_VERIFY_WITH_TIMEOUT(m_view->model()->indexOf(QStringLiteral("f5/"), true).isValid(), kWaitMs);
    m_view->setPaused(false);

    // Greyed without a client, the last data kept.
    m_view->setClient(nullptr);
    QVERIFY(!m_view->treeView()->isEnabled());
    QVERIFY(m_view->model()->indexOf(QStringLiteral("f5/"), true).isValid());
    QVERIFY(!m_view->newAction()->isEnabled());
    m_view->setClient(m_client.get());
    QVERIFY(m_view->treeView()->isEnabled());
    QVERIFY(m_view->newAction()->isEnabled());
}

QTEST_MAIN(TestKeysView)
#include "tst_keysview.moc"
