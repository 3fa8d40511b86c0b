#include "keysview.h"

#include <QAction>
#include <QComboBox>
#include <QDateTime>
#include <QFormLayout>
#include <QFrame>
#include <QHBoxLayout>
#include <QItemSelectionModel>
#include <QKeySequence>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QScrollBar>
#include <QSplitter>
#include <QToolBar>
#include <QToolButton>
#include <QTreeView>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <string_view>

#include "client/mcpclient.h"
#include "jsoneditor.h"
#include "jsonviewer.h"
#include "keytreemodel.h"

namespace sidecar::inspector {

namespace {

double nowSeconds()
{
    return double(QDateTime::currentMSecsSinceEpoch()) / 1000.0;
}

// "42 s", "3 min 05 s", "2 h 07 min", "3 d 4 h".
QString formatDuration(qint64 seconds)
{
    seconds = std::max<qint64>(seconds, 0);
    if (seconds < 60)
        return KeysView::tr("%1 s").arg(seconds);
    if (seconds < 3600)
        return KeysView::tr("%1 min %2 s").arg(seconds / 60).arg(seconds % 60, 2, 10, QLatin1Char('0'));
    if (seconds < 86400)
        return KeysView::tr("%1 h %2 min").arg(seconds / 3600).arg((seconds % 3600) / 60, 2, 10, QLatin1Char('0'));
    return KeysView::tr("%1 d %2 h").arg(seconds / 86400).arg((seconds % 86400) / 3600);
}

// Local time, ISO 8601 with the UTC offset.
QString isoLocal(double epochSeconds)
{
    const QDateTime time = QDateTime::fromMSecsSinceEpoch(qint64(std::llround(epochSeconds * 1000.0)));
    return time.toOffsetFromUtc(time.offsetFromUtc()).toString(Qt::ISODateWithMs);
}

QString quoted(const QString &key)
{
    return QChar(0x201c) + key + QChar(0x201d);
}

QColor warningBackground(const QPalette &palette)
{
    return palette.color(QPalette::Base).lightness() < 128 ? QColor(0x5c, 0x45, 0x12) : QColor(0xff, 0xf4, 0xce);
}

QColor errorText(const QPalette &palette)
{
    return palette.color(QPalette::Base).lightness() < 128 ? QColor(0xff, 0x7b, 0x72) : QColor(0xc0, 0x1c, 0x28);
}

} // namespace

KeysView::KeysView(QWidget *parent) : StateView(parent)
{
    setObjectName(QStringLiteral("keysView"));
    createActions();
    buildUi();

    m_treeTimer.setSingleShot(true);
    m_treeTimer.setInterval(kCoalesceMs);
    connect(&m_treeTimer, &QTimer::timeout, this, [this] {
        if (m_paused)
            m_missedTree = true;
        else
            refreshTree();
    });
    m_detailsTimer.setSingleShot(true);
    m_detailsTimer.setInterval(kCoalesceMs);
    connect(&m_detailsTimer, &QTimer::timeout, this, [this] {
        if (m_paused)
            m_missedKey = true;
        else
            loadDetails(true);
    });
    m_filterTimer.setSingleShot(true);
    m_filterTimer.setInterval(kFilterDelayMs);
    connect(&m_filterTimer, &QTimer::timeout, this, [this] {
        m_model->setRootPrefix(m_filterEdit->text());
        updateTreeStatus();
    });
    m_tickTimer.setSingleShot(true);
    connect(&m_tickTimer, &QTimer::timeout, this, &KeysView::updateTtl);
    m_pageTimer.setSingleShot(true);
    m_pageTimer.setInterval(kPageCheckMs);
    connect(&m_pageTimer, &QTimer::timeout, this, &KeysView::fetchVisiblePages);

    clearDetails(tr("Select a key to see its value"));
    updateActions();
    updateTreeStatus();
}

KeysView::~KeysView()
{
    disconnectMcp();
}

// ---------------------------------------------------------------- UI

void KeysView::createActions()
{
    auto make = [this](const char *objectName, const QString &text, const QKeySequence &shortcut,
                       const QString &toolTip, void (KeysView::*slot)()) {
        auto *action = new QAction(text, this);
        action->setObjectName(QLatin1StringView(objectName));
        action->setShortcut(shortcut);
        action->setShortcutContext(Qt::WidgetWithChildrenShortcut);
        action->setToolTip(QStringLiteral("%1 (%2)").arg(toolTip, shortcut.toString(QKeySequence::NativeText)));
        addAction(action);
        connect(action, &QAction::triggered, this, slot);
        return action;
    };
    m_newAction = make("newKeyAction", tr("New…"), QKeySequence(Qt::CTRL | Qt::Key_N), tr("Create a key"),
                       &KeysView::newKey);
    m_editAction = make("editKeyAction", tr("Edit…"), QKeySequence(Qt::Key_F2),
                        tr("Edit the selected key's value"), &KeysView::editSelected);
    m_deleteAction = make("deleteKeyAction", tr("Delete…"), QKeySequence(Qt::Key_Delete),
                          tr("Delete the selected key"), &KeysView::deleteSelected);
    m_reloadAction = make("reloadKeysAction", tr("Reload"), QKeySequence(Qt::Key_F5),
                          tr("List the keys and read the selected value again"), &KeysView::reload);
    m_filterAction = make("filterKeysAction", tr("Filter"), QKeySequence(Qt::CTRL | Qt::Key_F),
                          tr("Filter the keys by prefix"), &KeysView::focusFilter);
}

void KeysView::buildUi()
{
    // Top: actions, separator, filter.
    m_toolBar = new QToolBar(this);
    m_toolBar->setObjectName(QStringLiteral("keysToolBar"));
    m_toolBar->setToolButtonStyle(Qt::ToolButtonTextOnly);
    m_toolBar->addAction(m_newAction);
    m_toolBar->addAction(m_editAction);
    m_toolBar->addAction(m_deleteAction);
    m_toolBar->addSeparator();
    m_toolBar->addAction(m_reloadAction);

    m_separatorCombo = new QComboBox(this);
    m_separatorCombo->setObjectName(QStringLiteral("separatorCombo"));
    m_separatorCombo->setToolTip(tr("The character that splits keys into folders"));
    m_separatorCombo->addItem(QStringLiteral("/   team/a/x"), QStringLiteral("/"));
    m_separatorCombo->addItem(QStringLiteral(":   team:a:x"), QStringLiteral(":"));
    m_separatorCombo->addItem(QStringLiteral(".   team.a.x"), QStringLiteral("."));
    auto *separatorLabel = new QLabel(tr("&Separator:"), this);
    separatorLabel->setBuddy(m_separatorCombo);

    m_filterEdit = new QLineEdit(this);
    m_filterEdit->setObjectName(QStringLiteral("filterEdit"));
    m_filterEdit->setPlaceholderText(tr("Filter by prefix (Ctrl+F)"));
    m_filterEdit->setToolTip(tr("Only keys that start with this text (matched by the server, case-sensitive)"));
    m_filterEdit->setClearButtonEnabled(true);
    m_filterEdit->setMinimumWidth(220);

    auto *top = new QHBoxLayout;
    top->setContentsMargins(0, 0, 0, 0);
    top->addWidget(m_toolBar);
    top->addStretch(1);
    top->addWidget(separatorLabel);
    top->addWidget(m_separatorCombo);
    top->addWidget(m_filterEdit);

    // Left: the tree.
    m_model = new KeyTreeModel(this);
    // Connected before the view's selection model exists, so that these run first: the view moves
    // its current index off removed rows by itself, which is not the user choosing a key.
    connect(m_model, &QAbstractItemModel::rowsAboutToBeRemoved, this, [this] { m_syncingTree = true; });
    connect(m_model, &QAbstractItemModel::rowsRemoved, this, [this] {
        m_syncingTree = false;
        QTimer::singleShot(0, this, &KeysView::syncTreeSelection);
    });
    connect(m_model, &QAbstractItemModel::modelAboutToBeReset, this, [this] { m_syncingTree = true; });
    connect(m_model, &QAbstractItemModel::modelReset, this, [this] {
        m_syncingTree = false;
        updateTreeStatus();
    });
    connect(m_model, &KeyTreeModel::loadingChanged, this, &KeysView::updateTreeStatus);
    connect(m_model, &KeyTreeModel::errorOccurred, this, [this](const QString &message) {
        emit statusMessage(message);
        updateTreeStatus();
    });
    connect(m_model, &KeyTreeModel::folderLoaded, this, [this] {
        updateTreeStatus();
        // A key chosen before its row was loaded (selectKey, a key just created) gets selected.
        if (!m_selectedKey.isEmpty()
            && m_tree->currentIndex().data(KeyTreeModel::NameRole).toString() != m_selectedKey) {
            const QModelIndex index = m_model->indexOf(m_selectedKey);
            if (index.isValid())
                m_tree->setCurrentIndex(index);
        }
    });

    m_tree = new QTreeView(this);
    m_tree->setObjectName(QStringLiteral("keyTree"));
    m_tree->setModel(m_model);
    m_tree->setHeaderHidden(true);
    m_tree->setUniformRowHeights(true);
    m_tree->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_tree->setSelectionMode(QAbstractItemView::SingleSelection);
    m_tree->setContextMenuPolicy(Qt::ActionsContextMenu);
    m_tree->addAction(m_newAction);
    m_tree->addAction(m_editAction);
    m_tree->addAction(m_deleteAction);
    m_tree->addAction(m_reloadAction);
    connect(m_tree, &QTreeView::expanded, this, [this](const QModelIndex &index) {
        if (m_model->canFetchMore(index))
            m_model->fetchMore(index);
    });
    connect(m_tree->selectionModel(), &QItemSelectionModel::currentChanged, this,
            [this](const QModelIndex &current) {
                if (!m_syncingTree)
                    onCurrentChanged(current);
            });
    // Clicking the row the view made current by itself (after the row under it was removed)
    // selects it without changing the current index.
    connect(m_tree->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            [this](const QItemSelection &selected) {
                if (!m_syncingTree && !selected.indexes().isEmpty())
                    onCurrentChanged(selected.indexes().constFirst());
            });
    // Later pages: when a folder's last loaded row comes into sight.
    connect(m_model, &QAbstractItemModel::rowsInserted, this, [this] { m_pageTimer.start(); });
    connect(m_model, &QAbstractItemModel::modelReset, this, [this] { m_pageTimer.start(); });
    connect(m_tree, &QTreeView::expanded, this, [this] { m_pageTimer.start(); });
    connect(m_tree->verticalScrollBar(), &QScrollBar::valueChanged, this, [this] { m_pageTimer.start(); });
    connect(m_tree->verticalScrollBar(), &QScrollBar::rangeChanged, this, [this] { m_pageTimer.start(); });

    m_treeStatus = new QLabel(this);
    m_treeStatus->setObjectName(QStringLiteral("treeStatus"));
    m_treeStatus->setForegroundRole(QPalette::PlaceholderText);

    auto *left = new QWidget(this);
    auto *leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 0, 0);
    leftLayout->addWidget(m_tree, 1);
    leftLayout->addWidget(m_treeStatus);

    // Right: banner, details, value.
    m_banner = new QFrame(this);
    m_banner->setObjectName(QStringLiteral("conflictBanner"));
    m_banner->setFrameShape(QFrame::StyledPanel);
    m_banner->setAutoFillBackground(true);
    QPalette bannerPalette = m_banner->palette();
    bannerPalette.setColor(QPalette::Window, warningBackground(palette()));
    m_banner->setPalette(bannerPalette);
    m_bannerLabel = new QLabel(m_banner);
    m_bannerLabel->setObjectName(QStringLiteral("conflictMessage"));
    m_bannerLabel->setWordWrap(true);
    m_bannerLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_bannerReload = new QPushButton(tr("Reload"), m_banner);
    m_bannerReload->setObjectName(QStringLiteral("conflictReload"));
    m_bannerReload->setToolTip(tr("Read the key's current value"));
    auto *dismiss = new QToolButton(m_banner);
    dismiss->setObjectName(QStringLiteral("conflictDismiss"));
    dismiss->setText(QStringLiteral("\u2715"));
    dismiss->setToolTip(tr("Dismiss"));
    dismiss->setAutoRaise(true);
    auto *bannerLayout = new QHBoxLayout(m_banner);
    bannerLayout->addWidget(m_bannerLabel, 1);
    bannerLayout->addWidget(m_bannerReload);
    bannerLayout->addWidget(dismiss);
    m_banner->hide();
    connect(m_bannerReload, &QPushButton::clicked, this, [this] {
        hideBanner();
        m_missedKey = false;
        loadDetails(false);
        refreshTree();
    });
    connect(dismiss, &QToolButton::clicked, this, &KeysView::hideBanner);

    m_detailsHeader = new QWidget(this);
    m_keyLabel = new QLabel(m_detailsHeader);
    m_keyLabel->setObjectName(QStringLiteral("keyName"));
    m_keyLabel->setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::TextSelectableByKeyboard);
    m_keyLabel->setWordWrap(true);
    QFont keyFont = m_keyLabel->font();
    keyFont.setBold(true);
    keyFont.setPointSizeF(keyFont.pointSizeF() * 1.15);
    m_keyLabel->setFont(keyFont);
    m_stateLabel = new QLabel(m_detailsHeader);
    m_stateLabel->setObjectName(QStringLiteral("keyState"));
    QPalette statePalette = m_stateLabel->palette();
    statePalette.setColor(QPalette::WindowText, errorText(palette()));
    m_stateLabel->setPalette(statePalette);
    m_stateLabel->hide();
    auto label = [this](const char *objectName) {
        auto *l = new QLabel(m_detailsHeader);
        l->setObjectName(QLatin1StringView(objectName));
        l->setTextInteractionFlags(Qt::TextSelectableByMouse);
        return l;
    };
    m_versionLabel = label("versionLabel");
    m_agentLabel = label("agentLabel");
    m_updatedLabel = label("updatedLabel");
    m_ttlLabel = label("ttlLabel");
    auto *titleRow = new QHBoxLayout;
    titleRow->addWidget(m_keyLabel, 1);
    titleRow->addWidget(m_stateLabel);
    auto *form = new QFormLayout;
    form->setContentsMargins(0, 0, 0, 0);
    form->addRow(tr("Version:"), m_versionLabel);
    form->addRow(tr("Written by:"), m_agentLabel);
    form->addRow(tr("Updated:"), m_updatedLabel);
    form->addRow(tr("TTL:"), m_ttlLabel);
    auto *headerLayout = new QVBoxLayout(m_detailsHeader);
    headerLayout->setContentsMargins(0, 0, 0, 0);
    headerLayout->addLayout(titleRow);
    headerLayout->addLayout(form);

    m_viewer = new JsonViewer(this);

    auto *right = new QWidget(this);
    auto *rightLayout = new QVBoxLayout(right);
    rightLayout->setContentsMargins(0, 0, 0, 0);
    rightLayout->addWidget(m_banner);
    rightLayout->addWidget(m_detailsHeader);
    rightLayout->addWidget(m_viewer, 1);

    m_splitter = new QSplitter(Qt::Horizontal, this);
    m_splitter->setObjectName(QStringLiteral("keysSplitter"));
    m_splitter->addWidget(left);
    m_splitter->addWidget(right);
    m_splitter->setStretchFactor(0, 1);
    m_splitter->setStretchFactor(1, 2);
    m_splitter->setChildrenCollapsible(false);

    auto *layout = new QVBoxLayout(this);
    layout->addLayout(top);
    layout->addWidget(m_splitter, 1);

    connect(m_separatorCombo, &QComboBox::currentIndexChanged, this, [this] {
        const QString separator = m_separatorCombo->currentData().toString();
        if (!separator.isEmpty())
            m_model->setSeparator(separator.at(0));
        updateTreeStatus();
    });
    connect(m_filterEdit, &QLineEdit::textChanged, this, [this] { m_filterTimer.start(); });
    connect(m_filterEdit, &QLineEdit::returnPressed, this, [this] {
        m_filterTimer.stop();
        m_model->setRootPrefix(m_filterEdit->text());
        m_tree->setFocus(Qt::OtherFocusReason);
    });
}

void KeysView::updateActions()
{
    const bool writable = !m_readOnly;
    m_newAction->setVisible(writable);
    m_editAction->setVisible(writable);
    m_deleteAction->setVisible(writable);
    const bool connected = m_client != nullptr;
    const bool haveKey = connected && m_entry && !m_gone && m_entry->version.has_value();
    m_newAction->setEnabled(writable && connected);
    m_editAction->setEnabled(writable && haveKey);
    m_deleteAction->setEnabled(writable && haveKey);
    m_reloadAction->setEnabled(connected);
}

void KeysView::updateTreeStatus()
{
    QString text;
    if (!m_client) {
        text = tr("Not connected: showing the keys last read");
    } else if (m_model->isLoading()) {
        text = tr("Loading…");
    } else {
        const int rows = m_model->rowCount();
        if (rows == 0 && m_model->isLoaded({}))
            text = m_model->rootPrefix().isEmpty() ? tr("No keys")
                                                   : tr("No key starts with %1").arg(quoted(m_model->rootPrefix()));
        else
            text = rows == 1 ? tr("1 item") : tr("%1 items").arg(rows);
        if (m_model->hasMorePages({}))
            text += tr(", more as you scroll");
    }
    if (m_paused)
        text += tr(" · paused");
    m_treeStatus->setText(text);
}

// ---------------------------------------------------------------- StateView

void KeysView::setClient(client::SidecarClient *client)
{
    if (client && client == m_client) { // the same connection, ready again: catch up
        connectMcp();
        refreshTree();
        loadDetails(true);
        return;
    }
    disconnectMcp();
    m_client = client;
    m_model->setClient(client);
    ++m_detailsOp; // answers to the previous client are not applied
    m_splitter->setEnabled(client != nullptr); // without a client: the last data, greyed
    if (!client) {
        m_treeTimer.stop();
        m_detailsTimer.stop();
        updateActions();
        updateTreeStatus();
        return;
    }
    connectMcp();
    if (m_model->isLoaded({}))
        refreshTree();
    else
        m_model->reload();
    loadDetails(true);
    updateActions();
    updateTreeStatus();
}

void KeysView::setPaused(bool paused)
{
    if (paused == m_paused)
        return;
    m_paused = paused;
    if (paused) {
        if (m_treeTimer.isActive())
            m_missedTree = true;
        if (m_detailsTimer.isActive())
            m_missedKey = true;
        m_treeTimer.stop();
        m_detailsTimer.stop();
    } else {
        if (m_missedTree) {
            m_missedTree = false;
            refreshTree();
        }
        if (m_missedKey) {
            m_missedKey = false;
            loadDetails(true);
        }
    }
    updateTreeStatus();
}

void KeysView::setReadOnly(bool readOnly)
{
    m_readOnly = readOnly;
    if (readOnly) {
        const auto editors = findChildren<JsonEditor *>();
        for (JsonEditor *editor : editors)
            editor->reject();
        const auto boxes = findChildren<QMessageBox *>(QStringLiteral("deleteConfirmation"));
        for (QMessageBox *box : boxes)
            box->reject();
    }
    updateActions();
}

void KeysView::reload()
{
    if (!m_client)
        return;
    m_missedTree = false;
    m_missedKey = false;
    m_treeTimer.stop();
    m_detailsTimer.stop();
    refreshTree();
    loadDetails(true);
}

// ---------------------------------------------------------------- options

void KeysView::setSeparator(QChar separator)
{
    int index = m_separatorCombo->findData(QString(separator));
    if (index < 0) {
        m_separatorCombo->addItem(QString(separator), QString(separator));
        index = m_separatorCombo->count() - 1;
    }
    m_separatorCombo->setCurrentIndex(index);
}

QChar KeysView::separator() const
{
    return m_model->separator();
}

void KeysView::setFilter(const QString &prefix)
{
    m_filterEdit->setText(prefix);
    m_filterTimer.stop();
    m_model->setRootPrefix(prefix);
    updateTreeStatus();
}

QString KeysView::filter() const
{
    return m_model->rootPrefix();
}

void KeysView::focusFilter()
{
    m_filterEdit->setFocus(Qt::ShortcutFocusReason);
    m_filterEdit->selectAll();
}

// ---------------------------------------------------------------- live updates

void KeysView::connectMcp()
{
    if (!m_client)
        return;
    client::McpClient *mcp = &m_client->mcp();
    if (m_mcp != mcp) {
        disconnectMcp();
        m_mcp = mcp;
        m_mcpConnections << connect(mcp, &client::McpClient::resourceUpdated, this, &KeysView::onResourceUpdated);
        m_mcpConnections << connect(mcp, &client::McpClient::stateChanged, this, &KeysView::onMcpStateChanged);
        m_mcpConnections << connect(mcp, &QObject::destroyed, this, [this] {
            // The connection went away without setClient(nullptr): let go of it.
            m_mcp.clear();
            m_subscribedKeyUri.clear();
            setClient(nullptr);
        });
    }
    m_mcpWasReady = mcp->isReady();
    mcp->subscribe(client::SidecarClient::collectionUri(QStringLiteral("kv")));
    if (!m_selectedKey.isEmpty()) {
        m_subscribedKeyUri = client::SidecarClient::kvUri(m_selectedKey);
        mcp->subscribe(m_subscribedKeyUri);
    }
}

void KeysView::disconnectMcp()
{
    for (const QMetaObject::Connection &connection : std::as_const(m_mcpConnections))
        disconnect(connection);
    m_mcpConnections.clear();
    // state://kv stays subscribed: other views of the window may be watching it too.
    if (m_mcp && !m_subscribedKeyUri.isEmpty())
        m_mcp->unsubscribe(m_subscribedKeyUri);
    m_subscribedKeyUri.clear();
    m_mcp.clear();
}

void KeysView::onResourceUpdated(const QString &uri)
{
    if (uri == client::SidecarClient::collectionUri(QStringLiteral("kv"))) {
        if (m_paused)
            m_missedTree = true;
        else
            scheduleTreeRefresh();
    }
    if (!m_subscribedKeyUri.isEmpty() && uri == m_subscribedKeyUri) {
        if (m_paused)
            m_missedKey = true;
        else
            scheduleDetailsReload();
    }
}

void KeysView::onMcpStateChanged()
{
    if (!m_mcp)
        return;
    const bool ready = m_mcp->isReady();
    if (ready && !m_mcpWasReady) { // back after a reconnection: what changed meanwhile was not notified
        if (m_paused) {
            m_missedTree = true;
            m_missedKey = true;
        } else {
            refreshTree();
            loadDetails(true);
        }
    }
    m_mcpWasReady = ready;
}

void KeysView::scheduleTreeRefresh()
{
    if (!m_treeTimer.isActive()) // not restarted: a steady stream of updates still refreshes
        m_treeTimer.start();
}

void KeysView::scheduleDetailsReload()
{
    if (!m_detailsTimer.isActive())
        m_detailsTimer.start();
}

void KeysView::refreshTree()
{
    m_treeTimer.stop();
    m_model->refresh([this](const QModelIndex &index) { return isVisibleInTree(index); });
    updateTreeStatus();
}

void KeysView::fetchVisiblePages()
{
    if (!m_client)
        return;
    const QRect viewport = m_tree->viewport()->rect();
    const QModelIndexList folders = m_model->foldersWithMorePages();
    for (const QModelIndex &folder : folders) {
        if (!isVisibleInTree(folder))
            continue;
        const int rows = m_model->rowCount(folder);
        if (rows == 0) {
            m_model->fetchNextPage(folder);
            continue;
        }
        // The folder's last loaded row is in sight (or above it: the user scrolled past the folder).
        const QRect last = m_tree->visualRect(m_model->index(rows - 1, 0, folder));
        if (last.isValid() && last.top() < viewport.bottom() + last.height())
            m_model->fetchNextPage(folder);
    }
}

void KeysView::syncTreeSelection()
{
    // The view moved its current index off a removed row onto a neighbour the details do not
    // show: no row is current rather than the wrong one.
    const QModelIndex current = m_tree->currentIndex();
    if (!current.isValid() || current.data(KeyTreeModel::NameRole).toString() == m_shownName)
        return;
    m_syncingTree = true;
    m_tree->selectionModel()->clear();
    m_syncingTree = false;
}

bool KeysView::isVisibleInTree(const QModelIndex &index) const
{
    for (QModelIndex i = index; i.isValid(); i = i.parent()) {
        if (!m_tree->isExpanded(i))
            return false;
    }
    return true;
}

// ---------------------------------------------------------------- details

void KeysView::onCurrentChanged(const QModelIndex &current)
{
    if (!current.isValid())
        return;
    const QString name = current.data(KeyTreeModel::NameRole).toString();
    if (current.data(KeyTreeModel::IsFolderRole).toBool())
        showFolder(name);
    else if (name != m_selectedKey)
        selectKey(name);
}

void KeysView::selectKey(const QString &key)
{
    if (key != m_selectedKey || !m_entry) {
        if (key != m_selectedKey)
            hideBanner();
        setSelectedKey(key);
        m_shownName = key;
        m_entry.reset();
        m_gone = false;
        m_expiredSeen = false;
        clearDetails(key.isEmpty() ? tr("Select a key to see its value") : tr("Loading…"));
        m_keyLabel->setText(key);
        loadDetails(false);
        updateActions();
    }
    const QModelIndex index = m_model->indexOf(key);
    if (index.isValid()) {
        if (m_tree->currentIndex() != index)
            m_tree->setCurrentIndex(index);
    } else if (m_tree->currentIndex().isValid()) { // not listed (yet): no other row looks chosen
        m_syncingTree = true;
        m_tree->selectionModel()->clear();
        m_syncingTree = false;
    }
}

void KeysView::showFolder(const QString &prefix)
{
    setSelectedKey(QString());
    m_shownName = prefix;
    m_entry.reset();
    m_gone = false;
    const QModelIndex index = m_model->indexOf(prefix, true);
    const int rows = m_model->rowCount(index);
    QString text;
    if (!m_model->isLoaded(index))
        text = tr("%1 is a folder: expand it to list its keys").arg(prefix);
    else if (rows == 1)
        text = tr("%1 is a folder: 1 item listed").arg(prefix);
    else
        text = tr("%1 is a folder: %2 items listed").arg(prefix).arg(rows);
    if (m_model->hasMorePages(index))
        text += tr(" (more as you scroll)");
    clearDetails(text);
    m_keyLabel->setText(prefix);
    updateActions();
}

void KeysView::setSelectedKey(const QString &key)
{
    const QString uri = key.isEmpty() ? QString() : client::SidecarClient::kvUri(key);
    if (uri != m_subscribedKeyUri) {
        if (m_mcp && !m_subscribedKeyUri.isEmpty())
            m_mcp->unsubscribe(m_subscribedKeyUri);
        m_subscribedKeyUri = m_mcp ? uri : QString();
        if (m_mcp && !uri.isEmpty())
            m_mcp->subscribe(uri);
    }
    m_detailsTimer.stop();
    m_missedKey = false;
    ++m_detailsOp;
    if (key != m_selectedKey) {
        m_selectedKey = key;
        emit currentKeyChanged(key);
    }
}

void KeysView::loadDetails(bool keepExpansion)
{
    if (!m_client || m_selectedKey.isEmpty())
        return;
    m_detailsTimer.stop();
    const quint64 op = ++m_detailsOp;
    const QString key = m_selectedKey;
    QPointer<KeysView> self(this);
    m_client->stateGet(key, [self, op, key, keepExpansion](Result<client::StateEntry> entry) {
        if (!self || op != self->m_detailsOp || key != self->m_selectedKey)
            return;
        if (!entry) {
            const QString text = tr("Cannot read %1: %2").arg(quoted(key), entry.error().message);
            emit self->statusMessage(text);
            if (!self->m_entry)
                self->clearDetails(text);
            return;
        }
        if (entry->found) {
            self->showEntry(*entry, keepExpansion);
        } else {
            const bool expired = self->m_entry && self->m_entry->expiresAt
                                 && *self->m_entry->expiresAt <= nowSeconds() + 1.0;
            self->showGone(expired);
        }
    });
}

void KeysView::showEntry(const client::StateEntry &entry, bool keepExpansion)
{
    const bool sameKey = m_entry && !m_gone && m_entry->key == entry.key;
    const bool sameValue = sameKey && m_entry->version == entry.version && m_entry->value == entry.value;
    m_entry = entry;
    m_gone = false;
    m_expiredSeen = false;
    m_keyLabel->setText(entry.key);
    m_stateLabel->hide();
    m_versionLabel->setText(entry.version ? QString::number(*entry.version) : QStringLiteral("—"));
    m_agentLabel->setText(entry.agentId.isEmpty() ? tr("(no agent id)") : entry.agentId);
    m_viewer->setEnabled(true);
    if (!sameValue || !m_viewer->hasValue())
        m_viewer->setJson(entry.value, keepExpansion && sameKey);
    updateTtl();
    updateActions();
}

void KeysView::showGone(bool expired)
{
    m_gone = true;
    m_tickTimer.stop();
    m_model->removeKey(m_selectedKey);
    if (!m_entry) {
        clearDetails(tr("%1 does not exist (it was deleted or it expired)").arg(quoted(m_selectedKey)));
        m_keyLabel->setText(m_selectedKey);
    } else {
        m_viewer->setEnabled(false); // the last value read, greyed
        m_versionLabel->setText(tr("%1 (no longer exists)").arg(m_entry->version.value_or(0)));
    }
    m_stateLabel->setText(expired ? tr("Expired") : tr("Deleted"));
    m_stateLabel->show();
    if (expired)
        m_ttlLabel->setText(tr("expired"));
    updateActions();
}

void KeysView::clearDetails(const QString &placeholder)
{
    m_tickTimer.stop();
    m_viewer->setEnabled(true);
    m_viewer->clear(placeholder);
    m_keyLabel->clear();
    m_stateLabel->hide();
    for (QLabel *label : {m_versionLabel, m_agentLabel, m_updatedLabel, m_ttlLabel})
        label->setText(QStringLiteral("—"));
}

void KeysView::updateTtl()
{
    m_tickTimer.stop();
    if (!m_entry)
        return;
    const double now = nowSeconds();
    if (m_entry->updatedAt) {
        const qint64 ago = qint64(std::floor(std::max(0.0, now - *m_entry->updatedAt)));
        m_updatedLabel->setText(
            tr("%1 (%2 ago)").arg(isoLocal(*m_entry->updatedAt), formatDuration(ago)));
    } else {
        m_updatedLabel->setText(QStringLiteral("—"));
    }
    if (m_gone)
        return;
    int nextMs = 1000;
    if (!m_entry->expiresAt) {
        m_ttlLabel->setText(tr("no expiry"));
    } else {
        const double remaining = *m_entry->expiresAt - now;
        if (remaining > 0) {
            const qint64 whole = qint64(std::ceil(remaining));
            m_ttlLabel->setText(
                tr("expires in %1 (at %2)").arg(formatDuration(whole), isoLocal(*m_entry->expiresAt)));
            // Tick when the shown number of seconds changes.
            nextMs = std::clamp(int(std::lround((remaining - double(whole - 1)) * 1000.0)) + 5, 20, 1000);
        } else {
            m_ttlLabel->setText(tr("expired"));
            if (!m_expiredSeen) {
                m_expiredSeen = true;
                showGone(true);
                // Confirm with the server (another writer may have set the key again).
                scheduleDetailsReload();
                scheduleTreeRefresh();
            }
            return;
        }
    }
    m_tickTimer.start(nextMs);
}

std::optional<qint64> KeysView::shownVersion() const
{
    if (!m_entry || m_gone)
        return std::nullopt;
    return m_entry->version;
}

QString KeysView::ttlText() const
{
    return m_ttlLabel->text();
}

QString KeysView::conflictMessage() const
{
    return m_banner->isHidden() ? QString() : m_bannerLabel->text();
}

// ---------------------------------------------------------------- writes

void KeysView::createKey(const QString &key, const QByteArray &valueJson, std::optional<double> ttlSeconds)
{
    saveValue(key, valueJson, 0, ttlSeconds);
}

void KeysView::saveValue(const QString &key, const QByteArray &valueJson, qint64 ifVersion,
                         std::optional<double> ttlSeconds)
{
    const char *what = ifVersion == 0 ? "create" : "save";
    if (m_readOnly || !m_client) {
        const QString text = m_readOnly ? tr("Read-only: %1 was not written").arg(quoted(key))
                                        : tr("Not connected: %1 was not written").arg(quoted(key));
        emit statusMessage(text);
        emit writeFinished(key, false);
        return;
    }
    const Result<QByteArray> value = JsonEditor::validate(valueJson);
    if (!value) {
        onWriteResult(key, what, ifVersion, tl::unexpected(value.error()));
        return;
    }
    client::WriteOptions options;
    options.ifVersion = ifVersion;
    options.ttlSeconds = ttlSeconds;
    options.agentId = m_agentId;
    QPointer<KeysView> self(this);
    m_client->stateSet(key, *value, options, [self, key, what, ifVersion](Result<client::WriteResult> result) {
        if (self)
            self->onWriteResult(key, what, ifVersion, result);
    });
}

void KeysView::deleteKey(const QString &key, qint64 ifVersion)
{
    if (m_readOnly || !m_client) {
        emit statusMessage(m_readOnly ? tr("Read-only: %1 was not deleted").arg(quoted(key))
                                      : tr("Not connected: %1 was not deleted").arg(quoted(key)));
        emit writeFinished(key, false);
        return;
    }
    client::WriteOptions options;
    options.ifVersion = ifVersion;
    options.agentId = m_agentId;
    QPointer<KeysView> self(this);
    m_client->stateDelete(key, options, [self, key, ifVersion](Result<client::WriteResult> result) {
        if (self)
            self->onWriteResult(key, "delete", ifVersion, result);
    });
}

void KeysView::onWriteResult(const QString &key, const char *what, std::optional<qint64> expected,
                             const Result<client::WriteResult> &result)
{
    const std::string_view op(what);
    const bool isCreate = op == "create";
    const bool isDelete = op == "delete";
    auto failed = [this, &key](const QString &text, bool offerReload) {
        showBanner(text, offerReload);
        emit statusMessage(text);
        emit writeFinished(key, false);
    };

    if (!result) {
        const QString reason = result.error().message;
        if (isCreate)
            failed(tr("Could not create %1: %2").arg(quoted(key), reason), false);
        else if (isDelete)
            failed(tr("Could not delete %1: %2").arg(quoted(key), reason), false);
        else
            failed(tr("Could not save %1: %2").arg(quoted(key), reason), false);
        return;
    }

    const client::WriteResult &w = *result;
    const qint64 mine = expected.value_or(0);
    if (w.ok) {
        hideBanner();
        if (isDelete) {
            emit statusMessage(tr("Deleted %1").arg(quoted(key)));
            m_model->removeKey(key);
            if (key == m_selectedKey && m_entry) {
                showGone(false);
            }
        } else {
            const QString version = w.version ? QString::number(*w.version) : QStringLiteral("?");
            emit statusMessage(isCreate ? tr("Created %1 (version %2)").arg(quoted(key), version)
                                        : tr("Saved %1 (version %2)").arg(quoted(key), version));
            if (key == m_selectedKey) {
                m_missedKey = false;
                loadDetails(true);
            } else {
                selectKey(key);
            }
        }
        refreshTree(); // the user's own change shows at once, paused or not
        emit writeFinished(key, true);
        return;
    }

    if (w.conflict) {
        const qint64 current = w.currentVersion.value_or(0);
        QString text;
        if (isCreate)
            text = tr("Not created: %1 already exists (version %2). Nothing was overwritten.")
                       .arg(quoted(key))
                       .arg(current);
        else if (isDelete && current == 0)
            text = tr("Not deleted: %1 no longer exists.").arg(quoted(key));
        else if (isDelete)
            text = tr("Not deleted: %1 was changed by another writer; it is now at version %2 (you saw version "
                      "%3). Reload to see the current value.")
                       .arg(quoted(key))
                       .arg(current)
                       .arg(mine);
        else if (current == 0)
            text = tr("Not saved: %1 was deleted by another writer after you read version %2. Nothing was "
                      "written.")
                       .arg(quoted(key))
                       .arg(mine);
        else
            text = tr("Not saved: %1 was changed by another writer; it is now at version %2 (you edited version "
                      "%3). Nothing was overwritten: reload to see the current value.")
                       .arg(quoted(key))
                       .arg(current)
                       .arg(mine);
        failed(text, true);
        return;
    }

    if (isDelete && w.reason.isEmpty()) {
        m_model->removeKey(key);
        failed(tr("%1 was already gone.").arg(quoted(key)), true);
        return;
    }
    failed(tr("Not written: %1: %2").arg(quoted(key), w.reason.isEmpty() ? tr("refused") : w.reason), true);
}

void KeysView::showBanner(const QString &text, bool offerReload)
{
    m_bannerLabel->setText(text);
    m_bannerReload->setVisible(offerReload);
    m_banner->show();
}

void KeysView::hideBanner()
{
    m_banner->hide();
    m_bannerLabel->clear();
}

// ---------------------------------------------------------------- dialogs

void KeysView::newKey()
{
    if (m_readOnly || !m_client)
        return;
    // Start in the folder the user is looking at.
    QString prefix = m_model->rootPrefix();
    const QModelIndex current = m_tree->currentIndex();
    if (current.isValid()) {
        const QString name = current.data(KeyTreeModel::NameRole).toString();
        if (current.data(KeyTreeModel::IsFolderRole).toBool())
            prefix = name;
        else
            prefix = name.left(name.lastIndexOf(m_model->separator()) + 1);
    }
    auto *editor = new JsonEditor(JsonEditor::Mode::Create, this);
    editor->setAttribute(Qt::WA_DeleteOnClose);
    editor->setKey(prefix);
    editor->setText(QStringLiteral("{}"));
    connect(editor, &QDialog::accepted, this,
            [this, editor] { createKey(editor->key(), editor->valueJson(), editor->ttl()); });
    editor->open();
}

void KeysView::editSelected()
{
    if (m_readOnly || !m_client || !m_entry || m_gone || !m_entry->version)
        return;
    const QString key = m_entry->key;
    const qint64 version = *m_entry->version;
    auto *editor = new JsonEditor(JsonEditor::Mode::Edit, this);
    editor->setAttribute(Qt::WA_DeleteOnClose);
    editor->setKey(key);
    editor->setValueJson(m_entry->value);
    editor->setVersion(version);
    if (m_entry->expiresAt) {
        const double remaining = *m_entry->expiresAt - nowSeconds();
        editor->setTtl(remaining > 0.001 ? std::optional<double>(std::ceil(remaining)) : std::nullopt);
    }
    connect(editor, &QDialog::accepted, this, [this, editor, key, version] {
        saveValue(key, editor->valueJson(), version, editor->ttl());
    });
    editor->open();
}

void KeysView::deleteSelected()
{
    if (m_readOnly || !m_client || !m_entry || m_gone || !m_entry->version)
        return;
    const QString key = m_entry->key;
    const qint64 version = *m_entry->version;
    auto *box = new QMessageBox(QMessageBox::Question, tr("Delete key"),
                                tr("Delete %1 (version %2)?").arg(quoted(key)).arg(version),
                                QMessageBox::Yes | QMessageBox::Cancel, this);
    box->setObjectName(QStringLiteral("deleteConfirmation"));
    box->setInformativeText(tr("If another writer changes the key first, nothing is deleted."));
    box->setDefaultButton(QMessageBox::Cancel);
    box->button(QMessageBox::Yes)->setText(tr("Delete"));
    box->setAttribute(Qt::WA_DeleteOnClose);
    connect(box, &QMessageBox::buttonClicked, this, [this, box, key, version](QAbstractButton *button) {
        if (box->standardButton(button) == QMessageBox::Yes)
            deleteKey(key, version);
    });
    box->open();
}

} // namespace sidecar::inspector
